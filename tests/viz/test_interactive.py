"""The viewer behind ``manifold-nets view``, driven without a window: layers, stepping, picking,
keys; and the import error without pyvista."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("pyvista")

from manifold_nets.errors import FaceIndexError  # noqa: E402
from manifold_nets.shapes import torus  # noqa: E402
from manifold_nets.viz.inputs import LabelData  # noqa: E402
from manifold_nets.viz.interactive import KEYS, Layer, Viewer  # noqa: E402
from tests.viz._images import read_png  # noqa: E402


@pytest.fixture(scope="module")
def ring():
    return torus(24, 12)   # 288 vertices, 576 faces


def _viewer(ring, **kw):
    V, F = ring
    lab = LabelData(np.arange(len(F)) % 3, "face", ["a", "b", "c"])
    layers = [Layer("labels", "labels", lab.values, "face", part_names=tuple(lab.part_names)),
              Layer("height", "scalars", V[:, 2], "vertex", isolines=5)]
    return Viewer(ring, layers, labels=lab, **kw)


def test_layers_step_cyclically_and_pick_adds_a_distance_layer(ring, rendering):
    V, F = ring
    v = _viewer(ring, eigen=2)
    assert [lay.title.split(" (")[0] for lay in v.layers] == ["labels", "height", "eigenfunction 1",
                                                               "eigenfunction 2"]
    p = v.build(off_screen=True, window_size=(200, 150))
    v.step(1)
    assert v.current == 1 and "main-isolines" in p.actors
    v.step(-2)
    assert v.current == 3
    text = v.pick(0)
    assert text.startswith("vertex 0, label ") and "at (" in text
    # vertex 0's faces carry labels f % 3; the read-out names the most frequent one
    faces = np.flatnonzero((F == 0).any(axis=1))
    assert f"label {np.bincount(faces % 3).argmax()}" in text
    assert v.current == 4 and v.layers[4].title == "geodesic distance from vertex 0"
    d = v.layers[4].values
    assert d[0] == pytest.approx(0, abs=1e-6) and d.max() > 1.0    # a distance field from vertex 0
    assert v.nearest_vertex(V[17] + 1e-9) == 17
    with pytest.raises(FaceIndexError):
        v.pick(len(V))
    p.close()


def test_screenshot_of_the_chosen_layer(ring, rendering, tmp_path):
    a = read_png(_viewer(ring, start=0).screenshot(tmp_path / "a.png", size=(200, 150)))
    b = read_png(_viewer(ring, start=1).screenshot(tmp_path / "b.png", size=(200, 150)))
    assert a.shape == b.shape == (150, 200, 3)
    assert np.abs(a.astype(int) - b).mean() > 2          # a different picture per layer
    with pytest.raises(FaceIndexError, match=r"layer: expected an index in \[0, 1\] \(got 2\)"):
        _viewer(ring, start=2)


def test_help_lists_every_bound_key():
    keys = " ".join(k for k, _ in KEYS)
    for k in ("right-click", "n", "Right", "N", "Left", "a", "g", "s", "h", "r", "q"):
        assert k in keys.replace("/", " ").split()


_NO_PYVISTA = "import sys; sys.modules['pyvista'] = None; "


def test_import_without_pyvista_names_the_fix():
    r = subprocess.run([sys.executable, "-c", _NO_PYVISTA + "import manifold_nets.viz"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "MissingDependencyError" in r.stderr and "pip install 'manifold-nets[viz]'" in r.stderr


def test_cli_view_without_pyvista_exits_3(tmp_path, monkeypatch, capsys):
    from manifold_nets import write_mesh
    from manifold_nets_apps.cli import main

    V, F = torus(8, 4)
    write_mesh(tmp_path / "t.ply", V, F)
    monkeypatch.setitem(sys.modules, "pyvista", None)    # import pyvista now raises ImportError
    assert main(["view", str(tmp_path / "t.ply"), "--screenshot", str(tmp_path / "o.png")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'manifold-nets[viz]'" in err
    assert not (tmp_path / "o.png").exists()


def test_large_meshes_pick_edge_path_distances(ring, monkeypatch):
    from manifold_nets.geometry import graph_distance
    from manifold_nets.viz import interactive

    monkeypatch.setattr(interactive, "LARGE_MESH", 100)       # the ring (288 vertices) is "large"
    v = _viewer(ring)
    v.pick(5)                                                 # no plotter needed
    assert v.layers[-1].title == "edge-path distance from vertex 5"
    np.testing.assert_allclose(v.layers[-1].values, np.ravel(graph_distance(*ring, [5])), atol=1e-12)
