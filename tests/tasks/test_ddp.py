"""Data-parallel training on 2 CPU processes (gloo) equals one process on the same global batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")


def _data():
    from manifold_nets.data.synthetic import make_segmentation_set

    return make_segmentation_set(4, resolution=(300, 400), seed=5)


def _config():
    from manifold_nets.tasks.segmentation import SegmentationConfig

    # xyz inputs with random rotations: the augmentation must not depend on the process either
    return SegmentationConfig(width=16, n_blocks=1, k=32, epochs=2, batch_size=2, max_vertices=None,
                              cache_dir="", lr=5e-3, features="xyz", rotation_augment="so3",
                              dropout=0.0)  # dropout masks differ between processes


def _worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    from manifold_nets.tasks import distributed as D
    from manifold_nets.tasks.segmentation import train_segmentation

    ctx = D.init_process_group(rank, world, device="cpu", init_method=f"file://{init_file}")
    try:
        train_segmentation(_data(), None, _config(), out, dist_ctx=ctx)
    finally:
        D.cleanup(ctx)


def _weights(path):
    from manifold_nets.nn import load

    return load(path).state_dict()


def test_two_cpu_processes_equal_one_process(tmp_path):
    import torch.multiprocessing as mp

    from manifold_nets.tasks.segmentation import train_segmentation

    single = train_segmentation(_data(), None, _config(), tmp_path / "single")
    mp.spawn(_worker, args=(2, str(tmp_path / "pg_init"), str(tmp_path / "ddp")), nprocs=2, join=True)
    a, b = _weights(tmp_path / "single" / "model.pt"), _weights(tmp_path / "ddp" / "model.pt")
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-4)  # Adam magnifies float rounding of tiny gradients
    ddp_rows = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert [r["epoch"] for r in ddp_rows] == [1, 2]
    for r1, r2 in zip(single.history, ddp_rows):
        assert r2["train_loss"] == pytest.approx(r1["train_loss"], rel=1e-4)
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["world_size"] == 2


def test_global_batch_smaller_than_the_process_count_is_refused(tmp_path):
    from manifold_nets.errors import MeshError
    from manifold_nets.tasks.distributed import DistContext
    from manifold_nets.tasks.training import TrainConfig, fit

    ctx = DistContext(rank=0, world_size=2, local_rank=0, backend="gloo", device="cpu")
    with pytest.raises(MeshError, match="batch_size: expected .* >= 2 .*got 1"):
        fit(torch.nn.Linear(1, 1), 4, lambda m, i, e: (m.weight.sum(), {}), config=TrainConfig(epochs=1),
            out_dir=tmp_path, dist_ctx=ctx)


@pytest.mark.slow
def test_torchrun_cli(tmp_path):
    """``torchrun --nproc_per_node 2 -m manifold_nets_apps.cli segment train`` end to end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "manifold_nets_apps.cli", "segment", "train", "--data", "synthetic", "--n-meshes", "5",
           "--out", str(tmp_path / "run"), "--epochs", "2", "--width", "16", "--n-blocks", "1",
           "--batch-size", "2", "--quiet", "--cache-dir", str(tmp_path / "cache")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    # the ranks' own messages come before the launcher's summary: keep both in a failure report
    causes = [ln for ln in r.stderr.splitlines()
              if any(w in ln for w in ("terminate called", "what():", "Error", "error:", "Abort"))]
    assert r.returncode == 0, "\n".join(causes[:40]) + "\n...\n" + r.stderr[-2000:]
    assert (tmp_path / "run" / "model.pt").is_file()
    assert r.stdout.count("epochs (best epoch") == 1  # rank 0 only
