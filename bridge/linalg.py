"""``bridge.linalg``: solvers and decompositions."""

from .ops.linalg import cholesky, det, inv, norm, solve, svdvals

__all__ = ["inv", "solve", "det", "cholesky", "svdvals", "norm"]
