"""Atomic file writes: a temporary file in the target folder, flushed, then renamed into place,
so a reader (or a resumed batch run) never sees a half-written file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object] | bytes, *,
                 fsync: bool = True) -> Path:
    """Write ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Destination; its folder is created if needed.
    write : bytes or callable
        The content, or a function that writes it to the open binary file handle.
    fsync : bool
        Flush to disk before the rename (survives a crash, not only an interruption).

    Returns
    -------
    Path
        The destination.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(write, (bytes, bytearray, memoryview)):
                fh.write(write)
            else:
                write(fh)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p
