"""Executors: worker death, timeouts, memory limits and BLAS threads (local pool); a real Dask
LocalCluster gives the same outputs as the local pool."""

from __future__ import annotations

import json

import numpy as np
import pytest

from manifold_nets import shapes, write_mesh
from manifold_nets.batch import LocalExecutor, make_task, map_meshes, read_manifest
from manifold_nets.batch.executors import DaskExecutor, SchedulerError, available_cores, blas_env

from .crash_tasks import crash_task, env_task


def _folder(path, names, mesh=None):
    V, F = mesh if mesh is not None else shapes.icosphere(1)
    path.mkdir(parents=True, exist_ok=True)
    for n in names:
        write_mesh(path / n, V, F)
    return sorted(path.iterdir())


def test_a_dead_worker_fails_only_its_file(tmp_path):
    paths = _folder(tmp_path / "in", ["a.off", "crash.off", "b.off", "exit.off", "c.off", "d.off"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "crash.off.info.json").write_text("{}")  # from an earlier run: not valid now
    (tmp_path / "out" / ".crash.off.info.json.x1.tmp").write_text("{")  # as a killed write leaves it
    rep = map_meshes(crash_task(), paths, tmp_path / "out", workers=2)
    status = {r["rel"]: (r["status"], r.get("message")) for r in rep.records}
    assert status["crash.off"] == ("failed", "worker process died (killed by SIGKILL)")
    assert status["exit.off"] == ("failed", "worker process died (exit code 1)")
    assert all(status[n][0] == "ok" for n in ("a.off", "b.off", "c.off", "d.off"))
    assert rep.n_ok == 4 and rep.n_failed == 2 and not rep.ok
    for n in ("a", "b", "c", "d"):
        assert json.loads((tmp_path / "out" / f"{n}.off.info.json").read_text())["report"]["n_vertices"] == 42
    recs = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len(recs) == 6 and {r["error"] for r in recs if r["status"] == "failed"} == {"WorkerDied"}
    assert not (tmp_path / "out" / "crash.off.info.json").exists() and not list((tmp_path / "out").glob(".*.tmp"))


def test_timeout_and_memory_limit(tmp_path):
    paths = _folder(tmp_path / "in", ["a.off", "hang.off", "hog.off"])
    rep = map_meshes(crash_task(gigabytes=3.0), paths, tmp_path / "out", workers=2, timeout=3,
                     memory_limit=1_500_000_000)
    status = {r["rel"]: (r["status"], r.get("error"), r.get("message")) for r in rep.records}
    assert status["a.off"][0] == "ok"
    assert status["hang.off"] == ("failed", "WorkerDied", "timed out after 3 s (worker killed)")
    assert status["hog.off"] == ("failed", "MemoryError", "not enough memory (MemoryError)")
    assert rep.seconds < 30


def test_blas_threads_per_worker(tmp_path):
    paths = _folder(tmp_path / "in", ["a.off", "b.off"])
    rep = map_meshes(env_task(), paths, tmp_path / "out", workers=2, threads_per_worker=1)
    assert [r["result"] for r in rep.records] == [blas_env(1)] * 2
    ex = LocalExecutor(workers=1)
    assert ex.threads_per_worker == available_cores() and "1 local worker" in ex.describe()
    assert LocalExecutor(workers=2 * available_cores()).threads_per_worker == 1


def test_progress_callback_and_report(tmp_path):
    paths = _folder(tmp_path / "in", ["a.off", "b.off", "c.off"])
    calls = []
    rep = map_meshes(["info"], paths, tmp_path / "out", workers=1, progress=lambda d, t, r: calls.append((d, t, len(r))))
    assert calls == [(0, 3, 0), (1, 3, 1), (2, 3, 1), (3, 3, 1)]
    d = rep.to_dict()
    assert d["summary"]["files"] == 3 and d["summary"]["ok"] == 3 and d["tasks"]["info"]["ok"] == 3
    assert rep.files_per_second > 0 and [r["rel"] for r in rep.records] == ["a.off", "b.off", "c.off"]


def _arrays(folder):
    out = {}
    for f in sorted(folder.rglob("*.npz")):
        with np.load(f) as z:
            out[f.relative_to(folder).as_posix()] = {k: z[k] for k in z.files if k != "__meta__"}
    return out


@pytest.mark.slow  # the default suite runs a LocalCluster in tests/test_cli_batch.py (mixed folder)
def test_dask_local_cluster_matches_the_local_pool(tmp_path):
    pytest.importorskip("distributed")
    src = tmp_path / "in"
    _folder(src / "tori", ["t1.ply", "t2.obj"], shapes.torus(12, 8))
    _folder(src, ["s.off"], shapes.icosphere(2))
    (src / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n")
    paths = sorted(p for p in src.rglob("*") if p.is_file())
    tasks = [make_task("info"), make_task("operators", k=10)]
    local = map_meshes(tasks, paths, tmp_path / "local", workers=2)
    dask = map_meshes(tasks, paths, tmp_path / "dask", executor="dask", workers=2)
    assert "LocalCluster of 2" in dask.executor
    for rep in (local, dask):
        assert rep.n_ok == 6 and rep.n_failed == 2
        assert {r["error"] for r in rep.failed} == {"MeshParseError"}
    a, b = _arrays(tmp_path / "local"), _arrays(tmp_path / "dask")
    assert sorted(a) == ["s.off.operators.npz", "tori/t1.ply.operators.npz", "tori/t2.obj.operators.npz"]
    assert sorted(a) == sorted(b)
    for f in a:
        for k in a[f]:
            np.testing.assert_allclose(a[f][k], b[f][k], rtol=1e-9, atol=1e-10, err_msg=f"{f}:{k}")
    for f in ("s.off.info.json", "tori/t1.ply.info.json"):
        ja = json.loads((tmp_path / "local" / f).read_text())
        jb = json.loads((tmp_path / "dask" / f).read_text())
        assert ja == jb
    workers = {r["worker"] for r in dask.records}
    assert len(workers) >= 1 and all(":" in w for w in workers)


@pytest.mark.slow
def test_a_dead_dask_worker_fails_only_its_file(tmp_path):
    pytest.importorskip("distributed")
    paths = _folder(tmp_path / "in", ["a.off", "crash.off", "b.off"])
    rep = map_meshes(crash_task(), paths, tmp_path / "out", executor="dask", workers=2)
    status = {r["rel"]: (r["status"], r.get("message")) for r in rep.records}
    assert status["crash.off"] == ("failed", "worker process died (Dask KilledWorker: every worker that ran it died)")
    assert status["a.off"][0] == status["b.off"][0] == "ok"


def test_jobs_beside_a_crashing_one_on_a_dask_worker_still_finish(tmp_path):
    """One worker with three threads: a.off and b.off run on the worker that crash.off kills, twice
    (so Dask gives all three up); run again one at a time, only crash.off fails."""
    pytest.importorskip("distributed")
    paths = _folder(tmp_path / "in", ["a.off", "crash.off", "b.off"])
    rep = map_meshes(crash_task(pause=2.0), paths, tmp_path / "out", executor="dask", workers=1,
                     threads_per_worker=3)
    status = {r["rel"]: r["status"] for r in rep.records}
    assert status == {"a.off": "ok", "b.off": "ok", "crash.off": "failed"}
    assert (tmp_path / "out" / "a.off.info.json").exists() and (tmp_path / "out" / "b.off.info.json").exists()


def test_an_unreachable_scheduler_is_a_typed_error(tmp_path):
    pytest.importorskip("distributed")
    paths = _folder(tmp_path / "in", ["a.off"])
    ex = DaskExecutor("tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(SchedulerError, match=r"--scheduler tcp://127.0.0.1:9: expected a reachable Dask scheduler"):
        map_meshes("info", paths, tmp_path / "out", executor=ex)


def test_dask_workers_keep_glibc_malloc_defaults_and_the_caller_environment(monkeypatch):
    # MALLOC_TRIM_THRESHOLD_ (Dask's default) made the same tasks take 45 % more CPU time
    pytest.importorskip("distributed")
    from .crash_tasks import worker_settings

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    before = dict(__import__("os").environ)
    out = list(DaskExecutor("local", workers=1).run(worker_settings, ["x"]))
    assert out == [("x", ("ok", {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1", "profile": False}))]
    assert dict(__import__("os").environ) == before  # the nanny's pre-spawn variables are not left behind
