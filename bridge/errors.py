"""Errors raised by bridge.

Every error is a ``BridgeError`` and also the builtin a user would catch for the same
mistake (``ValueError``, ``TypeError``, ...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    """Base class of every error bridge raises."""


class UnknownBackendError(BridgeError, ValueError):
    """A backend name that no installed or registered plugin provides."""


class FrameworkNotInstalledError(BridgeError, ImportError):
    """The backend's plugin is present but its framework cannot be imported."""


class BackendMismatchError(BridgeError, TypeError):
    """Tensors of two different backends met in one op."""


class ShapeError(BridgeError, ValueError):
    """Shapes that do not fit the op."""


class DTypeError(BridgeError, TypeError):
    """A dtype that is unknown or not supported by the op."""


class AxisError(BridgeError, ValueError, IndexError):
    """An axis outside the tensor's rank (also an IndexError, as in NumPy)."""


class IndexOutOfRangeError(BridgeError, IndexError):
    """An index outside the axis it picks from (a gather, an embedding lookup)."""


class TracedValueError(BridgeError, TypeError):
    """A Python value (``bool``, ``int``, ``float``) asked of a tensor inside ``br.jit``, where
    values are symbolic while the function compiles."""


class DeviceError(BridgeError, ValueError):
    """A device that is not present or not understood."""


class BackendOpError(BridgeError, RuntimeError):
    """The framework rejected an op for a reason bridge did not foresee; the native error is chained."""


class InvalidArgumentError(BridgeError, ValueError):
    """An argument value the op does not accept (an unknown mode, a negative size, ...)."""


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type, such as a float axis or size (``2.5`` is not truncated):
    a TypeError as in NumPy and also a ValueError as in Keras."""


class UnsupportedFeatureError(BridgeError, RuntimeError):
    """The backend does not provide a feature (autodiff, variables, jit) an op needs."""


class NonFiniteError(BridgeError, FloatingPointError):
    """A NaN or infinity where training needs finite numbers (a loss, a gradient)."""


class IncompatibleBackendError(BridgeError, ImportError):
    """A backend built for another version of the Backend contract than this bridge's."""


class SymbolicTensorError(ArgumentTypeError):
    """An operation other than a layer call on a functional model's symbolic tensor (``nn.Input``
    and what layers made of it), which holds no values."""


class NotBuiltError(BridgeError, RuntimeError):
    """A layer's weights were asked for before its first call (or ``build``)."""


class NoSymbolicInputError(NotBuiltError, AttributeError):
    """A model's symbolic ``input``/``output`` (or their shapes) were asked for where it has none:
    a Sequential that does not begin with an ``nn.Input``. An ``AttributeError``, as in Keras, so
    ``hasattr(model, "input_shape")`` is False there."""


class FileFormatError(BridgeError, ValueError):
    """A file that bridge cannot read as what it was asked to load: not a file, empty, truncated,
    damaged (its checksum does not match), not a safetensors file, not a bridge file of the kind
    asked for, or written by a newer bridge. The message names the file and the problem."""


class WeightsMismatchError(BridgeError, ValueError):
    """Saved weights that do not fit the model: missing, unexpected, or of another shape or dtype.
    The message names each one; nothing was assigned."""


class SerializationError(BridgeError, TypeError):
    """Something a saved config cannot hold: a lambda, a callable without a name, an object with
    no ``get_config``, a value JSON cannot hold. (Classes and functions of your own are saved by
    name, found again through ``register_serializable`` or ``custom_objects``.)"""


class NoSuchFileError(FileFormatError, FileNotFoundError):
    """A file to load that does not exist (also a FileNotFoundError)."""


class UnsupportedConversionError(BridgeError, NotImplementedError):
    """A native model (torch or Keras) holds a module, layer or op that ``bridge.interop`` cannot
    import: the message names it, where it sits in the model, and what is supported."""


class WorkersError(BridgeError, RuntimeError):
    """Data-parallel workers that cannot work together: a group that cannot be joined, or workers
    that disagree (on the batches they read, the tensors they reduce); the message says which."""


class EquivalenceError(BridgeError, AssertionError):
    """``bridge.testing.assert_equivalent`` found a native model and its port disagreeing: the
    message names the first layer (and output, gradient or step) that differs, and by how much;
    ``report`` is the whole ``EquivalenceReport``."""

    report: Any = None
