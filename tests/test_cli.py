"""The manifold-nets command: help on every level, info, repair, exit codes, no tracebacks."""

import json
import subprocess
import sys

import numpy as np
import pytest

from manifold_nets import read_mesh, shapes, write_mesh
from manifold_nets_apps.cli import SUBCOMMANDS, build_parser, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "manifold_nets_apps.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_help_on_every_level():
    r = run_cli("--help")
    assert r.returncode == 0 and "info" in r.stdout
    sub = build_parser()._subparsers._group_actions[0].choices
    assert len(sub) >= len(SUBCOMMANDS)
    for name in sub:
        r = run_cli(name, "--help")
        assert r.returncode == 0, name
        assert "usage: manifold-nets " + name in r.stdout


def test_info_text_and_summary(tmp_path, capsys):
    V, F = shapes.torus(8, 6)
    write_mesh(tmp_path / "t.ply", V, F)
    (tmp_path / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
    (tmp_path / "notes.txt").write_text("not a mesh")
    rc = main(["info", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1  # one file failed
    assert "vertices 48  faces 96  edges 144" in out and "genus 1" in out
    assert "broken.off" in out and "MeshParseError" in out
    assert "2 files: 1 read, 1 failed" in out  # notes.txt is not a mesh file and is skipped


def test_info_json(tmp_path, capsys):
    V, F = shapes.grid(4)
    write_mesh(tmp_path / "g.off", V, F)
    assert main(["info", "--json", str(tmp_path / "g.off")]) == 0
    doc = json.loads(capsys.readouterr().out)
    rep = doc["files"][0]["report"]
    assert rep["boundary_edges"] == 12 and rep["euler_characteristic"] == 1
    assert doc["summary"] == {"files": 1, "read": 1, "failed": 0, "skipped": 0}


def test_user_error_is_one_line_without_traceback(tmp_path):
    r = run_cli("info", tmp_path / "missing.obj")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr + r.stdout
    r = run_cli("repair", tmp_path / "missing.obj", tmp_path / "out.ply")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "expected an existing mesh file" in r.stderr
    r = run_cli("info")
    assert r.returncode == 2 and "usage" in r.stderr


def test_polygons_triangulated_for_info_unless_refused(tmp_path, capsys):
    (tmp_path / "q.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n")
    assert main(["info", str(tmp_path / "q.obj")]) == 0
    assert "(from 1 polygons)" in capsys.readouterr().out
    assert main(["info", "--no-triangulate", str(tmp_path / "q.obj")]) == 1


def test_repair_writes_mesh_and_maps(tmp_path):
    V, F = shapes.icosphere(1)
    soup = V[F].reshape(-1, 3)
    write_mesh(tmp_path / "soup.ply", soup, np.arange(len(soup)).reshape(-1, 3),
               vertex_data={"label": np.arange(len(soup))})
    r = run_cli("repair", tmp_path / "soup.ply", tmp_path / "fixed.ply", "--steps", "merge-vertices")
    assert r.returncode == 0, r.stderr
    m = read_mesh(tmp_path / "fixed.ply")
    maps = np.load(tmp_path / "fixed.ply.maps.npz")
    assert m.n_vertices == len(V)
    np.testing.assert_array_equal(m.V, soup[maps["vertex_source"]])
    np.testing.assert_array_equal(m.vertex_data["label"], maps["vertex_source"])
    r = run_cli("repair", tmp_path / "soup.ply", tmp_path / "x.ply", "--steps", "nonsense")
    assert r.returncode == 2 and "expected names from" in r.stderr  # a usage error


@pytest.mark.parametrize("ext", [".obj", ".off", ".ply"])
def test_repair_triangulates_polygons_into_any_format(tmp_path, capsys, ext):
    """A quad mesh triangulated into OBJ/OFF (which cannot hold face arrays): the triangles are
    written, and the polygon of each output triangle goes to the maps file, through the repairs
    (a degenerate quad's two triangles are dropped, so face_polygon skips its index)."""
    q = ("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nv 2 1 0\nv 3 0 0\n"
         "f 1 2 3 4\nf 2 5 6 3\nf 5 7 7 5\n")
    (tmp_path / "q.obj").write_text(q)
    out = tmp_path / f"t{ext}"
    assert main(["repair", str(tmp_path / "q.obj"), str(out), "--triangulate"]) == 0
    text = capsys.readouterr().out
    m = read_mesh(out)
    maps = np.load(str(out) + ".maps.npz")
    assert m.n_faces == 4 and maps["face_source"].tolist() == [0, 1, 2, 3]
    polygon = maps["face_polygon"] if ext != ".ply" else m.face_data["polygon"]
    assert polygon.tolist() == [0, 0, 1, 1]
    assert ("face_polygon" in maps.files) == (ext != ".ply")
    assert ("cannot hold it as face data" in text) == (ext != ".ply")


@pytest.mark.data
def test_info_on_whole_shared_folder_finishes_with_summary():
    from tests.conftest import data_path

    d = data_path("meshes", "io")
    r = run_cli("info", d)
    assert "files:" in r.stdout.splitlines()[-1]
    assert "Traceback" not in r.stdout + r.stderr


def test_info_qualifies_closed_and_reports_genus_with_boundary(tmp_path, capsys):
    """`f 1 2 2` was reported "closed yes" with genus 0; a grid had genus "-"."""
    (tmp_path / "c.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 2\n")
    assert main(["info", str(tmp_path / "c.obj")]) == 0
    out = capsys.readouterr().out
    assert "closed no (1 face repeats a vertex)" in out and "genus -" in out
    V, F = shapes.tetrahedron()
    V2 = np.vstack([V, V[:1]])  # a fifth vertex on top of vertex 0: a zero-area face
    write_mesh(tmp_path / "t.ply", V2, np.vstack([F, [[0, 1, 4]]]))
    V3, F3 = shapes.grid(4)
    write_mesh(tmp_path / "g.ply", V3, F3)
    assert main(["info", "--json", str(tmp_path / "g.ply")]) == 0
    rep = json.loads(capsys.readouterr().out)["files"][0]["report"]
    assert rep["genus"] == 0 and rep["closed"] is False and rep["closed_reason"] == "12 boundary edges"
    main(["info", str(tmp_path / "t.ply")])
    assert "closed no" in capsys.readouterr().out  # the sliver face's edges are boundary here
    Vs, Fs = shapes.icosphere(1)
    Vz = np.vstack([Vs, (Vs[Fs[0, 0]] + Vs[Fs[0, 1]]) / 2])
    a, b, _ = Fs[0]
    n = len(Vs)
    # two flat (zero-area) faces through the midpoint n of edge (a, b), glued to each other:
    # no boundary edge, so closed, but qualified
    Fz = np.vstack([Fs, [[a, n, b], [b, n, a]]])
    write_mesh(tmp_path / "z.ply", Vz, Fz)
    main(["info", str(tmp_path / "z.ply")])
    out = capsys.readouterr().out
    assert "closed yes (with 2 zero-area faces)" in out
