"""Eigenbasis: hand values, convergence of the sphere spectrum, orthonormality and residuals,
components, isolated vertices, retries and typed errors."""

from __future__ import annotations

import mmap

import numpy as np
import pytest
import scipy.sparse as sp

import manifold_nets.geometry.spectral as spectral
from manifold_nets.errors import DegenerateFaceError, MeshShapeError, NonFiniteError, SolverError
from manifold_nets.geometry import (
    cotan_laplacian,
    eigenbasis,
    fix_eigenvector_signs,
    mass_matrix,
    robust_laplacian,
)
from manifold_nets.shapes import icosphere, tetrahedron, torus
from tests.conftest import data_path
from tests.geometry._ops_helpers import load_shared, random_rotation


def _LM(V, F):
    return cotan_laplacian(V, F), mass_matrix(V, F)


def _check_basis(L, M, evals, evecs, rtol=1e-8):
    k = evals.shape[0]
    assert evecs.shape == (L.shape[0], k)
    assert np.all(np.diff(evals) >= -1e-12 * max(1.0, abs(evals).max()))
    np.testing.assert_allclose(evecs.T @ (M @ evecs), np.eye(k), atol=1e-9)
    R = L @ evecs - (M @ evecs) * evals
    # Residual relative to the size of each term.
    scale = (np.linalg.norm(L @ evecs, axis=0) + np.linalg.norm(M @ evecs, axis=0) * abs(evals)
             + 1e-6 * abs(L).max() * np.linalg.norm(evecs, axis=0))
    assert (np.linalg.norm(R, axis=0) / scale).max() < rtol
    idx = np.argmax(np.abs(evecs), axis=0)
    assert (evecs[idx, np.arange(k)] > 0).all()


def test_tetrahedron_by_hand():
    # L = (4I − J)/√3 and M = 2√3 I, so λ = 0 and 4/√3 / (2√3) = 2/3 (three times).
    L, M = _LM(*tetrahedron())
    evals, evecs = eigenbasis(L, M, 4)
    np.testing.assert_allclose(evals, [0, 2 / 3, 2 / 3, 2 / 3], atol=1e-13)
    np.testing.assert_allclose(evecs[:, 0], 1 / np.sqrt(4 * 2 * np.sqrt(3)), rtol=1e-12)
    _check_basis(L, M, evals, evecs)


def _sphere_errors(s, lmax=3):
    V, F = icosphere(s)
    L, M = _LM(V, F)
    k = (lmax + 1) ** 2
    evals, _ = eigenbasis(L, M, k)
    exact = np.concatenate([[l * (l + 1)] * (2 * l + 1) for l in range(lmax + 1)])
    return evals, exact


def test_sphere_spectrum_second_order():
    errs = []
    for s in (2, 3, 4):
        evals, exact = _sphere_errors(s)
        errs.append(np.abs(evals - exact)[1:].max())
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 1.8), (errs, orders)
    # Multiplicity 2l + 1: on the finest mesh each cluster is tight and clusters are separated.
    evals, exact = _sphere_errors(4)
    for l in range(4):
        grp = evals[l * l : (l + 1) ** 2]
        assert np.ptp(grp) < 0.02 * max(1, l * (l + 1))
        if l < 3:
            assert evals[(l + 1) ** 2] - grp.max() > 1.0


@pytest.mark.slow
def test_sphere_spectrum_second_order_fine():
    errs = []
    for s in (4, 5):
        evals, exact = _sphere_errors(s, lmax=5)
        errs.append(np.abs(evals - exact)[1:].max())
    assert np.log2(errs[0] / errs[1]) > 1.9


def test_arpack_matches_dense_and_backends():
    V, F = icosphere(3)  # 642 vertices: both paths are cheap
    L, M = _LM(V, F)
    ed, vd = eigenbasis(L, M, 20, method="dense")
    for method, backend in [("arpack", "cholmod"), ("arpack", "superlu"), ("lanczos", "cholmod"),
                            ("lanczos", "superlu")]:
        if backend == "cholmod":
            pytest.importorskip("cholespy")
        ea, va, info = eigenbasis(L, M, 20, method=method, backend=backend, return_info=True)
        assert info["backend"] == backend and info["method"] == method
        np.testing.assert_allclose(ea, ed, rtol=1e-9, atol=1e-10)
        _check_basis(L, M, ea, va)
    # Non-degenerate eigenvectors agree including the sign (l = 0 and the sign rule).
    np.testing.assert_allclose(va[:, 0], vd[:, 0], rtol=1e-10)


@pytest.mark.data
def test_residuals_on_clean_mesh():
    V, F = load_shared(data_path("meshes", "clean", "bunny.off"))
    L, M = _LM(V, F)
    ref = None
    for method in ("auto", "lanczos", "arpack"):
        evals, evecs, info = eigenbasis(L, M, 48, method=method, return_info=True)
        assert info["retries"] == 0 and info["method"] in ("lanczos", "arpack")
        _check_basis(L, M, evals, evecs)
        assert evals[0] == 0 and evals[1] > 0
        ref = evals if ref is None else ref
        np.testing.assert_allclose(evals, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.data
def test_robust_laplacian_eigenbasis_on_nonmanifold_mesh():
    V, F = load_shared(data_path("meshes", "dirty", "dragon_vrip_res4.ply.gz"))
    L, M = robust_laplacian(V, F)
    evals, evecs, info = eigenbasis(L, M, 32, return_info=True)
    _check_basis(L, M, evals, evecs, rtol=1e-7)
    assert info["n_inactive"] == int((np.bincount(F.ravel(), minlength=len(V)) == 0).sum())


def test_invariance_and_scale(rng):
    V, F = torus(20, 10)
    e1, _ = eigenbasis(*_LM(V, F), 12)
    R = random_rotation(rng)
    e2, _ = eigenbasis(*_LM(V @ R.T + 1.0, F), 12)
    np.testing.assert_allclose(e2, e1, rtol=1e-9, atol=1e-12)
    s = 0.3
    e3, _ = eigenbasis(*_LM(s * V, F), 12)
    np.testing.assert_allclose(e3, e1 / s**2, rtol=1e-9, atol=1e-12)


def test_components_give_indicator_null_space():
    V1, F1 = icosphere(2)
    V2, F2 = icosphere(1, radius=0.5)
    V = np.vstack([V2 + 5.0, V1])  # the small sphere holds the lowest vertex indices
    F = np.vstack([F2, F1 + len(V2)])
    L, M = _LM(V, F)
    for method in ("dense", "arpack", "lanczos"):
        evals, evecs = eigenbasis(L, M, 6, method=method)
        assert evals[0] == 0 and evals[1] == 0 and evals[2] > 0.5
        m = M.diagonal()
        comp0 = np.arange(len(V)) < len(V2)
        np.testing.assert_allclose(evecs[comp0, 0], 1 / np.sqrt(m[comp0].sum()), rtol=1e-12)
        assert np.all(evecs[~comp0, 0] == 0)
        np.testing.assert_allclose(evecs[~comp0, 1], 1 / np.sqrt(m[~comp0].sum()), rtol=1e-12)
        _check_basis(L, M, evals, evecs)


def _three_spheres():
    """Three disjoint spheres: ``(V, L, M, ind)`` with ``ind`` their M-normalised indicators."""
    parts = [icosphere(3), icosphere(2, radius=0.7), icosphere(2, radius=1.3)]
    V = np.vstack([P + 4.0 * i for i, (P, _) in enumerate(parts)])
    off = np.cumsum([0] + [len(P) for P, _ in parts])
    F = np.vstack([T + o for (_, T), o in zip(parts, off)])
    L, M = _LM(V, F)
    m = M.diagonal()
    ind = np.zeros((len(V), 3))
    for c in range(3):
        ind[off[c]:off[c + 1], c] = 1.0 / np.sqrt(m[off[c]:off[c + 1]].sum())
    return V, L, M, ind


def test_block_lanczos_locked_null_space_sparse_and_dense_paths_agree(monkeypatch):
    """Component indicators are projected out with sparse products (``_IndicatorLock``); any other
    locked basis stays in the dense Krylov basis.  The same null space given both ways (the
    indicators, and the indicators mixed by a rotation, so every row is dense) gives the same
    eigenpairs, M-orthogonal to the locked vectors."""
    V, L, M, ind = _three_spheres()
    R = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0]
    monkeypatch.setattr(spectral, "SPARSE_LOCK_MIN", 2)
    assert spectral._IndicatorLock.applies(ind) and not spectral._IndicatorLock.applies(ind @ R)
    sigma = -1e-4
    v0 = np.random.default_rng(1).uniform(0.5, 1.5, len(V))
    out = {}
    for name, locked in (("sparse", ind), ("dense", ind @ R)):
        ev, vec, _ = spectral._solve_block_lanczos(L, M, 40, sigma, "auto", 0.0, None, v0,
                                                   spectral._Progress(False, ""), locked=locked)
        assert np.all(ev[:3] == 0) and ev[3] > 0.1
        np.testing.assert_allclose(vec[:, :3], locked, atol=0)
        np.testing.assert_allclose(ind.T @ (M @ vec[:, 3:]), 0.0, atol=1e-12)
        out[name] = ev
    np.testing.assert_allclose(out["sparse"], out["dense"], rtol=1e-11)
    np.testing.assert_allclose(out["sparse"], eigenbasis(L, M, 40, method="dense")[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("lock", ["sparse", "dense", "none"])
def test_block_lanczos_eigenvectors_written_over_a_memory_mapped_basis(monkeypatch, lock):
    """Large bases are anonymous memory maps; the eigenvectors are written over the basis in
    place (Ritz vectors moved right past locked vectors kept outside it) and the rest of the
    map is given back.  Forced on a small problem, it gives exactly what the in-memory basis
    gives, and the result is a column-major view whose tail pages read back as zeros."""
    V, L, M, ind = _three_spheres()
    locked = {"sparse": ind, "dense": ind @ np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))[0],
              "none": None}[lock]
    monkeypatch.setattr(spectral, "SPARSE_LOCK_MIN", 2)
    v0 = np.random.default_rng(1).uniform(0.5, 1.5, len(V))
    k = 30 if lock != "none" else 20
    runs = {}
    for mapped in (False, True):
        monkeypatch.setattr(spectral, "BASIS_MMAP_BYTES", 0 if mapped else 1 << 62)
        runs[mapped] = spectral._solve_block_lanczos(L, M, k, -1e-4, "auto", 0.0, None, v0,
                                                     spectral._Progress(False, ""), locked=locked)
    (e0, y0, _), (e1, y1, _) = runs[False], runs[True]
    np.testing.assert_array_equal(e1, e0)
    np.testing.assert_array_equal(y1, y0)
    assert y1.flags.f_contiguous and not y1.flags.owndata
    if locked is not None:
        np.testing.assert_array_equal(y1[:, :3], locked)
    mm = y1
    while isinstance(mm, np.ndarray):  # down the views to the memory map
        mm = mm.base
    assert isinstance(mm, mmap.mmap)
    n = len(V)
    full = np.frombuffer(mm, dtype=np.float64).reshape(n, -1, order="F")
    np.testing.assert_array_equal(full[:, :k], y0)
    # the pages after the eigenvectors were dropped: they read back as zeros
    start = -(-(8 * n * k) // mmap.PAGESIZE) * mmap.PAGESIZE
    page_cols = -(-start // (8 * n))
    assert np.all(full[:, page_cols:] == 0)


def test_block_lanczos_basis_capped_by_the_memory_budget(monkeypatch):
    """Past ``BASIS_BUDGET_BYTES`` the basis is narrower (never below ``keep + 4b`` columns): more
    restarts, the same eigenpairs."""
    V, F = icosphere(4)
    L, M = _LM(V, F)
    widths = []
    real = spectral._basis

    def spy(n, cols):
        widths.append(cols)
        return real(n, cols)

    monkeypatch.setattr(spectral, "_basis", spy)
    e_full, _ = eigenbasis(L, M, 40, method="lanczos")
    monkeypatch.setattr(spectral, "BASIS_BUDGET_BYTES", 1.0)
    e_cap, v_cap = eigenbasis(L, M, 40, method="lanczos")
    b = spectral.BLOCK_SIZE
    assert widths[0] > widths[1] == 1 + (40 - 1 + 2 * b) + 4 * b + b  # locked column, keep + 4b, one block
    np.testing.assert_allclose(e_cap, e_full, rtol=1e-9, atol=1e-12)
    _check_basis(L, M, e_cap, v_cap)


def test_isolated_vertices_are_left_out():
    V, F = icosphere(3)
    L0, M0 = _LM(V, F)
    e0, v0 = eigenbasis(L0, M0, 10, method="lanczos")
    V2 = np.vstack([[9.0, 9, 9], V])  # an unreferenced vertex at index 0
    L, M = _LM(V2, F + 1)
    e, v, info = eigenbasis(L, M, 10, method="lanczos", return_info=True)
    assert info["n_inactive"] == 1
    np.testing.assert_allclose(e, e0, rtol=1e-9, atol=1e-12)
    assert np.all(v[0] == 0)
    _check_basis(L, M, e, v)


def test_retry_after_failure(monkeypatch):
    V, F = icosphere(3)
    L, M = _LM(V, F)
    real = spectral._solve_arpack
    calls = []

    def flaky(*args):
        calls.append(args[3])
        if len(calls) == 1:
            raise SolverError("injected failure")
        return real(*args)

    monkeypatch.setattr(spectral, "_solve_arpack", flaky)
    with pytest.warns(spectral.EigenbasisWarning, match="injected failure") as rec:
        evals, evecs, info = eigenbasis(L, M, 8, method="arpack", return_info=True)
    assert info["retries"] == 1 and calls[1] == 10 * calls[0]  # larger shift on retry
    # the user-visible warning says what changed: the method, backend and shift that were used
    msg = str(rec[0].message)
    assert "'arpack'" in msg and f"{calls[1]:.3g}" in msg
    _check_basis(L, M, evals, evecs)


def test_solver_error_when_everything_fails(monkeypatch):
    V, F = icosphere(3)
    L, M = _LM(V, F)

    def fail(*args):
        raise SolverError("injected")

    monkeypatch.setattr(spectral, "_solve_arpack", fail)
    monkeypatch.setattr(spectral, "_solve_dense", fail)
    with pytest.raises(SolverError, match="attempts"):
        eigenbasis(L, M, 8, method="arpack")


def test_sign_rule():
    A = np.array([[0.5, -2.0, 1.0], [-1.0, 1.0, -1.0], [0.2, 0.1, 0.0]])
    out = fix_eigenvector_signs(A.copy())
    np.testing.assert_array_equal(out[:, 0], -A[:, 0])  # -1 has the largest magnitude
    np.testing.assert_array_equal(out[:, 1], -A[:, 1])
    np.testing.assert_array_equal(out[:, 2], A[:, 2])  # tie between 1 and -1: the first wins


def test_progress_goes_to_stderr_not_stdout(capsys):
    L, M = _LM(*icosphere(3))
    eigenbasis(L, M, 8, method="arpack", progress=True)
    out = capsys.readouterr()
    assert out.out == ""


def test_bad_input():
    L, M = _LM(*icosphere(1))
    with pytest.raises(MeshShapeError, match="k"):
        eigenbasis(L, M, -1)
    with pytest.raises(MeshShapeError, match="k"):
        eigenbasis(L, M, 43)
    with pytest.raises(MeshShapeError, match="k"):
        eigenbasis(L, M, 2.5)
    with pytest.raises(MeshShapeError, match="shape"):
        eigenbasis(L, M[:10, :10], 4)
    with pytest.raises(MeshShapeError, match="square"):
        eigenbasis(L[:10], M, 4)
    with pytest.raises(MeshShapeError, match="sparse"):
        eigenbasis([[1.0]], M, 4)
    with pytest.raises(MeshShapeError, match="sigma"):
        eigenbasis(L, M, 4, sigma=1.0)
    with pytest.raises(MeshShapeError, match="method"):
        eigenbasis(L, M, 4, method="magic")
    bad = L.copy()
    bad.data[3] = np.nan
    with pytest.raises(NonFiniteError, match="row"):
        eigenbasis(bad, M, 4)
    with pytest.raises(MeshShapeError, match="mass"):
        eigenbasis(sp.diags(np.ones(5)).tocsr(), sp.csr_matrix((5, 5)), 2)
    # L = M = 0, the operators of a mesh whose faces all have zero area
    with pytest.raises(DegenerateFaceError, match="L = 0"):
        eigenbasis(sp.csr_matrix((5, 5)), sp.csr_matrix((5, 5)), 2)


def test_sparse_cholesky_failure_is_typed_and_silent_at_c_level(capfd):
    pytest.importorskip("cholespy")
    A = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0]]))  # indefinite
    capfd.readouterr()
    with pytest.raises(SolverError, match="not positive definite"):
        spectral.sparse_cholesky(A, backend="cholmod")
    out, err = capfd.readouterr()
    assert "CHOLMOD" not in out + err  # CHOLMOD's printf is captured into the error message
    B = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    np.testing.assert_allclose(spectral.sparse_cholesky(B, backend="cholmod").solve(np.ones(2)), [1.0, 1.0])
    print("still visible")  # descriptors are restored afterwards
    assert "still visible" in capfd.readouterr().out


# --- Block Lanczos kernels (issue 14: the faster eigenbasis from 40k vertices up) ---------------

def test_tall_product_and_in_place_row_blocks(rng):
    Q = np.asfortranarray(rng.standard_normal((1000, 30)))
    C = rng.standard_normal((30, 7))
    np.testing.assert_allclose(spectral._tall(Q, C), Q @ C, rtol=1e-13, atol=1e-12)
    # The thick restart rewrites the first p columns of the basis in place, by row blocks.
    S = rng.standard_normal((28, 11))
    expect = Q[:, 2:30] @ S
    spectral._rows_times(Q[:, 2:30], S, out=Q[:, 2:13], rows=64)  # 1000 rows: 16 blocks, last partial
    np.testing.assert_allclose(Q[:, 2:13], expect, rtol=1e-12, atol=1e-12)


def test_diagonal_mass_is_a_row_scaling_and_only_for_diagonal_matrices(rng):
    d = np.array([1.0, 2.0, 0.5])
    D = spectral._DiagonalMass.of(sp.diags(d))
    assert isinstance(D, spectral._DiagonalMass)
    X = rng.standard_normal((3, 2))
    np.testing.assert_array_equal(D @ X, d[:, None] * X)
    np.testing.assert_array_equal(D @ X[:, 0], d * X[:, 0])
    full = sp.csr_matrix(np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]))
    assert spectral._DiagonalMass.of(full) is not None
    assert not isinstance(spectral._DiagonalMass.of(full), spectral._DiagonalMass)


def test_morth_gives_m_orthonormal_block_and_factor(rng):
    V, F = icosphere(2)
    M = mass_matrix(V, F)
    n = M.shape[0]
    Q = np.zeros((n, 0))
    for cond in (1.0, 1e4):  # well conditioned (one pass) and nearly dependent (two passes)
        W = rng.standard_normal((n, 4))
        W[:, 3] = W[:, 2] + W[:, 3] / cond
        Qn, B = spectral._morth(W, spectral._DiagonalMass.of(M), Q, 0, rng)
        np.testing.assert_allclose(Qn.T @ (M @ Qn), np.eye(4), atol=1e-13)
        np.testing.assert_allclose(Qn @ B, W, rtol=0, atol=1e-10 * np.abs(W).max())


@pytest.mark.parametrize("mass", ["barycentric", "full"])
def test_block_lanczos_matches_arpack_above_lanczos_min(mass):
    V, F = icosphere(5)  # 10242 vertices: the default method is block Lanczos
    assert V.shape[0] >= spectral.LANCZOS_MIN
    L, M = cotan_laplacian(V, F), mass_matrix(V, F, kind=mass)
    el, vl, info = eigenbasis(L, M, 40, return_info=True)
    assert info["method"] == "lanczos" and info["retries"] == 0
    ea = eigenbasis(L, M, 40, method="arpack")[0]
    np.testing.assert_allclose(el[1:], ea[1:], rtol=1e-10)
    assert el[0] == 0.0
    _check_basis(L, M, el, vl)
    # l(l+1) multiplicities 1, 3, 5, 7, 9, 11 (36 pairs) are all found.
    np.testing.assert_allclose(el[:36], np.repeat([0, 2, 6, 12, 20, 30], [1, 3, 5, 7, 9, 11]), rtol=5e-3,
                               atol=1e-12)


@pytest.mark.data
def test_block_lanczos_on_nonmanifold_multi_component_scan():
    V, F = load_shared(data_path("meshes", "dirty", "dragon_vrip_res3.ply.gz"))  # 23k, 2094 nm edges
    L, M = robust_laplacian(V, F)
    el, vl, info = eigenbasis(L, M, 48, return_info=True)
    assert info["method"] == "lanczos" and info["retries"] == 0
    ea = eigenbasis(L, M, 48, method="arpack")[0]
    nz = ea > 1e-9 * ea.max()
    np.testing.assert_allclose(el[nz], ea[nz], rtol=1e-9)
    _check_basis(L, M, el, vl, rtol=1e-7)



def test_auto_method_switches_to_block_lanczos_for_many_eigenpairs():
    """Between DENSE_MAX and LANCZOS_MIN vertices ``"auto"`` takes ARPACK for few eigenpairs and
    block Lanczos from LANCZOS_MIN_K on; both give the same eigenpairs."""
    V, F = icosphere(4)  # 2562 vertices
    V = V * (1.0 + 0.1 * V[:, [0]] ** 2)  # break the sphere's eigenvalue multiplicities a little
    L, M = _LM(V, F)
    assert spectral.DENSE_MAX < len(V) < spectral.LANCZOS_MIN
    few = eigenbasis(L, M, spectral.LANCZOS_MIN_K // 2, return_info=True)
    many = eigenbasis(L, M, spectral.LANCZOS_MIN_K, return_info=True)
    assert few[2]["method"] == "arpack" and many[2]["method"] == "lanczos"
    _check_basis(L, M, many[0], many[1])
    ref = eigenbasis(L, M, spectral.LANCZOS_MIN_K, method="arpack")[0]
    np.testing.assert_allclose(many[0], ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(few[0], ref[:few[0].size], rtol=1e-10, atol=1e-12)
