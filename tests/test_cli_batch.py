"""``manifold-nets batch``: a mixed folder end to end (1 worker, 2 workers, Dask LocalCluster),
a run killed half way and resumed, corrupted outputs redone, Ctrl-C, usage errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from manifold_nets import shapes, write_mesh
from manifold_nets.batch import collect_inputs, make_task, map_meshes, read_manifest
from manifold_nets_apps.cli import SUBCOMMANDS, main
from tests.conftest import REPO, data_path

# small files of every kind: clean, dirty (degenerate faces, non-manifold), io edge cases
MIXED = {
    "clean": ["bumpy.off", "decimated-knight.off", "teddy.obj"],
    "dirty": ["suzanne.obj", "shark.ply"],
    "io": ["Cube.off", "invalid.off", "issue623.ply", "box_UTF16BE.obj", "float-color.ply",
           "concave_polygon.obj", "number_formats.obj"],
}
BAD = {"io/invalid.off", "io/issue623.ply", "io/number_formats.obj"}


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _mixed(tmp_path):
    src = tmp_path / "in"
    for folder, names in MIXED.items():
        (src / folder).mkdir(parents=True)
        for n in names:
            shutil.copy(data_path("meshes", folder, n), src / folder / n)
    return src


def _contents(folder):
    """Every output's content: arrays of .npz files, parsed JSON, raw bytes otherwise."""
    out = {}
    for f in sorted(folder.rglob("*")):
        if not f.is_file() or f.name == "manifest.jsonl":
            continue
        rel = f.relative_to(folder).as_posix()
        if f.suffix == ".npz":
            with np.load(f) as z:
                out[rel] = {k: z[k] for k in z.files if k != "__meta__"}
        elif f.suffix == ".json":
            out[rel] = json.loads(f.read_text())
        else:
            out[rel] = f.read_bytes()
    return out


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for rel in a:
        if isinstance(a[rel], dict) and rel.endswith(".npz"):
            assert sorted(a[rel]) == sorted(b[rel]), rel
            for k in a[rel]:
                np.testing.assert_allclose(a[rel][k], b[rel][k], rtol=1e-9, atol=1e-10, err_msg=f"{rel}:{k}")
        else:
            assert a[rel] == b[rel], rel


def test_registered(capsys):
    assert "batch_cmd" in SUBCOMMANDS
    assert main(["batch", "--help"]) == 0
    text = capsys.readouterr().out
    assert "usage: manifold-nets batch" in text
    for opt in ("--do", "--workers", "--scheduler", "--dask", "--resume", "--include", "--exclude", "--json"):
        assert opt in text


def test_mixed_folder_1_and_2_workers_and_dask(tmp_path, capsys):
    src = _mixed(tmp_path)
    runs = {}
    for name, extra in (("w1", ["--workers", "1"]), ("w2", ["--workers", "2"]),
                        ("dask", ["--dask", "local", "--workers", "2"])):
        out = tmp_path / name
        rc = main(["batch", str(src), "-o", str(out), "--do", "info,operators", "--k", "8", "--json", *extra])
        assert rc == 1  # three unreadable files
        doc = json.loads(capsys.readouterr().out)
        assert doc["summary"]["files"] == 12 and doc["summary"]["failed"] == 6 and doc["summary"]["ok"] == 18
        failed = {rec["rel"] for rec in doc["records"] if rec["status"] == "failed"}
        assert failed == BAD
        assert all(rec["error"] == "MeshParseError" for rec in doc["records"] if rec["status"] == "failed")
        good = [f"{d}/{n}" for d, names in MIXED.items() for n in names if f"{d}/{n}" not in BAD]
        for rel in good:  # an output for every good file, mirroring the input tree
            assert (out / f"{rel}.info.json").is_file() and (out / f"{rel}.operators.npz").is_file()
        recs = read_manifest(out / "manifest.jsonl")
        assert len(recs) == 24 and len({r["key"] for r in recs}) == 24
        runs[name] = _contents(out)
    assert "Dask LocalCluster" in doc["summary"]["executor"]
    _assert_same(runs["w1"], runs["w2"])
    _assert_same(runs["w1"], runs["dask"])


def _many(tmp_path, n=10):
    src = tmp_path / "in"
    for i in range(n):
        V, F = shapes.torus(12 + 2 * i, 8)
        write_mesh(src / ("a" if i % 2 else "b") / f"t{i:02d}.ply", V, F)
    return src


@pytest.fixture
def slow_task():
    """The test-only ``slow`` task (0.2 s per file, then ``operators``) in this process's registry."""
    from manifold_nets.batch.tasks import TASKS
    from tests.batch.crash_tasks import register_slow

    register_slow()
    yield
    del TASKS["slow"]


def _start_slow(argv):
    """The command line, with ``slow`` registered, in a subprocess of its own.

    Its SIGINT is reset to the default first: a test run started in the background of a
    non-interactive shell (``pytest ... &``) ignores SIGINT, the child would inherit that, Python
    would then install no KeyboardInterrupt handler, and the Ctrl-C test would see a finished run."""
    from tests.batch.crash_tasks import SLOW_CLI

    return subprocess.Popen([sys.executable, "-c", SLOW_CLI, *map(str, argv)], cwd=REPO, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_lines(path, n, proc, limit=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def test_killed_run_resumes_to_the_same_result(tmp_path, capsys, slow_task):
    src = _many(tmp_path)
    clean, out = tmp_path / "clean", tmp_path / "out"
    pairs, _ = collect_inputs([str(src)])  # the reference, without the pauses
    assert map_meshes([make_task("info"), make_task("slow", delay=0.0)], pairs, clean, workers=1).ok
    argv = ["batch", str(src), "-o", str(out), "--do", "info,slow", "--workers", "1", "--quiet"]
    proc = _start_slow(argv)  # 10 files of at least 0.2 s each, killed after 2
    try:
        reached = _wait_for_lines(out / "manifest.jsonl", 4, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    assert reached, "the run finished before it could be killed"
    recs = read_manifest(out / "manifest.jsonl")
    keys = {r["key"] for r in recs}
    done = sorted({r["rel"] for r in recs if {f"info:{r['rel']}", f"slow:{r['rel']}"} <= keys})
    assert 2 <= len(done) < 10, done
    # damage two finished outputs: a truncated file and a same-size file with other content
    trunc = out / f"{done[0]}.operators.npz"
    trunc.write_bytes(trunc.read_bytes()[:100])
    stale = out / f"{done[1]}.info.json"
    stale.write_text(stale.read_text().replace('"closed": true', '"closed": fals'))
    capsys.readouterr()
    assert main([*argv, "--resume", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    status = {(x["task"], x["rel"]): x["status"] for x in doc["records"]}
    assert status[("slow", done[0])] == "ok" and status[("info", done[1])] == "ok"  # redone
    assert status[("info", done[0])] == "skipped" and status[("slow", done[1])] == "skipped"
    assert doc["summary"]["skipped"] == len(recs) - 2
    _assert_same(_contents(clean), _contents(out))
    recs = read_manifest(out / "manifest.jsonl")
    keys = [x["key"] for x in recs]
    assert len(keys) == 20 and len(set(keys)) == 20  # the final view, no duplicates
    assert not list(out.rglob(".*.tmp"))  # no temporary file left
    assert main([*argv, "--resume", "--json"]) == 0  # nothing left to do
    assert json.loads(capsys.readouterr().out)["summary"]["skipped"] == 20


def test_ctrl_c_exits_130_and_resume_finishes(tmp_path, capsys, slow_task):
    src = _many(tmp_path, 8)
    out = tmp_path / "out"
    argv = ["batch", str(src), "-o", str(out), "--do", "slow", "--workers", "1", "--quiet"]
    proc = _start_slow(argv)
    reached = _wait_for_lines(out / "manifest.jsonl", 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert reached and proc.returncode == 130 and "interrupted" in err and "with --resume to do the rest" in err
    assert "Traceback" not in err
    n = len(read_manifest(out / "manifest.jsonl"))
    assert 2 <= n < 8
    assert main([*argv[:6], "--workers", "2", "--resume", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"({n} results kept from the earlier run)" in text and "8 files: 8 done, 0 failed" in text


def test_usage_errors_and_collisions(tmp_path, capsys):
    V, F = shapes.icosphere(1)
    write_mesh(tmp_path / "in" / "a.obj", V, F)
    write_mesh(tmp_path / "in" / "a.off", V, F)
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", "convert", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "expected one input per output file (got a.obj (convert) and a.off (convert)" in err
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", "nope"]) == 2
    assert "--do: expected tasks from info, operators" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", "info", "--memory-limit", "lots"]) == 2
    capsys.readouterr()
    rc = main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", "segment"])
    err = capsys.readouterr().err
    assert (rc == 2 and "segment: expected a model (--model" in err) or (rc == 3 and "torch" in err)
    capsys.readouterr()
    (tmp_path / "empty").mkdir()
    assert main(["batch", str(tmp_path / "empty"), "-o", str(out), "--do", "info"]) == 1
    assert "expected mesh files or folders with mesh files (got none" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["batch", str(tmp_path / "in"), "-o", str(tmp_path / "file"), "--do", "info"]) == 4
    rc = main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", "info,convert", "--to", "ply",
               "--exclude", "*.off", "--workers", "1", "--memory-limit", "2GiB", "--timeout", "120"])
    text, err = capsys.readouterr()
    assert rc == 0 and "1 files: 1 done, 0 failed" in text and "1 files left out by --include/--exclude" in text
    assert "batch: 100%" in err and "1/1" in err  # the progress bar, on stderr
    assert (out / "a.ply").is_file() and (out / "a.obj.info.json").is_file()
    # a second run into the same folder must say what it wants
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", "info", "--exclude", "*.off"]) == 2
    assert "pass --resume to finish it or --overwrite" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", "info", "--exclude", "*.off",
                 "--overwrite", "--workers", "1", "--quiet"]) == 0


@pytest.mark.parametrize("task,extra,outputs", [
    ("descriptors", ["--k", "12", "--n-times", "3"], [".descriptors.npz"]),
    ("geodesics", ["--sources", "0,5", "--method", "graph"], [".geodesics.npz"]),
    ("repair", ["--steps", "drop-unreferenced,orient"], [".repaired.ply", ".repaired.ply.maps.npz"]),
])
def test_other_tasks(tmp_path, capsys, task, extra, outputs):
    V, F = shapes.icosphere(1)
    write_mesh(tmp_path / "in" / "s.off", V, F)
    out = tmp_path / "out"
    rc = main(["batch", str(tmp_path / "in"), "-o", str(out), "--do", task, *extra, "--workers", "1", "--quiet"])
    assert rc == 0, capsys.readouterr()
    for suffix in outputs:
        assert (out / f"s.off{suffix}").is_file()


def test_output_folder_inside_the_input_folder(tmp_path, capsys):
    write_mesh(tmp_path / "a.off", *shapes.icosphere(1))
    args = ["batch", str(tmp_path), "-o", str(tmp_path / "out"), "--do", "convert", "--to", "ply", "--workers", "1",
            "--quiet"]
    assert main(args) == 0 and (tmp_path / "out" / "a.ply").is_file()
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0  # out/a.ply is not taken as an input
    text = capsys.readouterr().out
    assert "1 files: 1 done, 0 failed (1 results kept" in text and "1 files inside the output folder left out" in text
