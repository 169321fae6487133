"""Readers and writers: round trips, order preservation, polygons, odd files."""

import gzip
import signal
from contextlib import contextmanager

import numpy as np
import pytest

from manifold_nets import Mesh, read_mesh, shapes, write_mesh
from manifold_nets.errors import (
    EmptyMeshError,
    FaceIndexError,
    MeshError,
    MeshFileNotFoundError,
    MeshParseError,
    NonFiniteError,
    NonTriangleError,
    UnknownFormatError,
)
from manifold_nets.io import read_polygons, read_triangles
from tests.conftest import require_shared_meshes, shared_mesh_paths


@pytest.fixture
def mesh_with_data(rng):
    V, F = shapes.icosphere(1)
    V = V + rng.normal(scale=1e-3, size=V.shape)  # full-precision coordinates
    vd = {"label": rng.integers(0, 5, len(V)), "scalar": rng.normal(size=len(V)),
          "color": rng.random((len(V), 3))}
    fd = {"part": rng.integers(0, 3, len(F)), "weight": rng.normal(size=len(F))}
    return V, F, vd, fd


@pytest.mark.parametrize("name", ["m.ply", "m.ply.gz", "m.obj", "m.obj.gz", "m.off", "m.off.gz"])
def test_roundtrip_geometry_exact(tmp_path, mesh_with_data, name):
    V, F, _, _ = mesh_with_data
    write_mesh(tmp_path / name, V, F)
    m = read_mesh(tmp_path / name)
    np.testing.assert_array_equal(m.V, V)
    np.testing.assert_array_equal(m.F, F)


@pytest.mark.parametrize("binary", [True, False])
def test_ply_roundtrip_with_vertex_and_face_data(tmp_path, mesh_with_data, binary):
    V, F, vd, fd = mesh_with_data
    write_mesh(tmp_path / "m.ply", V, F, vertex_data=vd, face_data=fd, binary=binary)
    m = read_mesh(tmp_path / "m.ply")
    np.testing.assert_array_equal(m.V, V)
    np.testing.assert_array_equal(m.F, F)
    np.testing.assert_array_equal(m.vertex_data["label"], vd["label"])
    np.testing.assert_array_equal(m.vertex_data["scalar"], vd["scalar"])
    # a multi-column array keeps its name (not color_0..2) and every array keeps its dtype
    np.testing.assert_array_equal(m.vertex_data["color"], vd["color"])
    np.testing.assert_array_equal(m.face_data["part"], fd["part"])
    np.testing.assert_array_equal(m.face_data["weight"], fd["weight"])
    assert sorted(m.vertex_data) == sorted(vd) and sorted(m.face_data) == sorted(fd)
    for k in vd:
        assert m.vertex_data[k].dtype == vd[k].dtype, k
    for k in fd:
        assert m.face_data[k].dtype == fd[k].dtype, k


def test_obj_and_off_keep_colours(tmp_path, mesh_with_data):
    V, F, vd, _ = mesh_with_data
    write_mesh(tmp_path / "m.obj", V, F, vertex_data={"color": vd["color"]})
    np.testing.assert_array_equal(read_mesh(tmp_path / "m.obj").vertex_data["color"], vd["color"])
    write_mesh(tmp_path / "m.off", V, F, vertex_data={"color": vd["color"]})
    np.testing.assert_array_equal(read_mesh(tmp_path / "m.off").vertex_data["color"], vd["color"])


def test_mesh_to_file_roundtrip(tmp_path, mesh_with_data):
    V, F, vd, fd = mesh_with_data
    m = Mesh(V, F, vertex_data={"label": vd["label"]}, face_data={"part": fd["part"]})
    m.to_file(tmp_path / "x.ply")
    back = Mesh.from_file(tmp_path / "x.ply")
    assert back == m
    np.testing.assert_array_equal(back.vertex_data["label"], vd["label"])


def test_obj_vertex_order_kept_and_negative_indices(tmp_path):
    (tmp_path / "a.obj").write_text(
        "# unused vertex first, relative indices\nv 9 9 9\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\nvt 0 0\nf 2/1 3/1 4/1\n"
    )
    m = read_mesh(tmp_path / "a.obj")
    np.testing.assert_array_equal(m.V[0], [9, 9, 9])  # never dropped although unreferenced
    assert m.F.tolist() == [[1, 2, 3], [1, 2, 3]]  # duplicate face kept too


def test_obj_split_seams_maps_back(tmp_path):
    (tmp_path / "s.obj").write_text(
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\nvt 5 5\n"
        "f 1/1 2/2 3/3\nf 2/5 4/4 3/3\n"
    )
    faithful = read_mesh(tmp_path / "s.obj")
    split = read_mesh(tmp_path / "s.obj", split_seams=True)
    assert faithful.n_vertices == 4 and split.n_vertices == 5
    src = split.vertex_data["source_vertex"]
    np.testing.assert_array_equal(split.V, faithful.V[src])
    np.testing.assert_array_equal(src[split.F], faithful.F)


def test_polygons_rejected_or_triangulated(tmp_path):
    (tmp_path / "q.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nf 1 2 5\nf 1 2 3 4\n")
    with pytest.raises(NonTriangleError, match=r"face 1: expected a triangle \(got a polygon with 4 vertices"):
        read_mesh(tmp_path / "q.obj")
    m = read_mesh(tmp_path / "q.obj", triangulate=True)
    assert m.n_faces == 3
    assert m.face_data["polygon"].tolist() == [0, 1, 1]
    assert np.isclose(m.face_areas[1:].sum(), 1.0)


def test_read_triangles_gives_arrays_and_read_mesh_validates_them(tmp_path):
    """The array-level reader (below Mesh) triangulates like read_mesh; checks that belong to
    Mesh (finite coordinates) happen once, in read_mesh, with the file name in the message."""
    (tmp_path / "q.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0 0\nf 1 2 5\nf 1 2 3 4\n")
    t = read_triangles(tmp_path / "q.obj", triangulate=True)
    m = read_mesh(tmp_path / "q.obj", triangulate=True)
    assert isinstance(t.V, np.ndarray) and not isinstance(t, Mesh)
    assert np.array_equal(t.F, m.F) and t.face_data["polygon"].tolist() == [0, 1, 1]
    (tmp_path / "inf.obj").write_text("v inf 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    assert not np.isfinite(read_triangles(tmp_path / "inf.obj").V).all()
    with pytest.raises(MeshError, match=r"inf\.obj: .*vertex 0"):
        read_mesh(tmp_path / "inf.obj")
    with pytest.raises(FaceIndexError, match=r"face 0: expected vertex indices in \[0, 3\)"):
        (tmp_path / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 9\n")
        read_triangles(tmp_path / "bad.off")


def test_concave_polygon_ear_clipping(tmp_path):
    # an L-shaped hexagon: fan triangulation from vertex 0 would leave the polygon
    P = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [1, 1, 0], [1, 2, 0], [0, 2, 0.0]])
    lines = "".join(f"v {x} {y} {z}\n" for x, y, z in P) + "f 3 4 5 6 1 2\n"
    (tmp_path / "l.obj").write_text(lines)
    m = read_mesh(tmp_path / "l.obj", triangulate=True)
    assert m.n_faces == 4
    assert np.isclose(m.face_areas.sum(), 3.0)  # area of the L, no overlaps
    n = np.cross(m.V[m.F[:, 1]] - m.V[m.F[:, 0]], m.V[m.F[:, 2]] - m.V[m.F[:, 0]])
    assert (n[:, 2] > 0).all()


def test_stl_is_read_as_soup_in_order(tmp_path):
    V, F = shapes.tetrahedron()
    P = V[F]
    text = "solid t\n" + "".join(
        "facet normal 0 0 0\nouter loop\n" + "".join(f"vertex {a} {b} {c}\n" for a, b, c in tri) + "endloop\nendfacet\n"
        for tri in P) + "endsolid t\n"
    (tmp_path / "t.stl").write_text(text)
    m = read_mesh(tmp_path / "t.stl")
    np.testing.assert_array_equal(m.V, P.reshape(-1, 3))
    assert m.F.tolist() == np.arange(12).reshape(4, 3).tolist()
    # binary STL with the same content (a header that starts with "solid" must not confuse it)
    dt = np.dtype([("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec = np.zeros(4, dt)
    rec["v"] = P
    (tmp_path / "b.stl").write_bytes(b"solid binary".ljust(80, b" ") + np.uint32(4).tobytes() + rec.tobytes())
    np.testing.assert_array_equal(read_mesh(tmp_path / "b.stl").V, P.reshape(-1, 3).astype(np.float32))


def test_off_variants(tmp_path):
    (tmp_path / "a.off").write_text("OFF 3 1 0\n# comment\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    assert read_mesh(tmp_path / "a.off").n_faces == 1
    (tmp_path / "c.off").write_text("COFF\n3 1 0\n0 0 0 1 0 0 1\n1 0 0 0 1 0 1\n0 1 0 0 0 1 1\n3 0 1 2 0.5 0.5 0.5\n")
    m = read_mesh(tmp_path / "c.off")
    assert m.vertex_data["color"].shape == (3, 4) and m.face_data["color"].shape == (1, 3)


def test_utf16_obj(tmp_path):
    txt = "v 0 0 0\r\nv 1 0 0\r\nv 0 1 0\r\nf 1 2 3\r\n"
    (tmp_path / "u.obj").write_bytes(b"\xfe\xff" + txt.encode("utf-16-be"))
    assert read_mesh(tmp_path / "u.obj").n_faces == 1


def test_ply_big_endian_and_variable_lists(tmp_path):
    head = (b"ply\nformat binary_big_endian 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
            b"property float z\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n")
    V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], ">f4")
    body = V.tobytes() + bytes([3]) + np.array([0, 1, 2], ">i4").tobytes() + bytes([4]) + np.array([0, 1, 2, 3], ">i4").tobytes()
    (tmp_path / "b.ply").write_bytes(head + body)
    pm = read_polygons(tmp_path / "b.ply")
    assert pm.sizes.tolist() == [3, 4] and pm.faces.tolist() == [0, 1, 2, 0, 1, 2, 3]
    assert read_mesh(tmp_path / "b.ply", triangulate=True).n_faces == 3


@pytest.mark.parametrize(
    "name, content, err, fragment",
    [
        ("x.xyz", b"1 2 3", UnknownFormatError, "expected one of"),
        ("e.obj", b"# nothing\n", EmptyMeshError, "at least one vertex"),
        ("p.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", EmptyMeshError, "at least one face"),
        ("i.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n", MeshParseError, "expected a vertex index in [1, 3]"),
        ("n.obj", b"v 0 0 zero\n", MeshParseError, "line 1: expected a number (got 'zero')"),
        ("h.off", b"OFF\n3 1 0\n0 0 0\n", MeshParseError, "expected 3 vertex and 1 face lines"),
        ("k.off", b"NOTOFF\n", MeshParseError, "expected the keyword OFF"),
        ("r.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 5\n", FaceIndexError, "face 0: expected vertex indices in [0, 3)"),
        ("t.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n", MeshParseError, "expected 3 'vertex' records"),
        ("f.ply", b"ply\nformat weird 1.0\nend_header\n", MeshParseError, "expected PLY format"),
        ("s.stl", b"hello", MeshParseError, "ASCII STL"),
        ("g.ply.gz", b"not gzip at all", MeshParseError, "gzip"),
        ("nan.obj", b"v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", MeshError, "vertex 0"),
        # areas would overflow float64 (inf/nan operators, blank renders): refused, not computed
        ("big.obj", b"v 0 0 0\nv 1e300 0 0\nv 0 1 0\nf 1 2 3\n", NonFiniteError,
         "expected coordinates of magnitude at most 1e+60"),
        ("neg.ply", b"ply\nformat ascii 1.0\nelement vertex -3\nproperty float x\nend_header\n", MeshParseError,
         "line 3: expected a non-negative element count (got 'element vertex -3')"),
        ("vn.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1//1 2//1 3//1\n", MeshParseError,
         "line 4: expected a normal index only when the file has normals ('vn' lines before it) (got 1 with none)"),
        ("vt.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1/1 2/1 3/1\n", MeshParseError,
         "line 4: expected a texture coordinate index only when the file has texture coordinates"),
    ],
)
def test_bad_files_raise_typed_errors(tmp_path, name, content, err, fragment):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(err) as ei:
        read_mesh(tmp_path / name)
    assert fragment in str(ei.value)
    assert name in str(ei.value)  # the message names the file


@pytest.mark.parametrize("binary", [True, False])
def test_ply_array_named_like_another_arrays_column(tmp_path, binary):
    """'label' (two columns label_0, label_1) beside an array named 'label_0' (columns label_0_0,
    label_0_1): both come back whole, whatever the order (found by the round-trip property test)."""
    V, F = shapes.icosphere(0)
    a = np.arange(2 * len(F)).reshape(-1, 2)
    for fd in ({"label_0": a + 100, "label": a}, {"label": a, "label_0": a + 100}):
        write_mesh(tmp_path / "c.ply", V, F, face_data=fd, binary=binary)
        back = read_mesh(tmp_path / "c.ply").face_data
        assert set(back) == {"label", "label_0"}
        np.testing.assert_array_equal(back["label"], a)
        np.testing.assert_array_equal(back["label_0"], a + 100)


def test_a_files_own_polygon_array_is_not_overwritten_by_triangulation(tmp_path):
    """Triangulation records each triangle's polygon as face_data['polygon']; a file with a face
    array of that name and polygon faces is refused rather than silently overwritten."""
    V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0]], float)
    txt = ("ply\nformat ascii 1.0\nelement vertex 5\nproperty double x\nproperty double y\nproperty double z\n"
           "element face 2\nproperty list uchar int vertex_indices\nproperty int polygon\nend_header\n"
           + "".join(f"{a} {b} {c}\n" for a, b, c in V) + "4 0 1 2 3 7\n3 1 4 2 9\n")
    (tmp_path / "p.ply").write_text(txt)
    with pytest.raises(MeshParseError, match=r"p\.ply: expected no per-face array named 'polygon' when triangulating"):
        read_mesh(tmp_path / "p.ply", triangulate=True)
    # triangles only: the file's array is kept as it is
    (tmp_path / "t.ply").write_text(txt.replace("4 0 1 2 3 7", "3 0 1 2 7"))
    assert read_mesh(tmp_path / "t.ply", triangulate=True).face_data["polygon"].tolist() == [7, 9]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(MeshFileNotFoundError, match="expected an existing mesh file"):
        read_mesh(tmp_path / "nope.obj")
    with pytest.raises(MeshError, match="got a directory"):
        read_mesh(tmp_path)


def test_point_cloud_allowed_on_request(tmp_path):
    (tmp_path / "p.obj").write_text("v 0 0 0\nv 1 0 0\n")
    assert read_mesh(tmp_path / "p.obj", allow_empty=True).n_faces == 0


def test_write_is_atomic_and_rejects_unknown_format(tmp_path, mesh_with_data):
    V, F, _, _ = mesh_with_data
    with pytest.raises(UnknownFormatError):
        write_mesh(tmp_path / "m.stl", V, F)
    write_mesh(tmp_path / "m.ply", V, F)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ply"]  # no temporary left behind


def test_gzip_matches_plain(tmp_path, mesh_with_data):
    V, F, _, _ = mesh_with_data
    write_mesh(tmp_path / "m.off", V, F)
    (tmp_path / "z.off.gz").write_bytes(gzip.compress((tmp_path / "m.off").read_bytes()))
    assert read_mesh(tmp_path / "z.off.gz") == read_mesh(tmp_path / "m.off")


def test_vtk_via_meshio(tmp_path, mesh_with_data):
    meshio = pytest.importorskip("meshio")
    V, F, _, _ = mesh_with_data
    meshio.write_points_cells(str(tmp_path / "m.vtk"), V, [("triangle", F)])
    m = read_mesh(tmp_path / "m.vtk")
    np.testing.assert_allclose(m.V, V)
    np.testing.assert_array_equal(m.F, F)


@contextmanager
def _time_limit(seconds):
    def handler(signum, frame):
        raise TimeoutError(f"reader hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


IO_FILES = shared_mesh_paths("io")


@pytest.mark.data
def test_io_research_files_are_present():
    """Without them the parametrised test below is an empty set (a skip): fail on CI."""
    assert len(require_shared_meshes("io")) >= 3


@pytest.mark.data
@pytest.mark.parametrize("path", IO_FILES, ids=[p.name for p in IO_FILES])
def test_every_io_file_loads_or_raises_mesh_error(path):
    with _time_limit(60):
        for kwargs in ({}, {"triangulate": True}):
            try:
                m = read_mesh(path, **kwargs)
            except MeshError as exc:
                assert str(exc)  # a message, never another exception type
            else:
                assert m.V.dtype == np.float64 and m.F.dtype == np.int64
                assert m.F.min() >= 0 and m.F.max() < m.n_vertices


# --- issue 13: nothing a user saves is dropped silently; names, dtypes, texture coordinates ---


@pytest.mark.parametrize("name", ["m.obj", "m.off", "m.obj.gz"])
def test_obj_and_off_refuse_arrays_they_cannot_hold(tmp_path, mesh_with_data, name):
    """`write_mesh` to .obj/.off used to drop vertex_data/face_data silently."""
    from manifold_nets.errors import UnsupportedDataError

    V, F, vd, fd = mesh_with_data
    with pytest.raises(UnsupportedDataError, match=r"vertex_data\['label'\].*write \.ply"):
        write_mesh(tmp_path / name, V, F, vertex_data={"label": vd["label"]})
    with pytest.raises(UnsupportedDataError, match=r"face_data\['part'\]"):
        write_mesh(tmp_path / name, V, F, face_data={"part": fd["part"]})
    assert list(tmp_path.iterdir()) == []  # refused before writing anything


def test_stl_write_is_refused_with_the_reason(tmp_path):
    V, F = shapes.tetrahedron()
    with pytest.raises(UnknownFormatError, match=r"'\.stl'.*float32.*write \.ply"):
        write_mesh(tmp_path / "t.stl", V, F)


def test_ply_uchar_colours_stay_uchar(tmp_path):
    """PLY uchar colours were read as float64 and written back as `double red`."""
    (tmp_path / "c.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "element face 1\nproperty list uchar int vertex_indices\nproperty int label\nend_header\n"
        "0 0 0 255 0 10\n1 0 0 0 255 20\n0 1 0 0 0 255\n3 0 1 2 7\n"
    )
    m = read_mesh(tmp_path / "c.ply")
    assert m.vertex_data["red"].dtype == np.uint8 and m.vertex_data["red"].tolist() == [255, 0, 0]
    assert m.face_data["label"].dtype == np.int32
    m.to_file(tmp_path / "c2.ply")
    head = (tmp_path / "c2.ply").read_bytes().split(b"end_header")[0].decode()
    assert "property uchar red" in head and "property int label" in head and "double red" not in head
    color = np.stack([m.vertex_data[c] for c in ("red", "green", "blue")], 1)
    write_mesh(tmp_path / "c3.ply", m.V, m.F, vertex_data={"color": color})
    head = (tmp_path / "c3.ply").read_bytes().split(b"end_header")[0].decode()
    assert "property uchar red" in head  # a uint8 colour is written as the standard red green blue
    back = read_mesh(tmp_path / "c3.ply").vertex_data
    assert list(back) == ["color"] and back["color"].dtype == np.uint8
    np.testing.assert_array_equal(back["color"], color)


def test_ply_fixed_length_list_properties_are_read(tmp_path):
    (tmp_path / "t.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
        "element face 1\nproperty list uchar int vertex_indices\nproperty list uchar float texcoord\n"
        "end_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2 6 0 0 1 0 0 0.5\n"
    )
    tc = read_mesh(tmp_path / "t.ply").face_data["texcoord"]
    assert tc.dtype == np.float32 and tc.tolist() == [[0, 0, 1, 0, 0, 0.5]]


OBJ_UV = ("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvn 0 0 1\n"
          "f 1/1/1 2/2/1 3/3/1\nf 1/1/1 3/3/1 4/4/1\n")


def test_obj_texture_coordinates_are_per_corner_data(tmp_path):
    """OBJ texture coordinates were never exposed; vertices are not split to get them."""
    (tmp_path / "t.obj").write_text(OBJ_UV)
    m = read_mesh(tmp_path / "t.obj")
    assert m.n_vertices == 4  # not split
    assert m.face_data["uv_index"].tolist() == [[0, 1, 2], [0, 2, 3]]
    np.testing.assert_array_equal(m.face_data["uv"][1], [[0, 0], [1, 1], [0, 1]])
    assert m.face_data["normal"].shape == (2, 3, 3) and (m.face_data["normal_index"] == 0).all()
    m.to_file(tmp_path / "u.obj")  # OBJ holds them ...
    back = read_mesh(tmp_path / "u.obj")
    for k in ("uv", "uv_index", "normal", "normal_index"):
        np.testing.assert_array_equal(back.face_data[k], m.face_data[k])
    m.to_file(tmp_path / "u.ply")  # ... and so does PLY, shape (nF, 3, 2) and all
    np.testing.assert_array_equal(read_mesh(tmp_path / "u.ply").face_data["uv"], m.face_data["uv"])


def test_obj_texture_coordinates_follow_triangulation(tmp_path):
    (tmp_path / "q.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
                                    "f 1/1 2/2 3/3 4/4\n")
    m = read_mesh(tmp_path / "q.obj", triangulate=True)
    # each triangle corner keeps the texture coordinate of its polygon corner
    assert (m.face_data["uv_index"] == m.F).all()
    np.testing.assert_array_equal(m.face_data["uv"], np.array([[0, 0], [1, 0], [1, 1], [0, 1.]])[m.F])


def test_bad_obj_face_index_is_a_face_index_error(tmp_path):
    """It was a MeshParseError only; it is now both (old `except MeshParseError` still works)."""
    (tmp_path / "i.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n")
    with pytest.raises(FaceIndexError, match=r"line 4: expected a vertex index in \[1, 3\]"):
        read_mesh(tmp_path / "i.obj")
    with pytest.raises(MeshParseError):
        read_mesh(tmp_path / "i.obj")
    (tmp_path / "t.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/2 3/1\n")
    with pytest.raises(FaceIndexError, match=r"texture coordinate index in \[1, 1\] .*got 2"):
        read_mesh(tmp_path / "t.obj")


def test_file_errors_are_os_errors_too(tmp_path):
    from manifold_nets.errors import (
        ManifoldNetsError,
        MeshFileTooLargeError,
        MeshIsADirectoryError,
        SolverError,
    )

    with pytest.raises(FileNotFoundError):
        read_mesh(tmp_path / "nope.obj")
    with pytest.raises(FileNotFoundError):  # a path under a file
        (tmp_path / "f").write_text("x")
        read_mesh(tmp_path / "f" / "a.obj")
    (tmp_path / "d.obj").mkdir()
    with pytest.raises(IsADirectoryError):
        read_mesh(tmp_path / "d.obj")
    with pytest.raises(MeshIsADirectoryError):
        read_mesh(tmp_path / "d.obj")
    assert issubclass(MeshFileNotFoundError, FileNotFoundError)
    # solver failures are not bad input
    assert issubclass(SolverError, ManifoldNetsError) and issubclass(SolverError, RuntimeError)
    assert not issubclass(SolverError, (MeshError, ValueError))
    assert issubclass(MeshError, ManifoldNetsError) and issubclass(MeshError, ValueError)
    import os

    os.symlink("/dev/zero", tmp_path / "z.ply")
    with pytest.raises(MeshFileTooLargeError, match="regular file"):
        read_mesh(tmp_path / "z.ply")


def test_reading_is_capped(tmp_path, monkeypatch, mesh_with_data):
    import manifold_nets.io as mio
    from manifold_nets.errors import MeshFileTooLargeError

    V, F, _, _ = mesh_with_data
    write_mesh(tmp_path / "m.ply.gz", V, F)
    size = (tmp_path / "m.ply.gz").stat().st_size
    monkeypatch.setattr(mio, "MAX_READ_BYTES", size + 10)  # the file fits, its content does not
    with pytest.raises(MeshFileTooLargeError, match="gzip content of at most"):
        read_mesh(tmp_path / "m.ply.gz")
    monkeypatch.setattr(mio, "MAX_READ_BYTES", size - 1)
    with pytest.raises(MeshFileTooLargeError, match="a file of at most"):
        read_mesh(tmp_path / "m.ply.gz")


def test_polygon_error_suggests_no_cli_flag(tmp_path):
    (tmp_path / "q.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n")
    with pytest.raises(NonTriangleError) as exc:
        read_mesh(tmp_path / "q.obj")
    assert "--" not in str(exc.value) and "triangulate=True" in str(exc.value)
