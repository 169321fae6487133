"""Input files of a batch and their names relative to an input root (mirrored under the output).

A folder argument is searched (recursively unless ``recursive=False``) and its files are named
relative to the folder; the matches of a glob are named relative to the glob's fixed leading
folders (``scans/**/*.ply`` -> relative to ``scans``); a file is named by its file name.
``include``/``exclude`` are shell patterns (``fnmatch``) matched against those relative names
and against the file name (``*.obj``, ``raw/*``).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from pathlib import Path

from ..files import expand_inputs

__all__ = ["collect_inputs", "glob_root"]


def glob_root(pattern: str) -> Path:
    """The leading folders of a glob pattern that contain no wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _matches(rel: str, patterns) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def collect_inputs(items, *, recursive: bool = True, include=(), exclude=(), exclude_dirs=()):
    """Expand files, folders and globs into ``(path, rel)`` pairs.

    Parameters
    ----------
    items : list of str
        Files, folders, globs.
    recursive : bool
        Search sub-folders of folder arguments.
    include, exclude : sequence of str
        Keep only relative names matching one ``include`` pattern (when given) and none of the
        ``exclude`` patterns.
    exclude_dirs : sequence of path-like
        Leave out files inside these folders (the output folder, so that the outputs of an
        earlier run are not taken as inputs).

    Returns
    -------
    pairs : list of (Path, str)
        The input file and its POSIX relative name, in argument order, each file once.
    skipped : list of dict
        ``{"path", "reason"}`` of what gave no input (see :func:`manifold_nets.files.expand_inputs`)
        and of files left out by the patterns (one summary entry).
    """
    pairs: list[tuple[Path, str]] = []
    skipped: list[dict] = []
    seen: set = set()
    n_filtered = 0
    n_inside = 0
    blocked = [os.path.realpath(d) + os.sep for d in exclude_dirs]
    for item in items:
        paths, sk = expand_inputs([str(item)], recursive=recursive)
        skipped += sk
        p = Path(item)
        if p.is_dir():
            root = p
        elif glob.has_magic(str(item)) and not p.exists():
            root = glob_root(str(item))
        else:
            root = None
        for q in paths:
            rel = q.name if root is None else os.path.relpath(q, root)
            rel = Path(rel).as_posix()
            if rel.startswith("../") or rel == "..":  # never write outside the output folder
                rel = q.name
            if (include and not _matches(rel, include)) or (exclude and _matches(rel, exclude)):
                n_filtered += 1
                continue
            key = os.path.abspath(q)
            if key in seen:
                continue
            if blocked and any(os.path.realpath(q).startswith(b) for b in blocked):
                n_inside += 1
                continue
            seen.add(key)
            pairs.append((q, rel))
    if n_inside:
        skipped.append({"path": " ".join(map(str, exclude_dirs)),
                        "reason": f"{n_inside} files inside the output folder left out"})
    if n_filtered:
        skipped.append({"path": " ".join(map(str, items)),
                        "reason": f"{n_filtered} files left out by --include/--exclude"})
    return pairs, skipped
