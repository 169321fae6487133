"""The generic training loop: learning beyond a per-vertex MLP, determinism, checkpoints, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets.errors import MeshError  # noqa: E402
from manifold_nets.nn import MeshBatch, MeshData, SegmentationNet  # noqa: E402
from manifold_nets.shapes import icosphere  # noqa: E402
from manifold_nets.tasks import training as T  # noqa: E402
from manifold_nets.tasks.training import TrainConfig, epoch_order, fit, load_checkpoint  # noqa: E402


def _impulse_set(n: int, seed: int, *, n_seeds: int = 3, cos_radius: float = 0.8):
    """Spheres with an impulse at ``n_seeds`` random vertices (the input) and label 1 on every
    vertex within angle ``arccos(cos_radius)`` of a seed (the target).  A per-vertex function of
    the input sees 0 at almost every vertex of both classes; a mesh model can spread the impulse."""
    V, F = icosphere(3)
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    data = MeshData.from_mesh(V, F, k=48, patches=False, curvature=False)
    batch = MeshBatch.from_data([data])
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        seeds = rng.choice(len(V), n_seeds, replace=False)
        x = np.zeros((len(V), 1))
        x[seeds, 0] = len(V)  # about a unit-integral delta on the unit-area sphere of the model
        y = ((V @ V[seeds].T).max(axis=1) > cos_radius).astype(np.int64)
        out.append((batch, torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)))
    return out


def _step_for(items):
    def step(net, idx, epoch):
        losses, accs = [], []
        for i in idx:
            batch, x, y = items[i]
            logits = net(batch, x)
            losses.append(torch.nn.functional.cross_entropy(logits, y))
            accs.append(float((logits.argmax(-1) == y).float().mean()))
        return torch.stack(losses).mean(), {"accuracy": float(np.mean(accs))}
    return step


def _accuracy(net, items) -> float:
    net.eval()
    with torch.no_grad():
        return float(np.mean([float((net(b, x).argmax(-1) == y).float().mean()) for b, x, y in items]))


class _MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.f = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32),
                                     torch.nn.ReLU(), torch.nn.Linear(32, 2))

    def forward(self, batch, x):
        return self.f(x)


def test_mesh_model_learns_what_a_per_vertex_mlp_cannot(tmp_path):
    train, test = _impulse_set(8, seed=0), _impulse_set(4, seed=1)
    majority = float(np.mean([max(y.float().mean(), 1 - y.float().mean()) for _, _, y in test]))
    cfg = TrainConfig(epochs=30, lr=1e-2, patience=None, seed=0)
    torch.manual_seed(0)
    net = SegmentationNet(1, 2, family="diffusion", width=16, n_blocks=2)
    fit(net, len(train), _step_for(train), config=cfg, out_dir=tmp_path / "mesh")
    torch.manual_seed(0)
    mlp = _MLP()
    fit(mlp, len(train), _step_for(train), config=cfg, out_dir=tmp_path / "mlp")
    acc_mesh, acc_mlp = _accuracy(net, test), _accuracy(mlp, test)
    # the MLP can at best say "impulse -> 1, else the majority class"
    assert acc_mlp <= majority + 0.02
    assert acc_mesh >= 0.9
    assert acc_mesh >= acc_mlp + 0.15


def _small_run(out, *, epochs=4, progress=None, resume=False, seed=0, evaluate=True, patience=None,
               run_config=None, dropout=0.1):
    items = _impulse_set(4, seed=3)
    torch.manual_seed(123)
    net = SegmentationNet(1, 2, family="diffusion", width=8, n_blocks=1, dropout=dropout)
    saved = []

    def save_best(model, path):
        saved.append(int(len(saved)))
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, path)

    ev = (lambda m: {"accuracy": _accuracy(m, items[:2])}) if evaluate else None
    res = fit(net, 3, _step_for(items), config=TrainConfig(epochs=epochs, lr=5e-3, batch_size=2, seed=seed,
                                                           patience=patience),
              out_dir=out, evaluate=ev, save_best=save_best, progress=progress, resume=resume,
              run_config=run_config or {"what": "test"})
    return net, res


def _rows_without_time(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads(path.read_text())]


def test_metrics_files_and_deterministic_repeat(tmp_path):
    net1, r1 = _small_run(tmp_path / "a")
    net2, r2 = _small_run(tmp_path / "b")
    for a, b in zip(net1.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    assert _rows_without_time(tmp_path / "a" / "metrics.json") == _rows_without_time(tmp_path / "b" / "metrics.json")
    header = (tmp_path / "a" / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,train_accuracy,val_accuracy,lr,seconds"
    assert len((tmp_path / "a" / "metrics.csv").read_text().splitlines()) == 1 + 4
    assert r1.epochs_run == 4 and (tmp_path / "a" / "model.pt").is_file()
    # another seed: another item order, other numbers
    _, r3 = _small_run(tmp_path / "c", seed=1)
    assert [r["train_loss"] for r in r3.history] != [r["train_loss"] for r in r1.history]


def test_epoch_order_is_a_function_of_seed_and_epoch():
    assert np.array_equal(epoch_order(10, 0, 3), epoch_order(10, 0, 3))
    assert sorted(epoch_order(10, 0, 3).tolist()) == list(range(10))
    assert not np.array_equal(epoch_order(10, 0, 3), epoch_order(10, 0, 4))


class _Kill(Exception):
    pass


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    full, r_full = _small_run(tmp_path / "full", epochs=6)

    def killer(ev):
        if ev["kind"] == "epoch" and ev["epoch"] == 3:
            raise _Kill()

    with pytest.raises(_Kill):
        _small_run(tmp_path / "cut", epochs=6, progress=killer)
    state = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert state["epoch"] == 3
    assert not [p for p in (tmp_path / "cut").iterdir() if p.name.endswith(".tmp")]
    resumed, r_res = _small_run(tmp_path / "cut", epochs=6, resume=True)
    assert r_res.resumed_from == 3 and r_res.epochs_run == 6
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert _rows_without_time(tmp_path / "full" / "metrics.json") == _rows_without_time(tmp_path / "cut" / "metrics.json")
    assert r_res.best_epoch == r_full.best_epoch and r_res.best_score == r_full.best_score
    # a finished run resumes to itself at once
    _, again = _small_run(tmp_path / "cut", epochs=6, resume=True)
    assert again.epochs_run == 6 and again.resumed_from == 6


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A crash while the checkpoint of epoch 2 is written leaves epoch 1's checkpoint intact."""
    real = T._save_checkpoint
    calls = []

    def failing(path, state):
        calls.append(state["epoch"])
        if state["epoch"] == 2:
            def boom(fh):
                fh.write(b"partial")
                raise OSError("disk full")
            T.atomic_write(path, boom)
        real(path, state)

    monkeypatch.setattr(T, "_save_checkpoint", failing)
    with pytest.raises(OSError):
        _small_run(tmp_path / "r", epochs=4)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["epoch"] == 1
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]


def test_resume_refuses_another_configuration_and_missing_checkpoint(tmp_path):
    _small_run(tmp_path / "r", epochs=2)
    with pytest.raises(MeshError, match="configuration of the interrupted run"):
        _small_run(tmp_path / "r", epochs=2, resume=True, run_config={"what": "other"})
    with pytest.raises(MeshError, match="expected a training checkpoint"):
        _small_run(tmp_path / "none", epochs=2, resume=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(MeshError, match="expected a training checkpoint"):
        _small_run(tmp_path / "bad", epochs=2, resume=True)


def test_early_stopping_after_patience(tmp_path):
    items = _impulse_set(2, seed=4)
    net = SegmentationNet(1, 2, family="diffusion", width=8, n_blocks=1)
    res = fit(net, 2, _step_for(items), config=TrainConfig(epochs=50, patience=3),
              out_dir=tmp_path, evaluate=lambda m: {"accuracy": 0.5})
    # epoch 1 sets the best; 3 epochs without improvement stop the run
    assert res.stopped_early and res.epochs_run == 4 and res.best_epoch == 1
    with pytest.raises(MeshError, match="'accuracy' metric"):
        fit(net, 2, _step_for(items), config=TrainConfig(epochs=2), out_dir=tmp_path / "x",
            evaluate=lambda m: {"iou": 0.5})


@pytest.mark.parametrize("field,value", [("epochs", 0), ("lr", -1.0), ("batch_size", 0), ("schedule", "step"),
                                         ("patience", 0), ("seed", 1.5)])
def test_bad_train_config_is_one_line_error(field, value):
    cfg = TrainConfig(**{field: value})
    with pytest.raises(MeshError, match=f"TrainConfig.{field}: expected"):
        cfg.check()


def test_non_finite_loss_is_reported(tmp_path):
    net = torch.nn.Linear(1, 1)

    def step(model, idx, epoch):
        return model(torch.tensor([[float("nan")]])).sum(), {}

    with pytest.raises(MeshError, match="finite training loss"):
        fit(net, 1, step, config=TrainConfig(epochs=1), out_dir=tmp_path)
