"""bridge contenders: ``model.fit`` with ``compile(jit=mode)``, and a custom loop (GradientTape +
``optimizer.apply``) inside ``br.jit``, on either backend. Data and weights go to the device with
``br.device``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import models_layers
from workloads import LEARNING_RATE, Data, Workload

import bridge as br
from bridge import losses, nn, optim

# ``br.jit`` arguments that give the custom loop the same mode; a mode missing here is an error row.
LOOP_JIT: dict[Any, dict[str, Any]] = {
    False: {"enabled": False},
    True: {},
    "graph": {"mode": "graph"},
    "xla": {"mode": "xla"},
}


def bridge_device(device: str) -> str:
    return "gpu:0" if device == "gpu" else "cpu"


def _model(workload: Workload) -> Any:
    br.random.seed(0)
    return models_layers.build(nn, workload)


def _loss() -> Any:
    return losses.SparseCategoricalCrossentropy(from_logits=True)


def bridge_fit(
    workload: Workload, data: Data, device: str, backend: str, jit: Any, host_batches: bool = False
) -> Callable[[], None]:
    """A run of one ``fit`` epoch over ``data`` (the logs read to host at its end): the arrays,
    which go to the device once per ``fit``, or with ``host_batches`` a list of NumPy batches,
    each fed to the device as its step comes (as a generator or a data loader feeds them)."""
    where = bridge_device(device)
    with br.use_backend(backend), br.device(where):
        model = _model(workload)
        model.compile(optimizer=optim.Adam(LEARNING_RATE), loss=_loss(), jit=jit)
    x, y = data
    size = workload.batch
    batches = [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]

    def run() -> None:
        with br.use_backend(backend), br.device(where):
            if host_batches:
                model.fit(batches, epochs=1, verbose=0)
            else:
                model.fit(x, y, batch_size=size, epochs=1, shuffle=False, verbose=0)

    return run


def bridge_loop(workload: Workload, data: Data, device: str, backend: str, jit: Any) -> Callable[[], None]:
    """A run of custom-loop steps over ``data``'s batches, in ``br.jit`` as ``LOOP_JIT[jit]`` says."""
    if jit not in LOOP_JIT:
        raise NotImplementedError(f"no br.jit arguments for jit mode {jit!r} in LOOP_JIT")
    where = bridge_device(device)
    with br.use_backend(backend), br.device(where):
        model, loss_fn, optimizer = _model(workload), _loss(), optim.Adam(LEARNING_RATE)
        batches = list(br.data.batches(*data, batch_size=workload.batch))

    def step(xb: br.Tensor, yb: br.Tensor) -> br.Tensor:
        with br.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_weights), model.trainable_weights)
        return loss

    with br.use_backend(backend), br.device(where):
        step(*batches[0])  # eagerly once: builds the optimizer's slots outside the compiled function
    compiled = br.jit(step, **LOOP_JIT[jit])

    def run() -> None:
        with br.use_backend(backend), br.device(where):
            for xb, yb in batches:
                loss = compiled(xb, yb)
            float(loss)  # wait for the device

    return run
