"""Every research mesh in clean/boundary/dirty/polygon loads, and its report matches MANIFEST.tsv.

The manifest was measured with trimesh (``process=False``), which reads an OBJ with one vertex
per distinct (position, uv, normal) corner and splits polygons into fans.  Reading with
``split_seams=True, triangulation="fan"`` reproduces that; the default, faithful read keeps the
file's vertices (checked separately).
"""

import numpy as np
import pytest

import tests.conftest as conftest
from manifold_nets import read_mesh
from manifold_nets.topology import mesh_report
from tests.conftest import data_path, manifest, require_shared_meshes, shared_mesh_paths

FOLDERS = ("clean", "boundary", "dirty", "polygon")
PATHS = [p for f in FOLDERS for p in shared_mesh_paths(f)]
MANIFEST = manifest()
KEYS = ["n_vertices", "n_faces", "components", "boundary_edges", "euler_characteristic",
        "nonmanifold_edges", "degenerate_faces", "duplicate_faces", "unreferenced_vertices"]
HEAVY = {"dragon_vrip_res2.ply.gz", "nefertiti.obj", "armadillo.obj", "horse.ply", "ogre.obj"}



@pytest.mark.data
def test_research_meshes_are_present():
    """Without the data every parametrised test below has an empty parameter set (a skip);
    this one skips too on a developer machine but fails on CI (``CI=true``)."""
    paths = require_shared_meshes(*FOLDERS)
    assert MANIFEST, "meshes/MANIFEST.tsv is missing or empty"
    assert {_rel(p) for p in paths} <= set(MANIFEST), "mesh files without a MANIFEST.tsv row"


def _rel(p):
    return f"{p.parent.name}/{p.name}"


@pytest.mark.data
@pytest.mark.parametrize("path", PATHS, ids=[_rel(p) for p in PATHS])
def test_report_matches_manifest(path):
    row = MANIFEST[_rel(path)]
    m = read_mesh(path, triangulate=True, split_seams=path.suffix == ".obj", triangulation="fan")
    r = mesh_report(m.V, m.F)
    for k in KEYS:
        if row.get(k, "") != "":
            assert r[k] == int(row[k]), f"{k}: manifest {row[k]}, report {r[k]}"


@pytest.mark.data
@pytest.mark.parametrize("path", PATHS, ids=[_rel(p) for p in PATHS])
def test_faithful_read_keeps_file_vertices(path):
    m = read_mesh(path, triangulate=True)
    r = mesh_report(m.V, m.F)
    assert m.V.dtype == np.float64 and m.F.dtype == np.int64
    if path.suffix == ".obj":
        n_v_lines = sum(1 for line in path.read_bytes().splitlines() if line.startswith(b"v "))
        assert m.n_vertices == n_v_lines
    assert r["n_faces"] == m.n_faces and r["total_area"] > 0


@pytest.mark.data
def test_clean_meshes_are_closed_manifold_with_genus():
    for path in require_shared_meshes("clean"):
        if path.name in HEAVY:
            continue
        r = mesh_report(*_arrays(path))
        assert r["closed"] and r["edge_manifold"] and r["components"] == 1, path.name
        if r["vertex_manifold"] and r["orientable"]:  # cow.obj has a pinched vertex (χ = 1)
            assert r["genus"] == (2 - r["euler_characteristic"]) // 2, path.name


@pytest.mark.data
def test_uv_seam_exports_are_closed_when_read_faithfully():
    r = mesh_report(*_arrays(data_path("meshes", "dirty", "spot.obj")))
    assert r["closed"] and r["genus"] == 0  # the seams in the manifest come from splitting


def _arrays(path):
    m = read_mesh(path, triangulate=True)
    return m.V, m.F


# -- the data helpers themselves: skip on a developer machine, fail on CI --------------------


def _outcome(fn, *args):
    """``(exception type, message)`` of calling ``fn``: a skip or a failure is caught here (a
    skip escaping into pytest would turn this test into a skip instead of a failure)."""
    try:
        fn(*args)
    except (pytest.fail.Exception, pytest.skip.Exception) as exc:
        return type(exc), str(exc)
    return None, ""


@pytest.mark.parametrize("ci_value", ["true", "1", "TRUE"])
def test_missing_data_fails_on_ci(monkeypatch, tmp_path, ci_value):
    monkeypatch.setenv("CI", ci_value)
    monkeypatch.setattr(conftest, "DATA", tmp_path / "no_such_folder")
    kind, msg = _outcome(data_path, "meshes", "clean", "bunny.off")
    assert kind is pytest.fail.Exception and "CI=true requires the research data" in msg, (kind, msg)
    kind, msg = _outcome(require_shared_meshes, "clean")
    assert kind is pytest.fail.Exception and "no_such_folder" in msg, (kind, msg)


@pytest.mark.parametrize("ci_value", [None, "", "false", "0"])
def test_missing_data_skips_off_ci(monkeypatch, tmp_path, ci_value):
    if ci_value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci_value)
    monkeypatch.setattr(conftest, "DATA", tmp_path / "no_such_folder")
    for fn, args in ((data_path, ("meshes",)), (require_shared_meshes, ("io",))):
        kind, msg = _outcome(fn, *args)
        assert kind is pytest.skip.Exception and "research data not found" in msg, (kind, msg)


def test_present_data_neither_skips_nor_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    (tmp_path / "meshes" / "clean").mkdir(parents=True)
    (tmp_path / "meshes" / "clean" / "a.off").write_text("OFF\n0 0 0\n")
    (tmp_path / "meshes" / "clean" / "notes.txt").write_text("not a mesh")
    (tmp_path / "meshes" / "io").mkdir()
    monkeypatch.setattr(conftest, "DATA", tmp_path)
    assert _outcome(data_path, "meshes", "clean") == (None, "")
    assert data_path("meshes", "clean") == tmp_path / "meshes" / "clean"
    assert require_shared_meshes("clean") == [tmp_path / "meshes" / "clean" / "a.off"]
    assert _outcome(require_shared_meshes, "io")[0] is pytest.fail.Exception  # empty counts as missing
