"""Data-parallel workers on ``torch.distributed``: the process group from torchrun's environment
(gloo for CPU tensors, NCCL for CUDA ones), and one all-reduce per dtype and device of a list of
tensors: a functional collective under torch.compile (which traces it), ``dist.all_reduce`` eagerly."""

from __future__ import annotations

import atexit
import datetime
import os

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol


def join(timeout: float) -> tuple[int, int]:
    """Join (or keep) the default process group; this worker's rank and the group's size. Without
    torchrun's variables and no group made already, the process works alone: no group."""
    if not dist.is_initialized():
        if "WORLD_SIZE" not in os.environ:
            return 0, 1
        engines = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        if torch.cuda.is_available():  # NCCL talks from the current GPU: this worker's (bridge's too)
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
        dist.init_process_group(engines, timeout=datetime.timedelta(seconds=timeout))
        atexit.register(leave)  # a group left to the interpreter's end can abort the process
    return dist.get_rank(), dist.get_world_size()


def all_reduce(xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each of ``xs`` summed over the group: the tensors of one dtype and device flattened into one
    buffer, reduced in one collective, and cut back into their shapes."""
    out: list[torch.Tensor | None] = [None] * len(xs)
    groups: dict[tuple[torch.dtype, torch.device], list[int]] = {}
    for i, x in enumerate(xs):
        groups.setdefault((x.dtype, x.device), []).append(i)
    compiling = torch.compiler.is_compiling()
    for indices in groups.values():
        flat = torch.cat([xs[i].reshape(-1) for i in indices])
        if compiling:  # a functional collective, which the compiler traces
            summed = funcol.all_reduce(flat, "sum", dist.group.WORLD)
        else:  # eagerly, in place on the new buffer: ~1.3 ms less a 1 MB reduce over gloo than funcol
            dist.all_reduce(flat)
            summed = flat
        for i, piece in zip(indices, torch.split(summed, [xs[i].numel() for i in indices])):
            out[i] = piece.view(xs[i].shape)
    return out


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
