"""``bridge.data``: batches and splits of in-memory arrays (``batches``, ``train_test_split``),
and the adapters that turn what ``Model.fit`` is given into batches of Tensors (``adapters``)."""

from .arrays import batches, train_test_split

__all__ = ["batches", "train_test_split"]
