"""``manifold-nets view``: off-screen screenshots and every bad input (one line, exit code, no
traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from manifold_nets import read_mesh, write_mesh
from manifold_nets.shapes import icosphere, torus
from manifold_nets_apps.cli import main
from tests.conftest import data_path

pytest.importorskip("pyvista")

from tests.viz._images import (  # noqa: E402
    colour_present,
    foreground,
    read_png,
    require_rendering,
    runs,
)

W, H = 200, 150


@pytest.fixture
def files(tmp_path):
    V, F = torus(32, 16)                         # 512 vertices, 1024 faces
    mesh = tmp_path / "torus.ply"
    write_mesh(mesh, V, F)
    lab = (np.arange(len(F)) // 256).astype(np.int64)     # 4 bands of faces
    seg = tmp_path / "pred.ply"
    write_mesh(seg, V, F, face_data={"label": lab})
    (tmp_path / "pred.json").write_text(json.dumps({"part_names": ["a", "b", "c", "d"],
                                                    "labels": {"0": "a", "1": "b", "2": "c", "3": "d"}}))
    (tmp_path / "labels.txt").write_text("\n".join(map(str, lab)) + "\n")
    np.savetxt(tmp_path / "scal.txt", V[:, :2])
    np.savetxt(tmp_path / "field.txt", np.tile([0.0, 0.0, 1.0], (len(V), 1)))
    Vs, Fs = icosphere(2)
    np.savetxt(tmp_path / "map.txt", np.arange(len(Vs)) % len(V), fmt="%d")
    write_mesh(tmp_path / "sphere.ply", Vs, Fs)
    return tmp_path


def _shot(argv, out, capsys):
    require_rendering()
    assert main(argv + ["--screenshot", str(out), "--size", str(W), str(H)]) == 0, capsys.readouterr().err
    img = read_png(out)
    assert img.shape[:2] == (H, W)
    assert img.reshape(-1, 3).std(axis=0).max() > 5
    return img


def test_view_a_shared_mesh(tmp_path, capsys):
    mesh = data_path("meshes", "clean", "bunny_small.ply")
    img = _shot(["view", str(mesh), "--eigen", "2", "--layer", "1"], tmp_path / "b.png", capsys)
    assert foreground(img).mean() > 0.05
    assert "wrote" in capsys.readouterr().out


def test_view_a_labelled_ply_shows_its_parts(files, capsys):
    from manifold_nets.viz import label_colors

    img = _shot(["view", str(files / "pred.ply")], files / "l.png", capsys)
    pal = label_colors(4)
    # shaded faces change brightness, but the legend shows each part's exact colour
    assert all(colour_present(img, c, min_pixels=4) for c in pal)
    assert not colour_present(img, label_colors(5)[4], min_pixels=4)


def test_view_label_file_scalars_geodesic_field(files, capsys):
    base = ["view", str(files / "torus.ply"), "--labels", str(files / "labels.txt"),
            "--scalars", str(files / "scal.txt"), "--scalars", "z", "--geodesic", "3",
            "--field", str(files / "field.txt")]
    for layer in (0, 3, 4):               # labels, the z scalar, the geodesic distance
        _shot(base + ["--layer", str(layer)], files / f"s{layer}.png", capsys)


def test_view_correspondence_shows_two_meshes(files, capsys):
    img = _shot(["view", str(files / "sphere.ply"), "--map", str(files / "map.txt"),
                 "--target", str(files / "torus.ply")], files / "c.png", capsys)
    fg = foreground(img)
    fg[:20] = False                       # the title line
    # columns crossed by a mesh (many pixels), not just by the thin joining lines
    assert len(runs(fg.sum(axis=0) > 20, min_len=15)) == 2


def _fails(argv, code, words, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("manifold-nets: error: ") and err.count("\n") == 1, err
    assert words in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("extra, code, words", [
    (["--labels", "{d}/bad_len.txt"], 1, "expected 1024 face or 512 vertex labels (got 3)"),
    (["--scalars", "{d}/bad_len.txt"], 1, "expected 1024 face or 512 vertex values (got 3)"),
    (["--labels", "{d}/words.txt"], 1, "line 2: expected an integer (got 'x')"),
    (["--labels", "{d}/nope.txt"], 1, "nope.txt: expected an existing file"),
    (["--scalars", "curvy"], 1, "--scalars curvy: expected an existing file or one of"),
    (["--map", "{d}/bad_len.txt", "--target", "{d}/torus.ply"], 1, "expected 512 indices, one per source vertex (got 3)"),
    (["--map", "{d}/big.txt", "--target", "{d}/sphere.ply"], 1, "expected a target vertex index in [0, 161] (got 600"),
    (["--map", "{d}/big.txt"], 2, "--map and --target: expected both or neither"),
    (["--map", "{d}/big.txt", "--target", "{d}/broken.off"], 1, "broken.off"),
    (["--geodesic", "512"], 1, "--geodesic 512: expected a vertex index in [0, 511]"),
    (["--field", "{d}/bad_len.txt"], 1, "expected 3 world or 2 tangent coordinates per row"),
    (["--layer", "5"], 2, "--layer 5: expected an index in [0, 0]"),
    (["--screenshot", "{d}/out.jpg"], 2, "expected a .png file name"),
    (["--size", "9000", "10"], 2, "expected at most 8192 pixels a side"),
    (["--size", "8192", "1"], 2, "--size 8192 1: expected at least 16 pixels a side"),  # was VTK errors
    (["--screenshot", "{d}/torus.ply/x.png"], 4, "expected a file in a folder"),
    # once tracebacks (OverflowError, TypeError) or a silently dropped imaginary part
    (["--labels", "{d}/over.txt"], 1, "over.txt: line 1: expected an integer in [-2**63, 2**63) (got '9223372036854775808')"),
    (["--labels", "{d}/cplx.npy"], 1, "cplx.npy: expected integer labels (got dtype complex128)"),
    (["--map", "{d}/cplx.npy", "--target", "{d}/torus.ply"], 1, "expected integer vertex indices (got dtype complex128)"),
    (["--scalars", "{d}/cplx.npy"], 1, "expected real scalar values (got dtype complex128"),
    (["--scalars", "{d}/nocols.npy"], 1, "expected at least one column of values (got shape (512, 0))"),
])
def test_view_bad_inputs(files, capsys, extra, code, words):
    (files / "bad_len.txt").write_text("1\n2\n3\n")
    (files / "words.txt").write_text("1\nx\n")
    (files / "big.txt").write_text("\n".join(["600"] * 512) + "\n")
    (files / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")
    (files / "over.txt").write_text(f"{2**63}\n" + "0\n" * 1023)
    np.save(files / "cplx.npy", np.ones(512, complex))
    np.save(files / "nocols.npy", np.ones((512, 0)))
    argv = ["view", str(files / "torus.ply")] + [a.format(d=files) for a in extra]
    if "--screenshot" not in argv:
        argv += ["--screenshot", str(files / "ok.png")]
    _fails(argv, code, words, capsys)
    assert not (files / "ok.png").exists()


def test_view_bad_option_values_are_usage_errors(files, capsys):
    for argv in (["--eigen", "0"], ["--size", "0", "10"], ["--geodesic", "-1"]):
        assert main(["view", str(files / "torus.ply")] + argv) == 2
        err = capsys.readouterr().err
        assert "expected a positive integer" in err or "expected a non-negative integer" in err
        assert "Traceback" not in err


def test_view_unreadable_mesh_and_unknown_file(files, capsys):
    (files / "mesh.xyz").write_text("hello")
    _fails(["view", str(files / "mesh.xyz"), "--screenshot", str(files / "o.png")], 1, "mesh.xyz", capsys)
    _fails(["view", str(files / "missing.obj"), "--screenshot", str(files / "o.png")], 1, "missing.obj", capsys)


def test_view_without_display_and_screenshot(files, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    _fails(["view", str(files / "torus.ply")], 2, "no display to open a window on", capsys)


def test_view_with_an_unreachable_display(files, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":987")             # no X server there
    monkeypatch.setattr("sys.platform", "linux")
    _fails(["view", str(files / "torus.ply")], 2, "cannot connect to DISPLAY=:987", capsys)


def test_labelled_ply_round_trip_keeps_labels(files):
    m = read_mesh(files / "pred.ply")
    assert m.face_data["label"].tolist() == (np.arange(1024) // 256).tolist()


def test_view_huge_label_values(files, capsys):
    from manifold_nets.viz import label_colors
    from manifold_nets.viz.colors import colors_of

    require_rendering()
    lab = np.where(np.arange(1024) < 512, 0, 10**12)     # was a MemoryError (a 10**12-colour table)
    (files / "huge.txt").write_text("\n".join(map(str, lab)) + "\n")
    out = files / "h.png"
    assert main(["view", str(files / "torus.ply"), "--labels", str(files / "huge.txt"), "--screenshot",
                 str(out), "--size", "400", "300"]) == 0, capsys.readouterr().err
    img = read_png(out)
    # the legend shows each part's exact colour
    assert colour_present(img, label_colors(1)[0], min_pixels=4)
    assert colour_present(img, colors_of([10**12])[0], min_pixels=4)


def test_view_a_mesh_of_tiny_coordinates_is_not_blank(files, capsys):
    V, F = icosphere(2)
    write_mesh(files / "tiny.ply", V * 1e-30, F)         # was an image with only the title
    img = _shot(["view", str(files / "tiny.ply")], files / "t.png", capsys)
    fg = foreground(img)
    fg[:20] = False                                      # the title line
    assert fg.mean() > 0.1


def test_view_layer_counts_the_eigenfunctions_a_mesh_has(files, capsys):
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    write_mesh(files / "tet.ply", V, np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))
    # 4 vertices: 3 non-constant eigenfunctions, so --layer 5 is a usage error (was exit 1)
    _fails(["view", str(files / "tet.ply"), "--eigen", "10", "--layer", "5", "--screenshot",
            str(files / "o.png")], 2, "--layer 5: expected an index in [0, 2]", capsys)


def test_plot_refuses_error_files_without_numbers(tmp_path, capsys):
    (tmp_path / "my_errors.json").write_text(json.dumps({"errors": None}))   # was an empty panel
    _fails(["plot", str(tmp_path / "my_errors.json"), "-o", str(tmp_path / "p.png")], 1,
           'expected lists of numbers under "errors" (got null)', capsys)
    assert not (tmp_path / "p.png").exists()
