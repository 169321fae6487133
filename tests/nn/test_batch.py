"""MeshBatch, collate and the sparse operator: layout, block structure, device/dtype moves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from manifold_nets.errors import MeshShapeError  # noqa: E402
from manifold_nets.nn import MeshBatch, MeshData, SparseOperator, collate  # noqa: E402
from manifold_nets.shapes import icosphere, octahedron  # noqa: E402


def test_layout_offsets_and_blocks(batch64, meshes):
    nv = [len(V) for V, _ in meshes]
    nf = [len(F) for _, F in meshes]
    assert batch64.ptr.tolist() == np.concatenate([[0], np.cumsum(nv)]).tolist()
    assert batch64.face_ptr.tolist() == np.concatenate([[0], np.cumsum(nf)]).tolist()
    assert batch64.batch.tolist() == np.repeat(np.arange(3), nv).tolist()
    # faces use global indices inside each mesh's range
    for b in range(3):
        f = batch64.faces[batch64.face_ptr[b]:batch64.face_ptr[b + 1]]
        assert int(f.min()) == int(batch64.ptr[b]) and int(f.max()) == int(batch64.ptr[b + 1]) - 1
    # the Laplacian is block diagonal: no entry couples two meshes
    A = batch64.L.to_dense()
    for b in range(3):
        s, e = int(batch64.ptr[b]), int(batch64.ptr[b + 1])
        assert torch.count_nonzero(A[s:e, :s]) == 0 and torch.count_nonzero(A[s:e, e:]) == 0
        np.testing.assert_allclose(A[s:e, s:e].numpy(), batch64.data[b].L.toarray(), atol=0)
    # patch edges stay inside their mesh
    eb = batch64.pair_batch
    assert torch.equal(batch64.batch[batch64.patch_pairs[:, 0]], eb)
    assert torch.equal(batch64.batch[batch64.patch_pairs[:, 1]], eb)
    assert "MeshBatch(meshes=3" in repr(batch64)


def test_padded_eigenbasis_is_m_orthonormal(batch64):
    Phi = batch64.evecs  # (N, K)
    for b in range(batch64.num_meshes):
        s, e = int(batch64.ptr[b]), int(batch64.ptr[b + 1])
        P = Phi[s:e]
        G = P.T @ (batch64.mass[s:e, None] * P)
        np.testing.assert_allclose(G.numpy(), np.eye(P.shape[1]), atol=1e-8)
    x = torch.randn(batch64.num_vertices, 3, dtype=torch.float64)
    assert torch.equal(batch64.from_padded(batch64.to_padded(x)), x)
    assert batch64.to_padded(x).shape == (3, 162, 3)


def test_meshes_with_fewer_eigenpairs_are_zero_padded():
    from manifold_nets.geometry.spectral import EigenbasisWarning

    with pytest.warns(EigenbasisWarning, match=r"k reduced from 20 to 6 for \(V, F\) #0: the mesh has only 6 vertices"):
        b = MeshBatch.from_meshes([octahedron(), icosphere(1)], k=20, patches=False, dtype=torch.float64)
    assert b.evals.shape == (2, 20)
    assert b.eval_mask[0].sum() == 6 and bool(b.eval_mask[1].all())  # 6 vertices -> all 6 eigenpairs
    assert torch.count_nonzero(b.evecs_padded[0, :, 6:]) == 0
    assert torch.count_nonzero(b.evecs_padded[0, 6:]) == 0
    assert b.patch_pairs is None and not b.has_patches


def test_split_mesh_unbatch_and_to(batch64):
    x = torch.arange(batch64.num_vertices, dtype=torch.float64)
    parts = batch64.split(x)
    assert [len(p) for p in parts] == [42, 96, 162]
    one = batch64.mesh(1)
    assert one.num_meshes == 1 and one.num_vertices == 96 and one.patch_pairs.min() == 0
    b32 = batch64.to("cpu", dtype=torch.float32)
    assert b32.pos.dtype == torch.float32 and b32.L.dtype == torch.float32
    assert b32.batch.dtype == torch.int64
    y = b32.L @ torch.ones(b32.num_vertices, 2)
    assert float(y.abs().max()) < 1e-4  # L 1 = 0
    assert len(batch64.unbatch()) == 3


def test_global_mean_is_mass_weighted(batch64):
    # the mass-weighted mean of z over each (closed, bumpy) sphere is its discrete centroid
    z = batch64.pos[:, 2:3]
    gm = batch64.global_mean(z)
    for b in range(batch64.num_meshes):
        d = batch64.data[b]
        np.testing.assert_allclose(float(gm[b]), (d.mass * d.V[:, 2]).sum() / d.mass.sum(), rtol=1e-12, atol=1e-14)
    c = batch64.global_mean(torch.ones(batch64.num_vertices, 1, dtype=torch.float64))
    np.testing.assert_allclose(c.numpy(), 1.0)


def test_collate_with_dataloader(meshes):
    data = [MeshData.from_mesh(V, F, k=8) for V, F in meshes]
    labels = [np.arange(len(V)) % 3 for V, _ in meshes]
    ds = list(zip(data, labels, [float(i) for i in range(3)]))
    dl = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    out = list(dl)
    assert len(out) == 2
    b, y, g = out[0]
    assert isinstance(b, MeshBatch) and b.num_meshes == 2
    assert y.shape == (42 + 96,) and y.dtype == torch.int64
    assert g.tolist() == [0.0, 1.0]
    assert isinstance(collate(data[:1]), MeshBatch)


def test_from_bundles_matches_from_meshes(meshes):
    from manifold_nets.geometry import geodesic_patches, operators

    V, F = meshes[0]
    b1 = MeshBatch.from_bundles([operators(V, F, k=10)], patches=[geodesic_patches(V, F)], dtype=torch.float64)
    b2 = MeshBatch.from_meshes([(V, F)], k=10, normalize=False, dtype=torch.float64)
    assert torch.equal(b1.evecs_padded, b2.evecs_padded)
    assert torch.equal(b1.pair_theta, b2.pair_theta)


def test_cache_dir_round_trip(tmp_path, meshes):
    V, F = meshes[1]
    b1 = MeshBatch.from_meshes([(V, F)], k=8, cache_dir=tmp_path, dtype=torch.float64)
    assert any(tmp_path.iterdir())
    b2 = MeshBatch.from_meshes([(V, F)], k=8, cache_dir=tmp_path, dtype=torch.float64)
    assert torch.equal(b1.evals, b2.evals)


def test_sparse_operator_gradients():
    rng = np.random.default_rng(0)
    A = sp.random(7, 5, density=0.4, random_state=1, format="csr")
    op = SparseOperator(A, dtype=torch.float64)
    x = torch.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    np.testing.assert_allclose((op @ x).detach().numpy(), A @ x.detach().numpy(), atol=1e-14)
    assert torch.autograd.gradcheck(lambda v: op @ v, (x,))
    assert torch.autograd.gradgradcheck(lambda v: (op @ v) ** 2, (x,))
    assert op.T.shape == (5, 7)
    x3 = torch.randn(5, 2, 2, dtype=torch.float64)
    assert (op @ x3).shape == (7, 2, 2)


def test_block_diag_csr_equals_scipy_block_diag():
    """Offset-and-concatenate stacking equals scipy's block_diag, entry for entry, also for blocks
    that are not canonical CSR (duplicates, unsorted indices), empty or in other formats."""
    from manifold_nets.nn._sparse import block_diag_csr

    dup = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([2, 0, 2]), np.array([0, 3, 3])), shape=(2, 3))
    mats = [sp.random(5, 7, density=0.3, random_state=1, format="csr"), sp.random(3, 2, density=0.5, random_state=2),
            sp.csr_matrix((0, 4)), sp.random(6, 6, density=0.4, random_state=3, format="csc"), dup]
    A, B = block_diag_csr(mats), sp.block_diag(mats, format="csr")
    assert A.shape == B.shape == (16, 22) and A.has_canonical_format
    np.testing.assert_array_equal(A.indptr, B.indptr)
    np.testing.assert_array_equal(A.indices, B.indices)
    np.testing.assert_array_equal(A.data, B.data)
    assert dup.nnz == 3 and not dup.has_canonical_format  # the caller's block is left as it was


def test_gauge_change_matches_the_geometry_layer(meshes):
    """MeshData.gauge_changed agrees with recomputing frames, gradients and patches in the rotated gauge."""
    from manifold_nets.geometry import geodesic_patches, tangent_frames, vertex_gradient_xy

    d = MeshData.from_mesh(*meshes[1], k=8)
    V, F = d.V, d.F  # the normalised mesh the operators were computed on
    g = np.random.default_rng(0).uniform(0, 2 * np.pi, len(V))
    dg = d.gauge_changed(g)
    frames = tangent_frames(V, F, gauge=g)
    np.testing.assert_allclose(dg.x_axes, frames[1], atol=1e-12)
    np.testing.assert_allclose(dg.y_axes, frames[2], atol=1e-12)
    gx, gy = vertex_gradient_xy(V, F, frames)
    np.testing.assert_allclose(dg.grad_x.toarray(), gx.toarray(), atol=1e-10)
    np.testing.assert_allclose(dg.grad_y.toarray(), gy.toarray(), atol=1e-10)
    p = geodesic_patches(V, F, gauge=g)
    assert np.array_equal(p.edges, dg.patch_pairs)
    wrap = lambda a: np.angle(np.exp(1j * a))  # noqa: E731
    np.testing.assert_allclose(wrap(dg.pair_theta - p.theta), 0, atol=1e-12)
    np.testing.assert_allclose(wrap(dg.pair_transport - p.transport), 0, atol=1e-12)


def test_permuted_data_matches_recomputation(meshes):
    """Renumbering vertices (face order kept) keeps every vertex's gauge: operators, frames and
    patches of the renumbered mesh are the renumbered operators, frames and patches."""
    V, F = meshes[0]
    d = MeshData.from_mesh(V, F, k=8)
    perm = np.random.default_rng(0).permutation(len(V))
    dp = d.permuted(perm)
    ref = MeshData.from_mesh(dp.V, dp.F, k=8)
    np.testing.assert_allclose(dp.L.toarray(), ref.L.toarray(), atol=1e-12)
    np.testing.assert_allclose(dp.x_axes, ref.x_axes, atol=1e-12)
    np.testing.assert_allclose(dp.grad_x.toarray(), ref.grad_x.toarray(), atol=1e-10)
    np.testing.assert_allclose(np.abs(dp.evecs), np.abs(ref.evecs), atol=1e-8)
    key = lambda e: np.lexsort((e[:, 1], e[:, 0]))  # noqa: E731
    a, b = key(dp.patch_pairs), key(ref.patch_pairs)
    assert np.array_equal(dp.patch_pairs[a], ref.patch_pairs[b])
    np.testing.assert_allclose(dp.pair_theta[a], ref.pair_theta[b], atol=1e-12)
    # a line field: compare modulo π
    np.testing.assert_allclose(np.sin(dp.principal_angle - ref.principal_angle), 0, atol=1e-9)


@pytest.mark.parametrize("backend", ["geometry", "fallback"])
def test_principal_direction_on_a_torus(backend, monkeypatch):
    """The first principal direction (largest curvature) of a torus of revolution runs around the
    tube (curvature 1/r); the line field agrees with it up to sign, whether it comes from
    geometry.principal_curvatures or from the one-ring fit used when that is unavailable."""
    import manifold_nets.geometry as G
    from manifold_nets.shapes import torus

    if backend == "fallback":
        monkeypatch.delattr(G, "principal_curvatures", raising=False)
    else:
        assert hasattr(G, "principal_curvatures")
    n, m, R, r = 48, 24, 1.0, 0.35
    V, F = torus(n, m, R=R, r=r)
    d = MeshData.from_mesh(V, F, k=4, patches=False)
    a = d.principal_angle
    d1 = np.cos(a)[:, None] * d.x_axes + np.sin(a)[:, None] * d.y_axes
    u = np.repeat(np.linspace(0, 2 * np.pi, n, endpoint=False), m)
    w = np.tile(np.linspace(0, 2 * np.pi, m, endpoint=False), n)
    tube = np.stack([-np.sin(w) * np.cos(u), -np.sin(w) * np.sin(u), np.cos(w)], 1)  # ∂/∂w, normalised
    assert np.median(np.abs((d1 * tube).sum(1))) > 0.99


# ----------------------------------------------------------------------------- scale contract
def _rel(a, b):
    a, b = (x.to_dense() if hasattr(x, "to_dense") else x for x in (a, b))
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize("s", [1e-3, 1e3])
def test_scaled_and_moved_meshes_give_identical_batches(meshes, s):
    """Normalised for learning (centred, unit area): scaling and moving the input changes no
    tensor of the batch (float64 rounding only), nor the input features; the factor is recorded."""
    from manifold_nets.nn import input_features

    b0 = MeshBatch.from_meshes(meshes[1:], k=16, dtype=torch.float64)
    b1 = MeshBatch.from_meshes([(V * s + np.array([5.0, -2.0, 1.0]), F) for V, F in meshes[1:]], k=16,
                               dtype=torch.float64)
    for name in ("pos", "mass", "evals", "L", "grad_x", "grad_y", "pair_r", "patch_radius", "lambda_max",
                 "pair_theta", "pair_transport", "normals", "x_axes"):
        assert _rel(getattr(b1, name), getattr(b0, name)) < 1e-9, name
    assert _rel(b1.evecs, b0.evecs) < 1e-9  # the sign rule is scale-invariant too
    assert float(torch.sin(b1.principal_angle - b0.principal_angle).abs().max()) < 1e-9
    for kind in ("hks", "wks", "xyz"):
        assert _rel(input_features(b1, kind, 8), input_features(b0, kind, 8)) < 1e-9, kind
    np.testing.assert_allclose((b1.scale / b0.scale).numpy(), 1 / s, rtol=1e-12)
    # the recorded normalisation maps back to the input mesh
    for d, (V, _) in zip(b1.data, meshes[1:]):
        np.testing.assert_allclose(d.normalization.points_back(d.V), V * s + np.array([5.0, -2.0, 1.0]),
                                   rtol=1e-12, atol=1e-12 * max(s, 1))
        assert d.V_original is not None and np.array_equal(d.V_original, V * s + np.array([5.0, -2.0, 1.0]))
        area = float(d.mass.sum())
        assert abs(area - 1.0) < 1e-12


def test_normalize_false_keeps_the_input_units(meshes):
    V, F = meshes[0]
    b = MeshBatch.from_meshes([(3.0 * V, F)], k=8, normalize=False, dtype=torch.float64)
    np.testing.assert_array_equal(b.pos.numpy(), 3.0 * V)
    assert b.normalization == [None] and float(b.scale[0]) == 1.0


def test_an_outlier_edge_does_not_collapse_the_radial_coordinates(meshes):
    """One-ring ρ = r / radius uses the robust mean edge length, not the longest edge: pulling one
    vertex far out leaves the ρ of every edge away from it (almost) unchanged."""
    V, F = meshes[2]
    Vo = V.copy()
    Vo[0] *= 20.0  # five edges about 20x longer than the rest
    b0 = MeshBatch.from_meshes([(V, F)], k=8, dtype=torch.float64)
    b1 = MeshBatch.from_meshes([(Vo, F)], k=8, dtype=torch.float64)
    assert torch.equal(b0.patch_pairs, b1.patch_pairs)
    rho0 = (b0.pair_r / b0.patch_radius[b0.pair_batch]).numpy()
    rho1 = (b1.pair_r / b1.patch_radius[b1.pair_batch]).numpy()
    far = (b0.patch_pairs != 0).all(1).numpy()
    np.testing.assert_allclose(rho1[far], rho0[far], rtol=0.02)
    assert 0.4 < np.median(rho0) < 1.0 and rho1[~far].min() > 5  # the outlier edges stand out
    # the rule the batch used to have (divide by the longest one-ring edge) would shrink them ~20x
    assert np.median(rho1[far] * b1.patch_radius.item() / b1.pair_r.max().item()) < 0.1


def test_absolute_patch_radius_is_in_input_units(meshes):
    """An explicit patch radius is in the units of the input mesh: the same patches with or without
    normalisation, and for a scaled mesh with the scaled radius."""
    V, F = meshes[0]
    a = MeshBatch.from_meshes([(V, F)], k=8, patch_radius=1.0, normalize=False, dtype=torch.float64)
    b = MeshBatch.from_meshes([(V, F)], k=8, patch_radius=1.0, dtype=torch.float64)
    c = MeshBatch.from_meshes([(10 * V, F)], k=8, patch_radius=10.0, dtype=torch.float64)
    assert torch.equal(a.patch_pairs, b.patch_pairs) and torch.equal(b.patch_pairs, c.patch_pairs)
    assert int((a.patch_pairs[:, 0] == 0).sum()) > 6  # more than the one-ring
    np.testing.assert_allclose((b.pair_r / b.patch_radius).numpy(), (a.pair_r / a.patch_radius).numpy(), rtol=1e-9)
    with pytest.raises(MeshShapeError, match="patch_radius"):
        MeshBatch.from_meshes([(V, F)], k=8, patch_radius=-1.0)


# ----------------------------------------------------------------------------- mesh inputs
def test_paths_meshes_and_pairs_are_all_accepted(tmp_path, meshes):
    from pathlib import Path

    from manifold_nets import read_mesh, write_mesh

    V, F = meshes[0]
    p = tmp_path / "x.obj"
    write_mesh(p, V, F)
    Vr = read_mesh(p).V
    b = MeshBatch.from_meshes([str(p), Path(p), read_mesh(p), (Vr, F)], k=8, dtype=torch.float64)
    assert b.num_meshes == 4
    parts = b.split(b.pos)
    for q in parts[1:]:
        assert torch.equal(q, parts[0])
    assert b.data[0].name == str(p)


def test_bad_elements_are_named(tmp_path, meshes):
    from manifold_nets.errors import MeshError, MeshFileError

    V, F = meshes[0]
    with pytest.raises(MeshShapeError, match=r"meshes\[1\]: expected a path, a Mesh or a \(V, F\) pair \(got int"):
        MeshBatch.from_meshes([(V, F), 42], k=4)
    with pytest.raises(MeshShapeError, match=r"meshes\[0\].*length 3"):
        MeshBatch.from_meshes([(V, F, None)], k=4)
    with pytest.raises(MeshFileError, match=r"meshes\[1\] \(.*missing.obj\)"):
        MeshBatch.from_meshes([(V, F), tmp_path / "missing.obj"], k=4)
    with pytest.raises(MeshError, match=r"meshes\[0\]"):
        MeshBatch.from_meshes([(V[:, :2], F)], k=4)


@pytest.mark.parametrize("name, k", [("tetrahedron", 4), ("tetrahedron", 9), ("octahedron", 6), ("octahedron", 7)])
def test_k_at_or_above_the_vertex_count_keeps_every_eigenpair(name, k):
    """k >= nV: all nV eigenpairs (no cut through the repeated eigenvalue of a regular solid, which
    made the HKS single out vertex 0); k > nV is reduced with a warning, k = nV silently."""
    import warnings

    from manifold_nets import shapes
    from manifold_nets.geometry.spectral import EigenbasisWarning
    from manifold_nets.nn import input_features

    V, F = getattr(shapes, name)()
    n = len(V)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        b = MeshBatch.from_meshes([(V, F)], k=k, patches=False, dtype=torch.float64)
    reduced = [w for w in rec if issubclass(w.category, EigenbasisWarning) and "k reduced" in str(w.message)]
    assert len(reduced) == (k > n)
    if k > n:
        assert f"k reduced from {k} to {n}" in str(reduced[0].message) and reduced[0].filename == __file__
    assert b.evals.shape == (1, n) and bool(b.eval_mask.all())
    G = b.evecs.T @ (b.mass[:, None] * b.evecs)
    np.testing.assert_allclose(G[:n, :n].numpy(), np.eye(n), atol=1e-10)
    H = input_features(b, "hks", 8)
    assert float(H.std(0).max()) < 1e-10  # every vertex of a regular solid is alike


def test_k_reduction_warns_on_a_cache_hit_too(tmp_path):
    from manifold_nets.geometry.spectral import EigenbasisWarning

    V, F = octahedron()
    with pytest.warns(EigenbasisWarning, match="k reduced from 10 to 6"):
        MeshData.from_mesh(V, F, k=10, cache_dir=tmp_path, patches=False)
    with pytest.warns(EigenbasisWarning, match="k reduced from 10 to 6"):
        d = MeshData.from_mesh(V, F, k=10, cache_dir=tmp_path, patches=False)
    assert d.from_cache and len(d.evals) == 6


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.complex64, "float32", np.float32, None])
def test_dtype_must_be_a_floating_torch_dtype(dtype, batch64):
    V, F = icosphere(1)
    with pytest.raises(MeshShapeError, match=r"dtype: expected a floating torch dtype .*\(got "):
        MeshBatch.from_meshes([(V, F)], k=4, dtype=dtype)
    with pytest.raises(MeshShapeError, match="dtype: expected a floating torch dtype"):
        MeshBatch.from_data(batch64.data[:1], dtype=dtype)
    if dtype is not None:  # to(dtype=None) keeps the dtype
        with pytest.raises(MeshShapeError, match="dtype: expected a floating torch dtype"):
            batch64.to(dtype=dtype)


@pytest.mark.parametrize("meshes, got", [(None, "NoneType"), ("mesh.obj", "a single str"), (42, "int")])
def test_meshes_must_be_a_list(meshes, got):
    with pytest.raises(MeshShapeError, match=rf"meshes: expected a list of paths, Meshes or \(V, F\) pairs.*\(got {got}\)"):
        MeshBatch.from_meshes(meshes, k=4)


def test_a_single_pair_or_mesh_is_refused_with_a_hint():
    from manifold_nets import Mesh

    V, F = icosphere(1)
    for m in ((V, F), Mesh(V, F)):
        with pytest.raises(MeshShapeError, match=r"wrap a single mesh in a list"):
            MeshBatch.from_meshes(m, k=4)
