"""Configs and checkpoints: every model, block and layer rebuilds from its config and round-trips
through save / load with identical outputs; the input pipeline travels with it; corrupt files and
other format versions fail with a typed, readable error."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import __version__  # noqa: E402
from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import CheckpointError  # noqa: E402


def _out(model, batch, x):
    model.eval()
    with torch.no_grad():
        return model(batch, x)


def _features(batch, c=5):
    return mnn.input_features(batch, "hks", c)


@pytest.mark.parametrize("family", mnn.FAMILIES)
def test_segmentation_net_round_trip(tmp_path, batch64, family):
    torch.manual_seed(0)
    net = mnn.SegmentationNet(5, 3, family=family, width=8, n_blocks=2).double()
    x = _features(batch64)
    y0 = _out(net, batch64, x)
    path = tmp_path / f"{family}.pt"
    net.save(path, features={"kind": "hks", "n": 5}, operators={"k": 24}, labels=["head", "body", "tail"])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # atomic: no temporary file left
    back = mnn.load(path, map_location="cpu")
    assert type(back) is mnn.SegmentationNet and back.get_config() == net.get_config()
    assert next(back.parameters()).dtype == torch.float64
    assert torch.equal(_out(back, batch64, x), y0)
    # the class method checks the class
    assert torch.equal(_out(mnn.SegmentationNet.load(path), batch64, x), y0)
    with pytest.raises(CheckpointError, match="expected a FeatureNet checkpoint"):
        mnn.FeatureNet.load(path)


def test_pipeline_travels_with_the_model(tmp_path, meshes, batch64):
    torch.manual_seed(1)
    net = mnn.SegmentationNet(6, 2, family="gem", width=6, n_blocks=1).double()
    net.save(tmp_path / "m.pt", features={"kind": "wks", "n": 6}, operators={"k": 24},
             labels=["a", "b"])
    back = mnn.load(tmp_path / "m.pt")
    p = back.pipeline
    assert p.features == {"kind": "wks", "n": 6, "normalize": True}
    assert p.labels == ("a", "b") and p.library_version == __version__
    assert p.operators["k"] == 24 and p.operators["normalize"] is True and p.operators["patch_radius"] is None
    assert p.operators["one_ring_radius_factor"] == mnn.batch.ONE_RING_RADIUS_FACTOR
    # prediction repeats the front half of training: same batch, same features, same outputs
    b = p.batch(meshes, dtype=torch.float64)
    for name in ("pos", "evals", "pair_r", "patch_radius"):
        assert torch.equal(getattr(b, name), getattr(batch64, name)), name
    x = p.features_of(b)
    assert torch.equal(x, mnn.input_features(batch64, "wks", 6))
    assert torch.equal(_out(back, b, x), _out(net, batch64, x))
    # saving the loaded model again keeps its pipeline
    back.save(tmp_path / "again.pt")
    assert mnn.load(tmp_path / "again.pt").pipeline == p


def _blocks_and_layers():
    G = mnn.Irreps.regular(2, 2)
    return [
        ("FeatureNet", lambda: mnn.FeatureNet(5, 4, family="monet", width=8, n_blocks=1), 5),
        ("MeshBackbone", lambda: mnn.MeshBackbone(5, 6, family="cheb", width=8, n_blocks=1, K=4), 5),
        ("ResidualConvBlock", lambda: mnn.ResidualConvBlock(5, 5, conv="gcnn", dropout=0.1), 5),
        ("GEMBlock", lambda: mnn.GEMBlock(G, nonlinearity="regular", n_samples=8, transport_pooling=True), G.dim),
        ("DiffusionNetBlock", lambda: mnn.DiffusionNetBlock(5, 7, method="implicit"), 5),
        ("SpectralConv", lambda: mnn.SpectralConv(5, 3, n_basis=6), 5),
        ("ChebConv", lambda: mnn.ChebConv(5, 3, K=2, bias=False), 5),
        ("GCNNConv", lambda: mnn.GCNNConv(5, 3), 5),
        ("ACNNConv", lambda: mnn.ACNNConv(5, 3, scales=(0.3, 0.9)), 5),
        ("MoNetConv", lambda: mnn.MoNetConv(5, 3, n_kernels=3), 5),
        ("GEMConv", lambda: mnn.GEMConv(G, mnn.Irreps.regular(1, 1), n_radial=3), G.dim),
    ]


@pytest.mark.parametrize("name,make,c", _blocks_and_layers(), ids=[b[0] for b in _blocks_and_layers()])
def test_blocks_and_layers_round_trip(tmp_path, batch64, name, make, c):
    torch.manual_seed(2)
    m = make().double()
    cfg = mnn.get_config(m)
    assert cfg["class"] == name
    rebuilt = mnn.from_config(cfg)
    assert type(rebuilt) is type(m) and mnn.get_config(rebuilt) == cfg
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in m.state_dict().items()}
    x = torch.randn(batch64.num_vertices, c, dtype=torch.float64)
    y0 = _out(m, batch64, x)
    mnn.save(m, tmp_path / "m.pt")
    back = mnn.load(tmp_path / "m.pt", map_location=torch.device("cpu"))
    assert torch.equal(_out(back, batch64, x), y0)


def test_map_location_forms(tmp_path):
    net = mnn.SegmentationNet(3, 2, family="spectral", width=4, n_blocks=1)
    net.save(tmp_path / "m.pt")
    for loc in ("cpu", torch.device("cpu"), {"cpu": "cpu"}, lambda storage, _loc: storage):
        back = mnn.load(tmp_path / "m.pt", map_location=loc)
        assert all(p.device.type == "cpu" for p in back.parameters())
        for (k, a), (_, b) in zip(net.state_dict().items(), back.state_dict().items()):
            assert torch.equal(a, b), k


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip_weight"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, damage):
    net = mnn.SegmentationNet(3, 2, family="cheb", width=4, n_blocks=1)
    p = net.save(tmp_path / "m.pt", features="hks")
    raw = bytearray(p.read_bytes())
    if damage == "truncate":
        p.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "garbage":
        p.write_bytes(b"definitely not a checkpoint")
    elif damage == "empty":
        p.write_bytes(b"")
    else:  # one byte of a weight tensor: the zip and pickle still read, the checksum does not match
        w = net.backbone.lift.weight.detach().numpy().tobytes()
        i = bytes(raw).find(w[:16])
        assert i > 0
        raw[i + 5] ^= 0x10
        p.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"m\.pt: expected .*(unreadable|checksum)"):
        mnn.load(p)


def test_other_format_version_or_kind_is_refused(tmp_path):
    net = mnn.SegmentationNet(3, 2, family="cheb", width=4, n_blocks=1)
    p = net.save(tmp_path / "m.pt")
    ck = torch.load(p, weights_only=True)
    ck["format_version"] = mnn.serialization.CHECKPOINT_VERSION + 1
    ck["library_version"] = "9.0.0"
    torch.save(ck, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match=r"format version 1 \(got 2, written by manifold_nets 9\.0\.0\)"):
        mnn.load(tmp_path / "future.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="expected a manifold_nets checkpoint"):
        mnn.load(tmp_path / "plain.pt")
    ck = torch.load(p, weights_only=True)
    ck["model"] = ck["model"].replace('"cheb"', '"gem"')  # a config the weights do not fit
    torch.save(ck, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="weights that fit the SegmentationNet configuration"):
        mnn.load(tmp_path / "mismatch.pt")
    from manifold_nets.errors import MeshFileNotFoundError

    with pytest.raises(MeshFileNotFoundError):
        mnn.load(tmp_path / "nothing.pt")


def test_unsaveable_arguments_and_bad_configs_are_typed_errors():
    m = mnn.NormNonlinearity(mnn.Irreps.regular(2, 1), act=torch.tanh)
    with pytest.raises(CheckpointError, match=r"NormNonlinearity\.act: expected plain data"):
        mnn.get_config(m)
    with pytest.raises(CheckpointError, match="expected one of the manifold_nets.nn classes"):
        mnn.from_config({"class": "os.system", "kwargs": {}})
    with pytest.raises(CheckpointError, match="constructor refused"):
        mnn.from_config({"class": "SegmentationNet", "kwargs": {"in_channels": 3}})
    with pytest.raises(CheckpointError, match="expected a manifold_nets.nn module"):
        mnn.get_config(torch.nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="features"):
        mnn.SegmentationNet(3, 2, family="cheb", width=4, n_blocks=1).save(io.BytesIO(), features="shot")


def test_config_is_json_and_survives_default_changes(monkeypatch):
    """The config records every constructor argument (defaults included) as plain JSON."""
    import json

    net = mnn.SegmentationNet(3, 2, family="acnn", width=4, n_blocks=1)
    cfg = net.get_config()
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["kwargs"]["outputs"] == "vertices" and cfg["kwargs"]["dropout"] == 0.0
    acnn = mnn.get_config(net.backbone.blocks[0].conv)
    assert acnn["kwargs"]["scales"] == [0.5, 1.0] and acnn["kwargs"]["orientation"] == "principal"
    rebuilt = mnn.SegmentationNet.from_config(cfg)
    assert np.array_equal([p.numel() for p in rebuilt.parameters()], [p.numel() for p in net.parameters()])


def test_pipeline_refuses_a_different_one_ring_rule(meshes):
    p = mnn.Pipeline.make(features="hks", operators={"k": 8})
    assert p.batch(meshes[:1]).num_meshes == 1
    other = mnn.Pipeline.from_dict({**p.to_dict(), "operators": {**p.operators, "one_ring_radius_factor": 2.0}})
    with pytest.raises(CheckpointError, match="one-ring patches normalised by"):
        other.batch(meshes[:1])
    with pytest.raises(CheckpointError, match="no input-feature pipeline"):
        mnn.Pipeline.make().features_of(p.batch(meshes[:1]))


def test_cheb_unet_checkpoint_of_the_previous_config_schema_loads_as_written(tmp_path, ms_batch_small):
    """A Chebyshev U-Net saved before its default normalisation changed (config schema 1: no
    ``config_schema`` field, no ``normalization`` in the config) loads with the mass-normalised
    operator it was trained with; a new one with the degree-normalised default; outputs identical."""
    batch, x = ms_batch_small

    def norms(m):
        return {c.normalization for c in m.modules() if isinstance(c, mnn.ChebConv)}

    torch.manual_seed(0)
    new = mnn.SegmentationNet(x.shape[1], 3, family="cheb", width=6, n_blocks=1, levels=1).double()
    old = mnn.SegmentationNet(x.shape[1], 3, family="cheb", width=6, n_blocks=1, levels=1,
                              normalization="mass").double()
    old.load_state_dict(new.state_dict())
    assert norms(new) == {"degree"} and norms(old) == {"mass"}
    assert (_out(new, batch, x) - _out(old, batch, x)).abs().max() > 1e-3  # the two really differ

    p = new.save(tmp_path / "new.pt")
    assert norms(mnn.load(p)) == {"degree"}
    torch.testing.assert_close(_out(mnn.load(p), batch, x), _out(new, batch, x), rtol=0, atol=1e-12)
    # what the previous version wrote: the old model's file without the schema and without the key
    ck = torch.load(old.save(tmp_path / "old.pt"), weights_only=True)
    assert ck.pop("config_schema") == mnn.serialization.CONFIG_SCHEMA == 2
    ck["model"] = ck["model"].replace(', "normalization": "mass"', "")
    assert "normalization" not in ck["model"]
    torch.save(ck, tmp_path / "schema1.pt")
    back = mnn.load(tmp_path / "schema1.pt")
    assert norms(back) == {"mass"}
    torch.testing.assert_close(_out(back, batch, x), _out(old, batch, x), rtol=0, atol=1e-12)
    # single-level Chebyshev networks never changed: nothing is added to their configs
    cfg = mnn.SegmentationNet(3, 2, family="cheb", width=4, n_blocks=1).get_config()
    assert mnn.serialization.upgrade_config(cfg, 1) == cfg


@pytest.fixture(scope="module")
def ms_batch_small():
    from tests.nn.conftest import bumpy_sphere

    b = mnn.MeshBatch.from_meshes([bumpy_sphere(2, seed=1)], k=12, levels=1, dtype=torch.float64)
    x = torch.randn(b.num_vertices, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return b, x
