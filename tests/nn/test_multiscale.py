"""Multiscale: mesh hierarchies in MeshData / MeshBatch, pooling maps, U-Net backbones.

The learning check is the "wide view" task of issue 8: a 4-part labelling (k-means of the
positions) of an elongated, tapered, bumpy shape, learned from HKS inputs on one mesh and
evaluated on another mesh (other bumps) it has not seen.  The two middle parts look alike locally;
telling them apart needs the whole shape.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import FAMILIES, MeshBatch, MeshData, SegmentationNet  # noqa: E402
from manifold_nets.nn.gauge import Irreps, rotate_irreps  # noqa: E402
from manifold_nets.shapes import icosphere  # noqa: E402
from manifold_nets.testing import (  # noqa: E402
    assert_batch_consistent,
    assert_face_order_invariant,
    assert_gauge_equivariant,
    assert_permutation_equivariant,
)
from tests.nn.conftest import bumpy_sphere, bumpy_torus  # noqa: E402


@pytest.fixture(scope="module")
def ms_meshes():
    return [bumpy_sphere(3, seed=0), bumpy_torus(24, 12)]


@pytest.fixture(scope="module")
def ms_batch(ms_meshes):
    return MeshBatch.from_meshes(ms_meshes, k=24, levels=2, dtype=torch.float64)


# ------------------------------------------------------------------------ data and batches
def test_batch_levels_and_maps(ms_batch):
    b = ms_batch
    assert b.num_levels == 2 and b.level(0) is b
    sizes = [b.level(lev).sizes for lev in range(3)]
    assert sizes[0] == [642, 288]
    for lev in (1, 2):  # about a quarter of the vertices per level, per mesh
        for n, n_prev in zip(sizes[lev], sizes[lev - 1]):
            assert 0.15 * n_prev < n < 0.35 * n_prev
        sub = b.level(lev)
        assert sub.num_levels == 0 and sub.has_patches and sub.evecs is not None
    ones = torch.ones(b.num_vertices, 3, dtype=torch.float64)
    for lev in (0, 1):  # rows of the weights sum to 1: constants are kept both ways
        up = b.level(lev)
        p = b.pool(torch.ones(up.num_vertices, 3, dtype=torch.float64), lev)
        torch.testing.assert_close(p, torch.ones_like(p), atol=1e-12, rtol=0)
        u = b.unpool(torch.ones(b.level(lev + 1).num_vertices, 3, dtype=torch.float64), lev + 1)
        torch.testing.assert_close(u, torch.ones_like(u), atol=1e-12, rtol=0)
    # block diagonal: pooling never mixes meshes
    x = ones[:, :1].clone()
    x[b.batch == 1] = 5.0
    p = b.pool(x, 0)
    torch.testing.assert_close(p[b.level(1).batch == 1], torch.full_like(p[b.level(1).batch == 1], 5.0))
    with pytest.raises(ValueError, match=r"level: expected an integer in \[0, 2\]"):
        b.level(3)
    with pytest.raises(ValueError, match="build the batch with"):
        b.pool(ones, 2)


def test_to_permuted_and_mesh(ms_batch):
    b32 = ms_batch.to(dtype=torch.float32)
    assert b32.num_levels == 2 and b32.level(2).pos.dtype == torch.float32
    x = torch.ones(b32.num_vertices, 2)
    assert b32.pool(x, 0).dtype == torch.float32
    single = ms_batch.mesh(1)  # a single mesh keeps its hierarchy
    assert single.num_levels == 2 and single.level(1).sizes == ms_batch.level(1).sizes[1:]
    d = ms_batch.data[0]
    perm = np.random.default_rng(0).permutation(d.n_vertices)
    dp = d.permuted(perm)
    np.testing.assert_array_equal(dp.pool[0].toarray(), d.pool[0].toarray()[:, perm])
    np.testing.assert_array_equal(dp.unpool[0].toarray(), d.unpool[0].toarray()[perm])


def test_levels_default_changes_nothing(ms_meshes):
    d = MeshData.from_mesh(*ms_meshes[0], k=8)
    assert d.coarse is None and "levels" not in d.params
    assert MeshBatch.from_data([d]).num_levels == 0


def test_hierarchy_is_cached(tmp_path, ms_meshes):
    V, F = ms_meshes[1]
    d0 = MeshData.from_mesh(V, F, k=12, levels=2, cache_dir=tmp_path)
    d1 = MeshData.from_mesh(V, F, k=12, levels=2, cache_dir=tmp_path)
    assert not d0.from_cache and d1.from_cache
    assert len(d1.coarse) == 2
    for a, b in zip(d0.coarse, d1.coarse):
        np.testing.assert_array_equal(a.V, b.V)
        np.testing.assert_array_equal(a.patch_pairs, b.patch_pairs)
        np.testing.assert_array_equal(a.evals, b.evals)
    for a, b in zip(d0.pool + d0.unpool, d1.pool + d1.unpool):
        assert a.dtype == np.complex128
        np.testing.assert_array_equal(a.toarray(), b.toarray())
    # another number of levels is another entry
    d2 = MeshData.from_mesh(V, F, k=12, levels=1, cache_dir=tmp_path)
    assert not d2.from_cache and len(d2.coarse) == 1


def test_coarse_levels_use_the_fine_normalisation(ms_meshes):
    V, F = ms_meshes[0]
    d = MeshData.from_mesh(10.0 * V + 3.0, F, k=8, levels=1)
    c = d.coarse[0]
    # the coarse mesh is a decimation of the normalised mesh: about unit area, centred
    area = 0.5 * np.linalg.norm(np.cross(c.V[c.F[:, 1]] - c.V[c.F[:, 0]], c.V[c.F[:, 2]] - c.V[c.F[:, 0]]), axis=1).sum()
    assert abs(area - 1.0) < 0.05
    assert np.abs(c.V.mean(0)).max() < 0.05
    # scale and translation are removed before the decimation: the same hierarchy
    c0 = MeshData.from_mesh(V, F, k=8, levels=1).coarse[0]
    np.testing.assert_array_equal(c0.F, c.F)
    np.testing.assert_allclose(c0.V, c.V, atol=1e-9)


# ------------------------------------------------------------------------ gauge
def _gauges(batch, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 2 * np.pi, batch.level(lev).num_vertices) for lev in range(batch.num_levels + 1)]


def test_pool_unpool_gauge_equivariant_on_every_level(ms_batch):
    """Rotate the gauges of all three levels at random: pooled / unpooled irreps rotate with them."""
    b = ms_batch
    ir = Irreps.regular(3, 3)
    g = _gauges(b, 0)
    bg = b.gauge_changed(g[0], levels=g[1:])
    gt = [torch.as_tensor(a) for a in g]
    x = torch.randn(b.num_vertices, ir.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    h, hg = x, rotate_irreps(x, ir, -gt[0])
    for lev in (0, 1):  # down
        h, hg = b.pool(h, lev, ir), bg.pool(hg, lev, ir)
        torch.testing.assert_close(hg, rotate_irreps(h, ir, -gt[lev + 1]), atol=1e-10, rtol=0)
    for lev in (2, 1):  # up
        h, hg = b.unpool(h, lev, ir), bg.unpool(hg, lev, ir)
        torch.testing.assert_close(hg, rotate_irreps(h, ir, -gt[lev - 1]), atol=1e-10, rtol=0)
    # and a plain (untransported) pooling of the coordinates is not equivariant: the test can fail
    bad = b.pool(rotate_irreps(x, ir, -gt[0]), 0)
    assert (bad - rotate_irreps(b.pool(x, 0), ir, -gt[1])).abs().max() > 0.1


def test_gauge_changed_maps_match_recomputed_transport(ms_meshes):
    """The analytic update of the pooling maps equals recomputing the transport in rotated fine frames
    (the fine gauge is the one that face order changes; coarse levels are canonical)."""
    from manifold_nets.nn.batch import _transported

    d = MeshData.from_mesh(*ms_meshes[0], k=8, levels=1)
    g = np.random.default_rng(3).uniform(0, 2 * np.pi, d.n_vertices)
    dg = d.gauge_changed(g)
    for M, Mg, tgt, src, ft in ((d.pool[0], dg.pool[0], dg.coarse[0], dg, False),
                                (d.unpool[0], dg.unpool[0], dg, dg.coarse[0], True)):
        re = _transported(abs(M), tgt, src, fine_is_target=ft)
        np.testing.assert_allclose(Mg.toarray(), re.toarray(), atol=1e-10)


@pytest.mark.parametrize("family", ["gem", "gcnn", "diffusion"])
def test_multiscale_model_gauge_and_batch(family, ms_batch):
    torch.manual_seed(0)
    net = SegmentationNet(8, 3, family=family, width=12, n_blocks=1, levels=2).double().eval()
    x = mnn.input_features(ms_batch, "hks", 8)
    assert_batch_consistent(net, ms_batch, x, atol=1e-10, rtol=0)
    assert_gauge_equivariant(net, ms_batch, x, 8, 0, atol=1e-10, rtol=0)


def test_gem_backbone_irreps_gauge_equivariant_with_coarse_gauges(ms_batch):
    """The whole U-Net on irreps (before the read-out), with the gauges of every level rotated."""
    torch.manual_seed(1)
    bb = mnn.MeshBackbone(8, 6, family="gem", width=9, n_blocks=1, levels=2).double().eval()
    x = mnn.input_features(ms_batch, "hks", 8)
    g = _gauges(ms_batch, 1)
    bg = ms_batch.gauge_changed(g[0], levels=g[1:])

    with torch.no_grad():
        y, yg = _gem_irreps_out(bb, ms_batch, x), _gem_irreps_out(bb, bg, x)
    torch.testing.assert_close(yg, rotate_irreps(y, bb.irreps, -torch.as_tensor(g[0])), atol=1e-10, rtol=0)


def _gem_irreps_out(bb, batch, x, seed=None):
    """The irreps features of a GEM U-Net backbone before its invariant read-out."""
    if seed is not None:
        torch.manual_seed(seed)
    h = bb.lift_conv(batch, bb.lift(x))
    for blk in bb.blocks:
        h = blk(batch, h)
    return bb._multiscale(batch, h)


def test_irreps_dropout_drops_whole_fields_and_stays_equivariant(ms_batch):
    """Training-mode GEM U-Net with dropout: the same random mask commutes with a change of gauge on
    every level (whole fields are dropped); ``eval()`` is the identity."""
    from manifold_nets.nn.gauge import IrrepsDropout

    ir = Irreps.regular(3, 2)
    drop = IrrepsDropout(ir, 0.5)
    x = torch.randn(50, ir.dim, dtype=torch.float64)
    torch.manual_seed(0)
    y = drop(x)
    for s, e, m, n in ir.slices():  # both components of a pair are kept or dropped together
        if n:
            z = (y[:, s:e].reshape(-1, m, 2) == 0)
            assert torch.equal(z[..., 0], z[..., 1])
    assert 0 < int((y == 0).sum()) < y.numel()
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(ValueError, match="p: expected a probability"):
        IrrepsDropout(ir, 1.0)

    torch.manual_seed(1)
    bb = mnn.MeshBackbone(8, 6, family="gem", width=9, n_blocks=1, levels=2, dropout=0.3).double().train()
    xf = mnn.input_features(ms_batch, "hks", 8)
    g = _gauges(ms_batch, 2)
    bg = ms_batch.gauge_changed(g[0], levels=g[1:])

    with torch.no_grad():  # the same dropout masks on both sides
        y, yg = _gem_irreps_out(bb, ms_batch, xf, seed=7), _gem_irreps_out(bb, bg, xf, seed=7)
    assert (y - bb.eval()._multiscale(ms_batch, bb.blocks[0](ms_batch, bb.lift_conv(ms_batch, bb.lift(xf))))).abs().max() > 1e-3
    torch.testing.assert_close(yg, rotate_irreps(y, bb.irreps, -torch.as_tensor(g[0])), atol=1e-10, rtol=0)


# ------------------------------------------------------------------------ renumbering, face order
@pytest.mark.parametrize("family", ["gem", "cheb", "acnn"])
def test_multiscale_model_symmetries(family):
    """The hierarchy is canonical (identical coarse levels for any numbering, face order and corner
    rotation), so the multiscale models keep the exact claims of the symmetry table; tolerances as
    in test_symmetry: 1e-10 where only the face order changes, the eigen-solver accuracy where the
    operators of renumbered vertices are recomputed."""
    meshes = [bumpy_sphere(3, seed=5), bumpy_torus()]
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((len(V), 8)) for V, _ in meshes]
    torch.manual_seed(0)
    net = SegmentationNet(8, 3, family=family, width=12, n_blocks=1, levels=2).double().eval()
    kw = dict(k=16, levels=2)
    assert_face_order_invariant(net, meshes, features=feats, batch_kwargs=kw, rtol=1e-9, atol=1e-10)
    assert_permutation_equivariant(net, meshes, features=feats, faces=True, batch_kwargs=kw, rtol=1e-6, atol=1e-7)


def test_model_needs_the_levels(ms_meshes):
    b = MeshBatch.from_meshes(ms_meshes, k=12)
    net = SegmentationNet(4, 2, family="cheb", width=8, n_blocks=1, levels=2)
    with pytest.raises(ValueError, match=r"expected a MeshBatch with at least 2 coarse levels .*levels=2"):
        net(b, torch.randn(b.num_vertices, 4))
    with pytest.raises(ValueError, match="levels: expected a non-negative integer"):
        SegmentationNet(4, 2, family="cheb", levels=-1)


@pytest.mark.parametrize("family", ["gem", "monet"])
def test_multiscale_save_load(tmp_path, family, ms_batch, ms_meshes):
    torch.manual_seed(0)
    net = SegmentationNet(8, 3, family=family, width=12, n_blocks=1, levels=2, level_blocks=2).double().eval()
    x = mnn.input_features(ms_batch, "hks", 8)
    path = tmp_path / "ms.pt"
    net.save(path, features={"kind": "hks", "n": 8}, operators={"k": 24, "levels": 2})
    net2 = mnn.load(path).double().eval()
    assert net2.backbone.levels == 2 and net2.backbone.level_blocks == 2
    with torch.no_grad():
        torch.testing.assert_close(net2(ms_batch, x), net(ms_batch, x), atol=1e-12, rtol=0)
    # the saved pipeline rebuilds the hierarchy of a new mesh: the same output as the original batch
    b2 = net2.pipeline.batch(ms_meshes, dtype=torch.float64)
    assert b2.num_levels == 2 and b2.level(2).sizes == ms_batch.level(2).sizes
    with torch.no_grad():
        torch.testing.assert_close(net2(b2, net2.pipeline.features_of(b2)), net(ms_batch, x), atol=1e-8, rtol=0)


# ------------------------------------------------------------------------ learning: the wide view
def wide_view_shape(seed: int, subdivisions: int = 4, bumps: float = 0.04):
    """An elongated (3:1), tapered, bumpy icosphere: ``(V, F)``, 2562 vertices by default."""
    V, F = icosphere(subdivisions)
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((4, 3))
    V = V * (1 + bumps * np.tanh(V @ c.T).sum(1))[:, None]
    V = V * np.array([3.0, 1.0, 1.0])
    V[:, 1:] *= (1 + 0.3 * V[:, :1] / 3)
    return V, F


def four_parts(batch) -> torch.Tensor:
    """k-means (k = 4) of the positions, parts numbered along the long axis (thin end first)."""
    from scipy.cluster.vq import kmeans2

    P = batch.pos.double().cpu().numpy()
    cen, lab = kmeans2(P, 4, seed=np.random.default_rng(0), minit="++", iter=50)
    rank = np.empty(4, dtype=np.int64)
    rank[np.argsort(cen[:, 0])] = np.arange(4)
    return torch.as_tensor(rank[lab])


def train_and_test(family, levels, *, steps=300, lr=1e-3, width=32, n_blocks=2, dropout=0.3, level_blocks=2,
                   train_seed=0, test_seed=1, seed=0, data=None, weight_decay=0.0, noise=0.0, cosine=False,
                   keep=None, standardize=True, **net_kwargs):
    """Adam on one mesh, accuracy on another: ``(train accuracy, test accuracy, seconds per step)``.

    The recipe: inputs standardised per channel (the training mesh's mean and standard deviation), width 32,
    2 blocks on the input mesh, dropout 0.3 (whole irreps fields for ``gem``), and for ``levels > 0`` two
    blocks per level in the encoder and the decoder; Adam, learning rate 1e-3.
    ``weight_decay`` > 0 uses AdamW with that decay; ``noise`` adds Gaussian noise of that fraction of each
    input channel's standard deviation at every step (both off in the recipe); ``cosine`` decays the learning
    rate to zero over the steps (cosine annealing) instead of keeping it constant.  ``keep``: a dict that
    receives the trained network as ``keep["net"]``.  ``standardize`` shifts and scales every input
    channel by the training mesh's mean and standard deviation (both meshes alike)."""
    import time

    if data is None:
        data = wide_view_data(levels, train_seed, test_seed)
    (bt, xt, yt), (bs, xs, ys) = data
    if standardize:
        mu, sd0 = xt.mean(0, keepdim=True), xt.std(0, keepdim=True).clamp_min(1e-12)
        xt, xs = (xt - mu) / sd0, (xs - mu) / sd0
    torch.manual_seed(seed)
    net = SegmentationNet(xt.shape[1], 4, family=family, width=width, n_blocks=n_blocks, levels=levels,
                          dropout=dropout, level_blocks=level_blocks, **net_kwargs)
    opt = (torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay) if weight_decay
           else torch.optim.Adam(net.parameters(), lr=lr))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1)) if cosine else None
    sd = xt.std(0, keepdim=True)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        xin = xt + noise * sd * torch.randn_like(xt) if noise else xt
        mnn.segmentation_loss(net(bt, xin), yt).backward()
        opt.step()
        if sched is not None:
            sched.step()
    dt = (time.perf_counter() - t0) / max(steps, 1)
    net.eval()
    if keep is not None:
        keep["net"] = net
    with torch.no_grad():
        acc = [float((net(b, x).argmax(1) == y).double().mean()) for b, x, y in ((bt, xt, yt), (bs, xs, ys))]
    return acc[0], acc[1], dt


def errors_near_boundaries(net, batch, x, y, bands=(0.05, 0.1, 0.2)) -> list:
    """``[(band, vertices, wrong)]``: the unseen mesh's errors by distance along the long axis (unit-area
    lengths) to the nearest boundary between consecutive parts; the last band is everything farther."""
    with torch.no_grad():
        wrong = (net(batch, x).argmax(1) != y).numpy()
    P, lab = batch.pos.double().numpy(), y.numpy()
    cuts = np.array([0.5 * (P[lab == k, 0].max() + P[lab == k + 1, 0].min()) for k in range(3)])
    d = np.abs(P[:, :1] - cuts[None]).min(1)
    edges = (0.0,) + tuple(bands) + (np.inf,)
    return [(f"{lo:g}-{hi:g}", int(((d >= lo) & (d < hi)).sum()), int(wrong[(d >= lo) & (d < hi)].sum()))
            for lo, hi in zip(edges[:-1], edges[1:])]


def wide_view_data(levels, train_seed=0, test_seed=1):
    out = []
    for s in (train_seed, test_seed):
        b = MeshBatch.from_meshes([wide_view_shape(s)], k=64, levels=levels)
        out.append((b, mnn.input_features(b, "hks", 16), four_parts(b)))
    return out


@pytest.fixture(scope="module")
def wide_view():
    return wide_view_data(2)


def memoriser_agreement(data) -> float:
    """Accuracy on the second mesh of the training mesh's own labels carried over vertex by vertex.

    The wide-view shapes are one icosphere with different bumps, so vertex ``i`` is the same point of
    the underlying shape on both: this is what a network that learned the training labelling exactly
    (as a function of the place on the shape) would score on the unseen mesh."""
    (_, _, y0), (_, _, y1) = data
    return float((y0 == y1).double().mean())


def test_wide_view_labels_move_between_meshes(wide_view):
    """The k-means parts of the unseen mesh are not those of the training mesh: carried over by vertex
    correspondence they agree on 95.0 % of the vertices (seed 2: 94.7 %), so the transfer task's 95 %
    asks a network to re-derive the clustering on the new shape, not to reproduce what it was taught."""
    agree = memoriser_agreement(wide_view)
    assert 0.93 < agree < 0.96, agree


#: family: (steps, torch seed, held-out accuracy the U-Net must reach).  Measured (2-core CPU,
#: torch 2.13; no dropout, one block per level): U-Net 0.953, single level 0.686 (seed 0: 0.766
#: vs 0.701 — runs of 120 steps vary).
QUICK = {"acnn": (120, 1, 0.85)}


@pytest.mark.parametrize("family", sorted(QUICK))
def test_wide_view_quick(family, wide_view):
    """Fewer steps, raw (unstandardised) HKS: the U-Net reaches a held-out accuracy the single-level
    network does not.  (With standardised inputs, the recipe, the single level gets there too: the
    long-time HKS channels then carry the wide view; 0.972 here.)"""
    steps, seed, need = QUICK[family]
    kw = dict(steps=steps, seed=seed, data=wide_view, dropout=0.0, level_blocks=1, standardize=False)
    _, acc_ms, _ = train_and_test(family, 2, **kw)
    _, acc_1, _ = train_and_test(family, 0, **kw)
    assert acc_ms >= need > acc_1, (acc_ms, acc_1)


#: Held-out accuracy of the U-Net (levels=2) with the recipe (standardised inputs), measured with
#: ``OMP_NUM_THREADS=1 python -m tests.nn.test_multiscale test FAMILY`` (torch 2.13 CPU, one thread; settings
#: chosen on the validation mesh, ``... val FAMILY``): spectral 0.975, diffusion 0.980, cheb 0.984, gcnn 0.952,
#: acnn 0.977, monet 0.963, gem 0.964.  Before the inputs were standardised gcnn, monet and gem were at
#: 0.925-0.940 (and cheb 0.943 before its degree normalisation).  Expected failures: those within the
#: run-to-run noise of the bar (other thread counts change the last bits of the sums).
MEASURED_MISSES: dict = {
    "gcnn": "measured 0.952 held-out with one thread: within run-to-run noise of the 0.95 bar",
}


@pytest.mark.slow
@pytest.mark.parametrize("family", [
    pytest.param(f, marks=pytest.mark.xfail(reason=MEASURED_MISSES[f], strict=False)) if f in MEASURED_MISSES else f
    for f in FAMILIES])
def test_wide_view_every_family(family, wide_view):
    """300 Adam steps on one mesh, >= 95 % on the unseen one: the transfer variant of issue 8 item 6 (a
    network reproducing the training labels exactly scores about 0.950 here, see
    :func:`memoriser_agreement`; the fit protocol is :func:`test_wide_view_fit_every_family`)."""
    _, acc, _ = train_and_test(family, 2, data=wide_view)
    assert acc >= 0.95, f"{family}: held-out accuracy {acc:.3f} < 0.95"


#: The protocol of issue 8, Why 9: a network is trained on one mesh and measured on that mesh (how well
#: it can fit a labelling that needs a wide view), on a mesh nothing was tuned on: the shared cow
#: (2903 vertices, the issue's "held-out 2.9k-vertex mesh").  These settings (cosine decay of the
#: learning rate from 3e-3, every input channel standardised) were chosen on fits of teddy and of a
#: bumpy shape (bump seed 2); the recipe's constant 1e-3 leaves the last step's accuracy noisy, and the
#: cow's HKS channels spread four to five times as widely as the validation meshes' (std 0.94 against
#: 0.23 and 0.17), which made ACNN's training seed-dependent there before the standardisation.  Meshes
#: whose 4-part k-means cuts a symmetric region in two (screwdriver, bunny) are unfit for the task: no
#: intrinsic input tells the halves apart, and spectral networks stay near 0.7 on them.
FIT_SETTINGS = dict(cosine=True, lr=3e-3, standardize=True)
FIT_MESH = "clean/cow.obj"


@pytest.fixture(scope="module")
def cow_fit():
    return {lv: fit_data(lv, FIT_MESH) for lv in (0, 2)}


def test_wide_view_fit_quick(cow_fit):
    """ACNN on the cow: the U-Net fits the wide-view labelling, the single-level network does not
    (measured, torch seed 0: 0.982 against 0.915; the U-Net gave 0.953–0.982 over seeds 0–4)."""
    _, acc_ms, _ = train_and_test("acnn", 2, data=cow_fit[2], **FIT_SETTINGS)
    _, acc_1, _ = train_and_test("acnn", 0, data=cow_fit[0], **FIT_SETTINGS)
    assert acc_ms >= 0.95 and acc_1 <= acc_ms - 0.04, (acc_ms, acc_1)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_wide_view_fit_every_family(family, cow_fit):
    """300 steps on the cow, >= 95 % of its vertices labelled right by the U-Net (issue 8, Why 9's protocol;
    torch seed 0: 0.982 (acnn) to 1.000; over seeds 0-2 every family 0.953-1.000)."""
    _, acc, _ = train_and_test(family, 2, data=cow_fit[2], **FIT_SETTINGS)
    assert acc >= 0.95, f"{family}: accuracy {acc:.3f} < 0.95 on {FIT_MESH}"


#: Bump seed of the validation mesh: settings are chosen on it (train on seed 0), never on the
#: held-out test mesh (seed 1), which is only read for the final numbers.
VALIDATION_SEED = 2


def fit_data(levels, mesh):
    """The protocol of issue 8, Why 9: one mesh, trained on and measured on (a fit, not a transfer).
    ``mesh`` is a path under ``$MANIFOLD_NETS_DATA/meshes`` (e.g. ``clean/cow.obj``, the issue's
    2.9k-vertex mesh) or ``bump:SEED`` for a wide-view shape."""
    if mesh.startswith("bump:"):
        V, F = wide_view_shape(int(mesh[5:]))
    else:
        from manifold_nets import read_mesh
        from tests.conftest import data_path

        m = read_mesh(data_path("meshes", *mesh.split("/")))
        V, F = m.V, m.F
    b = MeshBatch.from_meshes([(V, F)], k=64, levels=levels)
    d = (b, mnn.input_features(b, "hks", 16), four_parts(b))
    return d, d


def _literal(v: str):
    """A command-line value as a Python literal, or the string itself (``mesh=clean/cow.obj``)."""
    import ast

    try:
        return ast.literal_eval(v)
    except (ValueError, SyntaxError):
        return v


def _cli(argv):
    """``[val|test|fit] families [key=value ...]``: the table of the report on the validation (default) or the
    test mesh, U-Net (``levels=2``) only unless ``levels=0,2`` is given; ``value``s are Python literals.
    ``fit`` trains and measures on one mesh (``mesh=clean/cow.obj`` by default, see :func:`fit_data`), with
    :data:`FIT_SETTINGS` unless overridden; ``errors`` prints where the validation errors lie
    (:func:`errors_near_boundaries`)."""

    mode = "val"
    if argv and argv[0] in ("val", "test", "fit", "errors"):
        mode, argv = argv[0], argv[1:]
    fams = argv[0].split(",") if argv and "=" not in argv[0] else list(FAMILIES)
    kw = dict(a.split("=", 1) for a in argv if "=" in a)
    kw = {k: _literal(v) for k, v in kw.items()}
    lvs = kw.pop("levels", (2,))
    lvs = (lvs,) if isinstance(lvs, int) else tuple(lvs)
    if mode == "errors":  # where the U-Net's validation errors lie
        data = wide_view_data(2, 0, VALIDATION_SEED)
        for fam in fams:
            keep: dict = {}
            _, acc, _ = train_and_test(fam, 2, data=data, keep=keep, **kw)
            rows = errors_near_boundaries(keep["net"], *data[1])
            print(f"{fam} (validation {acc:.3f}), wrong / vertices by distance to a part boundary: "
                  + ", ".join(f"{b}: {w} / {n}" for b, n, w in rows), flush=True)
        return
    if mode == "fit":
        kw = {**FIT_SETTINGS, **kw}
        mesh = kw.pop("mesh", FIT_MESH)
        data = {lv: fit_data(lv, mesh) for lv in lvs}
        print(f"fit on {mesh} {kw}")
    else:
        other = VALIDATION_SEED if mode == "val" else 1
        data = {lv: wide_view_data(lv, 0, other) for lv in lvs}
        print(f"{mode} (bump seed {other}) {kw}; the training labels carried over by vertex score "
              f"{memoriser_agreement(data[lvs[0]]):.3f}")
    print(f"| family | levels | train | {mode} | ms / step |\n|---|---:|---:|---:|---:|")
    for fam in fams:
        for lv in lvs:
            a, b, dt = train_and_test(fam, lv, data=data[lv], **kw)
            print(f"| {fam} | {lv} | {a:.3f} | {b:.3f} | {1000 * dt:.0f} |", flush=True)


if __name__ == "__main__":  # OMP_NUM_THREADS=1 python -m tests.nn.test_multiscale [val|test|fit|errors] [families] [k=v ...]
    import sys

    torch.set_num_threads(1)
    _cli(sys.argv[1:])
