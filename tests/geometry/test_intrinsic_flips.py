"""Vectorised intrinsic Delaunay flips, the direct CHOLMOD solver and the batched heat paths.

The flips run in rounds of independent edges (:func:`_flip_rounds`); the one-edge-at-a-time
loop (:func:`_flip_loop`) is the reference they must reproduce: the same triangulation (up to
face order and rotation; the Delaunay triangulation is unique up to co-circular ties), the same
edge lengths and the same signpost angles (modulo the cone angle, as the gauge reads them).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from manifold_nets.errors import SolverError
from manifold_nets.geometry import HeatGeodesicSolver, VectorHeatSolver
from manifold_nets.geometry._checked import check_mesh
from manifold_nets.shapes import grid, icosphere
from tests.geometry._geodesic_meshes import load

ID = importlib.import_module("manifold_nets.geometry.intrinsic_delaunay")
S = importlib.import_module("manifold_nets.geometry._solve")


def _stretched_sphere(level=4, seed=0):
    V, F = icosphere(level)
    V = V * np.array([3.0, 1.0, 0.4])
    V = V + np.random.default_rng(seed).normal(scale=0.02, size=V.shape)
    return V, F


def _skinny_grid():
    V, F = grid(30)
    V = V.copy()
    rng = np.random.default_rng(1)
    V[:, :2] += rng.uniform(-0.3, 0.3, V[:, :2].shape) / 29
    V[:, 0] *= 4.0
    V[:, 2] = 0.1 * np.sin(5 * V[:, 0]) * np.cos(7 * V[:, 1])
    return V, F


def _both(V, F, signposts=True, monkeypatch=None):
    mesh = check_mesh(V, F)
    out = {}
    for method in ("loop", "rounds"):
        monkeypatch.setattr(ID, "_FLIP_METHOD", method)
        out[method] = ID._intrinsic_delaunay(mesh, signposts=signposts)
    return out["loop"], out["rounds"]


def _canonical(T):
    """Faces rotated so their smallest vertex comes first, sorted; with lengths and signposts."""
    r = np.argmin(T.F, axis=1)
    idx = (r[:, None] + np.arange(3)) % 3
    Fr = np.take_along_axis(T.F, idx, 1)
    o = np.lexsort(Fr.T[::-1])
    return Fr[o], np.take_along_axis(T.lengths, idx, 1)[o]


def _assert_delaunay(T, nV, tol=1e-9):
    """Every interior edge has a non-negative cotan weight, except edges no flip may change:
    one whose quad folds onto itself (an endpoint of degree ≤ 3) or whose flipped edge exists."""
    cot = 1.0 / np.tan(T.alpha)
    tw = ID._twins(T.F, nV)
    has = np.flatnonzero(tw >= 0)
    c = cot.ravel()
    bad = has[c[has] + c[tw[has]] < -tol]
    if not bad.size:
        return
    F = T.F
    u = F[:, [1, 2, 0]].ravel()
    w = F[:, [2, 0, 1]].ravel()
    keys = set((np.minimum(u, w) * nV + np.maximum(u, w)).tolist())
    deg = np.bincount(np.concatenate([u, w]), minlength=nV) // 2
    for h in bad.tolist():
        a, b = u[h], w[h]
        cc, d = F.ravel()[h], F.ravel()[tw[h]]
        stuck = deg[a] <= 3 or deg[b] <= 3 or (min(cc, d) * nV + max(cc, d)) in keys
        assert stuck, f"edge ({a}, {b}) is not Delaunay and could be flipped"
    assert bad.size < 0.01 * has.size


@pytest.mark.parametrize("make", [_stretched_sphere, _skinny_grid], ids=["stretched-sphere", "skinny-grid"])
def test_rounds_equal_the_loop_on_generated_meshes(make, monkeypatch):
    V, F = make()
    loop, rounds = _both(V, F, monkeypatch=monkeypatch)
    assert loop.n_flips > 50 and rounds.n_flips > 50
    Fa, La = _canonical(loop)
    Fb, Lb = _canonical(rounds)
    np.testing.assert_array_equal(Fa, Fb)
    np.testing.assert_allclose(Lb, La, rtol=1e-12, atol=0)
    # signposts as the tangent gauge reads them (scaled by 2π/Θ, wrapped)
    ea, pa = loop.half_edge_angles()
    eb, pb = rounds.half_edge_angles()
    np.testing.assert_array_equal(ea, eb)
    assert np.abs(np.angle(np.exp(1j * (pa - pb)))).max() < 1e-9
    # Delaunay: every interior edge's cotan weight is non-negative (within rounding)
    _assert_delaunay(rounds, len(V))
    # without signposts the same triangulation
    _, nosp = _both(V, F, signposts=False, monkeypatch=monkeypatch)
    np.testing.assert_array_equal(_canonical(nosp)[0], Fb)
    assert np.isnan(nosp.signpost).all()


@pytest.mark.data
@pytest.mark.parametrize("name", ["teddy.obj", "fertility.off"])
def test_rounds_equal_the_loop_on_shared_clean_meshes(name, monkeypatch):
    V, F = load("clean", name)
    loop, rounds = _both(V, F, monkeypatch=monkeypatch)
    Fa, La = _canonical(loop)
    Fb, Lb = _canonical(rounds)
    np.testing.assert_array_equal(Fa, Fb)
    np.testing.assert_allclose(Lb, La, rtol=1e-12, atol=1e-15)
    _assert_delaunay(rounds, len(V))


@pytest.mark.data
def test_rounds_on_a_non_manifold_scan_differ_from_the_loop_only_where_flips_are_refused(monkeypatch):
    """Where a flip is refused (it would duplicate an edge, or the quad folds), which edges stay
    non-Delaunay depends on the order of the flips, in the loop as in rounds: on this dirty
    scan 6 of 10980 faces differ (measured), and the heat distances agree to 3e-5 on average."""
    V, F = load("dirty", "dragon_vrip_res4.ply.gz")
    loop, rounds = _both(V, F, monkeypatch=monkeypatch)
    a = set(map(tuple, _canonical(loop)[0].tolist()))
    b = set(map(tuple, _canonical(rounds)[0].tolist()))
    assert len(a - b) <= 0.002 * len(a)
    d = {}
    for method in ("loop", "rounds"):
        monkeypatch.setattr(ID, "_FLIP_METHOD", method)
        d[method] = HeatGeodesicSolver(V, F, laplacian="robust").distances([0, 100, 2000])
    x, y = d["loop"], d["rounds"]
    np.testing.assert_array_equal(np.isinf(x), np.isinf(y))
    f = np.isfinite(x) & (x > 0)
    rel = np.abs(x[f] - y[f]) / x[f]
    assert rel.mean() < 2e-4 and rel.max() < 0.02


def test_rounds_respect_the_flip_cap(monkeypatch):
    V, F = _stretched_sphere(3)
    monkeypatch.setattr(ID, "_FLIP_METHOD", "rounds")
    full = ID._intrinsic_delaunay(check_mesh(V, F))
    assert full.n_flips > 20
    with pytest.warns(RuntimeWarning, match="stopped at max_flips=7"):
        T = ID._intrinsic_delaunay(check_mesh(V, F), max_flips=7)
    assert T.n_flips == 7
    # still a valid triangulation of the same surface: total area unchanged
    assert np.isclose(T.area.sum(), full.area.sum(), rtol=1e-12)


def _twins_reference(F, nV):
    """The definition: corner across the opposite edge when that edge has exactly two faces,
    consistently oriented (brute force)."""
    nC = F.size
    u = F[:, [1, 2, 0]].ravel()
    w = F[:, [2, 0, 1]].ravel()
    twin = np.full(nC, -1)
    for x in range(nC):
        if u[x] == w[x]:
            continue
        same = [y for y in range(nC) if {u[y], w[y]} == {u[x], w[x]}]
        if len(same) == 2:
            y = same[0] if same[1] == x else same[1]
            if u[y] == w[x] and w[y] == u[x]:
                twin[x] = y
    return twin


def test_twins_match_the_definition_on_random_soups():
    rng = np.random.default_rng(3)
    for _ in range(150):
        nV = int(rng.integers(3, 7))
        F = rng.integers(0, nV, (int(rng.integers(1, 10)), 3))
        np.testing.assert_array_equal(ID._twins(F, nV), _twins_reference(F, nV))


needs_direct = pytest.mark.skipif(not S.have_cholmod_direct(), reason="direct CHOLMOD binding unavailable")


def _spd(n=300, seed=0):
    rng = np.random.default_rng(seed)
    R = sp.random(n, n, density=0.02, random_state=rng)
    A = (R @ R.T + sp.eye(n) * 2.0).tocsr()
    return A


@needs_direct
def test_direct_cholmod_solves_and_shares_the_analysis():
    A = _spd()
    s = S.SPDSolver(A, what="A")
    assert s.direct and s.backend == "cholespy"
    B = np.random.default_rng(1).normal(size=(A.shape[0], 5))
    ref = sla.spsolve(A.tocsc(), B)
    np.testing.assert_allclose(s.solve(B), ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(s.solve(B[:, 2]), ref[:, 2], rtol=1e-9, atol=1e-12)
    A2 = A.copy()
    A2.data = A2.data * 3.0
    A2 = A2 + sp.eye(A.shape[0])  # same pattern (the diagonal is stored)
    s2 = S.SPDSolver(A2, symbolic=s)
    assert s2._sym is s._sym
    np.testing.assert_allclose(s2.solve(B), sla.spsolve(A2.tocsc(), B), rtol=1e-9, atol=1e-12)
    # a different pattern gets its own analysis
    s3 = S.SPDSolver(sp.eye(A.shape[0]).tocsr() * 2.0, symbolic=s)
    assert s3._sym is not s._sym
    np.testing.assert_allclose(s3.solve(B), B / 2.0)


@needs_direct
def test_direct_cholmod_block_ordering_from_the_scalar_system():
    """A 2n × 2n system with two interleaved unknowns per vertex is ordered by the n × n
    system's ordering expanded to blocks: the same solution, the expanded permutation, and a
    matrix whose size is not a multiple gets its own ordering."""
    from manifold_nets.geometry import cotan_laplacian, mass_matrix
    from manifold_nets.shapes import icosphere

    V, F = icosphere(3)
    n = len(V)
    A = (mass_matrix(V, F) + 0.1 * cotan_laplacian(V, F)).tocsr()
    s = S.SPDSolver(A, what="scalar")
    # the real form of a Hermitian system with a rotation on every off-diagonal entry
    C = A.tocoo()
    rot = np.exp(1j * 0.3 * (C.row - C.col))
    H = sp.csr_matrix((C.data * rot, (C.row, C.col)), shape=A.shape)
    from manifold_nets.geometry.logmap import _complex_to_real_system

    R = _complex_to_real_system(H)
    s2 = S.SPDSolver(R, what="vector", block_ordering=s)
    p = s._sym.perm()
    np.testing.assert_array_equal(s2._sym.perm(), np.ravel(np.stack([2 * p, 2 * p + 1], 1)))
    B = np.random.default_rng(0).normal(size=(2 * n, 3))
    ref = sla.spsolve(R.tocsc(), B)
    np.testing.assert_allclose(s2.solve(B), ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(S.SPDSolver(R, what="vector").solve(B), ref, rtol=1e-9, atol=1e-12)
    odd = sp.eye(n + 1).tocsr() * 2.0  # not a multiple of n: its own analysis
    s3 = S.SPDSolver(odd, block_ordering=s)
    assert s3._sym.n == n + 1
    np.testing.assert_allclose(s3.solve(np.ones(n + 1)), 0.5)


@needs_direct
@pytest.mark.parametrize("kind", ["negative", "singular", "indefinite"])
def test_direct_cholmod_refuses_matrices_that_are_not_spd(kind, capfd):
    n = 50
    T = sp.diags([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()
    if kind == "negative":
        A = -T
    elif kind == "singular":
        A = T.tolil()
        A[7, :] = 0
        A[:, 7] = 0
        A = A.tocsr()
    else:
        A = (T - 3.0 * sp.eye(n)).tocsr()
    capfd.readouterr()
    with pytest.raises(SolverError, match="not positive definite"):
        S.SPDSolver(A, what="test system")
    out, err = capfd.readouterr()
    assert "CHOLMOD" not in out + err  # reported through the error, never printed


def test_scipy_backend_still_works():
    A = _spd(120, 2)
    s = S.SPDSolver(A, backend="scipy")
    assert not s.direct and s.backend == "scipy"
    b = np.arange(A.shape[0], dtype=float)
    np.testing.assert_allclose(A @ s.solve(b), b, atol=1e-9)


@needs_direct
def test_heat_and_poisson_share_one_analysis_and_match_scipy():
    V, F = _stretched_sphere(3)
    a = HeatGeodesicSolver(V, F, laplacian="robust")
    assert a._integrator._poisson._sym is a._heat._sym
    b = HeatGeodesicSolver(V, F, laplacian="robust", backend="scipy")
    src = [0, 17, 300]
    np.testing.assert_allclose(a.distances(src), b.distances(src), rtol=1e-9, atol=1e-12)


def test_unreferenced_vertices_and_components_keep_working():
    V, F = icosphere(2)
    V2 = np.vstack([V, V + [5.0, 0, 0], [[9.0, 9.0, 9.0]]])  # two spheres and a lonely vertex
    F2 = np.vstack([F, F + len(V)])
    d = HeatGeodesicSolver(V2, F2, laplacian="robust").distances([0, len(V) + 3])
    ref = HeatGeodesicSolver(V2, F2, laplacian="robust", backend="scipy").distances([0, len(V) + 3])
    np.testing.assert_array_equal(np.isinf(d), np.isinf(ref))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(d[fin], ref[fin], rtol=1e-9, atol=1e-12)
    assert np.isinf(d[0, len(V):]).all() and np.isinf(d[1, : len(V)]).all()


def test_batched_transports_equal_single_transports():
    V, F = _stretched_sphere(3)
    vhm = VectorHeatSolver(V, F, laplacian="robust")
    src = np.array([3, 40, 41, 500])
    vec = np.array([1.0, 1j, 0.5 - 0.2j, 2.0])
    X = vhm.transports(src, vec)  # nothing cached: one solve for all
    for a, s in enumerate(src):
        np.testing.assert_allclose(X[a], vhm.transport(int(s), vec[a]), rtol=1e-12, atol=1e-14)
    # after a batch of log maps every source's transported axis is cached and reused
    vhm2 = VectorHeatSolver(V, F, laplacian="robust")
    vhm2.log_maps(src)
    assert set(int(s) for s in src) <= set(vhm2._h_cache)
    np.testing.assert_allclose(vhm2.transports(src, vec), X, rtol=1e-12, atol=1e-14)


@needs_direct
def test_complex_hermitian_factor_solves_and_refuses_indefinite():
    rng = np.random.default_rng(5)
    n = 200
    R = sp.random(n, n, density=0.03, random_state=rng) + 1j * sp.random(n, n, density=0.03, random_state=rng)
    A = (R @ R.conj().T + 2.0 * sp.eye(n)).tocsr()
    s = S.SPDSolver(A, what="hermitian")
    assert s.direct and s.complex
    B = rng.normal(size=(n, 3)) + 1j * rng.normal(size=(n, 3))
    np.testing.assert_allclose(s.solve(B), sla.spsolve(A.tocsc(), B), rtol=1e-9, atol=1e-12)
    assert s.solve(B[:, 0]).shape == (n,) and s.solve(B[:, 0]).dtype == np.complex128
    with pytest.raises(SolverError, match="not positive definite"):
        S.SPDSolver((A - 1e3 * sp.eye(n)).tocsr(), what="indefinite")
    with pytest.raises(ValueError, match="complex matrices need"):
        S.SPDSolver(A, backend="scipy")


@needs_direct
def test_vector_heat_complex_factor_equals_the_real_interleaved_system(monkeypatch):
    monkeypatch.setattr(importlib.import_module("manifold_nets.geometry.logmap"), "_COMPLEX_FACTOR", True)
    V, F = _stretched_sphere(3)
    a = VectorHeatSolver(V, F, laplacian="robust")
    assert a._vec_complex and a._scal._sym is a._vec._sym  # one analysis for both systems
    b = VectorHeatSolver(V, F, laplacian="robust", backend="scipy")
    assert not b._vec_complex
    src = [0, 100, 400]
    ra, ta = a.log_maps(src)
    rb, tb = b.log_maps(src)
    np.testing.assert_allclose(ra, rb, rtol=1e-8, atol=1e-12)
    far = ra > 0.05 * np.nanmax(ra)
    assert np.abs(np.angle(np.exp(1j * (ta - tb))))[far].max() < 1e-7
    np.testing.assert_allclose(a.transports(src, 1j), b.transports(src, 1j), rtol=1e-8, atol=1e-12)


@needs_direct
def test_vector_heat_takes_the_complex_factor_on_large_meshes(monkeypatch):
    """The real interleaved system by default; the complex factor once the real factor's predicted
    size passes ``COMPLEX_FACTOR_FROM_MB`` (here lowered below a small mesh's), same log maps."""
    LM = importlib.import_module("manifold_nets.geometry.logmap")
    V, F = _stretched_sphere(3)
    a = VectorHeatSolver(V, F, laplacian="robust")
    assert not a._vec_complex
    mb = 4 * a._scal.factor_entries() * 12 / 1e6
    monkeypatch.setattr(LM, "COMPLEX_FACTOR_FROM_MB", 0.5 * mb)
    b = VectorHeatSolver(V, F, laplacian="robust")
    assert b._vec_complex
    monkeypatch.setattr(LM, "COMPLEX_FACTOR_FROM_MB", 2.0 * mb)
    assert not VectorHeatSolver(V, F, laplacian="robust")._vec_complex
    src = [0, 100, 400]
    (ra, ta), (rb, tb) = a.log_maps(src), b.log_maps(src)
    np.testing.assert_allclose(rb, ra, rtol=1e-8, atol=1e-12)
    far = ra > 0.05 * np.nanmax(ra)
    assert np.abs(np.angle(np.exp(1j * (ta - tb))))[far].max() < 1e-7


def test_direct_assembly_equals_the_sparse_products():
    """``_gradient_stack`` and the face-by-face Laplacian equal ``[Gx; Gy]`` and ``Gᵀ W G`` built
    from :func:`_gradient_parts` (the former assembly), degenerate faces included."""
    G = importlib.import_module("manifold_nets.geometry.geodesics")
    V, F = _skinny_grid()
    F = np.vstack([F, [[0, 0, 1]]])  # a degenerate face (repeated vertex)
    T = ID._intrinsic_delaunay(check_mesh(V, F), signposts=False)
    nV = len(V)
    Gx, Gy, area, ok = G._gradient_parts(T.F, T.lengths, nV)
    Gs, g, area2, ok2 = G._gradient_stack(T.F, T.lengths, nV)
    assert abs(Gs.get() - sp.vstack([Gx, Gy])).max() < 1e-15
    np.testing.assert_array_equal(ok, ok2)
    np.testing.assert_array_equal(area, area2)
    w = np.zeros_like(area)
    w[ok] = 1.0 / (4.0 * area[ok])
    W = sp.diags(w)
    L_ref = Gx.T @ W @ Gx + Gy.T @ W @ Gy
    used = np.bincount(T.F.ravel(), minlength=nV) > 0
    integ = G._HeatIntegrator(T.F, T.lengths, nV, used, np.zeros(nV, dtype=int), "auto")
    assert abs(integ.L - L_ref).max() < 1e-12 * abs(L_ref).max()


@needs_direct
def test_vector_heat_default_real_system_and_shared_poisson_analysis():
    V, F = _stretched_sphere(3)
    vhm = VectorHeatSolver(V, F, laplacian="robust")
    assert not vhm._vec_complex and vhm.radius == "heat"
    vhm.log_map(0)
    assert vhm._integrator._poisson._sym is vhm._scal._sym


# --- CHOLMOD: one ordering method per analysis, BLAS routed to SciPy's OpenBLAS ---------------


def test_lower_triangle_in_csc_equals_scipy_tril_on_every_format():
    """``_lower_csc`` filters in CSC directly; it must equal ``sp.tril`` (explicit zeros and
    summed duplicates included) for CSR, CSC and COO input, without touching the input."""
    for seed in range(12):
        n = 1 + seed * 4
        A = sp.random(n, n, density=0.3, random_state=seed, format="coo")
        A = sp.coo_matrix((np.r_[A.data, 1.0, 2.0, 0.0], (np.r_[A.row, 0, 0, n - 1], np.r_[A.col, 0, 0, 0])),
                          shape=(n, n))  # a duplicate and an explicit zero
        for fmt in ("csr", "csc", "coo"):
            X = A.asformat(fmt)
            before = X.copy()
            T = S._lower_csc(X)
            R = sp.tril(sp.csc_matrix(A), format="csc")
            R.sum_duplicates()
            assert T.format == "csc" and T.has_sorted_indices and T.nnz == R.nnz
            np.testing.assert_array_equal(T.toarray(), R.toarray())
            np.testing.assert_array_equal(X.toarray(), before.toarray())


@needs_direct
def test_direct_cholmod_analysis_tries_one_ordering_at_a_time():
    """The method table of ``cholmod_common`` reads back as documented, so an analysis can ask
    for AMD alone, or for the given permutation alone (CHOLMOD's default would also run AMD and,
    on high fill, METIS).  A given permutation is then used as given."""
    lib = S._cholmod_lib()
    common = S._Common(lib)
    assert common.methods_ok
    common.close()
    from manifold_nets.geometry import cotan_laplacian, mass_matrix
    from manifold_nets.shapes import icosphere

    V, F = icosphere(4)
    A = (mass_matrix(V, F) + 0.1 * cotan_laplacian(V, F)).tocsr()
    T = S._lower_csc(A)
    perm = np.random.default_rng(0).permutation(len(V)).astype(np.int32)
    given = S._Symbolic(lib, T, perm=perm)
    amd = S._Symbolic(lib, T)
    # a random ordering fills in badly: kept because it was asked for (CHOLMOD's default strategy
    # would have tried AMD too and kept that)
    assert given.lnz() > 2.0 * amd.lnz()
    assert sorted(given.perm().tolist()) == list(range(len(V)))


@needs_direct
@pytest.mark.skipif(not __import__("manifold_nets.geometry._cholmod_blas", fromlist=["enabled"]).enabled(),
                    reason="BLAS routing is for Linux on x86-64 and AArch64")
def test_cholmod_blas_is_routed_to_scipy_and_agrees_with_the_bundled_reference_blas():
    """In a process of its own each (the routing is per process): the default routes CHOLMOD's
    BLAS/LAPACK to SciPy's OpenBLAS, ``MANIFOLD_NETS_CHOLMOD_BLAS=reference`` keeps the wheel's
    own; both give the same real and complex factorisations to rounding."""
    import json
    import os
    import subprocess
    import sys

    from manifold_nets.geometry import _cholmod_blas

    code = """
import json, numpy as np, scipy.sparse as sp
from manifold_nets.geometry import _solve as S, cotan_laplacian, mass_matrix
from manifold_nets.shapes import icosphere
V, F = icosphere(5)
A = (mass_matrix(V, F) + 0.01 * cotan_laplacian(V, F)).tocsr()
C = A.tocoo()
H = sp.csr_matrix((C.data * np.exp(0.2j * (C.row - C.col)), (C.row, C.col)), shape=A.shape)
B = np.cos(np.arange(3 * len(V))).reshape(len(V), 3)
x, z = S.SPDSolver(A).solve(B), S.SPDSolver(H).solve(B + 0j)
print(json.dumps({"blas": S.CHOLMOD_BLAS, "x": x.ravel().tolist(), "z": np.ascontiguousarray(z).view(float).ravel().tolist()}))
"""
    out = {}
    for mode in ("scipy", "reference"):
        env = dict(os.environ, MANIFOLD_NETS_CHOLMOD_BLAS=mode)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        out[mode] = json.loads(r.stdout)
    assert out["scipy"]["blas"] == "scipy" and out["reference"]["blas"] == "reference"
    for key in ("x", "z"):
        a, b = np.array(out["scipy"][key]), np.array(out["reference"][key])
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13 * np.abs(b).max())
    import glob
    import importlib.util

    spec = importlib.util.find_spec("cholespy")
    path = sorted(glob.glob(str(Path(spec.submodule_search_locations[0]) / "_cholespy_core*.so")))[0]
    slots, _ = _cholmod_blas.got_slots(path)
    assert set(slots) == set(_cholmod_blas.SYMBOLS)


def test_cholmod_blas_routing_changes_nothing_when_a_slot_is_not_as_expected(monkeypatch):
    """A GOT slot that does not hold the expected symbol (here: the file's offsets shifted by
    one slot) aborts the routing before any write."""
    from manifold_nets.geometry import _cholmod_blas

    if not (S.have_cholmod_direct() and _cholmod_blas.enabled()):
        pytest.skip("BLAS routing not available here")
    import glob
    import importlib.util

    lib = S._cholmod_lib()
    spec = importlib.util.find_spec("cholespy")
    path = sorted(glob.glob(str(Path(spec.submodule_search_locations[0]) / "_cholespy_core*.so")))[0]
    real = _cholmod_blas.got_slots

    def shifted(p):
        slots, relro = real(p)
        return {k: [o + 8 for o in v] for k, v in slots.items()}, relro

    monkeypatch.setattr(_cholmod_blas, "got_slots", shifted)
    assert _cholmod_blas.route(lib, path) is None
    A = _spd(200, 3)  # and CHOLMOD still works as before
    B = np.random.default_rng(2).normal(size=(A.shape[0], 2))
    np.testing.assert_allclose(S.SPDSolver(A).solve(B), sla.spsolve(A.tocsc(), B), rtol=1e-9, atol=1e-12)


def _mesh_spd(level=4):
    """``M + 1e-3 L`` of an icosphere: from level 4 (2,562 vertices) CHOLMOD's own rule makes
    its factor supernodal, so the conversion to the simplicial form is reached."""
    from manifold_nets.geometry import cotan_laplacian, mass_matrix

    V, F = icosphere(level)
    return (mass_matrix(V, F) + 1e-3 * cotan_laplacian(V, F)).tocsr()


@needs_direct
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_supernodal_factor_kept_above_simplicial_max_mb_gives_the_same_solves(dtype):
    """``simplicial=False``, or a simplicial form larger than ``simplicial_max_mb``, keeps
    CHOLMOD's supernodal factor (no simplicial copy); the solves are the same, real or complex."""
    A = _mesh_spd().astype(dtype)
    if dtype == np.complex128:  # Hermitian, not real: a skew-symmetric imaginary part
        U = sp.triu(sp.csr_matrix(A), k=1)
        A = sp.csr_matrix(A + 0.1j * (U - U.T) * 1e-3)
    rng = np.random.default_rng(3)
    B = rng.normal(size=(A.shape[0], 3)).astype(dtype)
    ref = sla.spsolve(A.tocsc(), B)
    simp = S.SPDSolver(A)
    assert simp._factor.supernodal is False  # converted for the solves
    for sup in (S.SPDSolver(A, simplicial=False), S.SPDSolver(A, simplicial_max_mb=0.0)):
        assert sup._factor.supernodal is True
        np.testing.assert_allclose(sup.solve(B), ref, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sup.solve(B[:, 1]), ref[:, 1], rtol=1e-9, atol=1e-12)
    # the limit is on the predicted simplicial size: a generous one converts
    big = S.SPDSolver(A, simplicial_max_mb=1e6)
    assert big._factor.supernodal is False
    np.testing.assert_allclose(big.solve(B), ref, rtol=1e-9, atol=1e-12)


@needs_direct
def test_log_map_keeps_every_factor_supernodal_above_supernodal_from_mb(monkeypatch):
    """Above ``SUPERNODAL_FROM_MB`` the log map's scalar, vector and Poisson factors all stay
    supernodal (the 1M-vertex memory peak); radii and angles are the same."""
    logmap = importlib.import_module("manifold_nets.geometry.logmap")
    V, F = _stretched_sphere(4)
    s0 = VectorHeatSolver(V, F, laplacian="robust")
    r0, t0 = s0.log_maps([0, 77])
    facs = (s0._scal._factor, s0._vec._factor, s0._integrator._poisson._factor)
    assert not any(f.supernodal for f in facs)
    for complex_factor in (False, True):
        monkeypatch.setattr(logmap, "SUPERNODAL_FROM_MB", 0.0)
        monkeypatch.setattr(logmap, "_COMPLEX_FACTOR", complex_factor)
        s1 = VectorHeatSolver(V, F, laplacian="robust")
        r1, t1 = s1.log_maps([0, 77])
        assert s1._vec._factor.complex is complex_factor
        assert all(f.supernodal for f in (s1._scal._factor, s1._vec._factor, s1._integrator._poisson._factor))
        np.testing.assert_allclose(r1, r0, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(t1, t0, rtol=0, atol=1e-9)


@needs_direct
def test_released_factor_refuses_solves_and_keeps_its_analysis():
    """``release()`` frees the numeric factor: a solve raises, and the analysis still serves
    another matrix of the same pattern (``symbolic=``) with correct solves."""
    A = _mesh_spd(3)
    a = S.SPDSolver(A)
    n_entries = a.factor_entries()
    a.release()
    with pytest.raises(RuntimeError, match="released"):
        a.solve(np.ones(A.shape[0]))
    assert a.factor_entries() == n_entries
    A2 = A.copy()
    A2.data = A2.data * 2.0
    b = S.SPDSolver(A2, symbolic=a)
    assert b._sym is a._sym
    x = np.random.default_rng(0).normal(size=A.shape[0])
    np.testing.assert_allclose(b.solve(x), sla.spsolve(A2.tocsc(), x), rtol=1e-9, atol=1e-12)


def test_symmetric_lower_triangle_reads_csr_as_the_transpose():
    """``_lower_csc(A, symmetric=True)`` reads a canonical CSR matrix as the CSC arrays of its
    transpose (conjugated when complex): for symmetric and Hermitian matrices it equals
    ``sp.tril``, explicit zeros included, and leaves the input alone."""
    rng = np.random.default_rng(3)
    for n in (1, 7, 40):
        B = sp.random(n, n, density=0.3, random_state=n, format="csr")
        for A in (B + B.T + sp.eye(n), (B + 1j * B) + (B + 1j * B).conj().T + sp.eye(n)):
            A = sp.csr_matrix(A)
            A.data[rng.random(A.nnz) < 0.1] = 0.0  # explicit zeros stay structural
            A = (A + A.conj().T) * 0.5  # still exactly Hermitian after zeroing one side
            A = sp.csr_matrix(A)
            A.sum_duplicates()
            before = A.copy()
            T = S._lower_csc(A, symmetric=True)
            R = sp.tril(sp.csc_matrix(A), format="csc")
            assert T.format == "csc" and T.has_sorted_indices
            np.testing.assert_array_equal(T.toarray(), R.toarray())
            np.testing.assert_array_equal(A.toarray(), before.toarray())
            # the general path agrees
            np.testing.assert_array_equal(S._lower_csc(A).toarray(), R.toarray())


@pytest.mark.parametrize("make", [_stretched_sphere, _skinny_grid], ids=["stretched-sphere", "skinny-grid"])
def test_mean_edge_length_and_angles_of_the_flipped_triangulation(make):
    """The mean edge length the flips carry along (input edges plus added minus removed
    lengths) equals the mean over the undirected edges of the flipped triangulation, and the
    corner angles (computed on first access) are the angles of the flipped lengths."""
    from manifold_nets.geometry._common import unique_edges
    from manifold_nets.geometry._intrinsic import corner_angles_from_lengths

    V, F = make()
    T = ID.intrinsic_delaunay(V, F)
    assert T.n_flips > 50
    E, fe, _ = unique_edges(T.F, len(V))
    ell = np.empty(len(E))
    ell[fe.ravel()] = T.lengths.ravel()
    assert abs(T.mean_edge_length - ell.mean()) <= 1e-13 * ell.mean()
    np.testing.assert_array_equal(T.alpha, corner_angles_from_lengths(T.lengths))
    np.testing.assert_allclose(T.alpha.sum(axis=1), np.pi, rtol=1e-12)


# --- the heat setup's array paths: Laplacian pattern, components, edge table, degeneracy -----


def _odd_mesh():
    """Two components (one with boundary), a face with a repeated vertex and an unreferenced vertex."""
    V1, F1 = icosphere(1)
    V2, F2 = grid(4)
    V = np.vstack([V1, V2 + 3.0, [[9.0, 9.0, 9.0]]])
    F = np.vstack([F1, F2 + len(V1), [[0, 0, 1]]]).astype(np.int64)
    return V, F


def test_laplacian_pattern_is_the_lower_triangle_of_edges_and_diagonal():
    G = importlib.import_module("manifold_nets.geometry.geodesics")
    from manifold_nets.geometry._common import unique_edges

    V, F = _odd_mesh()
    nV = len(V)
    E, _, _ = unique_edges(F, nV)
    indptr, indices, diag, epos = G._laplacian_pattern(nV, E)
    assert indptr.dtype == np.int32 and indices.dtype == np.int32
    # reference: the lower triangle of (edges + both directions + diagonal) from scipy
    R = sp.coo_matrix((np.ones(2 * len(E) + nV), (np.r_[E[:, 0], E[:, 1], np.arange(nV)],
                                                   np.r_[E[:, 1], E[:, 0], np.arange(nV)])), shape=(nV, nV))
    R = sp.tril(R).tocsc()
    R.sort_indices()
    np.testing.assert_array_equal(indptr, R.indptr)
    np.testing.assert_array_equal(indices, R.indices)
    # positions: the diagonal entry of column j is row j; edge e sits in column E[e, 0] at row E[e, 1]
    col = np.repeat(np.arange(nV), np.diff(indptr))
    np.testing.assert_array_equal(indices[diag], np.arange(nV))
    np.testing.assert_array_equal(col[diag], np.arange(nV))
    np.testing.assert_array_equal(indices[epos], E[:, 1])
    np.testing.assert_array_equal(col[epos], E[:, 0])


@pytest.mark.parametrize("laplacian", ["robust", "cotan"])
def test_heat_system_from_arrays_equals_the_scipy_assembly(laplacian):
    """``M + tL`` and the pinned Poisson matrix built on the lower-CSC arrays equal the same
    matrices assembled through scipy (COO sums), on a mesh with two components, a boundary,
    a self-loop face and an unreferenced vertex; the distances are those of the scipy path."""
    G = importlib.import_module("manifold_nets.geometry.geodesics")
    V, F = _odd_mesh()
    s = HeatGeodesicSolver(V, F, laplacian=laplacian)
    integ = s._integrator
    nV = len(V)
    A = s._integrator.system(s.t)
    assert isinstance(A, S.LowerCSC)
    # the former assembly: Gᵀ W G from the per-face gradients, summed by scipy
    Gx, Gy, area, ok = G._gradient_parts(s.faces, _lengths_of(s), nV)
    w = np.zeros_like(area)
    w[ok] = 1.0 / (4.0 * area[ok])
    L_ref = (Gx.T @ sp.diags(w) @ Gx + Gy.T @ sp.diags(w) @ Gy).toarray()
    full = A.full().toarray()
    np.testing.assert_allclose(full, s.t * L_ref + np.diag(integ.mass), rtol=0, atol=1e-13 * abs(full).max())
    np.testing.assert_allclose(integ.L.toarray(), L_ref, rtol=0, atol=1e-13 * abs(L_ref).max())
    # pinned Poisson system: identity rows and columns at one vertex per component and the
    # unreferenced one, L elsewhere
    pin = integ._pin
    assert pin.sum() == s._ncomp + 0 and pin[-1]  # the isolated vertex is its own component
    P = integ._poisson
    x = np.random.default_rng(0).normal(size=nV)
    Pref = L_ref.copy()
    Pref[pin, :] = 0.0
    Pref[:, pin] = 0.0
    Pref[pin, pin] = 1.0
    np.testing.assert_allclose(Pref @ P.solve(x), x, atol=1e-9)


def _lengths_of(s):
    from manifold_nets.geometry._intrinsic import edge_lengths

    if s.laplacian == "robust":
        return ID._intrinsic_delaunay(check_mesh(s.V, s.F), signposts=False).lengths
    return edge_lengths(s.V, s.F)


def test_small_mesh_components_equal_scipys_public_path(monkeypatch):
    G = importlib.import_module("manifold_nets.geometry.geodesics")
    from scipy.sparse import csgraph

    from manifold_nets.geometry._common import unique_edges

    V, F = _odd_mesh()
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(V))
    for FF in (F, np.argsort(perm)[F]):
        E, _, _ = unique_edges(FF, len(V))
        n, lab = G._edge_components(E, len(V))
        ref_n, ref = csgraph.connected_components(
            sp.coo_matrix((np.ones(len(E)), (E[:, 0], E[:, 1])), shape=(len(V), len(V))), directed=False)
        assert n == ref_n == 3
        np.testing.assert_array_equal(lab, ref)
        monkeypatch.setattr(importlib.import_module("manifold_nets.topology"), "_SMALL_COMPONENTS", -1)
        n2, lab2 = G._edge_components(E, len(V))
        monkeypatch.undo()
        assert n2 == n
        np.testing.assert_array_equal(lab2, lab)


def test_unique_edges_equals_numpys_unique():
    from manifold_nets.geometry._common import unique_edges

    rng = np.random.default_rng(4)
    cases = [(icosphere(2)[1], 162), (rng.integers(0, 30, (300, 3)), 30), (np.array([[0, 0, 1]]), 2),
             (np.array([[0, 0, 0]]), 1), (np.zeros((0, 3), dtype=np.int64), 4)]
    for F, n in cases:
        F = np.asarray(F, dtype=np.int64)
        a = F[:, [1, 2, 0]].ravel()
        b = F[:, [2, 0, 1]].ravel()
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        key = lo * n + hi
        loop = lo == hi
        uniq, inv, counts = np.unique(key[~loop], return_inverse=True, return_counts=True)
        fe = np.full(key.size, -1, dtype=np.int64)
        fe[~loop] = inv.ravel()
        E, face_edge, cnt = unique_edges(F, n)
        np.testing.assert_array_equal(E, np.stack([uniq // n, uniq % n], axis=1).reshape(-1, 2))
        np.testing.assert_array_equal(face_edge, fe.reshape(-1, 3))
        np.testing.assert_array_equal(cnt, counts)
        assert E.dtype == face_edge.dtype == cnt.dtype == np.int64


def test_degenerate_check_follows_the_face_kernel_policy():
    from manifold_nets.geometry._checked import _degenerate
    from manifold_nets.geometry._common import FaceGeometry

    rng = np.random.default_rng(5)
    V = rng.normal(size=(100, 3))
    V[10] = V[11]
    V[12] = 0.5 * (V[13] + V[14])  # collinear
    F = rng.integers(0, 100, (2000, 3))
    F[:40] = [10, 11, 20]
    F[40:80] = [12, 13, 14]
    F[80:90, 1] = F[80:90, 0]
    got = _degenerate(V, F)
    np.testing.assert_array_equal(got, FaceGeometry.from_vertices(V, F).degenerate)
    assert got[:90].all() and got.sum() >= 90


def test_solver_takes_a_lower_triangle_record_on_every_backend():
    V, F = icosphere(2)
    s = HeatGeodesicSolver(V, F, laplacian="robust")
    A = s._integrator.system(s.t)
    full = A.full()
    b = np.random.default_rng(6).normal(size=(len(V), 3))
    ref = sla.spsolve(full.tocsc(), b)
    for backend in ("auto", "scipy"):
        np.testing.assert_allclose(S.SPDSolver(A, backend).solve(b), ref, rtol=1e-10, atol=1e-12)
    # a record sharing the pattern's arrays shares the analysis without comparing them
    s1 = S.SPDSolver(A)
    s2 = S.SPDSolver(A.with_data(A.data * 2.0), symbolic=s1)
    if s1.direct:
        assert s2._sym is s1._sym
    np.testing.assert_allclose(s2.solve(b), ref / 2.0, rtol=1e-10, atol=1e-12)


def test_lower_triangle_principal_submatrix_equals_scipy_slicing():
    V, F = _odd_mesh()
    s = HeatGeodesicSolver(V, F, laplacian="robust")
    A = s._integrator.system(s.t)
    keep = np.random.default_rng(7).random(len(V)) < 0.6
    keep[0] = True
    sub = A.principal(keep)
    idx = np.flatnonzero(keep)
    ref = A.full()[idx][:, idx]
    np.testing.assert_array_equal(sub.full().toarray(), ref.toarray())
    # the structure (explicit zeros included) is the kept part of the full pattern, columns sorted
    n = len(V)
    pat = np.zeros((n, n), dtype=bool)
    pat[A.indices, np.repeat(np.arange(n), np.diff(A.indptr))] = True
    want = pat[idx][:, idx]
    got = np.zeros_like(want)
    col = np.repeat(np.arange(len(idx)), np.diff(sub.indptr))
    got[sub.indices, col] = True
    np.testing.assert_array_equal(got, want)
    assert all((np.diff(sub.indices[a:b]) > 0).all() for a, b in zip(sub.indptr[:-1], sub.indptr[1:]))
    assert sub.indptr.dtype == sub.indices.dtype == np.int32
