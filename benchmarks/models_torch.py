"""Native PyTorch contenders: the four models as ``torch.nn`` modules (NCHW for the CNN), trained by
an eager loop or with ``torch.compile`` on the model. Glorot-uniform weights and zero biases, as
the Keras-API builders get by default."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn
from workloads import (
    BN_EPSILON,
    CLASSES,
    CNN_FILTERS,
    LEARNING_RATE,
    LSTM_UNITS,
    MLP_UNITS,
    TRANSFORMER,
    Data,
    Workload,
)


def cheapen_compile() -> None:
    """Make every ``torch.compile`` (bridge's included) trace with Dynamo but skip Inductor's code
    generation, which takes minutes on two cores: for ``--quick``, which checks the harness only."""
    torch.compile = functools.partial(torch.compile, backend="eager")


def torch_device(device: str) -> torch.device:
    return torch.device("cuda" if device == "gpu" else "cpu")


def wait(device: torch.device) -> None:
    """Block until the device has finished the queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class LastState(nn.Module):
    """LSTM over the sequence, then the classifier on the last hidden state."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, LSTM_UNITS, batch_first=True)
        self.head = nn.Linear(LSTM_UNITS, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        return self.head(h[-1])


class Encoder(nn.Module):
    """``TransformerEncoderLayer`` (post-norm, ReLU, no dropout), mean over the sequence, classifier."""

    def __init__(self) -> None:
        super().__init__()
        width = TRANSFORMER["width"]
        self.block = nn.TransformerEncoderLayer(
            width,
            TRANSFORMER["heads"],
            TRANSFORMER["ffn"],
            dropout=0.0,
            layer_norm_eps=TRANSFORMER["epsilon"],
            batch_first=True,
        )
        self.head = nn.Linear(width, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(x).mean(dim=1))


def build(workload: Workload) -> nn.Module:
    """The module for ``workload``, initialized as Keras' defaults."""
    if workload.name == "mlp":
        sizes = (workload.input_shape[0], *MLP_UNITS)
        hidden = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        model: nn.Module = nn.Sequential(*hidden, nn.Linear(sizes[-1], CLASSES))
    elif workload.name == "cnn":
        channels = (workload.input_shape[-1], *CNN_FILTERS)
        blocks = [
            m
            for a, b in zip(channels, channels[1:])
            for m in (nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b, eps=BN_EPSILON), nn.ReLU())
        ]
        model = nn.Sequential(
            *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], CLASSES)
        )
    elif workload.name == "lstm":
        model = LastState(workload.input_shape[-1])
    else:
        model = Encoder()
    for name, weight in model.named_parameters():
        if weight.dim() >= 2:
            nn.init.xavier_uniform_(weight)
        elif "bias" in name:
            nn.init.zeros_(weight)
    return model


def _batches(workload: Workload, data: Data, where: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``data``'s batches on ``where``, NCHW for the CNN."""
    x, y = data
    if workload.name == "cnn":
        x = x.transpose(0, 3, 1, 2).copy()  # NHWC -> NCHW, torch's native layout
    xs, ys = torch.from_numpy(x).to(where), torch.from_numpy(y).to(where)
    return list(zip(xs.split(workload.batch), ys.split(workload.batch)))


def native_torch(workload: Workload, data: Data, device: str, compiled: bool) -> Callable[[], None]:
    """A run of Adam steps over ``data``'s batches; ``compiled`` wraps the model in ``torch.compile``."""
    where = torch_device(device)
    torch.manual_seed(0)
    model = build(workload).to(where)
    optimizer = torch.optim.Adam(model.parameters(), LEARNING_RATE)
    forward = torch.compile(model) if compiled else model
    batches = _batches(workload, data, where)

    def run() -> None:
        for xb, yb in batches:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(forward(xb), yb).backward()
            optimizer.step()
        wait(where)

    return run


def native_torch_graph(workload: Workload, data: Data, device: str) -> Callable[[], None]:
    """The whole step (forward, backward, Adam) captured once as a CUDA graph and replayed per
    batch after copying it into the graph's input tensors: the floor of a native step on a GPU
    (PyTorch's whole-network capture recipe; ``capturable`` Adam keeps its step count on the GPU)."""
    where = torch_device(device)
    if where.type != "cuda":
        raise RuntimeError("a CUDA graph needs a GPU")
    torch.manual_seed(0)
    model = build(workload).to(where)
    optimizer = torch.optim.Adam(model.parameters(), LEARNING_RATE, capturable=True)
    batches = _batches(workload, data, where)
    x, y = (t.clone() for t in batches[0])

    def step() -> None:
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up steps on a side stream, as capture asks
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)  # the gradients are allocated from the graph's pool
    with torch.cuda.graph(graph):
        step()

    def run() -> None:
        for xb, yb in batches:
            x.copy_(xb)
            y.copy_(yb)
            graph.replay()
        wait(where)

    return run
