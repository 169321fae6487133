"""Every research mesh in clean/boundary/dirty/polygon loads, and its report matches MANIFEST.tsv.

The manifest was measured with trimesh (``process=False``), which reads an OBJ with one vertex
per distinct (position, uv, normal) corner and splits polygons into fans.  Reading with
``split_seams=True, triangulation="fan"`` reproduces that; the default, faithful read keeps the
file's vertices (checked separately).
"""

import numpy as np
import pytest

from manifold_nets import read_mesh
from manifold_nets.topology import mesh_report
from tests.conftest import manifest, shared_mesh_paths

FOLDERS = ("clean", "boundary", "dirty", "polygon")
PATHS = [p for f in FOLDERS for p in shared_mesh_paths(f)]
MANIFEST = manifest()
KEYS = ["n_vertices", "n_faces", "components", "boundary_edges", "euler_characteristic",
        "nonmanifold_edges", "degenerate_faces", "duplicate_faces", "unreferenced_vertices"]
HEAVY = {"dragon_vrip_res2.ply.gz", "nefertiti.obj", "armadillo.obj", "horse.ply", "ogre.obj"}

pytestmark = [pytest.mark.data, pytest.mark.skipif(not PATHS, reason="research meshes not found (set MANIFOLD_NETS_DATA)")]


def _rel(p):
    return f"{p.parent.name}/{p.name}"


@pytest.mark.parametrize("path", PATHS, ids=[_rel(p) for p in PATHS])
def test_report_matches_manifest(path):
    row = MANIFEST[_rel(path)]
    m = read_mesh(path, triangulate=True, split_seams=path.suffix == ".obj", triangulation="fan")
    r = mesh_report(m.V, m.F)
    for k in KEYS:
        if row.get(k, "") != "":
            assert r[k] == int(row[k]), f"{k}: manifest {row[k]}, report {r[k]}"


@pytest.mark.parametrize("path", PATHS, ids=[_rel(p) for p in PATHS])
def test_faithful_read_keeps_file_vertices(path):
    m = read_mesh(path, triangulate=True)
    r = mesh_report(m.V, m.F)
    assert m.V.dtype == np.float64 and m.F.dtype == np.int64
    if path.suffix == ".obj":
        n_v_lines = sum(1 for line in path.read_bytes().splitlines() if line.startswith(b"v "))
        assert m.n_vertices == n_v_lines
    assert r["n_faces"] == m.n_faces and r["total_area"] > 0


def test_clean_meshes_are_closed_manifold_with_genus():
    for path in shared_mesh_paths("clean"):
        if path.name in HEAVY:
            continue
        r = mesh_report(*_arrays(path))
        assert r["closed"] and r["edge_manifold"] and r["components"] == 1, path.name
        if r["vertex_manifold"] and r["orientable"]:  # cow.obj has a pinched vertex (χ = 1)
            assert r["genus"] == (2 - r["euler_characteristic"]) // 2, path.name


def test_uv_seam_exports_are_closed_when_read_faithfully():
    paths = [p for p in shared_mesh_paths("dirty") if p.name == "spot.obj"]
    if not paths:
        pytest.skip("spot.obj not in the shared data")
    r = mesh_report(*_arrays(paths[0]))
    assert r["closed"] and r["genus"] == 0  # the seams in the manifest come from splitting


def _arrays(path):
    m = read_mesh(path, triangulate=True)
    return m.V, m.F
