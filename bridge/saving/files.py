"""bridge's files on disk: safetensors files (written and parsed by the ``safetensors`` package)
whose string metadata says what they hold, with a checksum over all of it.

Writing is atomic (a temporary file in the same folder, flushed, fsynced and renamed over the old
one), so a crash at any moment leaves the previous file whole. Reading checks everything before
anything is used: the file's size against the header's claims (the header is capped), the
safetensors structure, the dtypes, and the checksum; every problem is a ``FileFormatError`` naming
the file. Nothing in a file is ever executed, imported or unpickled: it holds arrays and strings."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Mapping
from typing import Any

import ml_dtypes
import numpy as np

from .._atomic import write_atomically as write_atomically
from ..errors import FileFormatError, NoSuchFileError

#: The version of the file format this bridge writes and reads (see docs/topics/file-format.md).
FORMAT_VERSION = 1
#: The version of the weights' layouts (Dense kernels ``(in, out)``, Conv2D kernels HWIO, ...).
LAYOUT_VERSION = 1
#: The largest header bridge reads (safetensors' own limit is 100 MB): a header is JSON of the
#: tensors' names, dtypes and shapes and of the metadata, far smaller than this for any model.
MAX_HEADER_BYTES = 32 * 1024 * 1024
_CHECKSUM = "checksum"
#: The first bytes of files people mistake for weights files, and what they are.
_OTHER_FORMATS = {
    b"PK\x03\x04": "a zip archive (a Keras .keras file, or a torch.save file)",
    **{bytes([0x80, protocol]): "a pickle (an old torch.save file?)" for protocol in range(2, 6)},
    b"\x89HDF\r\n\x1a\n": "an HDF5 file (Keras' .h5 or .weights.h5?)",
    b"\x93NUMPY": "a NumPy .npy file",
}
#: safetensors' dtypes that bridge reads, as NumPy's (little-endian, as safetensors stores them);
#: bfloat16 is ml_dtypes', bridge's own (safetensors.numpy lacks it).
_DTYPES = {
    name: np.dtype(dtype).newbyteorder("<")
    for name, dtype in {
        "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
        "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
        "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
        "BOOL": np.bool_, "C64": np.complex64,
    }.items()
}  # fmt: skip


def checksum(metadata: Mapping[str, str], tensors: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the metadata (but the checksum itself) and every tensor's name, dtype, shape
    and bytes, in name order."""
    digest = hashlib.sha256()
    rest = {key: value for key, value in metadata.items() if key != _CHECKSUM}
    digest.update(json.dumps(rest, sort_keys=True).encode())
    for name in sorted(tensors):
        array = np.asarray(tensors[name], order="C")
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.reshape(-1).view(np.uint8).data)
    return f"sha256:{digest.hexdigest()}"


def encode(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> bytes:
    """The safetensors bytes of ``tensors`` with ``metadata`` and its checksum."""
    from safetensors.numpy import save

    arrays = {name: np.asarray(array, order="C") for name, array in tensors.items()}
    return save(arrays, metadata={**metadata, _CHECKSUM: checksum(metadata, arrays)})


def read(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """The metadata and tensors of a safetensors file (any program's), all checked: a
    ``FileFormatError`` naming the file for anything that is not a whole, valid file, and for a
    checksum that does not match where the file has one (bridge's files do)."""
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 8:
        raise FileFormatError(
            f"{path}: {'empty' if not data else f'only {len(data)} bytes'}; not a safetensors file"
        )
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > len(data) - 8 or header_size > MAX_HEADER_BYTES:
        _refuse_other_formats(path, data)
    if header_size > MAX_HEADER_BYTES:
        raise FileFormatError(
            f"{path}: its header claims {header_size} bytes, over the {MAX_HEADER_BYTES} bridge reads; "
            "not a safetensors file, or a damaged one"
        )
    if header_size > len(data) - 8:
        raise FileFormatError(
            f"{path}: its header claims {header_size} bytes but the file has {len(data) - 8} after the "
            "size field; the file is truncated or not a safetensors file"
        )
    metadata, tensors = _parse(path, data)
    expected = metadata.get(_CHECKSUM)
    ours = expected is not None and (
        expected.startswith("sha256:") or metadata.get("format", "").startswith("bridge.")
    )
    if ours and checksum(metadata, tensors) != expected:
        raise FileFormatError(
            f"{path}: the checksum does not match its contents; the file is damaged (a bit flipped on "
            "disk or in transfer, or an edit): use a good copy"
        )
    return metadata, tensors


def _refuse_other_formats(path: str, data: bytes) -> None:
    """Raise naming what the file is, if it is one of the formats people mistake for ours."""
    for signature, kind in _OTHER_FORMATS.items():
        if data.startswith(signature):
            raise FileFormatError(
                f"{path}: {kind}, not a safetensors file; bridge reads only safetensors files (it never "
                "unpickles): see docs/topics/saving.md for moving weights from other formats"
            )


def _read_bytes(path: str) -> bytes:
    if os.path.isdir(path):
        raise FileFormatError(f"{path}: is a directory, not a file")
    if os.path.exists(path) and not os.path.isfile(path):  # a pipe would hang, /dev/zero never end
        raise FileFormatError(f"{path}: is not a regular file (a device, pipe or socket)")
    try:
        with open(path, "rb") as source:
            head = source.read(8)
            if len(head) == 8 and struct.unpack("<Q", head)[0] > MAX_HEADER_BYTES:
                return head  # read() rejects the claim without reading a file that may be huge
            source.seek(0)
            return source.read()
    except FileNotFoundError:
        raise NoSuchFileError(f"{path}: no such file") from None
    except OSError as error:
        raise FileFormatError(f"{path}: cannot be read ({error.strerror or error})") from error


def _parse(path: str, data: bytes) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """safetensors' own parser (which checks the offsets, sizes and dtypes against the data),
    its errors named as ours; then the metadata, which must map strings to strings."""
    from safetensors import deserialize

    try:
        views = deserialize(data)
        header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
    except Exception as error:  # SafetensorError
        raise FileFormatError(f"{path}: not a valid safetensors file ({error})") from None
    tensors = {}
    for name, view in views:
        if view["dtype"] not in _DTYPES:
            raise FileFormatError(
                f"{path}: tensor {name!r} has dtype {view['dtype']}, which bridge does not read "
                f"(it reads {', '.join(_DTYPES)})"
            )
        tensors[name] = np.frombuffer(view["data"], dtype=_DTYPES[view["dtype"]]).reshape(view["shape"])
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        raise FileFormatError(f"{path}: its metadata must map strings to strings")
    return metadata, tensors


def parse_json(path: str, key: str, text: str) -> Any:
    """The JSON value of metadata ``key``, or a FileFormatError naming the file and key."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise FileFormatError(f"{path}: its {key!r} is not valid JSON ({error})") from None
