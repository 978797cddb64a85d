"""Peak memory of one contender's training steps, in MB above what was in use before it was built.

On a GPU the framework's allocator counts (torch ``max_memory_allocated``, TensorFlow
``get_memory_info``); on the CPU the process's resident set (run in a fresh process: VmHWM, whose
peak is reset after warm-up through ``/proc/self/clear_refs`` where Linux allows, else ru_maxrss)."""

from __future__ import annotations

import resource
from pathlib import Path

MB = 2**20


class Meter:
    """``before()`` when nothing of the contender exists yet, ``reset()`` after its warm-up, then
    ``peak_mb()`` after a run: the run's peak above the ``before()`` level."""

    def before(self) -> None:
        self.base = self.current()

    def current(self) -> float:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def peak(self) -> float:
        raise NotImplementedError

    def peak_mb(self) -> float:
        return (self.peak() - self.base) / MB


class TorchCuda(Meter):
    def current(self) -> float:
        import torch

        return torch.cuda.memory_allocated()

    def reset(self) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats()

    def peak(self) -> float:
        import torch

        return torch.cuda.max_memory_allocated()


class TensorflowGpu(Meter):
    def current(self) -> float:
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["current"]

    def reset(self) -> None:
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")

    def peak(self) -> float:
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"]


class ResidentSet(Meter):
    """This process's resident set; meaningful in a process that runs one contender only."""

    STATUS, CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")

    def current(self) -> float:
        return self._status("VmRSS") if self.STATUS.exists() else self.peak()

    def reset(self) -> None:
        try:
            self.CLEAR.write_text("5")  # resets VmHWM to the current resident set
        except OSError:
            pass  # the peak then includes building and warm-up

    def peak(self) -> float:
        if self.STATUS.exists():
            return self._status("VmHWM")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0

    def _status(self, field: str) -> float:
        line = next(line for line in self.STATUS.read_text().splitlines() if line.startswith(field + ":"))
        return float(line.split()[1]) * 1024


def gpu_meter(framework: str) -> Meter:
    """The allocator meter of ``framework`` on the first GPU."""
    return TorchCuda() if framework == "torch" else TensorflowGpu()
