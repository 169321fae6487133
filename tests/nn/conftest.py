"""Fixtures of the neural-layer tests: small irregular meshes and their batches (built once)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets.shapes import icosphere, torus  # noqa: E402

torch.set_num_threads(1)


def bumpy_sphere(subdivisions: int = 2, seed: int = 0, amp: float = 0.06):
    """An icosphere with smooth radial bumps (no symmetry: simple, well separated eigenvalues)."""
    V, F = icosphere(subdivisions)
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((4, 3))
    r = 1 + amp * np.tanh(V @ c.T).sum(1) + 0.01 * rng.standard_normal(len(V))
    return V * r[:, None], F


def bumpy_torus(n: int = 12, m: int = 8, seed: int = 1):
    V, F = torus(n, m)
    rng = np.random.default_rng(seed)
    V = V * (1 + 0.04 * rng.standard_normal((len(V), 1)))
    return V, F


@pytest.fixture(scope="session")
def meshes():
    """Three small meshes of different sizes (42, 96 and 162 vertices)."""
    return [bumpy_sphere(1, seed=3), bumpy_torus(), bumpy_sphere(2, seed=0)]


@pytest.fixture(scope="session")
def batch64(meshes):
    from manifold_nets.nn import MeshBatch

    return MeshBatch.from_meshes(meshes, k=24, dtype=torch.float64)


@pytest.fixture(scope="session")
def batch32(meshes):
    from manifold_nets.nn import MeshBatch

    return MeshBatch.from_meshes(meshes, k=24, dtype=torch.float32)


@pytest.fixture
def one_thread():
    """One torch thread for the test (the CPU paths that run on scipy's kernels), restored after."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
