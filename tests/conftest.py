"""Shared fixtures: seeds, dtype tolerances and the research-data folder.

The research meshes live outside the repository, in ``$MANIFOLD_NETS_DATA`` (default
``../shared`` beside the checkout).  Tests that need them use :func:`data_path`, the
``data_dir`` fixture or :func:`require_shared_meshes`: when the data is missing they skip with a
clear reason on a developer machine and FAIL when ``CI`` is set (``CI=true``, as CI services set
it), so a CI run without the data cannot pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))

#: Tolerances keyed by dtype (absolute, for quantities of order 1).
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def on_ci() -> bool:
    """Whether the ``CI`` environment variable says this is a CI run (``true``, ``1``, ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing_data(path: Path) -> NoReturn:
    """Skip the current test because ``path`` is missing, or fail it on CI."""
    msg = f"research data not found at {path} (set MANIFOLD_NETS_DATA to the shared folder)"
    if on_ci():
        pytest.fail(f"{msg}; CI=true requires the research data", pytrace=False)
    pytest.skip(msg)


def data_path(*parts: str) -> Path:
    """Path inside the shared data folder; skips the test (fails it on CI) when it is absent."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        missing_data(p)
    return p


def require_shared_meshes(*folders: str) -> list[Path]:
    """The mesh files of ``meshes/<folder>`` for every folder; skips (fails on CI) when a folder
    is missing or holds no mesh file."""
    paths = []
    for folder in folders:
        found = shared_mesh_paths(folder)
        if not found:
            missing_data(DATA / "meshes" / folder)
        paths += found
    return paths


def shared_mesh_paths(folder: str) -> list[Path]:
    """All mesh files in ``$MANIFOLD_NETS_DATA/meshes/<folder>`` (sorted), for parametrisation.

    Empty when the folder is missing (collection must not fail); a module that parametrises on
    it also needs a test calling :func:`require_shared_meshes`, which fails on CI.
    """
    d = DATA / "meshes" / folder
    if not d.is_dir():
        return []
    exts = (".obj", ".off", ".ply", ".stl", ".gz")
    return sorted(p for p in d.iterdir() if p.name.lower().endswith(exts))


def manifest() -> dict:
    """Rows of ``meshes/MANIFEST.tsv`` keyed by relative path (empty dict when absent)."""
    p = DATA / "meshes" / "MANIFEST.tsv"
    if not p.exists():
        return {}
    lines = p.read_text().splitlines()
    head = lines[0].split("\t")
    return {row.split("\t")[0]: dict(zip(head, row.split("\t"))) for row in lines[1:] if row.strip()}


def ids(paths):
    return [p.name for p in paths]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        missing_data(DATA)
    return DATA
