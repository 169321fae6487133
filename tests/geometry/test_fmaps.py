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


def _surface_in_40d(rng):
    """Points ``P (6000, 40)`` on a 2-D surface in 40 dimensions (as a spectral embedding) and
    queries ``Q (5000, 40)`` close to them."""
    uv = rng.uniform(size=(6000, 2))
    basis = rng.normal(size=(6, 40))
    feats = np.concatenate([np.cos(np.pi * np.outer(uv[:, 0], [1, 2, 3])),
                            np.cos(np.pi * np.outer(uv[:, 1], [1, 2, 3]))], axis=1)
    P = feats @ basis
    return P, P[rng.permutation(6000)[:5000]] + 1e-3 * rng.normal(size=(5000, 40))


def test_nearest_neighbors_methods_agree_and_probe_is_exact():
    rng = np.random.default_rng(3)
    # a 2-D surface in 40 dimensions and random points: the probe picks the KD-tree on the first
    # and brute force on the second; the answers are exact either way
    P, Q = _surface_in_40d(rng)
    assert Q.shape[0] * P.shape[0] > fmaps._PROBE_MIN_PRODUCT
    ref = cKDTree(P).query(Q)[1]
    for kw in ({}, {"method": "kdtree"}, {"method": "brute"}):
        assert (fmaps.nearest_neighbors(Q, P, **kw) == ref).all()
    R, S = rng.normal(size=(5000, 30)), rng.normal(size=(4500, 30))
    assert (fmaps.nearest_neighbors(R, S) == fmaps.nearest_neighbors(R, S, method="brute")).all()
    with pytest.raises(MeshShapeError, match="method"):
        fmaps.nearest_neighbors(Q, P, method="ball")


def test_farthest_point_sampling_is_the_greedy_maximin_order():
    V = np.random.default_rng(4).normal(size=(500, 3))
    idx = fmaps.farthest_point_sampling(V, 60, start=7)
    assert idx[0] == 7 and len(set(idx.tolist())) == 60
    for i in range(1, 60):  # each sample is the farthest point from the ones before it
        d = ((V[:, None, :] - V[idx[:i]][None]) ** 2).sum(-1).min(axis=1)
        assert d[idx[i]] == pytest.approx(d.max(), rel=1e-12)


def test_operators_equal_their_definitions(monkeypatch):
    from manifold_nets.geometry.differential import face_gradient

    monkeypatch.setattr(fmaps, "_FACE_BLOCK", 100)  # several face blocks
    V, F = bumpy(ASYM, subdivisions=2)
    s = spectral_shape(V, F, k=12)
    Phi, D = s.evecs, s.descr[:, ::16]
    X = fmaps.orientation_operators(s.V, s.F, Phi, D)
    G, area = face_gradient(s.V, s.F, return_areas=True)
    nF = len(s.F)
    c = np.cross(s.V[s.F[:, 1]] - s.V[s.F[:, 0]], s.V[s.F[:, 2]] - s.V[s.F[:, 0]])
    n = c / np.linalg.norm(c, axis=1, keepdims=True)
    gPhi = (G @ Phi).reshape(3, nF, -1).transpose(1, 0, 2)  # (nF, 3, k)
    gD = (G @ D).reshape(3, nF, -1).transpose(1, 0, 2)
    rot = np.cross(n[:, :, None], gD, axis=1)
    ref = np.einsum("ti,tcf,tcj->fij", Phi[s.F].mean(axis=1) * area[:, None], rot, gPhi)
    np.testing.assert_allclose(X, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    Mop = fmaps.multiplication_operators(Phi, s.mass, D)
    np.testing.assert_allclose(Mop, np.einsum("v,vi,vf,vj->fij", s.mass, Phi, D, Phi),
                               rtol=1e-10, atol=1e-12 * np.abs(Mop).max())


def test_zoomout_from_a_functional_map_equals_zoomout_from_its_map():
    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=5)
    a = spectral_shape(Vb, Fb, k=40)
    b = spectral_shape(V, F, k=40)
    C0 = fmaps.p2p_to_fmap(true, a.evecs[:, :10], b.evecs[:, :10], b.mass)
    C0 = C0 + 0.05 * np.random.default_rng(0).normal(size=C0.shape)  # a noisy initial functional map
    p0 = fmaps.fmap_to_p2p(C0, a.evecs, b.evecs)
    for kw in ({"n_samples": None}, {"n_samples": 200, "V_a": a.V, "V_b": b.V, "mass_a": a.mass}):
        tm: dict = {}
        p1, C1 = fmaps.zoomout(None, a.evecs, b.evecs, b.mass, k_start=10, k_end=40, step=5, C_init=C0,
                               timings=tm, **kw)
        p2, C2 = fmaps.zoomout(p0, a.evecs, b.evecs, b.mass, k_start=10, k_end=40, step=5, **kw)
        assert (p1 == p2).all() and np.allclose(C1, C2)
        assert set(tm) == {"sampling", "init", "steps", "final"}
    with pytest.raises(MeshShapeError, match="initial map"):
        fmaps.zoomout(None, a.evecs, b.evecs, b.mass)


def test_subsampled_zoomout_matches_full_zoomout():
    from manifold_nets.geometry import edge_lengths
    from manifold_nets.tasks.correspondence import geodesic_error

    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=9)
    a = spectral_shape(Vb, Fb, k=60)
    b = spectral_shape(V, F, k=60)
    C0 = fmaps.p2p_to_fmap(true, a.evecs[:, :15], b.evecs[:, :15], b.mass)
    C0 = C0 + 0.1 * np.random.default_rng(1).normal(size=C0.shape)  # a third of the vertices off
    p0 = fmaps.fmap_to_p2p(C0, a.evecs, b.evecs)
    assert (p0 == true).mean() < 0.75
    full, _ = fmaps.zoomout(None, a.evecs, b.evecs, b.mass, k_start=15, k_end=60, step=3, C_init=C0,
                            n_samples=None)
    assert (full == true).all()
    # 400 of 642 vertices: the same map but for a few vertices sent next door
    sub, _ = fmaps.zoomout(None, a.evecs, b.evecs, b.mass, k_start=15, k_end=60, step=3, C_init=C0,
                           n_samples=400, V_a=a.V, V_b=b.V, mass_a=a.mass)
    assert (sub == full).mean() > 0.95
    err = geodesic_error(Vb, Fb, sub, true, normalize="none")
    assert err.max() < 1.5 * edge_lengths(V, F).mean() and err.mean() < 0.1 * edge_lengths(V, F).mean()


def test_bijective_final_iterations():
    """Two-sided final iterations keep an exact map, repair a noisy one and need ``mass_a``."""
    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=7)
    a = spectral_shape(Vb, Fb, k=50)
    b = spectral_shape(V, F, k=50)
    p, C = fmaps.zoomout(true, a.evecs, b.evecs, b.mass, k_start=30, k_end=40, step=10, n_final=2,
                         bijective=True, mass_a=a.mass)
    assert (p == true).all() and C.shape == (40, 40)
    # the averaged map of an isometry is still orthogonal: the reverse map is its inverse
    np.testing.assert_allclose(C @ C.T, np.eye(40), atol=0.05)
    rng = np.random.default_rng(0)
    E = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    nb = np.full(len(V), -1)
    nb[E[:, 0]] = E[:, 1]
    pick = rng.random(len(V)) < 0.4
    p0 = true.copy()
    p0[pick] = true[nb[pick]]  # 40 % sent next door: many target vertices hit twice, some never
    assert np.unique(p0).size < 0.9 * len(V)
    p, _ = fmaps.zoomout(p0, a.evecs, b.evecs, b.mass, k_start=50, k_end=50, n_final=3, bijective=True,
                         mass_a=a.mass)
    assert (p == true).mean() > 0.95
    with pytest.raises(MeshShapeError, match="mass_a"):
        fmaps.zoomout(true, a.evecs, b.evecs, b.mass, k_start=30, k_end=40, n_final=1, bijective=True)
    with pytest.raises(MeshShapeError, match="mass_a: expected"):
        fmaps.zoomout(true, a.evecs, b.evecs, b.mass, k_start=30, k_end=40, n_final=1, bijective=True,
                      mass_a=a.mass[:-1])


def test_spectral_shape_and_correspond_share_the_descriptor_default():
    """A shape built by hand carries the descriptors ``correspond`` would build (no train/predict skew)."""
    import inspect

    from manifold_nets.tasks.correspondence import DESCRIPTORS_DEFAULT

    for fn in (spectral_shape, correspond):
        assert inspect.signature(fn).parameters["descriptors"].default == DESCRIPTORS_DEFAULT


def test_the_zoomout_defaults_are_the_documented_constants():
    """``correspond``, ``spectral_shape`` and the CLI's help take k, step and the extra iterations
    from one place (they were chosen together on the lion pairs)."""
    import argparse
    import inspect

    from manifold_nets.tasks.correspondence import K_DEFAULT, N_FINAL_DEFAULT, STEP_DEFAULT
    from manifold_nets_apps.cli import build_parser

    params = inspect.signature(correspond).parameters
    assert (params["k"].default, params["step"].default, params["n_final"].default) == (
        K_DEFAULT, STEP_DEFAULT, N_FINAL_DEFAULT)
    assert inspect.signature(spectral_shape).parameters["k"].default == K_DEFAULT
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = [a.help for a in sub.choices["correspond"]._actions if "--k" in a.option_strings]
    assert len(helps) == 1 and f"(default {K_DEFAULT})" in helps[0], helps


def test_spectral_residual_by_hand_and_zero_for_a_map_within_the_span():
    Pa = Pb = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert fmaps.spectral_residual([0, 1, 2], Pa, Pb, np.ones(3)) == 0.0
    assert fmaps.spectral_residual([1, 0, 2], Pa, Pb, np.ones(3)) == 0.0  # a swap inside the span
    m = np.array([0.5, 2.0, 1.0])
    # p2p = [0, 0, 2]: C = [[0.5, 0], [2, 0]], rows of Φ_a[p2p] Cᵀ − Φ_b: [-0.5, 2], [0.5, 1], [0, 0]
    assert fmaps.spectral_residual([0, 0, 2], Pa, Pb, m) == pytest.approx(0.5 * 4.25 + 2.0 * 1.25, rel=1e-15)
    with pytest.raises(MeshShapeError, match="same number of columns"):
        fmaps.spectral_residual([0, 1, 2], Pa, Pb[:, :1], m)
    # an isometric pair: the true map has (numerically) no residual at a spectral gap, a noisy one has
    V, F = bumpy(ASYM, subdivisions=2)
    Vb, Fb, true = renumbered_moved(V, F, seed=5)
    a, b = spectral_shape(Vb, Fb, k=60), spectral_shape(V, F, k=60)
    gaps = np.flatnonzero(np.diff(b.evals[:41]) > 1e-2 * b.evals[1:41]) + 1
    k = int(gaps[gaps >= 20].max())
    noisy = true.copy()
    noisy[::5] = true[np.roll(np.arange(len(V)), 1)][::5]
    assert fmaps.spectral_residual(true, a.evecs[:, :k], b.evecs[:, :k], b.mass) < 1e-10
    assert fmaps.spectral_residual(noisy, a.evecs[:, :k], b.evecs[:, :k], b.mass) > 0.1


def test_zoomout_keeps_the_candidate_with_the_lower_energy():
    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=5)
    a, b = spectral_shape(Vb, Fb, k=40), spectral_shape(V, F, k=40)
    rng = np.random.default_rng(0)
    good = fmaps.p2p_to_fmap(true, a.evecs[:, :10], b.evecs[:, :10], b.mass) + 0.05 * rng.normal(size=(10, 10))
    bad = np.linalg.qr(rng.normal(size=(10, 10)))[0]  # an orthogonal map that has nothing to do with the shapes
    for kw, hit in (({"n_samples": None}, 0.95), ({"n_samples": 200, "V_a": a.V, "V_b": b.V, "mass_a": a.mass}, 0.75)):
        alone = fmaps.zoomout(None, a.evecs, b.evecs, b.mass, k_start=10, k_end=40, step=5, C_init=good, **kw)
        assert (alone[0] == true).mean() > hit
        for order, expect in (([bad, good], 1), ([good, bad], 0)):
            tm: dict = {}
            p, C = fmaps.zoomout(None, a.evecs, b.evecs, b.mass, k_start=10, k_end=40, step=5, C_init=order,
                                 select_at=20, timings=tm, **kw)
            assert tm["selected"] == expect and len(tm["residuals"]) == 2
            assert tm["residuals"][expect] < 0.5 * tm["residuals"][1 - expect]
            assert (p == alone[0]).all() and np.allclose(C, alone[1])
        one = fmaps.zoomout(None, a.evecs, b.evecs, b.mass, k_start=10, k_end=40, step=5, C_init=[good], **kw)
        assert (one[0] == alone[0]).all()
    with pytest.raises(MeshShapeError, match="at least one"):
        fmaps.zoomout(None, a.evecs, b.evecs, b.mass, C_init=[])


def test_correspond_auto_keeps_the_lower_energy_candidate_and_says_which():
    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=3)
    for refine in ("zoomout", "none"):
        p2p, info = correspond(V, F, Vb, Fb, k=40, refine=refine, return_info=True)
        cand = info["candidates"]
        assert set(cand) == {"hks", "wks"} and info["descriptors"] == min(cand, key=cand.get)
        assert (p2p == true).mean() > (0.99 if refine == "zoomout" else 0.5)
    for kind in ("hks", "wks"):
        p2p, info = correspond(V, F, Vb, Fb, k=40, descriptors=kind, return_info=True)
        assert info["descriptors"] == kind and info["candidates"] is None
    with pytest.raises(MeshShapeError, match="'auto', 'hks' or 'wks'"):
        correspond(V, F, Vb, Fb, descriptors="shot")
    assert set(spectral_shape(V, F, k=20, descriptors="auto").descriptor_sets) == {"hks", "wks"}


def test_probe_gives_up_a_slow_kdtree_after_one_chunk(monkeypatch):
    """A KD-tree that is far slower than brute force (here: every query call sleeps) is dropped
    after its first chunk of probe queries, and the answers are brute force's (exact)."""
    import time

    import scipy.spatial

    rng = np.random.default_rng(7)
    P, Q = rng.normal(size=(4000, 40)), rng.normal(size=(6000, 40))
    calls = []

    class SlowTree(cKDTree):
        def query(self, x, *args, **kwargs):
            calls.append(len(x))
            time.sleep(0.2)
            return super().query(x, *args, **kwargs)

    monkeypatch.setattr(scipy.spatial, "cKDTree", SlowTree)
    got = fmaps.nearest_neighbors(Q, P)
    assert calls == [fmaps._PROBE_CHUNK]
    np.testing.assert_array_equal(got, cKDTree(P).query(Q)[1])


def test_single_precision_queries_above_the_limit_are_probed(monkeypatch):
    """``single=True`` is float32 brute force up to ``_SINGLE_MAX_PRODUCT`` pairs; above, the probe
    picks the KD-tree where it is faster (queries near a 2-D surface in 40 dimensions): the
    exact answers, with the probe's queries answered by the tree too."""
    P, Q = _surface_in_40d(np.random.default_rng(8))
    ref = cKDTree(P).query(Q)[1]
    seen = []
    real = fmaps._probed_nn
    monkeypatch.setattr(fmaps, "_probed_nn", lambda Q, P, single=False: seen.append(single) or real(Q, P, single))
    np.testing.assert_array_equal(fmaps.nearest_neighbors(Q, P, single=True), ref)  # float32 brute: no probe
    assert seen == []
    monkeypatch.setattr(fmaps, "_SINGLE_MAX_PRODUCT", 1e6)
    np.testing.assert_array_equal(fmaps.nearest_neighbors(Q, P, single=True), ref)
    assert seen == [True]


def test_initial_fmaps_are_the_maps_correspond_starts_from():
    """``initial_fmaps`` gives one C per descriptor kind; converted without refinement, the one
    ``correspond`` keeps is its ``refine="none"`` map; a wrong weight or mismatched kinds fail."""
    from manifold_nets.tasks.correspondence import initial_fmaps

    V, F = bumpy(ASYM)
    Vb, Fb, _ = renumbered_moved(V, F, seed=5)
    src, tgt = spectral_shape(V, F, k=40), spectral_shape(Vb, Fb, k=40)
    Cs = initial_fmaps(src, tgt, k_init=20)
    assert list(Cs) == ["hks", "wks"] and all(C.shape == (20, 20) for C in Cs.values())
    p2p, info = correspond(V, F, Vb, Fb, k=40, k_init=20, refine="none", return_info=True)
    kept = fmaps.fmap_to_p2p(Cs[info["descriptors"]], tgt.evecs[:, :20], src.evecs[:, :20])
    np.testing.assert_array_equal(p2p, kept)
    # the weights reach the solve: on a mirror-symmetric shape the orientation term decides
    Vm, Fm = bumpy(MIRROR)
    m = spectral_shape(Vm, Fm, k=40)
    with_o = initial_fmaps(m, m, k_init=20)["hks"]
    without = initial_fmaps(m, m, k_init=20, weights={"w_orient": 0.0})["hks"]
    assert np.abs(with_o - without).max() > 1e-3
    with pytest.raises(MeshShapeError, match="weights: expected keys"):
        initial_fmaps(src, tgt, weights={"w_orientation": 1.0})
    with pytest.raises(MeshShapeError, match="same descriptor kinds"):
        initial_fmaps(src, spectral_shape(Vb, Fb, k=40, descriptors="hks"))


def test_correspond_never_maps_onto_a_vertex_on_no_face():
    """A loose target vertex is never an image (it has no eigenbasis row); a loose source vertex
    gets the image of its nearest referenced vertex; both directions, descriptors given or not."""
    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=2)
    Vt, Ft = np.vstack([[10.0, 10.0, 10.0], Vb]), Fb + 1  # target vertex 0 lies on no face
    Vs = np.vstack([V, V[5] + 1e-3])                      # source vertex n lies on no face
    p2p, back = correspond(Vs, F, Vt, Ft, k=40, both=True)
    assert p2p.shape == (len(Vs),) and back.shape == (len(Vt),)
    assert (p2p != 0).all() and (p2p[:-1] == true + 1).all() and p2p[-1] == p2p[5]
    assert (back[1:] < len(V)).all() and back[0] == back[1 + cKDTree(Vb).query(Vt[0])[1]]
