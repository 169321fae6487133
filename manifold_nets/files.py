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

__all__ = ["atomic_write", "expand_paths", "expand_inputs", "is_mesh_file", "MESH_SUFFIXES"]

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


def expand_inputs(items: list[str], *, recursive: bool = True) -> tuple[list[Path], list[dict]]:
    """Like :func:`expand_paths`, and also say what gave no mesh file.

    Returns
    -------
    paths : list of Path
        Files as given (even if missing or not mesh files, so that reading reports them),
        the mesh files inside folders (sorted), the matches of globs.
    skipped : list of dict
        ``{"path": str, "reason": str}`` for every folder without mesh files, every folder's
        entries left out (non-mesh files, sub-folders named like mesh files, unreadable
        sub-folders) and every glob that matches nothing: nothing is dropped without a word.
    """
    out: list[Path] = []
    skipped: list[dict] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found: list[Path] = []
            other = 0
            odd: list[str] = []
            errors: list[str] = []
            walk = os.walk(p, onerror=lambda e, errors=errors: errors.append(f"{e.filename}: {e.strerror}"))
            for root, dirs, files in walk:
                dirs.sort()
                for d in dirs:
                    if is_mesh_file(d):
                        odd.append(os.path.join(root, d))
                for f in files:
                    q = Path(root, f)
                    if is_mesh_file(q) and q.is_file():
                        found.append(q)
                    else:
                        other += 1
                if not recursive:
                    break
            out.extend(sorted(found))
            if not found:
                skipped.append({"path": str(p), "reason": "folder without mesh files"
                                + (f" ({other} other files)" if other else "")})
            elif other:
                skipped.append({"path": str(p), "reason": f"{other} files without a mesh extension ignored"})
            for d in odd:
                skipped.append({"path": d, "reason": "a folder named like a mesh file"})
            for e in errors:
                skipped.append({"path": e.split(": ", 1)[0], "reason": f"unreadable folder ({e.split(': ', 1)[-1]})"})
        elif any(c in item for c in "*?[") and not p.exists():
            matches = sorted(Path(g) for g in glob.glob(item, recursive=True))
            if not matches:
                skipped.append({"path": item, "reason": "no file matches this pattern"})
            out.extend(matches)
        else:
            out.append(p)
    return out, skipped


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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as exc:  # name the destination, not the temporary file's random name
        raise type(exc)(exc.errno, exc.strerror, str(p)) from None
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
