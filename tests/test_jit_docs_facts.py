"""Facts the jit and gradient pages of the documentation state, checked on every backend."""

from __future__ import annotations

import numpy as np
import pytest

import bridge as br
from bridge.testing.conformance.strategies import QUICK_JIT as QUICK

pytestmark = pytest.mark.bridge_requires("jit")


@pytest.mark.parametrize(
    "read",
    [
        lambda x: float(x.sum()),
        lambda x: int(x.sum()),
        lambda x: x.sum().item(),
        lambda x: x.numpy(),
        lambda x: np.asarray(x),
    ],
    ids=["float", "int", "item", "numpy", "asarray"],
)
def test_reading_a_value_inside_jit_is_a_traced_value_error(backend: str, read) -> None:
    """As bool(): a Python value of a tensor inside br.jit is a TracedValueError on every
    backend (TensorFlow raised an AttributeError). (An f-string of a tensor is not here: torch.compile
    does not trace it but breaks the graph there and runs it eagerly.)"""

    def fn(x: br.Tensor) -> br.Tensor:
        read(x)
        return x + 1

    np.testing.assert_array_equal(fn(br.ones((2,))).numpy(), [2.0, 2.0])  # eager: fine
    with pytest.raises(br.TracedValueError, match=r"inside br.jit.*enabled=False") as info:
        br.jit(fn, **QUICK)(br.ones((2,)))
    assert isinstance(info.value, TypeError)
    # the message names what raises it on every backend, and not formatting (see above)
    assert "(numpy(), item(), float(), int() or np.asarray())" in str(info.value)
    assert "format" not in str(info.value)
