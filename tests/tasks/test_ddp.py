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


def _collectives_worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    from manifold_nets.tasks import distributed as D

    ctx = D.init_process_group(rank, world, device="cpu", init_method=f"file://{init_file}")
    try:
        got = {"sum": D.all_reduce_sum([1.0 + rank, 10.0 * rank], ctx),
               "obj": D.broadcast_object({"rank": rank, "text": "é" * 300} if rank == 0 else None, ctx),
               "none": D.broadcast_object(None, ctx)}
        D.barrier(ctx)
    finally:
        D.cleanup(ctx)
    with open(f"{out}.{rank}.json", "w") as fh:
        json.dump(got, fh)


def test_all_reduce_sum_and_broadcast_object_over_two_processes(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_collectives_worker, args=(2, str(tmp_path / "pg_init"), str(tmp_path / "got")), nprocs=2,
             join=True)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"got.{rank}.json").read_text())
        assert got["sum"] == [3.0, 10.0]
        assert got["obj"] == {"rank": 0, "text": "é" * 300}  # rank 0's object on both
        assert got["none"] is None


def test_settle_waits_while_another_owner_holds_the_tensor():
    """``_settle`` returns once Python holds the last reference (here: an autograd graph is the
    other owner, standing in for a gloo worker thread) and gives up after its timeout."""
    import time

    from manifold_nets.tasks.distributed import DistContext, _settle

    gloo = DistContext(rank=0, world_size=2, local_rank=0, backend="gloo", device="cpu")
    t = torch.ones(3, requires_grad=True)
    y = t * t  # the graph saves t: a second owner
    assert t._use_count() > 1
    t0 = time.perf_counter()
    _settle(t, gloo, timeout=0.2)
    assert time.perf_counter() - t0 >= 0.2
    del y
    assert t._use_count() == 1
    t0 = time.perf_counter()
    _settle(t, gloo, timeout=5.0)
    assert time.perf_counter() - t0 < 1.0


_AT_EXIT_SCRIPT = """
import atexit, sys
import torch, torch.distributed as dist
from manifold_nets.tasks import distributed as D
# registered before the library's handler, so it runs after it
atexit.register(lambda: print("initialized at exit:", dist.is_initialized(), flush=True))
ctx = D.init_process_group(0, 1, init_method="file://" + sys.argv[1])
net = D.wrap_model(torch.nn.Linear(2, 1), ctx)
net(torch.ones(3, 2)).sum().backward()
print("sum", D.all_reduce_sum([2.0], ctx), flush=True)
"""


def test_a_process_that_never_calls_cleanup_leaves_the_group_at_exit(tmp_path):
    """``torchrun`` launches of the CLI never call ``cleanup``: the group is left by an atexit
    handler, before the interpreter's shutdown (where gloo's threads cannot take the GIL)."""
    r = subprocess.run([sys.executable, "-c", _AT_EXIT_SCRIPT, str(tmp_path / "pg_init")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "sum [2.0]" in r.stdout
    assert "initialized at exit: False" in r.stdout, r.stdout


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
