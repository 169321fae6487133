"""Shared fixtures: seeds, dtype tolerances and the research-data folder.

The research meshes live outside the repository, in ``$MANIFOLD_NETS_DATA`` (default
``../shared`` beside the checkout).  Tests that need them use :func:`data_path` /
:func:`shared_mesh_paths`, which skip with a clear reason when the folder is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))

#: Tolerances keyed by dtype (absolute, for quantities of order 1).
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def data_path(*parts: str) -> Path:
    """Path inside the shared data folder; skips the test when it is absent."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"research data not found at {p} (set MANIFOLD_NETS_DATA to the shared folder)")
    return p


def shared_mesh_paths(folder: str) -> list[Path]:
    """All mesh files in ``$MANIFOLD_NETS_DATA/meshes/<folder>`` (sorted), for parametrisation."""
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
        pytest.skip(f"research data not found at {DATA} (set MANIFOLD_NETS_DATA)")
    return DATA
