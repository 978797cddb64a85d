"""Dtype policies (Keras' ``DTypePolicy``): the dtype a layer keeps its variables in and the one
it computes in. ``"mixed_float16"`` and ``"mixed_bfloat16"`` keep float32 variables and compute
in the 16-bit type; any float dtype name is a policy with both the same."""

from __future__ import annotations

from typing import Any

from ..dtypes import DType, as_dtype, default_float
from ..errors import ArgumentTypeError, DTypeError, InvalidArgumentError

_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


class DTypePolicy:
    """``DTypePolicy("mixed_float16")``: float32 variables, float16 computation (inputs cast to
    it, variables read as it inside the layer's ``call``). ``DTypePolicy("float64")``: both
    float64."""

    def __init__(self, name: str | None = None) -> None:
        name = default_float.name if name is None else name
        if not isinstance(name, str):
            raise ArgumentTypeError(
                f"DTypePolicy: name must be a string such as 'mixed_float16', got {name!r}"
            )
        if name in _MIXED:
            self.variable_dtype, self.compute_dtype = as_dtype("float32"), as_dtype(_MIXED[name])
        else:
            try:
                self.variable_dtype = self.compute_dtype = as_dtype(name)
            except DTypeError:
                raise InvalidArgumentError(
                    f"DTypePolicy: unknown policy {name!r}; use a dtype name such as 'float32' or "
                    f"one of {sorted(_MIXED)}"
                ) from None
        self.name = name

    @property
    def is_mixed(self) -> bool:
        """Whether variables and computation have different dtypes."""
        return self.variable_dtype is not self.compute_dtype

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


_global_policy: DTypePolicy | None = None


def set_dtype_policy(policy: DTypePolicy | str | None) -> None:
    """The policy layers made from now on take when given no ``dtype`` (None: float32 again)."""
    global _global_policy
    _global_policy = None if policy is None else as_policy(policy)


def dtype_policy() -> DTypePolicy:
    """The policy layers take when given no ``dtype``."""
    return _global_policy or DTypePolicy()


def as_policy(dtype: Any) -> DTypePolicy:
    """A layer's ``dtype`` argument as a policy: None (the global one), a policy, a policy name,
    or a dtype (a name, a ``br`` dtype, a NumPy dtype)."""
    if dtype is None:
        return dtype_policy()
    if isinstance(dtype, DTypePolicy):
        return dtype
    if isinstance(dtype, str):
        return DTypePolicy(dtype)
    if isinstance(dtype, DType):
        return DTypePolicy(dtype.name)
    return DTypePolicy(as_dtype(dtype).name)
