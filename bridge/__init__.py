"""bridge: write deep-learning code once, run it on PyTorch or TensorFlow.

``import bridge as br`` imports no framework; a backend's framework is imported the first time
that backend is used.
"""

from . import (  # noqa: E402
    _plugins,
    activations,
    constraints,
    data,
    initializers,
    linalg,
    losses,
    metrics,
    nn,
    ops,
    optim,
    random,
    regularizers,
    saving,
    tree,
)
from ._dispatch import device, devices, get_backend, set_backend, use_backend
from ._plugins import BackendInfo, hookimpl, register_backend, unregister_backend
from ._version import __version__ as __version__
from .autodiff import GradientTape, custom_gradient, grad, jacobian, stop_gradient, value_and_grad
from .backend import Backend
from .dtypes import (
    DType,
    bfloat16,
    bool_,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)
from .errors import (
    ArgumentTypeError,
    AxisError,
    BackendMismatchError,
    BackendOpError,
    BridgeError,
    DeviceError,
    DTypeError,
    EquivalenceError,
    FileFormatError,
    FrameworkNotInstalledError,
    IncompatibleBackendError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    NonFiniteError,
    NoSuchFileError,
    SerializationError,
    ShapeError,
    SymbolicTensorError,
    TracedValueError,
    UnknownBackendError,
    UnsupportedConversionError,
    UnsupportedFeatureError,
    WeightsMismatchError,
)
from .jit import jit
from .ops.creation import (
    arange,
    asarray,
    convert,
    eye,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .tensor import Tensor
from .variable import Variable

bool = bool_  # noqa: A001  (br.bool, as the issue and NumPy users spell it)


def backends() -> dict[str, str]:
    """Installed backends, the default first: name -> the framework's version as the framework
    reports it (``torch.__version__``, ``tf.__version__``; package metadata can differ, e.g. for
    TensorFlow pre-releases), so this imports each installed framework."""
    return _plugins.framework_versions()


__all__ = [
    "nn",
    "optim",
    "constraints",
    "losses",
    "metrics",
    "data",
    "initializers",
    "regularizers",
    "activations",
    "saving",
    "Variable",
    "GradientTape",
    "grad",
    "value_and_grad",
    "jacobian",
    "stop_gradient",
    "custom_gradient",
    "jit",
    "UnsupportedFeatureError",
    "NonFiniteError",
    "Backend",
    "BackendInfo",
    "Tensor",
    "DType",
    "ops",
    "linalg",
    "random",
    "tree",
    "backends",
    "register_backend",
    "unregister_backend",
    "hookimpl",
    "set_backend",
    "get_backend",
    "use_backend",
    "device",
    "devices",
    "tensor",
    "asarray",
    "convert",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "full_like",
    "arange",
    "linspace",
    "eye",
    "bool",
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "BridgeError",
    "UnknownBackendError",
    "FrameworkNotInstalledError",
    "IncompatibleBackendError",
    "BackendMismatchError",
    "ShapeError",
    "SymbolicTensorError",
    "DTypeError",
    "AxisError",
    "DeviceError",
    "BackendOpError",
    "InvalidArgumentError",
    "ArgumentTypeError",
    "IndexOutOfRangeError",
    "TracedValueError",
    "FileFormatError",
    "NoSuchFileError",
    "UnsupportedConversionError",
    "EquivalenceError",
    "WeightsMismatchError",
    "SerializationError",
]
