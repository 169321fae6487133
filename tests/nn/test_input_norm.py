"""SegmentationNet's input standardisation: hand-computed statistics, identity before fitting,
saved with the model, and the error cases."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets.nn import SegmentationNet, input_features, load, save  # noqa: E402


@pytest.fixture(scope="module")
def small_batch(batch32):
    return batch32, input_features(batch32, "hks", 3)


def _net(**kw):
    torch.manual_seed(0)
    return SegmentationNet(3, 2, family="diffusion", width=8, n_blocks=1, **kw)


def test_fit_input_norm_hand_computed():
    net = _net(input_norm=True)
    # mesh a: rows (0, 1, 5), (2, 1, 5) with weights 1 and 3; mesh b: one row (4, 1, 5)
    xa = torch.tensor([[0.0, 1.0, 5.0], [2.0, 1.0, 5.0]])
    xb = torch.tensor([[4.0, 1.0, 5.0]])
    net.fit_input_norm([xa, xb], [torch.tensor([1.0, 3.0]), torch.tensor([7.0])])
    # each mesh counts one half: weights 1/8, 3/8, 1/2 -> mean of channel 0 = 0/8 + 6/8 + 2 = 2.75
    w = np.array([1 / 8, 3 / 8, 1 / 2])
    c0 = np.array([0.0, 2.0, 4.0])
    mean0 = (w * c0).sum()
    std0 = np.sqrt((w * (c0 - mean0) ** 2).sum())
    assert mean0 == pytest.approx(2.75)
    np.testing.assert_allclose(net.input_mean.numpy(), [mean0, 1.0, 5.0], rtol=1e-6)
    # constant channels are shifted only (std 1), never divided by zero
    np.testing.assert_allclose(net.input_std.numpy(), [std0, 1.0, 1.0], rtol=1e-6)


def test_uniform_weights_and_standardised_output(batch64):
    batch, x = batch64, input_features(batch64, "hks", 3)
    x = x[:, :3] * torch.tensor([1.0, 1e-3, 50.0]) + torch.tensor([0.0, 1.0, -3.0])
    net = _net(input_norm=True).double()
    net.fit_input_norm([x])
    z = (x - net.input_mean) / net.input_std
    np.testing.assert_allclose(z.mean(0).numpy(), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(0, unbiased=False).numpy(), 1.0, rtol=1e-9)
    # the network sees the standardised inputs: equal to a plain net with the same weights fed z
    plain = _net().double()
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("input_")})
    net.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(batch, x), plain(batch, z), rtol=1e-10, atol=1e-10)


def test_identity_until_fitted_and_saved_with_the_model(small_batch, tmp_path):
    batch, x = small_batch
    x = x[:, :3]
    net, plain = _net(input_norm=True), _net()
    net.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(batch, x), plain(batch, x))
    net.fit_input_norm([x + 2.0])
    save(net, tmp_path / "m.pt")
    back = load(tmp_path / "m.pt")
    assert back.input_norm
    torch.testing.assert_close(back.input_mean, net.input_mean)
    torch.testing.assert_close(back.input_std, net.input_std)
    back.eval()
    with torch.no_grad():
        torch.testing.assert_close(back(batch, x), net(batch, x))
        assert not torch.allclose(back(batch, x), plain(batch, x))
    assert "input_mean" not in _net().state_dict()  # models without it keep their old state dicts


def test_fit_input_norm_errors():
    with pytest.raises(ValueError, match="input_norm=True"):
        _net().fit_input_norm([torch.zeros(4, 3)])
    net = _net(input_norm=True)
    with pytest.raises(ValueError, match="at least one mesh"):
        net.fit_input_norm([])
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        net.fit_input_norm([torch.zeros(4, 5)])
