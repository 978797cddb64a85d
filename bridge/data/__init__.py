"""``bridge.data``: batches and splits of in-memory arrays (``batches``, ``train_test_split``),
``PyDataset`` (batches made by Python code, as Keras' ``keras.utils.PyDataset``), and the
adapters that turn what ``Model.fit`` is given into batches of Tensors (``adapters``)."""

from .arrays import batches, train_test_split
from .py_dataset import PyDataset

__all__ = ["PyDataset", "batches", "train_test_split"]
