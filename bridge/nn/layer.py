"""``Layer``: Keras' build/call shape, written once over bridge ops.

Sublayers and Variables assigned as attributes (also inside lists, tuples and dicts) are tracked
automatically; weights live on the backend and device of the first input the layer sees."""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
import warnings
from collections import defaultdict
from typing import Any

import numpy as np

from .. import activations, constraints, initializers, regularizers
from .._context import compiling
from .._dispatch import current_backend, resolve_device, use_backend
from .._dispatch import device as on_device
from .._registry import snake_case
from ..dtypes import DType, as_dtype
from ..errors import ArgumentTypeError, InvalidArgumentError, NotBuiltError, SerializationError, ShapeError
from ..ops._core import as_tensor, op
from ..ops.creation import tensor, zeros
from ..random import SeedGenerator
from ..saving import loading
from ..saving.paths import seed_generator_paths
from ..tensor import Tensor
from ..tree import leaves, map_leaves
from ..variable import Variable, autocast, autocast_dtype
from .dtype_policy import as_policy
from .symbolic import call_symbolic, is_symbolic

_name_counts: defaultdict[str, itertools.count] = defaultdict(itertools.count)

#: ``training`` of the layer call in progress (None outside any), which inner layers called without
#: one take. A thread-local as Keras' call context: torch.compile traces through it, not a ContextVar.
_call_context = threading.local()


def _unique_name(cls: type, base: str | None = None) -> str:
    base = base or snake_case(cls.__name__)
    number = next(_name_counts[base])
    return base if number == 0 else f"{base}_{number}"


def _mask_of(x: Any) -> Tensor | None:
    """The mask a masking layer attached to ``x`` (see ``Layer.compute_mask``), if any."""
    return getattr(x, "_keras_mask", None) if isinstance(x, Tensor) else None


def _attach_masks(outputs: Any, masks: Any) -> None:
    """Attach ``masks`` (a tree like ``outputs``, or one mask) to the output tensors that carry
    none yet."""
    tensors, given = leaves(outputs), leaves(masks)
    for output, mask in zip(tensors, given if len(given) == len(tensors) else given * len(tensors)):
        if isinstance(output, Tensor) and mask is not None and _mask_of(output) is None:
            output._keras_mask = mask


def cast_keeping_mask(x: Tensor, dtype: Any) -> Tensor:
    """``x`` as ``dtype``, with the mask it carries."""
    if x.dtype is as_dtype(dtype):
        return x
    cast = x.astype(dtype)
    cast._keras_mask = _mask_of(x)
    return cast


def _training_parameter(call: Any) -> tuple[bool, bool | None]:
    """Whether ``call`` accepts ``training=``, and its default there (None if it has none)."""
    parameters = inspect.signature(call).parameters
    if "training" in parameters:
        default = parameters["training"].default
        return True, None if default is inspect.Parameter.empty else default
    return any(p.kind is p.VAR_KEYWORD for p in parameters.values()), None


def _marks_built(build: Any) -> Any:
    """``build`` that leaves the layer built once it succeeds, so that a layer built by hand
    (``layer.build((None, 4))``, then ``set_weights``) is not built again, with new weights, by its
    first call."""

    @functools.wraps(build)
    def built_after(self: Any, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs)
        self.built = True

    return built_after


class Layer:
    """Subclass and define ``build(input_shape)`` (create weights with ``add_weight``) and
    ``call(inputs)`` (``call(inputs, training=False)`` where training changes it); calling the
    layer builds it once, on its first input.

    ``inputs`` is a Tensor or a pytree of them (lists, tuples, namedtuples, dicts; see
    ``bridge.tree``): every leaf given as a NumPy array, a Python number or a framework
    tensor arrives in ``call`` as a Tensor, in the same structure, and ``build`` receives that
    structure with each Tensor replaced by its shape."""

    #: Attributes that hold no weights, left out of the search for them.
    _untracked_attributes: frozenset[str] = frozenset(
        {
            "_tracked_found",
            "_own_weights",
            "_regularized",
            "_init_arguments",
            "_inbound_nodes",
            "_output_shape",
        }
    )

    # whether ``call`` accepts ``training=`` (and ``mask=``), and its default there; read once per
    # subclass, so that jit tracing stays plain
    _call_takes_training, _call_training_default, _call_takes_mask = True, None, False
    #: whether the layer passes masks on (``compute_mask``): True where a subclass defines
    #: ``compute_mask``, as in Keras; a layer that does not support masking drops them
    supports_masking = False
    #: the arguments the layer was constructed with (see ``get_config``); None where unknown
    _init_arguments: dict[str, Any] | None = None
    #: Keras' legacy ``input_shape=``/``input_dim=``: the shape a Sequential's first layer gives
    #: the model's ``nn.Input``
    _input_shape_arg: tuple[int | None, ...] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._call_takes_training, cls._call_training_default = _training_parameter(cls.call)
        cls._call_takes_mask = "mask" in inspect.signature(cls.call).parameters
        if "compute_mask" in cls.__dict__ and "supports_masking" not in cls.__dict__:
            cls.supports_masking = True
        if "build" in cls.__dict__:  # `layer.build(shape)` called directly builds it, as in Keras
            cls.build = _marks_built(cls.__dict__["build"])  # type: ignore[method-assign]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        layer = super().__new__(cls)
        layer._init_arguments = _init_arguments(cls, args, kwargs)  # for get_config, as Keras
        return layer

    def __init__(
        self, name: str | None = None, trainable: bool = True, dtype: Any = None, **unknown: Any
    ) -> None:
        self._take_input_shape(unknown)
        if unknown:  # an argument of Keras' (or a typo) that this layer does not take
            kind = type(self).__name__
            raise ArgumentTypeError(
                f"{kind}: unknown argument(s) {sorted(unknown)}; see help({kind}) for the arguments it "
                "takes (bridge.nn follows Keras 3, without activity regularizers and a few other options)"
            )
        self.name = name or _unique_name(type(self))
        self.dtype_policy = as_policy(dtype)
        self.built = False
        self._trainable = trainable
        self._regularized: list[tuple[Variable, Any]] = []
        self._own_weights: list[Variable] = []  # add_weight's, in creation order
        self._output_shape: tuple[int, ...] | None = None  # of the last call's output, for summary
        self._inbound_nodes: list[Any] = []  # its calls on symbolic tensors (``nn.symbolic.Node``)

    def _take_input_shape(self, arguments: dict[str, Any]) -> None:
        """Keras' legacy ``input_dim=n`` (``input_shape=(n,)``) or ``input_shape=``, taken out of
        ``arguments`` (and the config) with Keras' warning; ``Sequential`` makes its Input of it."""
        input_dim = arguments.pop("input_dim", None)
        shape = (input_dim,) if input_dim is not None else arguments.pop("input_shape", None)
        if shape is None:
            return
        if not isinstance(shape, (tuple, list)) or not all(
            n is None or (isinstance(n, int) and not isinstance(n, bool) and n > 0) for n in shape
        ):
            raise ArgumentTypeError(
                f"{type(self).__name__}: input_shape must be a tuple of positive ints or None, got {shape!r}"
            )
        warnings.warn(
            f"{type(self).__name__}: do not pass an `input_shape`/`input_dim` argument to a layer; in a "
            "Sequential model, prefer an `nn.Input(shape)` as the first layer (as Keras 3 says).",
            UserWarning,
            stacklevel=3,
        )
        self._input_shape_arg = tuple(shape)
        if self._init_arguments is not None:
            for key in ("input_dim", "input_shape"):
                self._init_arguments.pop(key, None)

    @property
    def dtype(self) -> DType:
        """The dtype of the layer's variables (``dtype_policy.variable_dtype``, as Keras)."""
        return self.dtype_policy.variable_dtype

    @property
    def variable_dtype(self) -> DType:
        return self.dtype_policy.variable_dtype

    @property
    def compute_dtype(self) -> DType:
        """The dtype the layer computes in: floating inputs are cast to it, and inside ``call``
        the variables read as it (float16 under ``"mixed_float16"``)."""
        return self.dtype_policy.compute_dtype

    # --- building and calling --------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create the weights, knowing the input shape (a tuple, or the inputs' structure of
        them). The default creates none."""

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """The layer's computation: ``call(inputs)`` or ``call(inputs, training=False)``."""
        raise NotImplementedError(f"{type(self).__name__} must define call()")

    @property
    def input(self) -> Any:
        """What the layer was called on symbolically (Keras' ``layer.input``), when it was called
        once: the feature-extractor idiom ``nn.Model(model.inputs, layer.output)``."""
        return self._only_node("input").arguments[0]

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's one call on symbolic tensors (Keras'
        ``layer.output``)."""
        return self._only_node("output").outputs

    def _only_node(self, what: str) -> Any:
        nodes = getattr(self, "_inbound_nodes", [])
        if len(nodes) != 1:
            called = "was never called on symbolic tensors" if not nodes else f"was called {len(nodes)} times"
            raise InvalidArgumentError(
                f"{self.name}: {what} is defined for a layer called once in a functional model; it {called}"
            )
        return nodes[0]

    def compute_mask(self, inputs: Any, previous_mask: Any) -> Any:
        """The mask of the outputs (a bool Tensor, ``(batch, time)`` for sequences), given the
        inputs' (as Keras: the same mask, for a layer that ``supports_masking``)."""
        return previous_mask if self.supports_masking else None

    def __call__(self, inputs: Any, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        """Build on the first call, then ``call``. ``training`` is, as in Keras: the one given, else
        the enclosing layer call's (a Dropout inside a custom ``call`` trains when its model
        trains), else the default of this ``call``'s signature; None is not passed on.

        On symbolic tensors (``nn.Input`` and what layers made of it) the call is recorded for a
        functional model, and gives symbolic outputs. Masks (Keras'): the mask attached to the
        inputs is passed as ``mask=`` where ``call`` takes one, and the outputs get
        ``compute_mask``'s."""
        plain = isinstance(inputs, Tensor) and len(args) == 0 and not kwargs  # the common case, kept cheap
        if not plain and is_symbolic((inputs, args, kwargs)):
            if training is not None:
                kwargs["training"] = training
            return call_symbolic(self, inputs, args, kwargs)
        outer = getattr(_call_context, "training", None)
        if training is None:
            training = outer if outer is not None else self._call_training_default
        _call_context.training = training
        try:
            return self._build_and_call(inputs, args, kwargs, training)
        finally:
            _call_context.training = outer

    def _build_and_call(self, inputs: Any, args: Any, kwargs: dict[str, Any], training: bool | None) -> Any:
        if isinstance(inputs, Tensor):  # the common case, kept cheap
            masks = _mask_of(inputs)
            inputs = self._standardize(inputs)
        else:
            masks = map_leaves(_mask_of, inputs)
            inputs = map_leaves(self._standardize, inputs)
        if not self.built:
            first = next((t for t in leaves(inputs) if isinstance(t, Tensor)), None)
            if first is None:
                raise InvalidArgumentError(f"{self.name}: the inputs hold no tensor, got {inputs!r}")
            with use_backend(first.backend), on_device(first.device):
                self.build(map_leaves(lambda t: t.shape if isinstance(t, Tensor) else None, inputs))
            self.built = True
        if self._call_takes_training and training is not None:
            kwargs["training"] = training
        masked = masks is not None and any(m is not None for m in leaves(masks))
        if masked and self._call_takes_mask and kwargs.get("mask") is None:
            kwargs["mask"] = masks
        # variables read in the compute dtype inside a mixed layer, or inside another's scope (Keras)
        if self.dtype_policy.is_mixed or autocast_dtype() is not None:
            with autocast(self.compute_dtype if self.compute_dtype.kind == "f" else None):
                out = self.call(inputs, *args, **kwargs)
        else:
            out = self.call(inputs, *args, **kwargs)
        self._output_shape = out.shape if isinstance(out, Tensor) else None
        if self.supports_masking:
            _attach_masks(out, self.compute_mask(inputs, kwargs.get("mask", masks)))
        return out

    def _standardize(self, x: Any) -> Any:
        """An input leaf as a tensor (None stays None); floating ones in the layer's compute
        dtype (as Keras' autocast)."""
        if x is None:
            return None
        x = as_tensor(self.name, x) if not isinstance(x, Tensor) else x
        return cast_keeping_mask(x, self.compute_dtype) if x.dtype.kind == "f" else x

    # --- weights ---------------------------------------------------------------------------
    def add_weight(
        self,
        name: str,
        shape: Any,
        initializer: Any = "glorot_uniform",
        trainable: bool = True,
        dtype: Any = None,
        regularizer: Any = None,
        autocast: bool = True,
        constraint: Any = None,
    ) -> Variable:
        """A new Variable of this layer, drawn by ``initializer`` (a name, object or callable), in
        the policy's variable dtype unless ``dtype`` says otherwise. ``autocast=False`` keeps it
        in its own dtype inside ``call`` under a mixed policy (moving statistics). ``constraint``
        (a name, config, ``bridge.constraints`` object or callable) becomes the Variable's: the
        optimizers apply it after each update."""
        constraint = constraint_argument(self, "constraint", constraint)
        dtype = as_dtype(dtype) if dtype is not None else self.dtype
        shape = tuple(int(n) for n in shape)
        loading.take_weight(self.name, shape)  # a file being loaded holds at most so many
        draw = initializers.get(initializer)
        value = zeros(shape, dtype=dtype) if loading.weights_from_file() else draw(shape, dtype=dtype)
        variable = Variable(
            tensor(value, dtype=dtype),
            trainable=trainable,
            name=f"{self.name}/{name}",
            autocast=autocast,
            constraint=constraint,
        )
        regularizer = regularizers.get(regularizer)
        if regularizer is not None:
            self._regularized.append((variable, regularizer))
        self._own_weights.append(variable)
        self._forget_tracked()
        return variable

    def _tracked(self) -> tuple[list[Variable], list[Layer]]:
        """Own Variables (add_weight order first) and direct sublayers, deduplicated: found in the
        attributes in eager code, and kept for compiled code (which would otherwise read, and
        torch.compile guard on, every attribute: a step compiled again when any changes)."""
        kept = self.__dict__.get("_tracked_found")
        if kept is not None and compiling():
            return list(kept[0]), list(kept[1])
        variables: list[Variable] = []
        layers: list[Layer] = []
        seen: set[int] = set()
        untracked = self._untracked_attributes
        found: list[Any] = list(self._own_weights)
        for key, value in self.__dict__.items():  # one loop, no call per attribute: runs every step
            if key in untracked:
                continue
            if isinstance(value, (Layer, Variable)):
                found.append(value)
            elif isinstance(value, (list, tuple, dict)):
                found += [item for item in leaves(value) if isinstance(item, (Layer, Variable))]
        for item in found:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, Layer):
                layers.append(item)
            else:
                variables.append(item)
        self.__dict__["_tracked_found"] = (tuple(variables), tuple(layers))
        return variables, layers

    def _forget_tracked(self) -> None:
        """What ``_tracked`` found is out of date: a weight or sublayer came or went. (Set to None,
        not deleted: compiled code is guarded on the attributes there are.)"""
        if "_tracked_found" in self.__dict__:
            self.__dict__["_tracked_found"] = None

    def _held_weights(self, frozen: bool = False) -> list[tuple[Variable, bool]]:
        """``weights`` (before deduplication), each with whether a frozen layer holds it."""
        frozen = frozen or not self._trainable
        variables, layers = self._tracked()
        held = [(v, frozen) for v in variables if v.trainable] + [
            (v, frozen) for v in variables if not v.trainable
        ]
        for layer in layers:
            held += layer._held_weights(frozen)
        return held

    def _split(self) -> tuple[list[Variable], list[Variable]]:
        """(trainable, non-trainable) ``weights``, each in ``weights`` order; a frozen layer's
        are all non-trainable (wherever else they are held too)."""
        weights: dict[int, Variable] = {}
        frozen: set[int] = set()
        for v, by_frozen in self._held_weights():
            weights.setdefault(id(v), v)
            if by_frozen:
                frozen.add(id(v))
        trainable: list[Variable] = []
        fixed: list[Variable] = []
        for key, v in weights.items():
            (trainable if v.trainable and key not in frozen else fixed).append(v)
        return trainable, fixed

    @property
    def weights(self) -> list[Variable]:
        """All Variables, as Keras orders them: this layer's own (those created trainable first,
        each group in creation order), then each sublayer's in turn. Freezing a layer does not
        change the order, so ``get_weights``/``set_weights`` lists stay valid."""
        return _unique([v for v, _ in self._held_weights()])

    @property
    def trainable_weights(self) -> list[Variable]:
        return self._split()[0]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return self._split()[1]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """``False`` freezes the layer and its sublayers: their weights leave trainable_weights."""
        self._trainable = bool(value)

    @property
    def layers(self) -> list[Layer]:
        """Direct sublayers, in the order they were assigned."""
        return self._tracked()[1]

    @property
    def losses(self) -> list[Tensor]:
        """Regularization penalties of this layer's weights and its sublayers'."""
        own = [regularizer(variable) for variable, regularizer in self._regularized]
        return own + [loss for layer in self.layers for loss in layer.losses]

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, values: list[Any]) -> None:
        """Assign NumPy arrays to ``weights``, in order (counts and shapes must match)."""
        weights = self.weights
        if len(values) != len(weights):
            raise InvalidArgumentError(
                f"set_weights: layer {self.name!r} has {len(weights)} weights, got {len(values)} values"
            )
        for weight, value in zip(weights, values):
            shape = tuple(np.shape(value))
            if shape != weight.shape:
                raise ShapeError(
                    f"set_weights: weight {weight.name!r} has shape {weight.shape}, value has {shape}"
                )
        for weight, value in zip(weights, values):
            weight.assign(np.asarray(value))

    def count_params(self) -> int:
        if not self.built:
            raise NotBuiltError(
                f"count_params: layer {self.name!r} is not built yet; call it on an input first"
            )
        return int(sum(w.size for w in self.weights))

    @op()
    def to(self, device: str) -> Layer:
        """Move every weight (and seed-generator state) to ``device``, named as for ``Tensor.to``
        (``"cpu"``, ``"gpu:0"``, ``"cuda"``); the Variable objects stay, their values move. Steps
        compiled before (``br.jit``, the model's own) held the old values: models retrace theirs."""
        variables = self._state_variables()
        resolve_device(variables[0]._backend if variables else current_backend(), device)  # fail first
        for variable in variables:
            variable._relocate(device)
        Layer._moves += 1
        return self

    _moves = 0  # how many times any layer moved: compiled model steps made before are stale

    def _state_variables(self) -> list[Variable]:
        """The weights, then the seed generators' states, of this layer and its sublayers."""
        return _unique([*self.weights, *(generator.state for generator in self._seed_generators())])

    def _seed_generators(self) -> list[SeedGenerator]:
        """The seed generators of this layer and its sublayers (those that checkpoints keep)."""
        return list(seed_generator_paths(self).values())

    def _reset_stateful(self) -> None:
        """Forget what stateful sublayers (``RNN(stateful=True)``) held after a call on example
        zeros (the one-sample batch a functional model or an ``Input`` builds with)."""
        for layer in [self, *self._all_sublayers()]:
            if getattr(layer, "stateful", False) and hasattr(layer, "reset_states"):
                layer.reset_states()

    def _all_sublayers(self) -> list[Layer]:
        return [inner for layer in self.layers for inner in (layer, *layer._all_sublayers())]

    # --- configuration ---------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer (weights not included). A subclass
        that defines no ``get_config`` of its own gets, as in Keras, the arguments it was
        constructed with (those of ``name``, ``trainable`` and ``dtype`` its ``__init__`` takes)."""
        config = {"name": self.name, "trainable": self._trainable, "dtype": self.dtype_policy.name}
        cls = type(self)
        if cls.get_config is not Layer.get_config:  # called by a subclass's own get_config
            return config
        if self._init_arguments is None:
            raise SerializationError(
                f"{cls.__name__}: its constructor's arguments cannot be recorded (it takes *args); "
                "define get_config() to return the arguments that rebuild it"
            )
        parameters = _init_signature(cls).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            config = {key: value for key, value in config.items() if key in parameters}
        return {**config, **self._init_arguments}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


_signatures: dict[type, inspect.Signature] = {}


def _init_signature(cls: type) -> inspect.Signature:
    if cls not in _signatures:
        _signatures[cls] = inspect.signature(cls.__init__)  # type: ignore[misc]
    return _signatures[cls]


def _init_arguments(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments a layer is constructed with, by name (the values of ``**kwargs`` among them);
    None where they cannot be named (``*args``) or do not fit ``__init__`` (which then raises)."""
    try:
        bound = _init_signature(cls).bind(None, *args, **kwargs)
    except TypeError:
        return None
    parameters = _init_signature(cls).parameters
    arguments: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                return None
        elif kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[name] = value
    return arguments


def constraint_argument(layer: Layer, argument: str, value: Any) -> Any:
    """``constraints.get(value)``, its errors naming ``layer`` and ``argument`` (such as
    ``"kernel_constraint"``)."""
    try:
        return constraints.get(value)
    except InvalidArgumentError as error:
        raise type(error)(f"{type(layer).__name__} {layer.name!r}: {argument}: {error}") from None


def _unique(variables: list[Variable]) -> list[Variable]:
    return list({id(v): v for v in variables}.values())


class KernelLayer(Layer):
    """A layer with a kernel, an optional bias and an activation (Dense, Conv2D): the arguments,
    weights and configuration they share."""

    def __init__(
        self,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraint_argument(self, "kernel_constraint", kernel_constraint)
        self.bias_constraint = constraint_argument(self, "bias_constraint", bias_constraint)

    def _add_kernel_and_bias(self, kernel_shape: tuple[int, ...], units: int) -> None:
        self.kernel = self.add_weight(
            "kernel",
            kernel_shape,
            self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                "bias",
                (units,),
                self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
