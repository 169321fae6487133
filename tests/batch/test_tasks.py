"""Batch tasks run in-process (``run_job``): each output equals the library function's result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from manifold_nets import read_mesh, shapes, write_mesh
from manifold_nets.batch import (
    Job,
    OutputCollisionError,
    collect_inputs,
    make_task,
    plan_outputs,
    register_task,
    run_job,
)
from manifold_nets.batch.inputs import glob_root
from manifold_nets.batch.tasks import TASKS
from manifold_nets.errors import MeshError


def _job(src, tmp_path, *tasks, rel=None):
    out = tmp_path / "out"
    return Job(str(src), rel or src.name, str(out), tuple(tasks)), out


def test_info_and_operators_match_the_library(tmp_path):
    from manifold_nets.geometry import load_operators, operators
    from manifold_nets.topology import mesh_report

    V, F = shapes.torus(10, 6)
    src = tmp_path / "t.ply"
    write_mesh(src, V, F)
    job, out = _job(src, tmp_path, make_task("info"), make_task("operators", k=8))
    res = run_job(job)
    assert [r["status"] for r in res["records"]] == ["ok", "ok"]
    rep = json.loads((out / "t.ply.info.json").read_text())["report"]
    ref = mesh_report(V, F)
    assert rep["n_vertices"] == 60 and rep["genus"] == 1 and rep["euler_characteristic"] == 0
    assert {k: rep[k] for k in ref} == json.loads(json.dumps(ref))
    ops = load_operators(out / "t.ply.operators.npz")
    np.testing.assert_allclose(ops.evals, operators(V, F, k=8).evals, rtol=1e-10, atol=1e-12)
    r_ops = res["records"][1]
    assert r_ops["result"] == {"n_vertices": 60, "k": 8, "laplacian": "cotan", "from_cache": False}
    assert r_ops["outputs"][0]["path"] == "t.ply.operators.npz"
    assert r_ops["outputs"][0]["bytes"] == (out / "t.ply.operators.npz").stat().st_size


def test_descriptors(tmp_path):
    from manifold_nets.geometry import hks, operators, wks

    V, F = shapes.icosphere(2)
    src = tmp_path / "s.off"
    write_mesh(src, V, F)
    job, out = _job(src, tmp_path, make_task("descriptors", k=20, n_times=5, n_energies=4))
    assert run_job(job)["records"][0]["status"] == "ok"
    z = np.load(out / "s.off.descriptors.npz")
    ops = operators(read_mesh(src).V, read_mesh(src).F, k=20)
    np.testing.assert_allclose(z["hks"], hks(ops.evals, ops.evecs, times=z["hks_times"], mass=ops.mass), rtol=1e-8)
    W = wks(ops.evals, ops.evecs, energies=z["wks_energies"], sigma=float(z["wks_sigma"]), mass=ops.mass)
    np.testing.assert_allclose(z["wks"], W, rtol=1e-8, atol=1e-12)
    assert z["hks"].shape == (162, 5) and z["wks"].shape == (162, 4)
    # a sphere is homogeneous: the normalised HKS is 1 everywhere (up to the mesh's irregularity)
    assert np.abs(z["hks"] - 1).max() < 0.05


def test_geodesics_on_a_grid(tmp_path):
    V, F = shapes.grid(5)  # unit square, 5 x 5 vertices
    src = tmp_path / "g.obj"
    write_mesh(src, V, F)
    job, out = _job(src, tmp_path, make_task("geodesics", sources=[0, 24], method="graph"))
    rec = run_job(job)["records"][0]
    assert rec["status"] == "ok", rec
    z = np.load(out / "g.obj.geodesics.npz")
    assert z["sources"].tolist() == [0, 24] and z["distance"].shape == (2, 25)
    assert z["distance"][0, 0] == 0 and z["distance"][1, 24] == 0
    # along edges from one corner to the opposite one: 4 steps of 1/4 one way, 4 the other way
    # (or diagonals of the triangulation, sqrt(2)/4 each)
    assert z["distance"][0, 24] == pytest.approx(z["distance"][1, 0])
    assert np.sqrt(2) - 1e-9 <= z["distance"][0, 24] <= 2 + 1e-9
    bad, _ = _job(src, tmp_path, make_task("geodesics", sources=[99]))
    rec = run_job(bad)["records"][0]
    assert rec["status"] == "failed" and "expected source vertices in [0, 25) (got 99)" in rec["message"]
    assert not (out / "g.obj.geodesics.npz").exists()  # the earlier output is not left as if valid


def test_repair_and_convert(tmp_path):
    V, F = shapes.icosphere(1)
    V2 = np.vstack([V, [[5.0, 5, 5]]])  # an unreferenced vertex
    src = tmp_path / "dup.obj.gz"
    write_mesh(tmp_path / "dup.obj", V2, F)
    import gzip

    src.write_bytes(gzip.compress((tmp_path / "dup.obj").read_bytes()))
    job, out = _job(src, tmp_path, make_task("repair"), make_task("convert", to="off"))
    recs = run_job(job)["records"]
    assert [r["status"] for r in recs] == ["ok", "ok"], recs
    rep = read_mesh(out / "dup.obj.gz.repaired.ply")
    assert rep.n_vertices == 42 and rep.n_faces == 80
    maps = np.load(out / "dup.obj.gz.repaired.ply.maps.npz")
    assert maps["vertex_map"][-1] == -1 and maps["vertex_map"][:42].tolist() == list(range(42))
    assert recs[0]["result"]["n_vertices_in"] == 43
    conv = read_mesh(out / "dup.off")  # .gz and the old extension dropped
    np.testing.assert_array_equal(conv.F, F)
    np.testing.assert_allclose(conv.V, V2, atol=1e-12)


def test_convert_of_data_the_format_cannot_hold(tmp_path):
    V, F = shapes.icosphere(1)
    src = tmp_path / "q.ply"
    write_mesh(src, V, F, vertex_data={"label": np.arange(len(V))})
    job, out = _job(src, tmp_path, make_task("convert", to="obj"))
    rec = run_job(job)["records"][0]
    assert rec["status"] == "failed" and rec["error"] == "UnsupportedDataError"
    assert "--drop-data" in rec["message"] and not (out / "q.obj").exists()
    job, out = _job(src, tmp_path, make_task("convert", to="obj", drop_data=True))
    rec = run_job(job)["records"][0]
    assert rec["status"] == "ok" and rec["result"]["dropped"] == ["vertex_data['label']"]


@pytest.mark.parametrize("to", ["obj", "off", "ply"])
def test_convert_of_a_polygon_mesh(tmp_path, to):
    """Quads are triangulated on reading; the triangulation's own face_data['polygon'] is left out
    (and listed) where the format cannot hold it, while the file's data still needs drop_data."""
    src = tmp_path / "q.obj"
    src.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nv 2 1 0\nf 1 2 3 4\nf 2 5 6 3\n")
    job, out = _job(src, tmp_path, make_task("convert", to=to))
    rec = run_job(job)["records"][0]
    assert rec["status"] == "ok", rec
    conv = read_mesh(out / f"q.{to}")
    assert conv.n_faces == 4
    if to == "ply":
        assert rec["result"]["dropped"] == [] and conv.face_data["polygon"].tolist() == [0, 0, 1, 1]
    else:
        assert rec["result"]["dropped"] == ["face_data['polygon'] (added by triangulation)"]
    src.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1 4/1\n")  # per-corner uv
    job, out = _job(src, tmp_path, make_task("convert", to=to))
    assert run_job(job)["records"][0]["status"] == ("failed" if to == "off" else "ok")


def test_a_bad_file_fails_every_task_with_a_typed_error(tmp_path):
    src = tmp_path / "broken.off"
    src.write_text("OFF\n3 1 0\n0 0 0\n")
    job, out = _job(src, tmp_path, make_task("info"), make_task("operators"))
    res = run_job(job)
    assert [r["status"] for r in res["records"]] == ["failed", "failed"]
    assert {r["error"] for r in res["records"]} == {"MeshParseError"}
    assert "traceback" not in res["records"][0] and res["input_sha256"] is not None
    missing, _ = _job(tmp_path / "nope.off", tmp_path, make_task("info"))
    res = run_job(missing)
    assert res["input_sha256"] is None and res["records"][0]["error"] == "MeshFileNotFoundError"


def test_make_task_checks_names_and_parameters():
    with pytest.raises(MeshError, match="expected one of info, operators"):
        make_task("nope")
    with pytest.raises(MeshError, match="expected parameters from k, laplacian, cache_dir .got kk."):
        make_task("operators", kk=3)
    with pytest.raises(MeshError, match="expected --to ply, obj or off"):
        make_task("convert", to="stl")
    with pytest.raises(MeshError, match="expected steps from"):
        make_task("repair", steps=["nope"])
    with pytest.raises(MeshError, match="non-negative vertex indices"):
        make_task("geodesics", sources=[-1])
    a, b = make_task("operators", k=8), make_task("operators", k=16)
    assert a.fingerprint != b.fingerprint and a.fingerprint == make_task("operators", k=8).fingerprint
    assert make_task("operators", k=8, cache_dir="/tmp/c").fingerprint == a.fingerprint


def test_output_plan_and_collisions(tmp_path):
    conv = make_task("convert", to="ply")
    pairs = [(tmp_path / "a.obj", "a.obj"), (tmp_path / "sub" / "a.obj", "sub/a.obj")]
    plan = plan_outputs([make_task("info"), conv], pairs, tmp_path / "out")
    assert sorted(plan) == ["a.obj.info.json", "a.ply", "sub/a.obj.info.json", "sub/a.ply"]
    assert plan["sub/a.ply"] == ("sub/a.obj", "convert")
    with pytest.raises(OutputCollisionError, match=r"expected one input per output file \(got a.obj \(convert\) and a.off"):
        plan_outputs([conv], [(tmp_path / "a.obj", "a.obj"), (tmp_path / "a.off", "a.off")], tmp_path / "out")
    (tmp_path / "m.ply").write_text("x")
    with pytest.raises(OutputCollisionError, match="not an input file"):  # convert in place
        plan_outputs([conv], [(tmp_path / "m.ply", "m.ply")], tmp_path)


def test_collect_inputs_names_and_filters(tmp_path):
    V, F = shapes.tetrahedron()
    for rel in ("a.off", "sub/b.obj", "sub/deep/c.ply", "sub/skip_me.off"):
        write_mesh(tmp_path / "in" / rel, V, F)
    (tmp_path / "in" / "notes.txt").write_text("x")
    pairs, skipped = collect_inputs([str(tmp_path / "in")])
    assert [r for _, r in pairs] == ["a.off", "sub/b.obj", "sub/deep/c.ply", "sub/skip_me.off"]
    assert any("1 files without a mesh extension" in s["reason"] for s in skipped)
    pairs, _ = collect_inputs([str(tmp_path / "in")], recursive=False)
    assert [r for _, r in pairs] == ["a.off"]
    pairs, skipped = collect_inputs([str(tmp_path / "in")], include=["*.obj", "sub/deep/*"], exclude=["skip*"])
    assert [r for _, r in pairs] == ["sub/b.obj", "sub/deep/c.ply"]
    assert skipped[-1]["reason"] == "2 files left out by --include/--exclude"
    pairs, _ = collect_inputs([str(tmp_path / "in" / "**" / "*.o*")])
    assert [r for _, r in pairs] == ["a.off", "sub/b.obj", "sub/skip_me.off"]
    pairs, _ = collect_inputs([str(tmp_path / "in" / "sub" / "b.obj"), str(tmp_path / "in" / "sub")])
    assert [r for _, r in pairs] == ["b.obj", "deep/c.ply", "skip_me.off"]  # b.obj once
    pairs, skipped = collect_inputs([str(tmp_path / "in")], exclude_dirs=[tmp_path / "in" / "sub"])
    assert [r for _, r in pairs] == ["a.off"] and skipped[-1]["reason"] == "3 files inside the output folder left out"
    assert glob_root("scans/2024/**/*.ply") == glob_root("scans/2024/*.ply")
    assert str(glob_root("scans/2024/**/*.ply")) == "scans/2024" and str(glob_root("*.ply")) == "."


def _count_faces(ctx, outputs, *, scale=1):
    outputs[0].parent.mkdir(parents=True, exist_ok=True)
    outputs[0].write_text(str(scale * ctx.mesh.n_faces))
    return {"n": scale * ctx.mesh.n_faces}


def test_register_task(tmp_path):
    register_task("count", _count_faces, (".count.txt",), {"scale": 1})
    try:
        t = make_task("count", scale=2)
        assert t.outputs(Path("sub/a.off")) == [Path("sub/a.off.count.txt")]
        write_mesh(tmp_path / "a.off", *shapes.tetrahedron())
        job, out = _job(tmp_path / "a.off", tmp_path, t)
        assert run_job(job)["records"][0]["result"] == {"n": 8}
        assert (out / "a.off.count.txt").read_text() == "8"
    finally:
        del TASKS["count"]
