"""Every family on an accelerator: the same outputs and gradients as on the CPU, and checkpoints that
move between the two.

The device is ``$MANIFOLD_NETS_TEST_DEVICE`` (default ``cuda``); without it these tests are skipped
(CI has no GPU).  ``benchmarks/device_check.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

import copy
import os

import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import FAMILIES, MeshBatch, SegmentationNet  # noqa: E402

DEVICE = os.environ.get("MANIFOLD_NETS_TEST_DEVICE", "cuda")


def _device_or_skip() -> torch.device:
    dev = torch.device(DEVICE)
    if dev.type == "cuda" and not torch.cuda.is_available():
        pytest.skip(f"no CUDA device (MANIFOLD_NETS_TEST_DEVICE={DEVICE})")
    if dev.type == "cpu":
        pytest.skip("MANIFOLD_NETS_TEST_DEVICE=cpu: nothing to compare against the CPU")
    return dev


def _step(net, batch, x, y):
    """Outputs and the gradient of every parameter after one loss evaluation."""
    net.zero_grad()
    out = net(batch, x)
    mnn.segmentation_loss(out, y).backward()
    return out.detach(), {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}


def _assert_close_to_cpu(a_dev, a_cpu, what):
    a = a_dev.cpu()
    scale = float(a_cpu.abs().max()) or 1.0
    err = float((a - a_cpu).abs().max()) / scale
    assert err < 1e-9, f"{what}: largest change {err:.2e} of the CPU value's scale (float64)"


@pytest.mark.parametrize("levels", [0, 2])
@pytest.mark.parametrize("family", FAMILIES)
def test_family_on_device_matches_cpu(family, levels, meshes):
    dev = _device_or_skip()
    batch = MeshBatch.from_meshes(meshes, k=24, levels=levels, dtype=torch.float64)
    x = mnn.input_features(batch, "hks", 6)
    y = torch.arange(batch.num_vertices) % 3
    torch.manual_seed(0)
    net = SegmentationNet(6, 3, family=family, width=8, n_blocks=2, levels=levels).double()
    out_c, grad_c = _step(net, batch, x, y)
    net_d = copy.deepcopy(net).to(dev)
    out_d, grad_d = _step(net_d, batch.to(device=dev), x.to(dev), y.to(dev))
    assert out_d.device.type == dev.type
    _assert_close_to_cpu(out_d, out_c, f"{family} output")
    assert grad_d.keys() == grad_c.keys()
    for name in grad_c:
        _assert_close_to_cpu(grad_d[name], grad_c[name], f"{family} gradient of {name}")


@pytest.mark.parametrize("family", FAMILIES)
def test_float32_training_steps_on_device(family, meshes):
    """The default dtype, built straight on the device: a few Adam steps lower the loss."""
    dev = _device_or_skip()
    batch = MeshBatch.from_meshes(meshes, k=24, device=dev)
    x = mnn.input_features(batch, "hks", 6)
    y = (torch.arange(batch.num_vertices, device=dev) // 7) % 3
    torch.manual_seed(0)
    net = SegmentationNet(6, 3, family=family, width=16, n_blocks=2).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = mnn.segmentation_loss(net(batch, x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


def test_checkpoints_move_between_cpu_and_device(tmp_path, meshes):
    dev = _device_or_skip()
    batch = MeshBatch.from_meshes(meshes, k=24, dtype=torch.float64)
    x = mnn.input_features(batch, "hks", 5)
    torch.manual_seed(0)
    net = SegmentationNet(5, 3, family="gem", width=8, n_blocks=1).double().eval()
    with torch.no_grad():
        y0 = net(batch, x)
    # saved on the CPU, loaded onto the device
    net.save(tmp_path / "cpu.pt", features={"kind": "hks", "n": 5}, operators={"k": 24})
    on_dev = mnn.load(tmp_path / "cpu.pt", map_location=dev).eval()
    assert next(on_dev.parameters()).device.type == dev.type
    with torch.no_grad():
        _assert_close_to_cpu(on_dev(batch.to(device=dev), x.to(dev)), y0, "loaded on the device")
    # saved on the device, loaded onto the CPU
    on_dev.save(tmp_path / "dev.pt", features={"kind": "hks", "n": 5}, operators={"k": 24})
    back = mnn.load(tmp_path / "dev.pt", map_location="cpu").eval()
    assert next(back.parameters()).device.type == "cpu"
    with torch.no_grad():
        _assert_close_to_cpu(back(batch, x), y0, "saved on the device, loaded on the CPU")
