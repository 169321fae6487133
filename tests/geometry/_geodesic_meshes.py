"""Mesh loaders for the geometry tests, and the tuning / held-out split of the geodesic meshes.

Shared meshes are read from ``$MANIFOLD_NETS_DATA/meshes`` (tests skip when it is absent).
*Poor-triangle* meshes (many skinny and obtuse triangles: 9–16 % of the interior edges with a
negative cotan weight, 39–55 % obtuse faces, smallest angles 0.8–3°) are generated from clean shared meshes by quadric
decimation (VTK's ``vtkQuadricDecimation`` through ``pyvista``), which keeps them closed and
manifold with the genus of the input (checked for the entries below; quadric decimation of
nefertiti.obj, by contrast, creates non-manifold edges); a further one is generated without any
data (an anisotropically stretched, jittered icosphere: 24 % negative weights, 83 % obtuse).

Defaults of :mod:`manifold_nets.geometry.geodesics`, :mod:`~manifold_nets.geometry.logmap` and
the rule of :func:`manifold_nets.geometry.quality.laplacian_choice` were chosen on
:data:`TUNING` only; accuracy is asserted and reported on :data:`HELD_OUT` (meshes no default
was tuned on).  Each entry is ``(kind, folder, name, reduction)``: ``kind`` is ``"clean"`` (the
shared file as is) or ``"decimated"`` (``reduction`` = fraction of faces removed).
"""

from __future__ import annotations

import functools

import numpy as np

from tests.conftest import data_path

#: Meshes the defaults (t_factor, Laplacian rule, thresholds) were chosen on.
TUNING = [
    ("clean", "clean", "bunny.off", 0.0),
    ("clean", "clean", "fertility.off", 0.0),
    ("clean", "clean", "3holes.off", 0.0),
    ("clean", "clean", "teddy.obj", 0.0),
    ("clean", "boundary", "camel_b.obj", 0.0),
    ("decimated", "clean", "bunny.off", 0.5),
    ("decimated", "clean", "fertility.off", 0.5),
    ("decimated", "clean", "cheburashka.off", 0.5),
    ("decimated", "clean", "armadillo.obj", 0.7),
    ("clean", "clean", "fandisk.off", 0.0),
    ("clean", "clean", "cheburashka.off", 0.0),
    ("clean", "clean", "bumpy.off", 0.0),
    ("clean", "clean", "decimated-knight.off", 0.0),
    ("clean", "clean", "bunny_small.ply", 0.0),
    ("clean", "boundary", "camelhead.off", 0.0),
    ("clean", "boundary", "alligator.obj", 0.0),
    ("decimated", "boundary", "face.obj", 0.4),
]

#: Meshes never used to choose a default: the accuracy claims are measured here.
HELD_OUT = [
    ("clean", "clean", "elephant.obj", 0.0),
    ("clean", "clean", "homer.obj", 0.0),
    ("clean", "clean", "screwdriver.off", 0.0),
    ("clean", "clean", "rocker-arm.obj", 0.0),
    ("clean", "boundary", "lion.off", 0.0),
    ("decimated", "clean", "horse.ply", 0.8),
    ("decimated", "clean", "elephant.obj", 0.5),
    ("decimated", "clean", "homer.obj", 0.5),
    ("decimated", "clean", "rocker-arm.obj", 0.5),
]


def label(entry) -> str:
    kind, folder, name, red = entry
    return name if kind == "clean" else f"{name}-dec{int(round(100 * red))}"


@functools.cache
def _load(folder: str, name: str):
    from manifold_nets import read_mesh

    m = read_mesh(data_path("meshes", folder, name), triangulate=True)
    return np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)


def load(folder: str, name: str):
    """``(V, F)`` of ``$MANIFOLD_NETS_DATA/meshes/<folder>/<name>`` (copies; cached reads)."""
    V, F = _load(folder, name)
    return V.copy(), F.copy()


@functools.cache
def _decimated(folder: str, name: str, reduction: float):
    import pytest

    pv = pytest.importorskip("pyvista", reason="pyvista generates the poor-triangle meshes")
    V, F = _load(folder, name)
    poly = pv.PolyData(V, np.hstack([np.full((len(F), 1), 3), F]).ravel())
    out = poly.decimate(float(reduction)).clean()
    F2 = np.asarray(out.faces.reshape(-1, 4)[:, 1:], dtype=np.int64)
    return np.asarray(out.points, dtype=np.float64), F2


def decimated(folder: str, name: str, reduction: float):
    """``(V, F)`` of a shared mesh after quadric decimation removing ``reduction`` of its faces."""
    V, F = _decimated(folder, name, float(reduction))
    return V.copy(), F.copy()


def get(entry):
    """``(V, F)`` of a :data:`TUNING` / :data:`HELD_OUT` entry."""
    kind, folder, name, red = entry
    return load(folder, name) if kind == "clean" else decimated(folder, name, red)


def stretched_sphere(level: int = 4, stretch=(3.0, 1.0, 0.6), jitter: float = 0.35, seed: int = 0):
    """A closed genus-0 mesh of skinny, obtuse triangles, generated without data.

    An icosphere whose vertices are jittered tangentially by ``jitter`` × the local edge length,
    re-projected to the sphere and then scaled by ``stretch`` along x, y, z (an ellipsoid).
    """
    from manifold_nets.shapes import icosphere

    V, F = icosphere(level)
    V = np.array(V, dtype=np.float64)
    rng = np.random.default_rng(seed)
    h = np.mean(np.linalg.norm(V[F[:, 0]] - V[F[:, 1]], axis=1))
    d = rng.normal(size=V.shape) * (jitter * h)
    d -= (d * V).sum(1, keepdims=True) * V
    V = V + d
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    return V * np.asarray(stretch, dtype=np.float64), np.asarray(F, dtype=np.int64)
