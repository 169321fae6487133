"""Small mesh loaders shared by the issue-4 geometry tests (skip when the research data is absent)."""

from __future__ import annotations

import functools

import numpy as np

from tests.conftest import data_path


@functools.cache
def _load(folder: str, name: str):
    from manifold_nets import read_mesh

    m = read_mesh(data_path("meshes", folder, name), triangulate=True)
    return np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)


def load(folder: str, name: str):
    """``(V, F)`` of ``$MANIFOLD_NETS_DATA/meshes/<folder>/<name>`` (copies; cached reads)."""
    V, F = _load(folder, name)
    return V.copy(), F.copy()
