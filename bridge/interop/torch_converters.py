"""The registry of torch -> bridge converters used by ``bridge.interop.from_torch``.

A converter ports one ``call_module`` node (keyed by the torch module class), one
``call_function`` node (keyed by the function: ``operator.add``, ``torch.cat``) or one
``call_method`` node (keyed by ``"Tensor.<name>"``)::

    @converter(torch.nn.LSTM)                 # or converter("torch.nn.modules.rnn.LSTM")
    def lstm(module, ctx: ConvertContext) -> Converted:
        layer = MyLSTM(..., name=ctx.layer_name(), dtype=ctx.dtype)
        return Converted(layer, ctx.source(layer, {"kernel": (("weight_ih_l0",), to_kernel)}))

``Converted.layer`` is called by the walker like the torch node: ``layer(*ctx.args, **ctx.kwargs)``,
the node's arguments with each torch value replaced by its bridge symbolic tensor (tuples kept),
and must return the same output structure. The walker then loads each bridge weight from the
``LayerSource``s: ``convert(*native arrays)`` for each ``WeightSource``.

Layouts: a value is ``PLAIN`` (bridge holds it in torch's order), ``CHANNELS_LAST`` (a
channels-first torch tensor of rank >= 3 held with its channel axis moved last) or
``FlatChannelsLast`` (a torch flattening of such a tensor, held flattened channels-last). Unless
a converter is registered with ``channels_last=True``, the walker gives it ``PLAIN`` inputs
only; one that is uses ``ctx.input_layouts`` with ``ctx.plain`` / ``ctx.channels_last`` (which
add the Permutes) and ``ctx.axis`` (torch's axis in the held layout), and says its outputs'
layout in ``Converted.output_layout``.

Importing this module does not import torch: converters are keyed by dotted *names*. The
built-in converters (the modules, functions and methods of ``supported()``) are at the end."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import nn
from ..errors import UnsupportedConversionError
from ..nn.torch_layers import (
    Index,
    Mean,
    ScalarOp,
    SpatialPad,
    TorchActivation,
    TorchBatchNormalization,
    TorchEmbedding,
)
from . import layouts
from ._sources import LayerSource, WeightSource

PLAIN = "plain"
CHANNELS_LAST = "channels_last"

ConverterFn = Callable[[Any, "ConvertContext"], "Converted"]
#: a bridge weight's short name -> (native names relative to the submodule, layout function)
Weights = dict[str, tuple[tuple[str, ...], Callable[..., Any]]]


@dataclass(frozen=True)
class Registered:
    """One registry entry: the converter and whether it accepts channels-last inputs."""

    fn: ConverterFn
    channels_last: bool = False


_REGISTRY: dict[str, Registered] = {}


def target_key(target: Any) -> str:
    """The registry key of a torch module class (``"torch.nn.modules.linear.Linear"``), a
    function (``"torch.cat"``, ``"operator.add"``, ``"torch.nn.functional.relu"``) or a string
    (itself: a dotted name or ``"Tensor.<method>"``)."""
    if isinstance(target, str):
        return target
    if isinstance(target, type):
        return f"{target.__module__}.{target.__qualname__}"
    module = getattr(target, "__module__", None) or ""
    module = {"_operator": "operator"}.get(module, module)
    return f"{module}.{getattr(target, '__name__', repr(target))}"


def converter(*targets: Any, channels_last: bool = False) -> Callable[[ConverterFn], ConverterFn]:
    """Register ``fn(module_or_target, ctx) -> Converted`` for each of ``targets``: torch module
    classes (or their dotted names), functions (or their dotted names), or ``"Tensor.<method>"``.
    A later registration of the same target replaces the earlier one."""

    def register(fn: ConverterFn) -> ConverterFn:
        for target in targets:
            _REGISTRY[target_key(target)] = Registered(fn, channels_last)
        return fn

    return register


def lookup(target: Any) -> Registered | None:
    """The entry for a module class, function or method name. A subclass of a registered module
    class that keeps its ``forward`` (torch's ``NonDynamicallyQuantizableLinear``) uses the entry
    of its registered base."""
    if not isinstance(target, type):
        return _REGISTRY.get(target_key(target))
    for cls in target.__mro__:
        entry = _REGISTRY.get(target_key(cls))
        if entry is not None:
            return entry
        if "forward" in vars(cls):  # a forward of its own: not the registered one
            return None
    return None


def is_registered_module(cls: type) -> bool:
    """Whether ``cls`` (a torch module class) has a converter: the tracer keeps it a leaf."""
    return lookup(cls) is not None


def supported() -> list[str]:
    """Every registered module class, function and method, by name."""
    return sorted(_REGISTRY)


@dataclass(frozen=True)
class Converted:
    """A converter's result: ``layer`` (a bridge Layer or a callable composing bridge layers),
    called like the torch node; ``sources``: the native weights of the bridge layers it made;
    ``output_layout``: ``PLAIN`` / ``CHANNELS_LAST``, or a structure of them matching the
    outputs."""

    layer: Callable[..., Any]
    sources: LayerSource | Sequence[LayerSource] = ()
    output_layout: Any = PLAIN

    @property
    def source_list(self) -> list[LayerSource]:
        return [self.sources] if isinstance(self.sources, LayerSource) else list(self.sources)


@dataclass
class ConvertContext:
    """What a converter knows of its node.

    ``name``: the submodule's qualified name (``call_module``) or the fx node name;
    ``node``: the ``torch.fx.Node``; ``position``: its index in the graph;
    ``args`` / ``kwargs``: the node's arguments, torch values replaced by bridge symbolic tensors;
    ``input_shapes`` / ``input_dtypes`` / ``input_layouts``: of the tensor inputs, in order, in
    torch's axis order (shapes from ``ShapeProp`` on the example inputs);
    ``output_shapes``: the node's output tensor shapes, in order; ``dtype``: the bridge dtype name;
    ``what``: the module class or op name (for messages)."""

    name: str
    node: Any
    position: int
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    input_shapes: tuple[tuple[int, ...], ...]
    input_layouts: tuple[str, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    dtype: str
    input_dtypes: tuple[str, ...] = ()
    _names: set[str] = field(default_factory=set, repr=False)
    what: str = ""

    def layer_name(self, suffix: str = "") -> str:
        """A unique bridge layer name made of the torch name (dots -> ``_``) and ``suffix``."""
        base = self.name.replace(".", "_") + (f"_{suffix}" if suffix else "")
        for n in itertools.count():
            name = base if n == 0 else f"{base}_{n}"
            if name not in self._names:
                self._names.add(name)
                return name
        raise AssertionError("unreachable")

    def plain(self, x: Any, i: int = 0) -> Any:
        """Tensor input ``i`` (held as ``x``) in torch's own axis order (a Permute, or for a
        channels-last flattening Reshape-Permute-Flatten, where needed)."""

        layout, shape = self.input_layouts[i], self.input_shapes[i]
        if layout == CHANNELS_LAST:
            dims = _permute_dims(len(shape), False)
            return nn.Permute(dims, name=self.layer_name("to_torch_order"), dtype=self.dtype)(x)
        if isinstance(layout, FlatChannelsLast):
            c, *spatial = layout.shape
            x = nn.Reshape((*spatial, c), name=self.layer_name("unflatten"), dtype=self.dtype)(x)
            dims = _permute_dims(len(spatial) + 2, False)
            x = nn.Permute(dims, name=self.layer_name("to_torch_order"), dtype=self.dtype)(x)
            return nn.Flatten(name=self.layer_name("flatten"), dtype=self.dtype)(x)
        return x

    def channels_last(self, x: Any, i: int = 0) -> Any:
        """Tensor input ``i`` (held as ``x``, rank >= 3) with its channel axis (torch's 1) last."""

        if self.input_layouts[i] == CHANNELS_LAST:
            return x
        x = self.plain(x, i)
        dims = _permute_dims(len(self.input_shapes[i]), True)
        return nn.Permute(dims, name=self.layer_name("to_channels_last"), dtype=self.dtype)(x)

    def axis(self, torch_axis: int, i: int = 0) -> int:
        """Torch's axis ``torch_axis`` of tensor input ``i`` in the held layout."""
        return held_axis(self.input_layouts[i], len(self.input_shapes[i]), torch_axis)

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """The node's argument by position or keyword (the function's own signature)."""
        if len(self.args) > index:
            return self.args[index]
        return self.kwargs.get(name, default)

    def unsupported(self, why: str) -> Exception:
        """An ``UnsupportedConversionError`` naming this node, its place and ``why``."""

        node = f" ({self.node.format_node()})" if self.node is not None else ""
        return UnsupportedConversionError(
            f"from_torch: {self.what} {self.name!r} at node {self.position}{node}, input shapes "
            f"{list(self.input_shapes)}: {why}"
        )

    def source(
        self,
        layer: Any,
        weights: Weights | None = None,
        *,
        gradients: dict[str, Callable[..., Any]] | None = None,
        output: Callable[..., Any] | None = None,
        at: Any = None,
    ) -> LayerSource:
        """The ``LayerSource`` of bridge ``layer`` porting this submodule: ``weights`` maps the
        bridge weight's short name (``"kernel"``) to (the native parameter/buffer names relative to
        this submodule, the layout function); names are made full (``"features.0.weight"``).
        ``at``: the bridge layer whose output is the submodule's, where not ``layer`` (a crop
        after a transposed convolution)."""
        prefix = f"{self.name}." if self.node is not None and self.node.op == "call_module" else ""
        gradients = gradients or {}
        return LayerSource(
            layer=(at or layer).name,
            native=self.name,
            weights={
                f"{layer.name}/{short}": WeightSource(
                    tuple(prefix + n for n in natives), convert, gradients.get(short)
                )
                for short, (natives, convert) in (weights or {}).items()
            },
            output=output,
        )


# ---------------------------------------------------------------------------------------------
# Layouts of the values the walker holds


@dataclass(frozen=True)
class FlatChannelsLast:
    """A torch ``(N, C*H*W)`` flattening of a channels-first ``shape`` = ``(C, H, W)``, held as the
    channels-last flattening ``(N, H*W*C)``: a ``Linear`` reading it gets its input rows
    permuted (``layouts.flat_linear_kernel``)."""

    shape: tuple[int, ...]


def _permute_dims(rank: int, to_channels_last: bool) -> tuple[int, ...]:
    """``nn.Permute`` dims moving the channel axis of a rank-``rank`` tensor last / back to 1."""
    if to_channels_last:
        return (*range(2, rank), 1)
    return (rank - 1, *range(1, rank - 1))


def held_axis(layout: Any, rank: int, torch_axis: int) -> int:
    """Where torch's axis ``torch_axis`` of a rank-``rank`` tensor sits in the held tensor."""
    axis = torch_axis % rank
    if layout != CHANNELS_LAST or axis == 0:
        return axis
    return rank - 1 if axis == 1 else axis - 1


# ---------------------------------------------------------------------------------------------
# Built-in converters: torch.nn modules

_MODULES = "torch.nn.modules."


def _chain(*steps: Callable[[Any], Any]) -> Callable[..., Any]:
    """A callable applying ``steps`` in order to its first argument (the node's tensor)."""

    def run(x: Any, *_: Any, **__: Any) -> Any:
        for step in steps:
            x = step(x)
        return x

    return run


def _ints(value: Any, rank: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else (int(value),) * rank


def _pad_layer(ctx: ConvertContext, pads: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
    """Explicit padding of a channels-last tensor: ZeroPadding1D/2D, else ``SpatialPad``."""

    name = ctx.layer_name("pad")
    if value == 0.0 and len(pads) == 1:
        return nn.ZeroPadding1D(pads[0], name=name, dtype=ctx.dtype)
    if value == 0.0 and len(pads) == 2:
        return nn.ZeroPadding2D(pads, name=name, dtype=ctx.dtype)
    return SpatialPad(pads, value, name=name, dtype=ctx.dtype)


def _kernel_and_bias(module: Any) -> Weights:
    weights: Weights = {"kernel": (("weight",), layouts.conv_kernel)}
    if module.bias is not None:
        weights["bias"] = (("bias",), layouts.identity)
    return weights


def _spatial_rank(ctx: ConvertContext, rank: int) -> None:
    if len(ctx.input_shapes[0]) != rank + 2:
        raise ctx.unsupported(f"needs a batched input of rank {rank + 2} (N, C, *spatial)")


@converter(f"{_MODULES}linear.Linear", channels_last=True)
def linear(module: Any, ctx: ConvertContext) -> Converted:
    layer = nn.Dense(
        module.out_features, use_bias=module.bias is not None, name=ctx.layer_name(), dtype=ctx.dtype
    )
    layout = ctx.input_layouts[0]
    if isinstance(layout, FlatChannelsLast):
        kernel, run = layouts.flat_linear_kernel(layout.shape), _chain(layer)
    else:
        kernel, run = layouts.linear_kernel, _chain(ctx.plain, layer)
    weights: Weights = {"kernel": (("weight",), kernel)}
    if module.bias is not None:
        weights["bias"] = (("bias",), layouts.identity)
    return Converted(run, ctx.source(layer, weights))


_CONVS = {1: nn.Conv1D, 2: nn.Conv2D, 3: nn.Conv3D}


@converter(f"{_MODULES}conv.Conv1d", f"{_MODULES}conv.Conv2d", f"{_MODULES}conv.Conv3d", channels_last=True)
def conv(module: Any, ctx: ConvertContext) -> Converted:
    rank = len(module.kernel_size)
    _spatial_rank(ctx, rank)
    if module.padding_mode != "zeros":
        raise ctx.unsupported(f"padding_mode={module.padding_mode!r} (only 'zeros' is supported)")
    pads: tuple[tuple[int, int], ...] = ()
    if isinstance(module.padding, str):
        mode = module.padding
    else:
        mode, pads = layouts.symmetric_padding(
            module.padding, module.kernel_size, module.stride, module.dilation
        )
    layer = _CONVS[rank](
        module.out_channels,
        module.kernel_size,
        strides=module.stride,
        padding=mode,
        dilation_rate=module.dilation,
        groups=module.groups,
        use_bias=module.bias is not None,
        name=ctx.layer_name(),
        dtype=ctx.dtype,
    )
    steps: list[Callable[[Any], Any]] = [ctx.channels_last, *([_pad_layer(ctx, pads)] if pads else []), layer]
    source = ctx.source(layer, _kernel_and_bias(module), output=layouts.channels_last)
    return Converted(_chain(*steps), source, CHANNELS_LAST)


_CONV_TRANSPOSES = {1: (nn.Conv1DTranspose, nn.Cropping1D), 2: (nn.Conv2DTranspose, nn.Cropping2D)}


@converter(f"{_MODULES}conv.ConvTranspose1d", f"{_MODULES}conv.ConvTranspose2d", channels_last=True)
def conv_transpose(module: Any, ctx: ConvertContext) -> Converted:
    rank = len(module.kernel_size)
    _spatial_rank(ctx, rank)
    if module.groups != 1 or any(d != 1 for d in module.dilation) or module.padding_mode != "zeros":
        raise ctx.unsupported("groups, dilation and padding_mode other than 1, 1 and 'zeros'")
    transpose, crop = _CONV_TRANSPOSES[rank]
    layer = transpose(
        module.out_channels,
        module.kernel_size,
        strides=module.stride,
        padding="valid",
        output_padding=module.output_padding,
        use_bias=module.bias is not None,
        name=ctx.layer_name(),
        dtype=ctx.dtype,
    )
    steps: list[Callable[[Any], Any]] = [ctx.channels_last, layer]
    cropped = None
    if any(module.padding):
        pairs = tuple((p, p) for p in module.padding)
        cropped = crop(pairs[0] if rank == 1 else pairs, name=ctx.layer_name("crop"), dtype=ctx.dtype)
        steps.append(cropped)
    source = ctx.source(layer, _kernel_and_bias(module), output=layouts.channels_last, at=cropped)
    return Converted(_chain(*steps), source, CHANNELS_LAST)


def _channel_axis_last(ctx: ConvertContext) -> tuple[Callable[[Any], Any], Any, Any]:
    """For a layer over torch's axis 1: (the input conversion, the output layout, the output's
    layout function): plain for (N, C), channels-last for (N, C, *spatial)."""
    if len(ctx.input_shapes[0]) == 2:
        return ctx.plain, PLAIN, None
    return ctx.channels_last, CHANNELS_LAST, layouts.channels_last


def _scale_and_shift(affine: bool, has_bias: bool = True) -> Weights:
    weights: Weights = {}
    if affine:
        weights["gamma"] = (("weight",), layouts.identity)
        if has_bias:
            weights["beta"] = (("bias",), layouts.identity)
    return weights


@converter(
    f"{_MODULES}batchnorm.BatchNorm1d",
    f"{_MODULES}batchnorm.BatchNorm2d",
    f"{_MODULES}batchnorm.BatchNorm3d",
    channels_last=True,
)
def batchnorm(module: Any, ctx: ConvertContext) -> Converted:

    if module.momentum is None or not module.track_running_stats:
        raise ctx.unsupported("momentum=None (a cumulative average) or track_running_stats=False")
    layer = TorchBatchNormalization(
        axis=-1,
        momentum=layouts.batchnorm_momentum(module.momentum),
        epsilon=module.eps,
        center=module.affine,
        scale=module.affine,
        name=ctx.layer_name(),
        dtype=ctx.dtype,
    )
    into, layout, output = _channel_axis_last(ctx)
    weights = {
        **_scale_and_shift(module.affine),
        "moving_mean": (("running_mean",), layouts.identity),
        "moving_variance": (("running_var",), layouts.identity),
    }
    return Converted(_chain(into, layer), ctx.source(layer, weights, output=output), layout)


@converter(f"{_MODULES}normalization.LayerNorm")
def layernorm(module: Any, ctx: ConvertContext) -> Converted:
    rank, n = len(ctx.input_shapes[0]), len(module.normalized_shape)
    has_bias = module.elementwise_affine and getattr(module, "bias", None) is not None
    layer = nn.LayerNormalization(
        axis=-1 if n == 1 else list(range(rank - n, rank)),
        epsilon=module.eps,
        center=has_bias,
        scale=module.elementwise_affine,
        name=ctx.layer_name(),
        dtype=ctx.dtype,
    )
    return Converted(layer, ctx.source(layer, _scale_and_shift(module.elementwise_affine, has_bias)))


@converter(f"{_MODULES}normalization.GroupNorm", channels_last=True)
def groupnorm(module: Any, ctx: ConvertContext) -> Converted:
    layer = nn.GroupNormalization(
        groups=module.num_groups,
        axis=-1,
        epsilon=module.eps,
        center=module.affine,
        scale=module.affine,
        name=ctx.layer_name(),
        dtype=ctx.dtype,
    )
    into, layout, output = _channel_axis_last(ctx)
    return Converted(
        _chain(into, layer), ctx.source(layer, _scale_and_shift(module.affine), output=output), layout
    )


@converter(f"{_MODULES}sparse.Embedding")
def embedding(module: Any, ctx: ConvertContext) -> Converted:

    if module.max_norm is not None or module.scale_grad_by_freq or module.sparse:
        raise ctx.unsupported("max_norm, scale_grad_by_freq and sparse are not supported")
    layer = TorchEmbedding(
        module.num_embeddings,
        module.embedding_dim,
        padding_idx=module.padding_idx,
        name=ctx.layer_name(),
        dtype=ctx.dtype,
    )
    return Converted(layer, ctx.source(layer, {"embeddings": (("weight",), layouts.identity)}))


# -- elementwise: the layout passes through --------------------------------------------------


def _elementwise(ctx: ConvertContext, layer: Any, source: bool = True) -> Converted:
    sources = ctx.source(layer, output=_output_of(ctx)) if source else ()
    return Converted(_chain(layer), sources, ctx.input_layouts[0])


def _output_of(ctx: ConvertContext) -> Any:
    """The layout function of an elementwise layer's output: that of its input's held layout."""
    layout = ctx.input_layouts[0]
    if isinstance(layout, FlatChannelsLast):
        return layouts.flat_channels_last(layout.shape)
    return layouts.channels_last if layout == CHANNELS_LAST else None


def _is_module(ctx: ConvertContext) -> bool:
    return ctx.node is not None and ctx.node.op == "call_module"


_NAMED_ACTIVATIONS = {
    "ReLU": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "SiLU": "silu",
}


@converter(*(f"{_MODULES}activation.{cls}" for cls in _NAMED_ACTIVATIONS), channels_last=True)
def named_activation(module: Any, ctx: ConvertContext) -> Converted:
    layer = nn.Activation(_NAMED_ACTIVATIONS[type(module).__name__], name=ctx.layer_name(), dtype=ctx.dtype)
    return _elementwise(ctx, layer)


@converter(f"{_MODULES}activation.Softplus", channels_last=True)
def softplus(module: Any, ctx: ConvertContext) -> Converted:
    if module.beta != 1:
        raise ctx.unsupported(f"Softplus(beta={module.beta}) (only beta=1)")
    return _elementwise(ctx, nn.Activation("softplus", name=ctx.layer_name(), dtype=ctx.dtype))


def _torch_activation(ctx: ConvertContext, function: str, **options: Any) -> Converted:

    layer = TorchActivation(function, options, name=ctx.layer_name(), dtype=ctx.dtype)
    return _elementwise(ctx, layer, source=_is_module(ctx))


@converter(f"{_MODULES}activation.GELU", channels_last=True)
def gelu(module: Any, ctx: ConvertContext) -> Converted:
    return _torch_activation(ctx, "gelu", approximate=module.approximate == "tanh")


@converter(f"{_MODULES}activation.LeakyReLU", channels_last=True)
def leaky_relu(module: Any, ctx: ConvertContext) -> Converted:
    return _torch_activation(ctx, "leaky_relu", negative_slope=float(module.negative_slope))


@converter(f"{_MODULES}activation.ELU", channels_last=True)
def elu(module: Any, ctx: ConvertContext) -> Converted:
    return _torch_activation(ctx, "elu", alpha=float(module.alpha))


def _softmax(ctx: ConvertContext, function: str, dim: Any) -> Converted:
    if dim is None:
        raise ctx.unsupported(f"{function} without dim (torch's implicit dim is deprecated); give dim")
    return _torch_activation(ctx, function, axis=ctx.axis(int(dim)))


@converter(f"{_MODULES}activation.Softmax", channels_last=True)
def softmax_module(module: Any, ctx: ConvertContext) -> Converted:
    return _softmax(ctx, "softmax", module.dim)


@converter(f"{_MODULES}activation.LogSoftmax", channels_last=True)
def log_softmax_module(module: Any, ctx: ConvertContext) -> Converted:
    return _softmax(ctx, "log_softmax", module.dim)


@converter(f"{_MODULES}linear.Identity", "Tensor.contiguous", channels_last=True)
def identity(module: Any, ctx: ConvertContext) -> Converted:
    return Converted(_chain(), (), ctx.input_layouts[0])


@converter(f"{_MODULES}dropout.Dropout", channels_last=True)
def dropout(module: Any, ctx: ConvertContext) -> Converted:
    return _elementwise(ctx, nn.Dropout(float(module.p), name=ctx.layer_name(), dtype=ctx.dtype))


# -- shape -----------------------------------------------------------------------------------


def _flatten(ctx: ConvertContext, start: int, end: int) -> Converted:
    """torch.flatten(x, start, end): of a channels-last value from axis 1 to the end, the
    channels-last flattening (a following Linear permutes its rows); else in torch's order."""
    shape = ctx.input_shapes[0]
    rank = len(shape)
    start, end = start % rank, end % rank
    if start == 0:
        raise ctx.unsupported("flattening into the batch axis (start_dim=0)")
    layout = ctx.input_layouts[0]
    if start == 1 and end == rank - 1:
        if isinstance(layout, FlatChannelsLast) or rank == 2:
            return Converted(_chain(), (), layout)
        layer = nn.Flatten(name=ctx.layer_name(), dtype=ctx.dtype)
        if layout == CHANNELS_LAST:
            return Converted(_chain(layer), (), FlatChannelsLast(tuple(shape[1:])))
        return Converted(_chain(layer))
    return _reshape(ctx, ctx.output_shapes[0])


def _reshape(ctx: ConvertContext, shape: tuple[int, ...]) -> Converted:
    layer = nn.Reshape(tuple(shape[1:]), name=ctx.layer_name(), dtype=ctx.dtype)
    return Converted(_chain(ctx.plain, layer))


@converter(f"{_MODULES}flatten.Flatten", channels_last=True)
def flatten_module(module: Any, ctx: ConvertContext) -> Converted:
    return _flatten(ctx, module.start_dim, module.end_dim)


@converter("torch.flatten", "Tensor.flatten", channels_last=True)
def flatten(target: Any, ctx: ConvertContext) -> Converted:
    return _flatten(ctx, int(ctx.arg(1, "start_dim", 0)), int(ctx.arg(2, "end_dim", -1)))


@converter("Tensor.view", "Tensor.reshape", "torch.reshape", channels_last=True)
def reshape(target: Any, ctx: ConvertContext) -> Converted:
    before, after = ctx.input_shapes[0], ctx.output_shapes[0]
    if not after or before[0] != after[0]:
        raise ctx.unsupported(f"a reshape of {before} to {after} that changes the batch axis")
    if len(after) == 2 and len(before) > 2:
        return _flatten(ctx, 1, -1)
    if tuple(after) == tuple(before):
        return Converted(_chain(), (), ctx.input_layouts[0])
    return _reshape(ctx, after)


def _permute(ctx: ConvertContext, dims: tuple[int, ...]) -> Converted:
    rank = len(ctx.input_shapes[0])
    dims = tuple(d % rank for d in dims)
    if sorted(dims) != list(range(rank)) or dims[0] != 0:
        raise ctx.unsupported(f"permutation {dims} of a rank-{rank} tensor (the batch axis must stay first)")
    layout = ctx.input_layouts[0]
    held = ctx.plain if isinstance(layout, FlatChannelsLast) else _chain()
    if isinstance(layout, FlatChannelsLast):
        layout = PLAIN
    order = tuple(held_axis(layout, rank, d) for d in dims[1:])
    if order == tuple(range(1, rank)):
        return Converted(held)
    return Converted(_chain(held, nn.Permute(order, name=ctx.layer_name(), dtype=ctx.dtype)))


@converter("Tensor.permute", "torch.permute", channels_last=True)
def permute(target: Any, ctx: ConvertContext) -> Converted:
    rest = ctx.args[1:] or (ctx.kwargs["dims"],)
    dims = tuple(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else tuple(rest)
    return _permute(ctx, tuple(int(d) for d in dims))


@converter("Tensor.transpose", "torch.transpose", channels_last=True)
def transpose(target: Any, ctx: ConvertContext) -> Converted:
    rank = len(ctx.input_shapes[0])
    a, b = int(ctx.arg(1, "dim0")) % rank, int(ctx.arg(2, "dim1")) % rank
    dims = list(range(rank))
    dims[a], dims[b] = dims[b], dims[a]
    return _permute(ctx, tuple(dims))


@converter("Tensor.mean", "torch.mean", channels_last=True)
def mean(target: Any, ctx: ConvertContext) -> Converted:

    rank = len(ctx.input_shapes[0])
    dim, keepdim = ctx.arg(1, "dim"), bool(ctx.arg(2, "keepdim", False))
    if dim is None:
        raise ctx.unsupported("a mean over every axis, the batch included")
    dims = sorted({int(d) % rank for d in (dim if isinstance(dim, (list, tuple)) else (dim,))})
    if 0 in dims:
        raise ctx.unsupported("a mean over the batch axis")
    layout = ctx.input_layouts[0]
    name = ctx.layer_name()
    if layout == CHANNELS_LAST and dims == list(range(2, rank)) and rank <= 5:
        pool = _GLOBAL_AVERAGE[rank - 2](keepdims=keepdim, name=name, dtype=ctx.dtype)
        return Converted(_chain(pool), (), CHANNELS_LAST if keepdim else PLAIN)
    if layout == CHANNELS_LAST and keepdim:
        axes = [held_axis(layout, rank, d) for d in dims]
        return Converted(_chain(Mean(axes, True, name=name, dtype=ctx.dtype)), (), CHANNELS_LAST)
    return Converted(_chain(ctx.plain, Mean(dims, keepdim, name=name, dtype=ctx.dtype)))


# -- pooling ---------------------------------------------------------------------------------

_MAX_POOLS = {1: nn.MaxPooling1D, 2: nn.MaxPooling2D, 3: nn.MaxPooling3D}
_AVERAGE_POOLS = {1: nn.AveragePooling1D, 2: nn.AveragePooling2D, 3: nn.AveragePooling3D}
_GLOBAL_AVERAGE = {1: nn.GlobalAveragePooling1D, 2: nn.GlobalAveragePooling2D, 3: nn.GlobalAveragePooling3D}
_GLOBAL_MAX = {1: nn.GlobalMaxPooling1D, 2: nn.GlobalMaxPooling2D, 3: nn.GlobalMaxPooling3D}


def _pool(module: Any, ctx: ConvertContext, rank: int, maximum: bool) -> Converted:
    _spatial_rank(ctx, rank)
    if module.ceil_mode:
        raise ctx.unsupported("ceil_mode=True")
    kernel = _ints(module.kernel_size, rank)
    strides = _ints(module.stride if module.stride is not None else module.kernel_size, rank)
    pads = _ints(module.padding, rank)
    if maximum and (module.return_indices or any(d != 1 for d in _ints(module.dilation, rank))):
        raise ctx.unsupported("return_indices=True or dilation other than 1")
    if not maximum and (
        getattr(module, "divisor_override", None) or (any(pads) and not module.count_include_pad)
    ):
        raise ctx.unsupported("divisor_override, or padding with count_include_pad=False")
    layer = (_MAX_POOLS if maximum else _AVERAGE_POOLS)[rank](
        pool_size=kernel, strides=strides, padding="valid", name=ctx.layer_name(), dtype=ctx.dtype
    )
    padding = (
        [_pad_layer(ctx, tuple((p, p) for p in pads), -float("inf") if maximum else 0.0)] if any(pads) else []
    )
    source = ctx.source(layer, output=layouts.channels_last)
    return Converted(_chain(ctx.channels_last, *padding, layer), source, CHANNELS_LAST)


def _pooling(rank: int, maximum: bool, adaptive: bool) -> ConverterFn:
    def convert(module: Any, ctx: ConvertContext) -> Converted:
        return (_adaptive if adaptive else _pool)(module, ctx, rank, maximum)

    return convert


for _rank in (1, 2, 3):
    for _kind, _maximum in (("Max", True), ("Avg", False)):
        converter(f"{_MODULES}pooling.{_kind}Pool{_rank}d", channels_last=True)(
            _pooling(_rank, _maximum, False)
        )
        converter(f"{_MODULES}pooling.Adaptive{_kind}Pool{_rank}d", channels_last=True)(
            _pooling(_rank, _maximum, True)
        )


#: the functional forms of the pooling modules: their arguments after the input, in order
_POOLING_FUNCTIONS = {
    "MaxPool": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "AvgPool": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "AdaptiveAvgPool": ("output_size",),
    "AdaptiveMaxPool": ("output_size", "return_indices"),
}


def _pooling_function(rank: int, kind: str) -> ConverterFn:
    """``F.max_pool2d(x, 2)`` and the like: ported as the pooling module of the same arguments."""

    def convert(target: Any, ctx: ConvertContext) -> Converted:
        import torch

        arguments = {**dict(zip(_POOLING_FUNCTIONS[kind], ctx.args[1:])), **ctx.kwargs}
        module = getattr(torch.nn, f"{kind}{rank}d")(**arguments)
        return _pooling(rank, "Max" in kind, kind.startswith("Adaptive"))(module, ctx)

    return convert


for _rank in (1, 2, 3):
    for _kind, _targets in (
        ("MaxPool", (f"torch.nn.functional.max_pool{_rank}d",)),
        ("AvgPool", (f"torch.avg_pool{_rank}d", f"torch._C._nn.avg_pool{_rank}d")),
        (
            "AdaptiveAvgPool",
            (f"torch.adaptive_avg_pool{_rank}d", f"torch.nn.functional.adaptive_avg_pool{_rank}d"),
        ),
        ("AdaptiveMaxPool", (f"torch.nn.functional.adaptive_max_pool{_rank}d",)),
    ):
        converter(*_targets, channels_last=True)(_pooling_function(_rank, _kind))


def _adaptive(module: Any, ctx: ConvertContext, rank: int, maximum: bool) -> Converted:
    _spatial_rank(ctx, rank)
    size = _ints(module.output_size, rank) if module.output_size is not None else (None,) * rank
    spatial = tuple(ctx.input_shapes[0][2:])
    wanted = tuple(n if s is None else s for s, n in zip(size, spatial))
    if wanted == spatial:
        return Converted(_chain(), (), ctx.input_layouts[0])
    if wanted != (1,) * rank:
        raise ctx.unsupported(
            f"output_size {module.output_size} (only 1 = global pooling, or the input's size)"
        )
    layer = (_GLOBAL_MAX if maximum else _GLOBAL_AVERAGE)[rank](
        keepdims=True, name=ctx.layer_name(), dtype=ctx.dtype
    )
    source = ctx.source(layer, output=layouts.channels_last)
    return Converted(_chain(ctx.channels_last, layer), source, CHANNELS_LAST)


# ---------------------------------------------------------------------------------------------
# Built-in converters: functions and tensor methods


def _merge(ctx: ConvertContext, tensors: Sequence[Any], make: Callable[[Sequence[Any]], Any]) -> Converted:
    """``make(tensors)`` with every input in one layout: the shared one where the inputs agree on
    it and on their rank, else torch's."""
    layouts_ = set(ctx.input_layouts[: len(tensors)])
    ranks = {len(s) for s in ctx.input_shapes[: len(tensors)]}
    if len(layouts_) == 1 and len(ranks) == 1:
        return Converted(lambda *_, **__: make(list(tensors)), (), ctx.input_layouts[0])
    return Converted(lambda *_, **__: make([ctx.plain(t, i) for i, t in enumerate(tensors)]))


def _binary(layer_cls: Any, name: str) -> ConverterFn:
    """Two tensors: ``layer_cls`` (nn.Add, ...); a tensor and a Python number: ``ScalarOp``."""

    def convert(target: Any, ctx: ConvertContext) -> Converted:

        a, b = ctx.arg(0, "input"), ctx.arg(1, "other")
        if ctx.kwargs.get("alpha", 1) != 1:
            raise ctx.unsupported(f"{name} with alpha")
        numbers = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)]
        if numbers == [False, True] or numbers == [True, False]:
            value, reverse = (b, False) if numbers[1] else (a, True)
            layer = ScalarOp(name, value, reverse, name=ctx.layer_name(), dtype=ctx.dtype)
            return Converted(lambda *_, **__: layer(b if reverse else a), (), ctx.input_layouts[0])
        if layer_cls is None or len(ctx.input_shapes) != 2:
            supported = "a tensor and a Python number" + ("" if layer_cls is None else ", or two tensors")
            raise ctx.unsupported(f"{name} of these operands (supported: {supported})")
        return _merge(ctx, (a, b), layer_cls(name=ctx.layer_name(), dtype=ctx.dtype))

    return convert


for _names, _layer, _what in (
    (("operator.add", "operator.iadd", "torch.add", "Tensor.add"), nn.Add, "add"),
    (("operator.sub", "operator.isub", "torch.sub", "Tensor.sub"), nn.Subtract, "subtract"),
    (("operator.mul", "operator.imul", "torch.mul", "Tensor.mul"), nn.Multiply, "multiply"),
    (("operator.truediv", "operator.itruediv", "torch.div", "Tensor.div"), None, "divide"),
):
    converter(*_names, channels_last=True)(_binary(_layer, _what))


@converter("operator.neg", "torch.neg", "Tensor.neg", channels_last=True)
def negative(target: Any, ctx: ConvertContext) -> Converted:

    layer = ScalarOp("multiply", -1.0, name=ctx.layer_name(), dtype=ctx.dtype)
    return Converted(_chain(layer), (), ctx.input_layouts[0])


@converter("torch.cat", "torch.concat", channels_last=True)
def cat(target: Any, ctx: ConvertContext) -> Converted:
    tensors = list(ctx.arg(0, "tensors"))
    rank = len(ctx.input_shapes[0])
    dim = int(ctx.arg(1, "dim", 0)) % rank
    if dim == 0:
        raise ctx.unsupported("concatenation along the batch axis")
    same = len(set(ctx.input_layouts)) == 1 and not isinstance(ctx.input_layouts[0], FlatChannelsLast)
    axis = ctx.axis(dim) if same else dim

    def make(xs: Sequence[Any]) -> Any:
        return nn.Concatenate(axis=axis, name=ctx.layer_name(), dtype=ctx.dtype)(list(xs))

    return (
        _merge(ctx, tensors, make)
        if same
        else Converted(lambda *_, **__: make([ctx.plain(t, i) for i, t in enumerate(tensors)]))
    )


_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "relu": ("torch.relu", "torch.nn.functional.relu", "Tensor.relu"),
    "sigmoid": ("torch.sigmoid", "torch.nn.functional.sigmoid", "Tensor.sigmoid"),
    "tanh": ("torch.tanh", "torch.nn.functional.tanh", "Tensor.tanh"),
    "silu": ("torch.nn.functional.silu",),
}


def _named_function(activation: str) -> ConverterFn:
    def convert(target: Any, ctx: ConvertContext) -> Converted:
        return _elementwise(
            ctx, nn.Activation(activation, name=ctx.layer_name(), dtype=ctx.dtype), source=False
        )

    return convert


for _activation, _aliases in _FUNCTIONS.items():
    converter(*_aliases, channels_last=True)(_named_function(_activation))


@converter("torch.nn.functional.gelu", "torch._C._nn.gelu", channels_last=True)
def gelu_function(target: Any, ctx: ConvertContext) -> Converted:
    return _torch_activation(ctx, "gelu", approximate=ctx.kwargs.get("approximate", "none") == "tanh")


@converter("torch.nn.functional.softmax", "torch.softmax", "Tensor.softmax", channels_last=True)
def softmax_function(target: Any, ctx: ConvertContext) -> Converted:
    return _softmax(ctx, "softmax", ctx.arg(1, "dim"))


def _in_mode(ctx: ConvertContext, training: bool, index: int, name: str, default: Any) -> Any:
    """The node's argument as traced with the module in ``training`` mode: the walker's tracer
    records ``node.meta["args_by_mode"]`` where the two traces differ (``self.training`` read
    in ``forward`` is a constant of each trace)."""
    args, kwargs = ctx.node.meta.get("args_by_mode", {}).get(training, (ctx.node.args, ctx.node.kwargs))
    return args[index] if len(args) > index else kwargs.get(name, default)


@converter("torch.nn.functional.dropout", channels_last=True)
def dropout_function(target: Any, ctx: ConvertContext) -> Converted:
    """``F.dropout(x, p, training)``: ``training=self.training`` is a Dropout layer,
    ``training=False`` the identity; torch's default ``training=True`` (dropping in eval mode
    too) is refused."""
    rate = float(ctx.arg(1, "p", 0.5))
    modes = (bool(_in_mode(ctx, True, 2, "training", True)), bool(_in_mode(ctx, False, 2, "training", True)))
    if modes == (False, False):
        return Converted(_chain(), (), ctx.input_layouts[0])
    if modes != (True, False):
        raise ctx.unsupported(
            "F.dropout with training=True (torch's default) drops in eval mode too, which a bridge "
            "Dropout does not; pass training=self.training, or use nn.Dropout"
        )
    return _elementwise(ctx, nn.Dropout(rate, name=ctx.layer_name(), dtype=ctx.dtype), source=False)


def _index_spec(ctx: ConvertContext, item: Any) -> Any:
    if isinstance(item, slice):
        return [item.start, item.stop, item.step]
    if item is Ellipsis:
        return "..."
    if item is None or (isinstance(item, int) and not isinstance(item, bool)):
        return item
    raise ctx.unsupported(f"indexing with {item!r} (ints, slices, ... and None only)")


@converter("operator.getitem")
def getitem(target: Any, ctx: ConvertContext) -> Converted:
    """``x[index]`` of a tensor (``getitem`` of a tuple is the walker's), the batch axis kept."""

    index = ctx.args[1] if isinstance(ctx.args[1], tuple) else (ctx.args[1],)
    if index[:1] == (slice(None),):
        index = index[1:]
    elif index[:1] != (Ellipsis,):
        raise ctx.unsupported(f"indexing the batch axis ({ctx.node.args[1]!r}); start with ':' or '...'")
    spec = [_index_spec(ctx, item) for item in index]
    return Converted(_chain(Index(spec, name=ctx.layer_name(), dtype=ctx.dtype)))
