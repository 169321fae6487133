"""Off-screen renders of every view on small meshes: the PNG exists, has the requested size, is
not blank, shows one colour per part, and a correspondence shows both meshes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyvista")

from manifold_nets.shapes import icosphere, torus  # noqa: E402
from manifold_nets.viz import (  # noqa: E402
    label_colors,
    screenshot,
    show_correspondence,
    show_eigenfunctions,
    show_frames,
    show_geodesic,
    show_labels,
    show_logmap_patch,
    show_mesh,
    show_scalars,
    show_vectors,
)
from manifold_nets.viz.views import new_plotter  # noqa: E402
from tests.viz._images import colour_present, foreground, read_png, runs  # noqa: E402

W, H = 200, 150
pytestmark = pytest.mark.usefixtures("rendering")


@pytest.fixture(scope="module")
def ring():
    return torus(32, 16)


def _shot(p, tmp_path, name="x.png"):
    out = screenshot(p, tmp_path / name, size=(W, H))
    p.close()
    img = read_png(out)
    assert img.shape[:2] == (H, W), img.shape          # the requested size
    assert img.reshape(-1, 3).std(axis=0).max() > 5     # not blank
    return img


def test_plain_mesh_is_drawn_in_the_middle(tmp_path):
    img = _shot(show_mesh(icosphere(2), plotter=new_plotter(off_screen=True)), tmp_path)
    fg = foreground(img)
    assert 0.05 < fg.mean() < 0.9
    assert fg[H // 2, W // 2]


def test_labels_show_one_colour_per_part(ring, tmp_path):
    V, F = ring
    c = V[F].mean(axis=1)
    ang = np.arctan2(c[:, 1], c[:, 0])
    lab = np.floor((ang + np.pi) / (2 * np.pi) * 5).astype(int) % 5   # 5 sectors
    p = show_labels((V, F), lab, ["a", "b", "c", "d", "e"], legend=False, lighting=False,
                    plotter=new_plotter(off_screen=True))
    img = _shot(p, tmp_path)
    palette = label_colors(12)
    present = [i for i in range(12) if colour_present(img, palette[i])]
    assert present == [0, 1, 2, 3, 4]


def test_vertex_labels_and_legend(ring, tmp_path):
    V, F = ring
    lab = (V[:, 0] > 0).astype(int)
    lab[:5] = -1
    p = show_labels((V, F), lab, ["left", "right"], plotter=new_plotter(off_screen=True))
    assert p.legend is not None
    _shot(p, tmp_path)


def test_labeled_mesh_brings_its_labels(ring, tmp_path):
    from manifold_nets.data import LabeledMesh

    V, F = ring
    lm = LabeledMesh(V, F, (np.arange(len(F)) % 2), ("even", "odd"))
    _shot(show_labels(lm, plotter=new_plotter(off_screen=True), lighting=False), tmp_path)


def test_scalars_per_vertex_and_face_with_isolines(ring, tmp_path):
    V, F = ring
    p = show_scalars((V, F), V[:, 0], isolines=8, plotter=new_plotter(off_screen=True))
    assert "mesh-isolines" in p.actors
    _shot(p, tmp_path, "v.png")
    p = show_scalars((V, F), np.arange(len(F), dtype=float), plotter=new_plotter(off_screen=True))
    _shot(p, tmp_path, "f.png")


def test_scalars_of_wrong_length_raise(ring):
    from manifold_nets.errors import MeshShapeError

    V, F = ring
    with pytest.raises(MeshShapeError, match=r"expected 1024 face or 512 vertex values \(got 3\)"):
        show_scalars((V, F), [1.0, 2.0, 3.0], plotter=new_plotter(off_screen=True))


def test_geodesic_view_has_isolines_and_a_gradient(ring, tmp_path):
    V, F = ring
    p = show_geodesic((V, F), 0, plotter=new_plotter(off_screen=True))
    assert "mesh-isolines" in p.actors and "mesh-source" in p.actors
    img = _shot(p, tmp_path)
    dark = (img.max(axis=2) < 60).sum()          # isolines and the far (dark) end of magma_r
    assert dark > 50


def test_eigenfunction_and_logmap_patch(ring, tmp_path):
    V, F = ring
    _shot(show_eigenfunctions((V, F), 2, plotter=new_plotter(off_screen=True)), tmp_path, "e.png")
    p = show_logmap_patch((V, F), 0, plotter=new_plotter(off_screen=True))
    assert any(k.startswith("mesh-grid") for k in p.actors)
    _shot(p, tmp_path, "l.png")


def test_vectors_and_frames_add_arrows(ring, tmp_path):
    V, F = ring
    bare = _shot(show_mesh((V, F), plotter=new_plotter(off_screen=True)), tmp_path, "a.png")
    p = show_vectors((V, F), np.tile([0.0, 0, 1], (len(V), 1)), plotter=new_plotter(off_screen=True))
    show_mesh((V, F), plotter=p)
    arrows = _shot(p, tmp_path, "b.png")
    assert (arrows.max(axis=2) < 40).sum() > (bare.max(axis=2) < 40).sum() + 50  # black arrows
    p = show_frames((V, F), plotter=new_plotter(off_screen=True))
    img = _shot(p, tmp_path, "c.png")
    red = (img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)
    green = (img[..., 1] > 100) & (img[..., 0] < 80) & (img[..., 2] < 80)
    assert red.sum() > 20 and green.sum() > 20


def test_complex_tangent_field(ring, tmp_path):
    V, F = ring
    _shot(show_vectors((V, F), np.ones(len(V), dtype=complex), plotter=new_plotter(off_screen=True)),
          tmp_path)


def _corr_shot(V, F, Vt, m, tmp_path, name):
    p = show_correspondence((V, F), (Vt, F), m, n_lines=0, plotter=new_plotter(off_screen=True))
    img = _shot(p, tmp_path, name)
    blobs = runs(foreground(img).any(axis=0), min_len=15)
    assert len(blobs) == 2, blobs                     # both meshes, side by side
    left, right = (img[:, a:b].astype(float) for a, b in blobs)
    w = min(left.shape[1], right.shape[1])            # same width, compare pixel by pixel
    left, right = (x[:, np.linspace(0, x.shape[1] - 1, w).round().astype(int)] for x in (left, right))
    both = foreground(left) & foreground(right)
    return float(np.abs(left - right)[both].mean())


def test_correspondence_shows_both_meshes_and_transfers_colours(tmp_path):
    from scipy.spatial import cKDTree

    V, F = icosphere(2)
    Vt = V * [1.0, 0.7, 1.2]
    same = _corr_shot(V, F, Vt, np.arange(len(V)), tmp_path, "id.png")
    antipodal = cKDTree(V).query(-V)[1]              # a wrong map: every point to its opposite
    wrong = _corr_shot(V, F, Vt, antipodal, tmp_path, "anti.png")
    assert same < 40 < 50 < wrong, (same, wrong)      # measured: about 25 and 73


def test_correspondence_checks_the_map():
    from manifold_nets.errors import FaceIndexError, MeshShapeError

    V, F = icosphere(1)
    with pytest.raises(MeshShapeError, match="expected 42 target indices"):
        show_correspondence((V, F), (V, F), np.arange(41))
    with pytest.raises(FaceIndexError, match=r"got 42 for source vertex 0"):
        show_correspondence((V, F), (V, F), np.full(42, 42))
