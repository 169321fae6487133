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
    (["--screenshot", "{d}/torus.ply/x.png"], 4, "expected a file in a folder"),
])
def test_view_bad_inputs(files, capsys, extra, code, words):
    (files / "bad_len.txt").write_text("1\n2\n3\n")
    (files / "words.txt").write_text("1\nx\n")
    (files / "big.txt").write_text("\n".join(["600"] * 512) + "\n")
    (files / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")
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
