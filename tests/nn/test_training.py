"""Learning checks: every family fits a tiny labelled set, and the descriptor / global heads train."""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402


def _labels(batch):
    """Four parts from a geometric rule: the signs of x and z about each mesh's centroid."""
    c = batch.pos - batch.global_mean(batch.pos)[batch.batch]
    return ((c[:, 0] > 0).long() * 2 + (c[:, 2] > 0).long())


def _fit(net, batch, x, y, steps, lr=1e-2, loss_fn=None, params=None):
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


@pytest.mark.parametrize("family", mnn.FAMILIES)
def test_every_family_overfits_a_tiny_segmentation_set(family, batch32):
    torch.manual_seed(0)
    x = torch.cat([mnn.input_features(batch32, "xyz"), mnn.input_features(batch32, "hks", 8)], -1)
    y = _labels(batch32)
    assert len(torch.unique(y)) == 4
    net = mnn.SegmentationNet(x.shape[1], 4, family=family, width=32, n_blocks=2)
    t = time.perf_counter()
    step, loss = _fit(net, batch32, x, y, steps=400)
    assert step is not None, f"{family}: no 100% accuracy after 400 steps (loss {loss:.3g})"
    assert time.perf_counter() - t < 60


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
    e = b.edges
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


def test_segmentation_fails_on_random_labels_with_a_tiny_budget(batch32):
    """The fit above is a learning signal: random labels are not fitted by a tiny net in 30 steps."""
    torch.manual_seed(0)
    x = mnn.input_features(batch32, "hks", 8)
    y = torch.randint(0, 4, (batch32.num_vertices,))
    net = mnn.SegmentationNet(8, 4, family="diffusion", width=8, n_blocks=1)
    step, _ = _fit(net, batch32, x, y, steps=30)
    assert step is None


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
