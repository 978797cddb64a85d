"""The contenders: who trains each model (framework and mode), how to build one, and which native
run each is compared with. Frameworks are imported only when a contender is built."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memory import Meter
from rounds import seconds_of
from workloads import Data, Workload

Run = Callable[[], None]
WARMUP_STEPS = 4  # untimed steps (whole runs) before the rounds: tracing, compiling, a recompile or two

# What each framework's ratios are to: (contender, mode).
BASELINES = {"torch": ("native torch", "eager"), "tensorflow": ("native tensorflow", "tf.function")}

# bridge's jit modes per backend, as compile(jit=...) takes them (models_bridge.LOOP_JIT maps each to
# br.jit's arguments for the custom loop): "graph" replays CUDA graphs on torch's GPUs, "xla" is XLA.
JIT_MODES: dict[str, tuple[Any, ...]] = {"torch": (False, True, "graph"), "tensorflow": (False, True, "xla")}


@dataclass(frozen=True)
class Contender:
    """One way to train a model: ``module.function(workload, data, device, **options)`` builds it
    and returns its run. A Keras contender (``keras_backend`` set) is built in a server process."""

    name: str
    framework: str
    mode: str
    needs: tuple[str, ...]
    module: str
    function: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    keras_backend: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name} | {self.framework} | {self.mode}"

    @property
    def baseline(self) -> str:
        return " ".join(BASELINES[self.framework])

    @property
    def is_baseline(self) -> bool:
        return (self.name, self.mode) == BASELINES[self.framework]

    def missing(self) -> str | None:
        """The first needed module that is not installed, if any."""
        return next((m for m in self.needs if importlib.util.find_spec(m) is None), None)

    def make(self, workload: Workload, data: Data, device: str) -> Run:
        builder = getattr(importlib.import_module(self.module), self.function)
        return builder(workload, data, device, **self.options)


def jit_mode_name(jit: Any) -> str:
    """How a jit mode shows in the results: ``eager``, ``jit``, or the mode's own name."""
    return "eager" if jit is False else "jit" if jit is True else str(jit)


def all_contenders(keras: bool = True, gpu: bool = False) -> list[Contender]:
    """Every contender, baselines first; the Keras ones only when ``keras``; jit="graph" and the
    native CUDA graph only on a ``gpu`` (on a CPU jit="graph" compiles as jit=True does)."""
    found = [
        Contender(
            "native torch", "torch", "eager", ("torch",), "models_torch", "native_torch", {"compiled": False}
        ),
        Contender(
            "native tensorflow",
            "tensorflow",
            "tf.function",
            ("tensorflow",),
            "models_tf",
            "native_tensorflow",
            {"xla": False},
        ),
        Contender(
            "native torch", "torch", "compile", ("torch",), "models_torch", "native_torch", {"compiled": True}
        ),
        Contender(
            "native tensorflow",
            "tensorflow",
            "xla",
            ("tensorflow",),
            "models_tf",
            "native_tensorflow",
            {"xla": True},
        ),
    ]
    if gpu:
        found.append(
            Contender("native torch", "torch", "cuda graph", ("torch",), "models_torch", "native_torch_graph")
        )
    if keras:
        for framework, mode in (("torch", "eager"), ("tensorflow", "tf.function")):
            needs = ("keras", framework)
            found.append(
                Contender(
                    "Keras 3 fit",
                    framework,
                    mode,
                    needs,
                    "models_keras",
                    "keras_fit",
                    keras_backend=framework,
                )
            )
    for backend, modes in JIT_MODES.items():
        for kind, function in (("bridge fit", "bridge_fit"), ("bridge custom loop", "bridge_loop")):
            for jit in (m for m in modes if m != "graph" or gpu):
                options = {"backend": backend, "jit": jit}
                mode = jit_mode_name(jit)
                found.append(Contender(kind, backend, mode, (backend,), "models_bridge", function, options))
        # Fed batch by batch from host memory, in the mode of the framework's own baseline.
        jit = backend == "tensorflow"
        options = {"backend": backend, "jit": jit, "host_batches": True}
        found.append(
            Contender(
                "bridge fit, host batches",
                backend,
                jit_mode_name(jit),
                (backend,),
                "models_bridge",
                "bridge_fit",
                options,
            )
        )
    return found


def select(contenders: list[Contender], substrings: list[str] | None) -> list[Contender]:
    """The contenders whose key contains one of ``substrings`` (any case), and the baselines."""
    if not substrings:
        return contenders
    wanted = [s.lower() for s in substrings]
    return [c for c in contenders if c.is_baseline or any(s in c.key.lower() for s in wanted)]


def require_gpu(framework: str) -> None:
    """Raise ``RuntimeError("no GPU for <framework>")`` unless ``framework`` sees a GPU."""
    if framework == "torch":
        import torch

        present = torch.cuda.is_available()
    else:
        import tensorflow as tf

        present = bool(tf.config.list_physical_devices("GPU"))
    if not present:
        raise RuntimeError(f"no GPU for {framework}")


def prepare(
    contender: Contender, workload: Workload, data: Data, device: str, meter: Meter | None
) -> tuple[Run, float | None]:
    """Build ``contender``, warm it up, and measure its peak memory over one more run when a
    ``meter`` is given; returns its run and the peak (MB, or None)."""
    if device == "gpu":
        require_gpu(contender.framework)
    if meter is not None:
        meter.before()
    run = contender.make(workload, data, device)
    for _ in range(-(-WARMUP_STEPS * workload.batch // len(data[1]))):
        run()
    if meter is None:
        return run, None
    meter.reset()
    seconds_of(run)
    return run, meter.peak_mb()
