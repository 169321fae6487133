"""Functional maps: the solve on an isometric pair, the orientation term, conversions, ZoomOut,
and the torch twin of the solve."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from manifold_nets.errors import MeshShapeError
from manifold_nets.geometry import fmaps
from manifold_nets.shapes import icosphere
from manifold_nets.tasks.correspondence import correspond, spectral_shape


def bumpy(bumps, subdivisions: int = 3):
    """An ellipsoid (axes 1, 1.3, 1.7) with Gaussian bumps ``[(centre, height), ...]``."""
    V, F = icosphere(subdivisions)
    axes = np.array([1.0, 1.3, 1.7])
    E = V * axes
    s = np.ones(len(V))
    for c, h in bumps:
        s += h * np.exp(-np.sum((E - np.asarray(c, float)) ** 2, axis=1) / 0.15)
    return E * s[:, None], F


#: no symmetry at all
ASYM = [((0.6, 0.5, 1.0), 0.3), ((-0.5, -0.8, 0.2), 0.2), ((0.1, 0.9, -1.2), 0.15)]
#: one mirror symmetry x -> -x (the icosphere's vertices are symmetric under it) and no other
MIRROR = [((0.6, 0.5, 1.0), 0.3), ((-0.6, 0.5, 1.0), 0.3), ((0.0, -0.8, 0.2), 0.2)]


def rotation(seed):
    q = np.random.default_rng(seed).normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([[a*a+b*b-c*c-d*d, 2*(b*c-a*d), 2*(b*d+a*c)],
                     [2*(b*c+a*d), a*a-b*b+c*c-d*d, 2*(c*d-a*b)],
                     [2*(b*d-a*c), 2*(c*d+a*b), a*a-b*b-c*c+d*d]])


def renumbered_moved(V, F, seed=0):
    """A vertex-renumbered, rotated and translated copy; returns (Vb, Fb, true map a -> b)."""
    perm = np.random.default_rng(seed).permutation(len(V))
    inv = np.argsort(perm)
    return V[perm] @ rotation(seed + 1).T + np.array([1.0, -2.0, 0.5]), inv[F], inv


def test_isometric_pair_fmap_is_diagonal_and_map_exact():
    Va, Fa = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(Va, Fa)
    a = spectral_shape(Vb, Fb, k=40)  # C maps functions on b to functions on a
    b = spectral_shape(Va, Fa, k=40)
    k = 12
    A = fmaps.project(a.evecs[:, :k], a.mass, a.descr)
    B = fmaps.project(b.evecs[:, :k], b.mass, b.descr)
    Oa = fmaps.orientation_operators(a.V, a.F, a.evecs[:, :k], a.descr[:, ::8])
    Ob = fmaps.orientation_operators(b.V, b.F, b.evecs[:, :k], b.descr[:, ::8])
    C = fmaps.solve_fmap(A, B, a.evals[:k], b.evals[:k], Oa / np.linalg.norm(Ob), Ob / np.linalg.norm(Ob))
    # distinct eigenvalues: C is diagonal with entries +-1 (eigenvector signs)
    assert np.min(np.diff(b.evals[:k + 1])) > 1e-3 * b.evals[k]
    np.testing.assert_allclose(np.abs(np.diag(C)), 1.0, atol=0.05)
    assert np.abs(C - np.diag(np.diag(C))).max() < 0.05
    p2p = fmaps.fmap_to_p2p(C, a.evecs, b.evecs)  # vertex of b (= Va) -> vertex of a (= Vb)
    assert (p2p == true).mean() > 0.8
    assert (correspond(Va, Fa, Vb, Fb, k=40) == true).all()


def test_orientation_term_tells_the_mirror_image_apart():
    V, F = bumpy(MIRROR)
    mirror = cKDTree(V).query(V * [-1.0, 1.0, 1.0])[1]
    assert np.abs(V[mirror] * [-1.0, 1.0, 1.0] - V).max() < 1e-12
    assert not (mirror == np.arange(len(V))).all()
    landed_on_mirror = 0
    for seed in range(3):
        Vb, Fb, true = renumbered_moved(V, F, seed=seed)
        assert (correspond(V, F, Vb, Fb, k=40) == true).mean() > 0.95
        # without the term the mirror image is as good, and the solve lands on either
        without = correspond(V, F, Vb, Fb, k=40, orientation=False)
        landed_on_mirror += (without == true[mirror]).mean() > 0.9
    assert landed_on_mirror >= 1
    # and the energies say why: the true map commutes with the orientation operators, the mirror does not
    s = spectral_shape(V, F, k=20)
    k = 10
    O = fmaps.orientation_operators(s.V, s.F, s.evecs[:, :k], s.descr[:, ::8])
    C_id = fmaps.p2p_to_fmap(np.arange(len(V)), s.evecs[:, :k], s.evecs[:, :k], s.mass)
    C_mir = fmaps.p2p_to_fmap(mirror, s.evecs[:, :k], s.evecs[:, :k], s.mass)
    r_id = np.linalg.norm(C_id @ O - O @ C_id)
    r_mir = np.linalg.norm(C_mir @ O - O @ C_mir)
    assert r_id < 1e-8 * np.linalg.norm(O) and r_mir > 0.5 * np.linalg.norm(O)


def test_conversions_round_trip_on_a_permutation():
    V, F = bumpy(ASYM, subdivisions=2)
    Vb, Fb, true = renumbered_moved(V, F, seed=5)
    a = spectral_shape(Vb, Fb, k=60)
    b = spectral_shape(V, F, k=60)
    # cut the basis at a spectral gap, so that both bases span the same space
    gaps = np.flatnonzero(np.diff(b.evals[:41]) > 1e-2 * b.evals[1:41]) + 1
    k = int(gaps[gaps >= 20].max())
    C = fmaps.p2p_to_fmap(true, a.evecs[:, :k], b.evecs[:, :k], b.mass)  # true: vertex of b -> vertex of a
    np.testing.assert_allclose(C @ C.T, np.eye(k), atol=1e-6)
    assert k >= 20  # an isometry: orthogonal
    assert (fmaps.fmap_to_p2p(C, a.evecs, b.evecs) == true).all()
    assert (fmaps.fmap_to_p2p(C, a.evecs, b.evecs, adjoint=True) == true).all()
    p, C2 = fmaps.zoomout(true, a.evecs, b.evecs, b.mass, k_start=10, k_end=40, step=10)
    assert (p == true).all() and C2.shape == (40, 40)
    p, _ = fmaps.icp_refine(C, a.evecs, b.evecs)
    assert (p == true).mean() > 0.95


def test_zoomout_repairs_a_noisy_map():
    from manifold_nets.geometry import edge_lengths
    from manifold_nets.tasks.correspondence import geodesic_error

    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=7)
    a = spectral_shape(Vb, Fb, k=50)
    b = spectral_shape(V, F, k=50)
    # 40 % of the vertices sent to the image of a random neighbour
    rng = np.random.default_rng(0)
    E = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    pick = rng.random(len(V)) < 0.4
    nb = np.full(len(V), -1)
    nb[E[:, 0]] = E[:, 1]
    p0 = true.copy()
    p0[pick] = true[nb[pick]]
    p, _ = fmaps.zoomout(p0, a.evecs, b.evecs, b.mass, k_start=10, k_end=50, step=5)
    assert (p == true).mean() > 0.95 > (p0 == true).mean() + 0.3
    p, _ = fmaps.zoomout(p0, a.evecs, b.evecs, b.mass, k_start=10, k_end=50, step=5, n_samples=300,
                         V_a=a.V, V_b=b.V, mass_a=a.mass)
    err = geodesic_error(Vb, Fb, p, true, normalize="none")
    assert err.mean() < 0.5 * edge_lengths(V, F).mean()


def test_row_solve_equals_full_system_and_validation():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(6, 9)), rng.normal(size=(5, 9))
    la, lb = np.sort(rng.uniform(0, 10, 6)), np.sort(rng.uniform(0, 10, 5))
    C = fmaps.solve_fmap(A, B, la, lb)  # rows solved as a batch
    H, g = fmaps.fmap_system(A, B, la, lb)
    np.testing.assert_allclose(C.ravel(), np.linalg.solve(H, g), rtol=1e-10, atol=1e-12)
    # the Kronecker Hessian is the Hessian of Σ‖C X − Y C‖²
    X, Y = rng.normal(size=(3, 6, 6)), rng.normal(size=(3, 5, 5))
    Hc = fmaps.commutator_hessian(X, Y)
    Cr = rng.normal(size=(5, 6))
    e = sum(np.sum((Cr @ X[f] - Y[f] @ Cr) ** 2) for f in range(3))
    assert np.isclose(Cr.ravel() @ Hc @ Cr.ravel(), e)
    with pytest.raises(MeshShapeError, match="same number of descriptors"):
        fmaps.solve_fmap(A, B[:, :3], la, lb)
    with pytest.raises(MeshShapeError, match="both or neither"):
        fmaps.solve_fmap(A, B, la, lb, X)


def test_nearest_neighbors_brute_force_matches_kdtree():
    rng = np.random.default_rng(1)
    P, Q = rng.normal(size=(3000, 30)), rng.normal(size=(2500, 30))
    assert (fmaps.nearest_neighbors(Q, P) == cKDTree(P).query(Q)[1]).all()


def test_torch_twin_equals_numpy_in_float64():
    torch = pytest.importorskip("torch")
    from manifold_nets.nn import fmaps as tfm

    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(7, 11)), rng.normal(size=(6, 11))
    la, lb = np.sort(rng.uniform(0, 50, 7)), np.sort(rng.uniform(0, 50, 6))
    Xa, Xb = rng.normal(size=(4, 7, 7)), rng.normal(size=(4, 6, 6))
    Ma, Mb = rng.normal(size=(3, 7, 7)), rng.normal(size=(3, 6, 6))
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    for kw in ({}, {"w_orient": 0.3}, {"w_dcomm": 0.2, "w_orient": 0.0}):
        ref = fmaps.solve_fmap(A, B, la, lb, Xa, Xb, mult_a=Ma, mult_b=Mb, **kw)
        got = tfm.solve_fmap(t(A), t(B), t(la), t(lb), t(Xa), t(Xb), mult_a=t(Ma), mult_b=t(Mb), **kw)
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9, atol=1e-11)
    ref = fmaps.solve_fmap(A, B, la, lb)
    At = t(A).requires_grad_(True)
    got = tfm.solve_fmap(At, t(B), t(la), t(lb))
    np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-9, atol=1e-11)
    got.sum().backward()
    assert At.grad is not None and torch.isfinite(At.grad).all()
    # batched
    got_b = tfm.solve_fmap(t(np.stack([A, A])), t(np.stack([B, B])), t(np.stack([la, la])),
                           t(np.stack([lb, lb])), t(np.stack([Xa, Xa])), t(np.stack([Xb, Xb])))
    np.testing.assert_allclose(got_b[1].numpy(), fmaps.solve_fmap(A, B, la, lb, Xa, Xb), rtol=1e-9, atol=1e-11)
