"""Expanding command-line paths (files, folders, globs) into mesh files."""

from __future__ import annotations

import glob
from pathlib import Path

MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl", ".vtk", ".vtp", ".vtu")


def is_mesh_file(p: Path) -> bool:
    name = p.name.lower()
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
