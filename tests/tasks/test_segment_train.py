"""Segmentation training: run-folder contract, config round trip, determinism, resume, preprocessing."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets.data import MeshDataset  # noqa: E402
from manifold_nets.data.synthetic import make_segmentation_set  # noqa: E402
from manifold_nets.errors import MeshError  # noqa: E402
from manifold_nets.nn import load  # noqa: E402
from manifold_nets.tasks.segmentation import (  # noqa: E402
    SegmentationConfig,
    area_weighted_accuracy_of,
    split_train_val,
    train_segmentation,
)
from manifold_nets.tasks.training import load_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def figures():
    return make_segmentation_set(6, resolution=(300, 400), seed=5)


def _tiny(**kw) -> SegmentationConfig:
    base = dict(width=16, n_blocks=1, k=32, epochs=3, max_vertices=None, cache_dir="", lr=5e-3)
    return SegmentationConfig(**{**base, **kw})


def _no_time(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(path.read_text())]


def test_run_folder_contract(figures, tmp_path):
    train, val = figures.subset([0, 1, 2, 3]), figures.subset([4, 5])
    res = train_segmentation(train, val, _tiny(), tmp_path)
    for name in ("model.pt", "checkpoint.pt", "config.json", "metrics.csv", "metrics.json"):
        assert (tmp_path / name).is_file(), name
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert SegmentationConfig.from_dict(cfg["segmentation"]) == _tiny()
    assert cfg["preprocess"] == {}  # no simplification: prediction runs on the full mesh
    assert cfg["data"]["part_names"] == list(figures.part_names)
    assert cfg["data"]["train"]["meshes"] == train.names and cfg["data"]["val"]["meshes"] == val.names
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,train_accuracy,val_accuracy,lr,seconds"
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3] and res.history == rows
    # model.pt: the best epoch's model, whose pipeline rebuilds the inputs on a mesh
    net = load(tmp_path / "model.pt")
    assert list(net.pipeline.labels) == list(figures.part_names)
    assert net.pipeline.features["kind"] == "hks" and net.outputs == "faces"
    accs = []
    for m in val:
        b = net.pipeline.batch([(m.V, m.F)], cache_dir=None)
        with torch.no_grad():
            pred = net(b, net.pipeline.features_of(b)).argmax(-1).numpy()
        accs.append(area_weighted_accuracy_of(pred, m.face_labels, m.face_areas))
    assert np.mean(accs) == pytest.approx(rows[res.best_epoch - 1]["val_accuracy"], abs=1e-5)
    assert res.best_score == max(r["val_accuracy"] for r in rows)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 3 and set(state["rng"]) == {"python", "numpy", "torch"}


def test_training_learns_the_synthetic_parts(figures, tmp_path):
    """Three epochs of a small model already label most of the area of unseen figures."""
    train, val = figures.subset([0, 1, 2, 3]), figures.subset([4, 5])
    res = train_segmentation(train, val, _tiny(epochs=8, width=32, n_blocks=2), tmp_path)
    chance = figures.label_counts().max() / figures.label_counts().sum()
    assert res.best_score > chance + 0.25


def test_deterministic_repeat_and_other_seed(figures, tmp_path):
    train, val = figures.subset([0, 1, 2]), figures.subset([4])
    cfg = _tiny(dropout=0.2, features="xyz", batch_size=2)
    train_segmentation(train, val, cfg, tmp_path / "a")
    train_segmentation(train, val, cfg, tmp_path / "b")
    assert _no_time(tmp_path / "a" / "metrics.json") == _no_time(tmp_path / "b" / "metrics.json")
    train_segmentation(train, val, _tiny(dropout=0.2, features="xyz", batch_size=2, seed=1), tmp_path / "c")
    assert _no_time(tmp_path / "a" / "metrics.json") != _no_time(tmp_path / "c" / "metrics.json")


class _Kill(Exception):
    pass


def test_resume_after_kill(figures, tmp_path):
    train, val = figures.subset([0, 1, 2]), figures.subset([4])
    cfg = _tiny(epochs=5, dropout=0.1, features="xyz")
    full = train_segmentation(train, val, cfg, tmp_path / "full")

    def kill(ev):
        if ev["kind"] == "epoch" and ev["epoch"] == 2:
            raise _Kill()

    with pytest.raises(_Kill):
        train_segmentation(train, val, cfg, tmp_path / "cut", progress=kill)
    res = train_segmentation(train, val, None, tmp_path / "cut", resume=True)  # config from config.json
    assert res.resumed_from == 2
    assert _no_time(tmp_path / "full" / "metrics.json") == _no_time(tmp_path / "cut" / "metrics.json")
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert res.best_epoch == full.best_epoch
    with pytest.raises(MeshError, match="configuration of the interrupted run"):
        train_segmentation(train, val, _tiny(epochs=5, width=8), tmp_path / "cut", resume=True)


def test_simplified_training_meshes_are_recorded(figures, tmp_path):
    train = figures.subset([0, 1])
    assert min(m.n_vertices for m in train) > 200
    train_segmentation(train, None, _tiny(epochs=1, max_vertices=200), tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["preprocess"] == {"max_vertices": 200}
    assert cfg["data"]["val"] is None and (tmp_path / "model.pt").is_file()


def test_remesh_variants_and_cache(figures, tmp_path):
    train = figures.subset([0, 1])
    cache = tmp_path / "cache"
    train_segmentation(train, None, _tiny(epochs=2, remesh_variants=1, cache_dir=str(cache)), tmp_path / "r")
    assert any(cache.rglob("*")), "the learning cache was not used"


def test_split_train_val(figures):
    tr, va = split_train_val(figures, 0.15, seed=0)
    assert len(va) == 1 and len(tr) == 5 and not set(tr.names) & set(va.names)
    tr2, va2 = split_train_val(figures, 0.15, seed=0)
    assert va2.names == va.names
    assert split_train_val(figures, 0.0)[1] is None
    with pytest.raises(MeshError, match="val_fraction"):
        split_train_val(figures, 1.0)


@pytest.mark.parametrize("field,value,match", [
    ("family", "resnet", "family: expected one of"),
    ("features", "curvature", "features: expected one of"),
    ("max_vertices", 10, "max_vertices"),
    ("epochs", 0, "TrainConfig.epochs"),
    ("rotation_augment", "all", "rotation_augment"),
    ("standardize", "yes", "standardize: expected true or false"),
    ("class_weights", "balanced", "class_weights: expected one of none, sqrt, inverse"),
])
def test_bad_config_is_one_line_error(field, value, match):
    with pytest.raises(MeshError, match=match):
        SegmentationConfig(**{field: value}).check()


def test_config_round_trip_and_unknown_field():
    cfg = SegmentationConfig(family="gem", features="wks", n_features=8, max_vertices=None, patience=None)
    assert SegmentationConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(MeshError, match="got 'colour'"):
        SegmentationConfig.from_dict({"colour": 1})


def test_mismatched_part_names_and_empty_data(figures, tmp_path):
    other = MeshDataset([figures.raw(0).replace(part_names=tuple(f"p{i}" for i in range(len(figures.part_names))))])
    with pytest.raises(MeshError, match="training part names"):
        train_segmentation(figures.subset([1]), other, _tiny(), tmp_path)
    with pytest.raises(MeshError, match="no such file"):
        train_segmentation(figures.subset([1]), None, None, tmp_path / "none", resume=True)


def test_standardized_inputs_statistics_travel_with_the_model(figures, tmp_path):
    """``standardize``: the model holds the training meshes' area-weighted channel statistics, and
    the saved model's pipeline applies them on a new mesh; ``xyz`` inputs are never standardised."""
    from manifold_nets.nn import input_features

    train = figures.subset([0, 1, 2])
    train_segmentation(train, None, _tiny(epochs=1, standardize=True), tmp_path / "s")
    net = load(tmp_path / "s" / "model.pt")
    assert net.input_norm
    xs, ws = [], []
    for m in train:
        b = net.pipeline.batch([(m.V, m.F)], cache_dir=None)
        xs.append(input_features(b, "hks", 16).double())
        ws.append(b.mass.double() / b.mass.double().sum())
    X, W = torch.cat(xs), torch.cat(ws) / len(xs)
    mean = (W[:, None] * X).sum(0)
    std = (W[:, None] * (X - mean) ** 2).sum(0).sqrt()
    torch.testing.assert_close(net.input_mean.double(), mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(net.input_std.double(), std, rtol=1e-4, atol=1e-7)
    assert float(std.min() / std.max()) < 1e-2  # the long-time HKS channels barely vary
    train_segmentation(train, None, _tiny(epochs=1, standardize=True, features="xyz"), tmp_path / "x")
    assert not load(tmp_path / "x" / "model.pt").input_norm
    train_segmentation(train, None, _tiny(epochs=1), tmp_path / "p")
    assert not load(tmp_path / "p" / "model.pt").input_norm


def test_part_weights_by_hand():
    """Shares averaged over meshes (each counts once), ``share^-1/2`` or ``share^-1`` scaled so
    the area-weighted mean weight is 1; absent parts and ``"none"`` get 1."""
    from manifold_nets.tasks.segmentation import part_weights

    labels = [np.array([0, 0, 1, -1]), np.array([0, 2, 2, 2])]
    weights = [np.array([0.25, 0.25, 0.5, 0.0]), np.array([0.5, 0.25, 0.125, 0.125])]
    share = np.array([(0.5 + 0.5) / 2, 0.5 / 2, 0.5 / 2, 0.0])  # part 3 never occurs
    for mode, power in (("sqrt", -0.5), ("inverse", -1.0)):
        w = part_weights(labels, weights, 4, mode)
        raw = share[:3] ** power
        np.testing.assert_allclose(w[:3], raw / (share[:3] * raw).sum(), rtol=1e-15)
        assert w[3] == 1.0
        assert abs((share * np.where(share > 0, w, 0)).sum() - 1.0) < 1e-15
        assert w[1] > w[0]  # the rarer part counts more
    np.testing.assert_array_equal(part_weights(labels, weights, 4, "none"), np.ones(4))
    # inverse weights make every present part's total weight equal
    w = part_weights(labels, weights, 4, "inverse")
    np.testing.assert_allclose(share[:3] * w[:3], 1 / 3, rtol=1e-14)
    with pytest.raises(MeshError, match="class_weights"):
        part_weights(labels, weights, 4, "balanced")


def test_class_weighted_loss_and_training(figures, tmp_path):
    """The loss weighs each face by its area and its part's weight; a run with class weights
    trains, records the choice and differs from the unweighted run."""
    from manifold_nets.tasks.segmentation import _face_loss

    class It:
        labels = torch.tensor([0, 1, 1, 2])
        weights = torch.tensor([0.1, 0.2, 0.3, 0.4])

    logits = torch.randn(4, 3, dtype=torch.float32)
    cw = torch.tensor([1.0, 2.0, 0.5])
    ce = torch.nn.functional.cross_entropy(logits, It.labels, reduction="none", label_smoothing=0.1)
    torch.testing.assert_close(_face_loss(logits, It, 0.1, cw), (ce * It.weights * cw[It.labels]).sum())
    torch.testing.assert_close(_face_loss(logits, It, 0.1), (ce * It.weights).sum())
    train = figures.subset([0, 1, 2])
    train_segmentation(train, None, _tiny(epochs=2, class_weights="inverse"), tmp_path / "w")
    train_segmentation(train, None, _tiny(epochs=2), tmp_path / "u")
    cfg = json.loads((tmp_path / "w" / "config.json").read_text())
    assert cfg["segmentation"]["class_weights"] == "inverse"
    a = load(tmp_path / "w" / "model.pt").state_dict()
    b = load(tmp_path / "u" / "model.pt").state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_a_run_folder_is_never_silently_overwritten_or_shared(figures, tmp_path):
    """An earlier run needs resume or overwrite (which deletes its files first); a folder another
    live process is training into is refused; a lock left by a killed process is taken over, and
    the temporaries of its interrupted atomic writes are removed."""
    import os
    import socket
    import subprocess
    import sys

    from manifold_nets.errors import RunFolderError
    from manifold_nets.tasks.training import LOCK_NAME

    train = figures.subset([0, 1])
    run = tmp_path / "run"
    train_segmentation(train, None, _tiny(epochs=1), run)
    before = (run / "config.json").read_text()
    with pytest.raises(RunFolderError, match=r"expected a folder without an earlier run \(got config.json, "
                                             r"checkpoint.pt, metrics.csv, metrics.json, model.pt\)"):
        train_segmentation(train, None, _tiny(epochs=2), run)
    assert (run / "config.json").read_text() == before and not (run / LOCK_NAME).exists()
    # a live holder (another process on this host)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / LOCK_NAME).write_text(f"{holder.pid} {socket.gethostname()}\n")
        with pytest.raises(RunFolderError, match=f"no other process is writing .*held by process {holder.pid}"):
            train_segmentation(train, None, _tiny(epochs=2), run, overwrite=True)
        assert (run / "config.json").read_text() == before
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock and a half-written checkpoint are cleaned up, the run starts over
    (run / ".checkpoint.pt.abc123.tmp").write_bytes(b"half")
    (run / "model.pt").unlink()
    res = train_segmentation(train, None, _tiny(epochs=2), run, overwrite=True)
    assert res.epochs_run == 2 and json.loads((run / "config.json").read_text())["segmentation"]["epochs"] == 2
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json", "metrics.csv",
                                                       "metrics.json", "model.pt"]
    assert os.getpid() != holder.pid
