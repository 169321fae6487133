"""Files: atomic writes and expanding user paths (files, folders, globs) into mesh files.

``atomic_write`` writes a temporary file in the target folder, flushed, then renamed into place,
so a reader (or a resumed batch run) never sees a half-written file.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "expand_paths", "is_mesh_file", "MESH_SUFFIXES"]

MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl", ".vtk", ".vtp", ".vtu")


def is_mesh_file(p: str | os.PathLike) -> bool:
    """Whether the name ends in a mesh suffix (optionally followed by ``.gz``)."""
    name = Path(p).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(MESH_SUFFIXES)


def expand_paths(items: list[str], *, recursive: bool = True) -> list[Path]:
    """Files as given (even if not mesh files, so that they are reported), folders expanded to
    the mesh files inside them (sorted), and shell-style globs expanded."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            out.extend(sorted(q for q in it if q.is_file() and is_mesh_file(q)))
        elif any(c in item for c in "*?[") and not p.exists():
            out.extend(sorted(Path(g) for g in glob.glob(item, recursive=True)))
        else:
            out.append(p)
    return out


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
