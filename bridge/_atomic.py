"""Files written atomically: a reader (or a crash at any moment) sees the old content or all of the
new, never a part (model files, checkpoints, CSV logs)."""

from __future__ import annotations

import os
import secrets
import stat

from .errors import FileFormatError, NoSuchFileError


def write_atomically(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of the new:
    a temporary file in the same folder (``temporary_files`` finds those a killed writer left),
    flushed and fsynced, renamed over ``path``, then the folder fsynced (so that the rename itself
    survives a power cut). The file gets the mode an ordinary write would give it: the old file's,
    else rw-rw-rw- less the umask."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise NoSuchFileError(f"{path}: cannot be written: there is no folder {folder}")
    if os.path.isdir(path):
        raise FileFormatError(f"{path}: is a directory; name a file to write")
    handle, temporary = _new_temporary(path)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        if os.path.exists(path):
            os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _new_temporary(path: str) -> tuple[int, str]:
    """A new file beside ``path``, open for writing, created with mode 0o666 for the kernel to
    apply the umask to (as open() does; mkstemp's files are 0o600)."""
    for _ in range(100):
        temporary = os.path.join(
            os.path.dirname(os.path.abspath(path)), f"{_prefix(path)}{secrets.token_hex(4)}.tmp"
        )
        try:
            return os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
            ), temporary
        except FileExistsError:
            continue
        except OSError as error:  # named after the file asked for, not the temporary one
            raise OSError(error.errno, f"cannot write there: {error.strerror}", path) from None
    raise FileExistsError(f"{path}: no free temporary name beside it")


def _prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def temporary_files(path: str | os.PathLike) -> list[str]:
    """The temporary files a writer of ``path`` killed mid-write left beside it."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return []
    return [
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.startswith(_prefix(path)) and name.endswith(".tmp")
    ]


def _fsync_folder(folder: str) -> None:
    if not hasattr(os, "O_DIRECTORY"):  # Windows: folders cannot be opened, renames are durable
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
