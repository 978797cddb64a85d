"""bridge's dtype objects: names, NumPy equivalents, errors and declared attributes (promotion on
every backend is checked by the conformance kit, bridge.testing.conformance.test_dtypes)."""

from __future__ import annotations

import typing

import numpy as np
import pytest

import bridge as br
from bridge.dtypes import as_dtype


def test_dtype_objects_and_names():
    assert br.float32 == "float32" and br.dtypes.as_dtype("float32") is br.float32
    assert as_dtype(np.float16) is br.float16 and as_dtype(float) is br.float32
    assert as_dtype(int) is br.int64 and as_dtype(bool) is br.bool
    assert repr(br.bfloat16) == "bridge.bfloat16" and str(br.int8) == "int8"
    with pytest.raises(br.DTypeError, match="complex64") as info:
        as_dtype("complex64")
    assert isinstance(info.value, TypeError)
    assert "float32" in str(info.value)  # lists the known dtypes


def test_dtype_attributes_are_declared_for_type_checkers():
    assert typing.get_type_hints(br.DType) == {"name": str, "kind": str, "bits": int, "numpy": np.dtype}
