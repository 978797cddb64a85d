"""``DataParallel``: the worker processes of one training run, each on a shard of every batch,
whose gradients the optimizer averages over the workers before each update (one all-reduce)."""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .. import ops
from .._context import ContextValue
from .._dispatch import current_backend, use_backend
from .._plugins import load_backend
from ..dtypes import float64
from ..errors import BridgeError, InvalidArgumentError, WorkersError
from ..tensor import Tensor
from ..tree import leaves, map_leaves
from ..variable import Variable

_CURRENT: ContextValue[DataParallel | None] = ContextValue("bridge_data_parallel", None)
_JOINED: list[DataParallel] = []  # the workers this process joined, where there are several
_REDUCTIONS = ("sum", "mean")


Signature = tuple[tuple[str, tuple[int, ...]], ...]


def _signature(tensors: list[Tensor]) -> Signature:
    """The dtypes and shapes of ``tensors``."""
    return tuple((str(t.dtype), tuple(t.shape)) for t in tensors)


def _shapes(signature: Signature) -> str:
    """A signature as errors show it: ``float32[4, 8], float32[8]``."""
    return ", ".join(f"{dtype}{list(shape)}" for dtype, shape in signature)


def worker_gpu(devices: list[str]) -> str | None:
    """The GPU of this worker among a machine's ``devices``: its ``LOCAL_RANK``'s (modulo the
    GPUs there are; none without GPUs)."""
    gpus = [d for d in devices if d != "cpu"]
    return gpus[int(os.environ.get("LOCAL_RANK", 0)) % len(gpus)] if gpus else None


def current() -> DataParallel | None:
    """The ``DataParallel`` whose ``scope`` (or ``run``) is active, if any."""
    return _CURRENT.get()


def joined() -> DataParallel | None:
    """The ``DataParallel`` of several workers this process joined last, if any."""
    return _JOINED[-1] if _JOINED else None


class DataParallel:
    """Join the workers the environment describes (``bridge.distribute.launch``, torchrun's
    variables, TensorFlow's ``TF_CONFIG``; none: one worker) on ``backend`` (the current one by
    default), with the framework's engine; a collective gives up after ``timeout`` seconds, so
    that workers that disagree fail rather than hang. On TensorFlow, make it before any tensor
    (TensorFlow configures its collectives at startup).

    In ``scope()`` (or ``run``), optimizers average each step's gradients over the workers before
    they update: every worker takes the same steps from the same weights, and, each training on
    its shard of a global batch (``distribute``), they reach the weights of one process training
    on the whole batch."""

    def __init__(self, backend: str | None = None, timeout: float = 300.0) -> None:
        self._backend = load_backend(backend) if backend is not None else current_backend()
        if not timeout > 0:
            raise InvalidArgumentError(f"DataParallel: timeout must be > 0 seconds, got {timeout!r}")
        try:
            self.rank, self.num_workers = self._backend.join_workers(float(timeout))
            if self.num_workers > 1:
                self._backend.worker_device = worker_gpu(self._backend.devices())
            self._agreed: set[Signature] = set()
            # each worker's weight in the gradients' average: its share of the global batch
            self._share = 1.0 / self.num_workers
            self._weight = Variable(ops.tensor(self._share, backend=self.backend), trainable=False)
        except BridgeError:
            raise
        except Exception as exc:
            raise WorkersError(
                f"DataParallel: backend {self._backend.name!r} could not join its workers (make DataParallel "
                f"first, before any tensor: TensorFlow configures its collectives at startup): {exc}"
            ) from exc
        if self.num_workers > 1:
            _JOINED.append(self)

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def num_replicas_in_sync(self) -> int:
        """The number of workers (TensorFlow's and Keras' name)."""
        return self.num_workers

    def __repr__(self) -> str:
        return f"DataParallel(backend={self.backend!r}, rank={self.rank}, num_workers={self.num_workers})"

    @contextlib.contextmanager
    def scope(self) -> Iterator[DataParallel]:
        """Optimizers average gradients over the workers inside (on this backend)."""
        token = _CURRENT.set(self)
        try:
            with use_backend(self.backend):
                yield self
        finally:
            _CURRENT.reset(token)

    def run(
        self, fn: Callable[..., Any], args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        """``fn(*args, **kwargs)`` inside ``scope()``: a custom loop's step, on this worker's shard."""
        with self.scope():
            return fn(*args, **(kwargs or {}))

    def all_reduce(self, tensors: list[Tensor], op: str = "sum") -> list[Tensor]:
        """Each of ``tensors`` summed (``op="mean"``: averaged) over the workers, in one collective
        per dtype; every worker must pass tensors of the same shapes and dtypes."""
        if op not in _REDUCTIONS:
            raise InvalidArgumentError(
                f"DataParallel.all_reduce: op must be one of {_REDUCTIONS}, got {op!r}"
            )
        tensors = [t if isinstance(t, Tensor) else ops.tensor(t, backend=self.backend) for t in tensors]
        if self.num_workers == 1 or not tensors:
            return tensors
        for t in tensors:
            if t._backend is not self._backend:
                raise InvalidArgumentError(
                    f"DataParallel.all_reduce: a {t.backend} tensor, for workers on backend {self.backend!r}"
                )
        # looked at eagerly only: a compiled step would guard on the set (and compile again)
        signature = _signature(tensors)
        if not self._backend.tracing() and signature not in self._agreed:
            self.check_agreement(tensors)
        out = self._reduced("all_reduce", tensors)
        return out if op == "sum" else [t / self.num_workers for t in out]

    def check_agreement(self, tensors: list[Tensor]) -> None:
        """Raise WorkersError, on every worker, unless all hold tensors of these dtypes and shapes
        (as the same model gives): one small collective, eagerly (under jit it cannot look). An
        all-reduce of lists that differ would fail inside the engine (gloo ends the process):
        ``all_reduce`` checks each list of shapes the first time it sees it, and
        ``share_variables`` (``Optimizer.build`` in ``scope()``, ``fit``) every time."""
        signature = _signature(tensors)
        if self.num_workers == 1 or self._backend.tracing():
            return
        if not self._same_everywhere(signature, tensors[0].device):
            raise WorkersError(
                f"DataParallel: the workers hold different tensors (rank {self.rank} of {self.num_workers} "
                f"holds [{_shapes(signature)}]): do all workers build the same model?"
            )
        self._agreed.add(signature)

    def agree(self, what: str, values: dict[str, Any]) -> None:
        """Raise WorkersError, on every worker, unless all were given the same ``values`` (numbers
        or strings by name: ``fit``'s batch size and batches per epoch); one small collective."""
        if self.num_workers > 1 and not self._same_everywhere(tuple(values.items()), "cpu"):
            given = ", ".join(f"{name}={value!r}" for name, value in values.items())
            raise WorkersError(
                f"DataParallel: the workers were given different {what} (rank {self.rank} of "
                f"{self.num_workers} has {given}): every worker must run the same call (each worker's "
                "error shows its own values)"
            )

    def _same_everywhere(self, signature: tuple[Any, ...], device: str) -> bool:
        """Whether every worker passed an equal ``signature``. Two numbers of this worker's: all
        workers agree iff the sums of them and of their squares are num_workers times this
        worker's own (a variance of zero); exact in float64."""
        mine = [float(len(signature) & 0xFFFFF), float(zlib.crc32(repr(signature).encode()) & 0xFFFFF)]
        values = ops.tensor(mine + [v * v for v in mine], dtype=float64, backend=self.backend, device=device)
        (summed,) = self._reduced("check", [values])
        return bool(np.array_equal(summed.numpy(), self.num_workers * values.numpy()))

    def _reduced(self, op: str, tensors: list[Tensor]) -> list[Tensor]:
        """``tensors`` summed over the workers by the engine; its failures as WorkersError."""
        try:
            return [Tensor(s, self._backend) for s in self._backend.all_reduce([t._native for t in tensors])]
        except Exception as exc:
            raise WorkersError(
                f"DataParallel.{op}: the workers could not reduce [{_shapes(_signature(tensors))}] (rank "
                f"{self.rank} of {self.num_workers}): a worker stopped or timed out, or the workers ran "
                f"different calls or models: {exc}"
            ) from exc

    def broadcast(self, tensors: list[Tensor]) -> list[Tensor]:
        """Rank 0's values of ``tensors`` (of the same shapes on every worker), on every worker."""
        if self.num_workers == 1:
            return tensors
        return self.all_reduce(tensors if self.rank == 0 else [ops.zeros_like(t) for t in tensors])

    def share_variables(self, variables: list[Variable]) -> None:
        """Check that every worker holds variables of these shapes (the same model), then give
        them rank 0's values, as torch's DDP does as it wraps a model: workers that initialized
        their weights from different seeds start from the same ones. Eagerly; ``Optimizer.build``
        in ``scope()`` does it for the variables it trains, and ``fit`` for all the model's."""
        if self.num_workers == 1 or not variables or self._backend.tracing():
            return
        self.check_agreement(list(variables))
        for variable, value in zip(variables, self.broadcast([v.value for v in variables])):
            variable.assign(value)

    def same_seed(self, seed: int) -> int:
        """Rank 0's ``seed`` (modulo 2**64, as data orders take it) on every worker: one data
        order for all, the one rank 0 alone would draw."""
        if self.num_workers == 1:
            return seed
        halves = divmod(seed % 2**64, 2**32)  # each exact in float64
        mine = ops.tensor([float(h) for h in halves], dtype=float64, backend=self.backend)
        high, low = (int(h) for h in self.broadcast([mine])[0].numpy())
        return high * 2**32 + low

    def anyone(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any worker (one small collective): for a decision every
        worker must take together, such as stopping."""
        if self.num_workers == 1:
            return flag
        return bool(self.reduce("sum", ops.tensor([float(flag)], backend=self.backend)).numpy()[0] > 0)

    def average_gradients(self, gradients: list[Tensor]) -> list[Tensor]:
        """The gradients averaged over the workers (what optimizers apply in ``scope()``), each
        worker's weighed by its share of the global batch: ``1 / num_workers``, or in ``fit``
        its rows over the batch's (``shard``), so that an uneven last batch averages as one
        process would."""
        if self.num_workers == 1 or not gradients:
            return gradients
        weights: dict[tuple[Any, str], Tensor] = {}
        for g in gradients:
            if (g.dtype, g.device) not in weights:
                weight = self._weight.astype(g.dtype)
                weights[g.dtype, g.device] = weight if weight.device == g.device else weight.to(g.device)
        return self.all_reduce([g * weights[g.dtype, g.device] for g in gradients])

    def shard(self, batch: Any) -> tuple[Any, float]:
        """This worker's rows of a global ``batch`` (a structure of tensors or arrays), as even
        shares as the rows allow (the first workers one more; none where there are fewer rows
        than workers), and its share of the rows: what ``weigh`` takes for a step on it."""
        (size,) = self._sizes("shard", 0, batch)
        rows, extra = divmod(size, self.num_workers)
        start = self.rank * rows + min(self.rank, extra)
        rows += self.rank < extra
        return map_leaves(lambda leaf: leaf[start : start + rows], batch), rows / size

    def weigh(self, share: float) -> None:
        """Weigh this worker's gradients by ``share`` in the averages of the steps to come (its
        rows over the global batch's, as ``fit`` does; ``1 / num_workers``, the default, for
        even shards): the shares of all workers add up to 1."""
        if share != self._share:
            self._weight.assign(share)
            self._share = share

    def _sizes(self, op: str, index: int, batch: Any) -> set[int]:
        sizes = {len(leaf) for leaf in leaves(batch)}
        if len(sizes) != 1:
            raise InvalidArgumentError(f"DataParallel.{op}: batch {index} has parts of sizes {sorted(sizes)}")
        return sizes

    @contextlib.contextmanager
    def summed(self, variables: list[Variable]) -> Iterator[None]:
        """Inside, ``variables`` (metrics' state: totals, counts) hold their sums over the workers;
        after, each worker's own again (an epoch goes on counting its own)."""
        if self.num_workers == 1 or not variables:
            yield
            return
        own = [v.value for v in variables]
        for variable, total in zip(variables, self.all_reduce(own)):
            variable.assign(total)
        try:
            yield
        finally:
            for variable, value in zip(variables, own):
                variable.assign(value)

    def reduce(self, op: str, value: Any) -> Tensor:
        """This worker's ``value`` (a loss, a count) summed or averaged over the workers."""
        return self.all_reduce([value], op)[0]

    def distribute(self, batches: Iterable[Any]) -> Iterator[Any]:
        """This worker's shard of each global batch (a tensor, an array, or a structure of them:
        ``(x, y)``, a dict): its ``1 / num_workers`` of the rows, the ``rank``-th. A global batch
        must split evenly (the shards' gradients are averaged with equal weights)."""
        for index, batch in enumerate(batches):
            (size,) = self._sizes("distribute", index, batch)
            if size % self.num_workers:
                raise InvalidArgumentError(
                    f"DataParallel.distribute: batch {index} of {size} rows does not split evenly over "
                    f"{self.num_workers} workers; use a global batch size divisible by {self.num_workers}"
                )
            yield self.shard(batch)[0]

    def close(self) -> None:
        """Leave the group (torch destroys its process group; TensorFlow keeps it to the end)."""
        self._backend.leave_workers()
