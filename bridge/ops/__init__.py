"""Every bridge op, written once over the backend primitives (``bridge.ops``)."""

import sys as _sys

from .attention import scaled_dot_product_attention
from .creation import *  # noqa: F403
from .creation import __all__ as _creation
from .creation import to_device  # noqa: F401  (Tensor.to)
from .indexing import *  # noqa: F403
from .indexing import __all__ as _indexing
from .linalg import *  # noqa: F403
from .linalg import __all__ as _linalg
from .math import *  # noqa: F403
from .math import __all__ as _math
from .nn import *  # noqa: F403
from .nn import __all__ as _nn
from .random import dropout
from .reduction import *  # noqa: F403
from .reduction import __all__ as _reduction
from .shape import *  # noqa: F403
from .shape import __all__ as _shape

concatenate = concat  # noqa: F405  (NumPy's name)

__all__ = [*_creation, *_math, *_reduction, *_linalg, *_shape, *_indexing, *_nn, "dropout", "concatenate"]
__all__ += ["scaled_dot_product_attention"]

from .. import tensor as _tensor  # noqa: E402

_tensor.provide_ops(_sys.modules[__name__])
