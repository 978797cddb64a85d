"""``EventWriter``: TensorBoard event files (what ``tensorboard --logdir`` reads), written with the
``tensorboard`` package's own writer and protos in the format of TensorFlow 2's ``tf.summary``
(scalars, histograms and images as tensors), from NumPy values. The package is imported when a
writer is made, never with bridge; without it, ``FrameworkNotInstalledError`` says how to install
it."""

from __future__ import annotations

import struct
import time
import zlib
from typing import Any

import numpy as np

from .interop.frameworks import require


def _png(image: np.ndarray) -> bytes:
    """``image`` (height, width, channels of uint8; 1, 2, 3 or 4 channels) as a PNG file."""
    height, width, channels = image.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]  # gray, gray + alpha, RGB, RGBA

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + row.tobytes() for row in image)  # filter 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def image_as_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] as uint8, as ``tf.summary.image`` converts them
    (``tf.image.convert_image_dtype(saturate=True)``: times 255.5, clipped, truncated)."""
    return np.clip(np.asarray(images, np.float64) * 255.5, 0, 255).astype(np.uint8)


class EventWriter:
    """One event file in ``logdir`` (created if absent); ``scalar``, ``histogram`` and ``image``
    add a value of ``tag`` at ``step``; ``close`` when done."""

    def __init__(self, logdir: str) -> None:
        require("tensorboard", "the TensorBoard callback")
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2.Event, summary_pb2
        self._writer = EventFileWriter(logdir, filename_suffix=".v2")

    def _add(self, tag: str, step: int, tensor: Any, plugin: str) -> None:
        summary = self._summary.Summary()
        metadata = summary.value.add(tag=tag, tensor=tensor).metadata
        metadata.plugin_data.plugin_name = plugin
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def scalar(self, tag: str, value: Any, step: int) -> None:
        """A float32 scalar (the ``scalars`` plugin's)."""
        from tensorboard.util import tensor_util

        self._add(tag, step, tensor_util.make_tensor_proto(np.float32(value)), "scalars")

    def histogram(self, tag: str, values: Any, step: int) -> None:
        """The histogram of ``values``: 30 equal buckets from their minimum to their maximum, as
        ``tf.summary.histogram`` (the tensorboard package's own ``histogram_pb`` computes them)."""
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb

        (value,) = histogram_pb(tag, np.asarray(values)).value
        self._add(tag, step, value.tensor, "histograms")

    def image(self, tag: str, images: np.ndarray, step: int, max_outputs: int = 3) -> None:
        """The first ``max_outputs`` of ``images`` (batch, height, width, channels; floats in
        [0, 1]) as PNGs, as ``tf.summary.image``: the tensor ``[width, height, png, ...]``."""
        from tensorboard.util import tensor_util

        pixels = image_as_uint8(images)
        fields = [str(pixels.shape[2]).encode(), str(pixels.shape[1]).encode()]
        fields += [_png(image) for image in pixels[:max_outputs]]
        self._add(tag, step, tensor_util.make_tensor_proto(fields, dtype=np.object_), "images")

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
