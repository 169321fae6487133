"""Learning checks.

The main check is a task that only message passing can solve, on meshes the tests do not tune
on: every family must clearly beat a per-vertex MLP that is at chance by construction, on a
held-out mesh; a random-label control shows the held-out evaluation cannot be passed by
memorising.  Then the descriptor / global heads train.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from tests.nn.conftest import bumpy_sphere  # noqa: E402

# The texture task -------------------------------------------------------------------------
# Four parts per mesh, by the signs of x and z about the centroid.  The inputs are two +-1
# channels; channel 0 is spatially coherent (stripes a few rings wide) where x > 0 and
# independent coin flips where x < 0, channel 1 likewise with z.  Each vertex's own input is a
# fair +-1 in every part (the stripes are split at their median), so a per-vertex model is at
# chance (25 %); telling stripes from coin flips needs the neighbourhood (|local mean| ~ 1 vs
# ~ 1/sqrt(n)), which a few rings resolve, so local patch families can do it too.
STRIPE_FREQ = 12.0  # on unit-area meshes: stripes ~ 6 edges wide on an icosphere(3)
STEPS, WIDTH, BLOCKS, LR = 80, 32, 2, 1e-2
CHANCE = 0.25


def _texture_task(batch, seed):
    """``(x (N, 2) float, y (N,) long)`` of the texture task; ``seed`` draws the coin flips."""
    g = torch.Generator().manual_seed(seed)
    c = batch.pos - batch.global_mean(batch.pos)[batch.batch]
    parts = (c[:, 0] > 0, c[:, 2] > 0)
    y = parts[0].long() * 2 + parts[1].long()
    x = torch.empty(batch.num_vertices, 2)
    for ch, (coherent, direction) in enumerate(zip(parts, ([0.6, 0.8, 0.0], [0.0, 0.6, 0.8]))):
        wave = torch.sin(STRIPE_FREQ * (c @ torch.tensor(direction, dtype=c.dtype)))
        for m in range(batch.num_meshes):
            for k in range(4):  # balanced +-1 within every part of every mesh
                sel = torch.nonzero((batch.batch == m) & (y == k)).squeeze(1)
                half = (torch.arange(len(sel)) < len(sel) // 2).float() * 2 - 1
                if bool(coherent[sel[0]]):  # stripes: split the wave at its median
                    x[sel[wave[sel].argsort()], ch] = half
                else:  # coin flips: a balanced set in random order
                    x[sel, ch] = half[torch.randperm(len(sel), generator=g)]
    return x, y


@pytest.fixture(scope="module")
def texture():
    """Two training meshes and one held-out mesh (other bumps, other coin flips)."""
    train = mnn.MeshBatch.from_meshes([bumpy_sphere(3, seed=10), bumpy_sphere(3, seed=11)], k=32)
    test = mnn.MeshBatch.from_meshes([bumpy_sphere(3, seed=12)], k=32)
    return (train, *_texture_task(train, 0)), (test, *_texture_task(test, 1))


class _PerVertexMLP(torch.nn.Module):
    """The control: the same head, no neighbourhood."""

    def __init__(self, in_channels, out_channels, width=WIDTH):
        super().__init__()
        self.f = torch.nn.Sequential(torch.nn.Linear(in_channels, width), torch.nn.ReLU(),
                                     torch.nn.Linear(width, width), torch.nn.ReLU(),
                                     torch.nn.Linear(width, out_channels))

    def forward(self, batch, x):
        return self.f(x)


def _train(net, batch, x, y, steps=STEPS, lr=LR):
    """Adam on the segmentation loss; returns the training accuracy after the last step."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        mnn.segmentation_loss(net(batch, x), y).backward()
        opt.step()
    return _accuracy(net, batch, x, y)


def _accuracy(net, batch, x, y):
    with torch.no_grad():
        return float(mnn.accuracy(net(batch, x), y))


def test_texture_task_is_pointwise_uninformative(texture):
    """Every part sees each input value (each of the four sign pairs) about equally often, so no
    per-vertex rule is much better than chance."""
    for _batch, x, y in texture:
        assert torch.bincount(y, minlength=4).min() > 0.15 * len(y)
        for k in range(4):
            pair = (x[y == k] > 0).long() @ torch.tensor([2, 1])
            frac = torch.bincount(pair, minlength=4).float() / len(pair)
            assert ((frac - 0.25).abs() < 0.07).all(), (k, frac)


def test_per_vertex_mlp_stays_at_chance(texture):
    (train, x, y), (test, xt, yt) = texture
    torch.manual_seed(0)
    mlp = _PerVertexMLP(2, 4)
    _train(mlp, train, x, y)
    assert _accuracy(mlp, test, xt, yt) < CHANCE + 0.08


@pytest.mark.parametrize("family", mnn.FAMILIES)
def test_every_family_solves_a_task_that_needs_the_neighbourhood(family, texture):
    (train, x, y), (test, xt, yt) = texture
    torch.manual_seed(0)
    net = mnn.SegmentationNet(2, 4, family=family, width=WIDTH, n_blocks=BLOCKS)
    train_acc = _train(net, train, x, y)
    held_out = _accuracy(net, test, xt, yt)
    assert held_out > 0.6, f"{family}: held-out accuracy {held_out:.2f} (train {train_acc:.2f}, chance 0.25)"


def test_random_labels_are_memorised_but_do_not_generalise(texture):
    """The control for the test above.  The same net and budget fit random labels of the
    training vertices well above chance (so it has the capacity to memorise), yet on the
    held-out mesh they stay at chance, and nothing of the real task is learnt from them; the
    real labels, with everything else the same, generalise."""
    (train, x, y), (test, xt, yt) = texture
    g = torch.Generator().manual_seed(5)
    y_random = torch.randint(0, 4, y.shape, generator=g)
    yt_random = torch.randint(0, 4, yt.shape, generator=g)
    torch.manual_seed(0)
    net = mnn.SegmentationNet(2, 4, family="diffusion", width=WIDTH, n_blocks=BLOCKS)
    assert _train(net, train, x, y_random) > CHANCE + 0.15  # capacity: it memorises
    assert _accuracy(net, test, xt, yt_random) < CHANCE + 0.06
    assert _accuracy(net, test, xt, yt) < CHANCE + 0.1
    torch.manual_seed(0)
    real = mnn.SegmentationNet(2, 4, family="diffusion", width=WIDTH, n_blocks=BLOCKS)
    _train(real, train, x, y)
    assert _accuracy(real, test, xt, yt) > 0.6


def _fit(net, batch, x, y, steps, lr=1e-2, loss_fn=None, params=None):
    """Train until 100 % training accuracy; the step it was reached (None if never) and the loss."""
    opt = torch.optim.Adam(net.parameters() if params is None else params, lr=lr)
    loss_fn = loss_fn or (lambda out: mnn.segmentation_loss(out, y))
    for step in range(steps):
        opt.zero_grad()
        out = net(batch, x)
        loss = loss_fn(out)
        loss.backward()
        opt.step()
        if mnn.accuracy(out.detach(), y) == 1.0:
            return step, float(loss.detach())
    return None, float(loss.detach())


@pytest.mark.parametrize("family", ["diffusion", "gcnn", "acnn", "monet", "gem"])
def test_local_families_learn_a_task_that_needs_message_passing(family, batch32):
    """Input: a constant and a delta at one seed vertex per mesh.  Labels: seed + one-ring, second
    ring, rest.  No pointwise model can fit this (every non-seed vertex has the same input); the
    convolution has to carry the seed's signal over one and two rings.  (The cotan-weighted
    spectral/Chebyshev filters are left out: on these bumpy meshes some cotan weights of the seed's
    ring are close to zero, so a ring neighbour can look like a far vertex to them.)"""
    b = batch32
    seeds = b.ptr[:-1]
    x = torch.zeros(b.num_vertices, 2)
    x[:, 0] = 1.0
    x[seeds, 1] = 1.0
    e = b.patch_pairs
    ring1 = torch.zeros(b.num_vertices, dtype=torch.bool)
    ring1[seeds] = True
    ring1[e[torch.isin(e[:, 0], seeds), 1]] = True
    ring2 = torch.zeros_like(ring1)
    ring2[e[torch.isin(e[:, 0], torch.nonzero(ring1).squeeze(1)), 1]] = True
    y = torch.where(ring1, 2, torch.where(ring2, 1, 0))
    assert (torch.bincount(y) > 10).all()
    torch.manual_seed(0)
    net = mnn.SegmentationNet(2, 3, family=family, width=32, n_blocks=2)
    step, loss = _fit(net, b, x, y, steps=400)
    assert step is not None, f"{family}: no 100% accuracy after 400 steps (loss {loss:.3g})"
    # an MLP on the same inputs cannot fit it
    mlp = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    assert _fit(lambda _b, v: mlp(v), b, x, y, steps=200, lr=1e-2, params=mlp.parameters())[0] is None


def test_face_and_global_heads_train(batch32):
    torch.manual_seed(0)
    x = mnn.input_features(batch32, "xyz")
    # faces: label by the sign of the face centroid's z
    fz = batch32.vertex_to_face(batch32.pos)[:, 2]
    yf = (fz > 0).long()
    net = mnn.SegmentationNet(3, 2, family="diffusion", outputs="faces", width=16, n_blocks=2)
    assert _fit(net, batch32, x, yf, steps=300)[0] is not None
    # global: tell the torus from the two spheres, from intrinsic WKS inputs
    yg = torch.tensor([0, 1, 0])
    h = mnn.input_features(batch32, "wks", 8)
    gnet = mnn.SegmentationNet(8, 2, family="diffusion", outputs="global", width=16, n_blocks=1)
    assert _fit(gnet, batch32, h, yg, steps=300)[0] is not None


def test_mass_weighted_loss(batch32):
    logits = torch.randn(batch32.num_vertices, 3)
    y = torch.randint(0, 3, (batch32.num_vertices,))
    lw = mnn.segmentation_loss(logits, y, batch32, mass_weighted=True)
    ce = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    ref = np.mean([float((c * m).sum() / m.sum()) for c, m in zip(batch32.split(ce), batch32.split(batch32.mass))])
    assert abs(float(lw) - ref) < 1e-5
    with pytest.raises(ValueError, match="MeshBatch"):
        mnn.segmentation_loss(logits, y, mass_weighted=True)


def test_feature_net_learns_descriptors_for_matching(meshes):
    """Descriptors of a mesh and of a noisy, rotated, renumbered copy become discriminative under
    the correspondence loss: nearest-neighbour matching goes from near chance to > 80 %."""
    V, F = meshes[2]
    rng = np.random.default_rng(0)
    p = rng.permutation(len(V))
    inv = np.empty_like(p)
    inv[p] = np.arange(len(p))
    R = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    VB = V + 0.01 * rng.standard_normal(V.shape)
    b = mnn.MeshBatch.from_meshes([(V, F), (VB[p] @ R.T, inv[F])], k=32)
    x = mnn.input_features(b, "wks", 16)
    nA = len(V)
    corr = torch.tensor(np.stack([np.arange(nA), inv], 1))  # vertex a of A is vertex inv[a] of B

    def match_acc(d):
        dA, dB = d[:nA], d[nA:]
        return float(((dA @ dB.T).argmax(1) == corr[:, 1]).float().mean())

    torch.manual_seed(0)
    net = mnn.FeatureNet(16, 16, family="gem", width=32, n_blocks=2)
    acc0 = match_acc(net(b, x).detach())
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(150):
        opt.zero_grad()
        d = net(b, x)
        loss = mnn.descriptor_loss(d[:nA], d[nA:], corr)
        loss.backward()
        opt.step()
    d = net(b, x).detach()
    assert torch.allclose(d.norm(dim=1), torch.ones(len(d)), atol=1e-5)
    assert acc0 < 0.2 and match_acc(d) > 0.8, (acc0, match_acc(d))
