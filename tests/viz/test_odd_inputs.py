"""Odd but plausible input to the viewing layer: each case once gave a traceback, a MemoryError, a
silently wrong or blank picture; now it gives a typed one-line error or the right picture."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("pyvista")
pytest.importorskip("matplotlib")

from manifold_nets.errors import (  # noqa: E402
    FaceIndexError,
    MeshParseError,
    MeshShapeError,
    MeshTypeError,
    UnknownFormatError,
)
from manifold_nets.viz import (  # noqa: E402
    label_colors,
    labels_to_rgb,
    read_labels,
    read_map,
    read_scalars,
    screenshot,
    show_correspondence,
    show_eigenfunctions,
    show_geodesic,
    show_labels,
    show_mesh,
    show_scalars,
    show_vectors,
    to_polydata,
)
from manifold_nets.viz.colors import colors_of  # noqa: E402
from manifold_nets.viz.plots import (  # noqa: E402
    plot_bars,
    plot_training,
    read_errors,
    read_evaluation,
    read_metrics,
)
from manifold_nets.viz.views import legend_entries, new_plotter  # noqa: E402
from tests.viz._images import foreground, read_png  # noqa: E402

W, H = 160, 120


from tests.viz.test_inputs import _lines  # noqa: E402

# ------------------------------------------------------------------------------- label files


def test_text_label_beyond_int64_is_a_parse_error_naming_the_line(sphere, tmp_path):
    f = _lines(tmp_path / "l.txt", [0, 2**63] + [0] * 78)       # was an OverflowError traceback
    with pytest.raises(MeshParseError, match=r"l.txt: line 2: expected an integer in \[-2\*\*63, 2\*\*63\) "
                                              r"\(got '9223372036854775808'\)"):
        read_labels(f, sphere)


def test_large_text_labels_are_read_exactly(sphere, tmp_path):
    big = 2**53 + 1                                             # was rounded through float
    lab = read_labels(_lines(tmp_path / "l.txt", [big] + [0] * 79), sphere)
    assert int(lab.values[0]) == big


@pytest.mark.parametrize("array, words", [
    (np.ones(80, complex), "expected integer labels (got dtype complex128)"),      # was a TypeError
    (np.full(80, 2**64 - 1, np.uint64), "expected integer labels below 2**63"),     # was -1: unlabelled
    (np.full(80, 1e30), "expected integer labels (got 1e+30 at index 0"),           # was INT64_MIN
])
def test_npy_labels_that_do_not_fit_int64_are_refused(sphere, tmp_path, array, words):
    np.save(tmp_path / "l.npy", array)
    with pytest.raises(MeshShapeError) as e:
        read_labels(tmp_path / "l.npy", sphere)
    assert words in str(e.value)


def test_complex_or_uint64_maps_are_refused(tmp_path):
    np.save(tmp_path / "c.npy", np.ones(42, complex))
    with pytest.raises(MeshShapeError, match=r"expected integer vertex indices \(got dtype complex128\)"):
        read_map(tmp_path / "c.npy", 42, 42)
    np.save(tmp_path / "u.npy", np.full(42, 2**64 - 1, np.uint64))
    with pytest.raises(MeshShapeError, match="below 2"):
        read_map(tmp_path / "u.npy", 42, 42)


def test_complex_and_columnless_scalars_are_refused(sphere, tmp_path):
    np.save(tmp_path / "c.npy", np.arange(42) * (1 + 1j))     # imaginary part was dropped silently
    with pytest.raises(MeshShapeError, match=r"expected real scalar values \(got dtype complex128; .*--field"):
        read_scalars(tmp_path / "c.npy", sphere)
    np.save(tmp_path / "e.npy", np.ones((42, 0)))             # was a plain surface, exit 0
    with pytest.raises(MeshShapeError, match=r"expected at least one column of values \(got shape \(42, 0\)\)"):
        read_scalars(tmp_path / "e.npy", sphere)


# ------------------------------------------------------------------------------- colours


def test_huge_label_values_cost_nothing():
    t = time.perf_counter()
    rgb = labels_to_rgb([1, 10**12, -1])                      # was a 2.7 TiB allocation
    assert time.perf_counter() - t < 1.0
    assert rgb[0].tolist() == label_colors(2)[1].tolist() and rgb[2].tolist() == [220, 220, 220]
    entries = legend_entries(np.array([0, 10**12, -1]), ["a"])
    assert [e[0] for e in entries] == ["a", f"part {10**12}", "unlabelled"]


def test_colors_of_matches_label_colors():
    idx = np.array([45, 3, 3, 0, 21, -1])
    ref = np.vstack([label_colors(46), [[220, 220, 220]]])
    assert (colors_of(idx) == ref[idx]).all()
    assert label_colors(-1).shape == (0, 3)                   # was a broadcasting ValueError


# ------------------------------------------------------------------------------- views: typed errors


def test_view_arguments_get_typed_errors(sphere, tmp_path):
    V, F = sphere.V, sphere.F
    p = new_plotter(off_screen=True, window_size=(W, H))
    try:
        with pytest.raises(MeshTypeError, match=r"value: expected real numbers \(got dtype <U1\)"):
            show_scalars((V, F), np.array(["a"] * 42), plotter=p)
        with pytest.raises(MeshTypeError, match="complex128"):
            show_scalars((V, F), np.ones(42, complex), plotter=p)
        with pytest.raises(MeshShapeError, match=r"expected clim = \[low, high\]"):
            show_scalars((V, F), np.arange(42), clim=[5, 1], plotter=p)
        with pytest.raises(MeshShapeError, match="expected integer values .*complex128"):
            show_labels((V, F), np.ones(80, complex), plotter=p)
        with pytest.raises(MeshShapeError, match=r"map: expected integer target vertex indices \(got 0.5"):
            show_correspondence((V, F), (V, F), np.arange(42) + 0.5, plotter=p)   # was truncated to 0
        with pytest.raises(MeshShapeError, match=r"eigenfunction: expected an index >= 0 \(got 1.5\)"):
            show_eigenfunctions((V, F), 1.5, plotter=p)
        with pytest.raises(FaceIndexError, match=r"got True"):
            show_geodesic((V, F), True, plotter=p)
        with pytest.raises(MeshShapeError, match="n_arrows"):
            show_vectors((V, F), np.ones((42, 3)), n_arrows=0, plotter=p)
        with pytest.raises(FaceIndexError, match=r"F: expected vertex indices in \[0, 42\)"):
            show_mesh((V, np.array([[0, 1, 99]])), plotter=p)       # was drawn from stray memory
        with pytest.raises(FaceIndexError):
            to_polydata(V, np.array([[0, 1, -1]]))
    finally:
        p.close()


@pytest.mark.parametrize("size", [(0, 0), (-5, 10), (100.5, 80)])
def test_bad_picture_sizes_are_refused(sphere, tmp_path, size):
    with pytest.raises(MeshShapeError, match=r"expected \(width, height\) in pixels"):
        new_plotter(off_screen=True, window_size=size)
    p = show_mesh(sphere, plotter=new_plotter(off_screen=True, window_size=(W, H)))
    try:
        with pytest.raises(MeshShapeError, match=r"size: expected \(width, height\)"):   # was 300 x 300
            screenshot(p, tmp_path / "x.png", size=size)
    finally:
        p.close()
    assert not (tmp_path / "x.png").exists()


def test_screenshot_refuses_a_name_that_is_not_png(sphere, tmp_path):
    p = show_mesh(sphere, plotter=new_plotter(off_screen=True, window_size=(W, H)))
    try:
        with pytest.raises(UnknownFormatError, match=r"expected a file name ending in .png \(got .jpg\)"):
            screenshot(p, tmp_path / "x.jpg")
    finally:
        p.close()
    assert not (tmp_path / "x.jpg").exists()


# ------------------------------------------------------------------------------- views: pictures


def _picture(p, tmp_path, name="x.png"):
    out = screenshot(p, tmp_path / name, size=(W, H))
    p.close()
    return read_png(out)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_very_large_and_very_small_meshes_look_like_unit_ones(rendering, sphere, tmp_path, scale):
    ref = _picture(show_mesh(sphere, plotter=new_plotter(off_screen=True)), tmp_path, "ref.png")
    img = _picture(show_mesh((sphere.V * scale, sphere.F), plotter=new_plotter(off_screen=True)), tmp_path)
    fg, fg_ref = foreground(img), foreground(ref)
    assert abs(fg.mean() - fg_ref.mean()) < 0.01               # was nothing at all (1e-30)
    assert abs(img[fg].mean() - ref[fg_ref].mean()) < 10       # was a black silhouette (1e30)


def test_tiny_mesh_geodesic_marker_and_arrows_share_the_drawing_scale(rendering, sphere, tmp_path):
    V, F = sphere.V * 1e-30, sphere.F
    p = show_geodesic((V, F), 0, plotter=new_plotter(off_screen=True))
    show_vectors((V, F), np.tile([0.0, 0.0, 1.0], (42, 1)), plotter=p)
    img = _picture(p, tmp_path)
    assert foreground(img[: int(0.8 * H)]).mean() > 0.15      # the surface, not just the colour bar


@pytest.mark.parametrize("magnitude", [1e300, 1e-300])
def test_arrows_of_huge_or_tiny_vectors_are_drawn(rendering, sphere, tmp_path, magnitude):
    p = show_vectors(sphere, np.tile([0.0, 0.0, magnitude], (42, 1)), plotter=new_plotter(off_screen=True))
    img = _picture(p, tmp_path)                                # the norms over/underflowed: no arrow
    assert foreground(img).mean() > 0.01


def test_a_huge_label_is_drawn_in_its_own_colour(rendering, sphere, tmp_path):
    lab = np.zeros(80, dtype=np.int64)
    lab[::2] = 10**12
    p = show_labels(sphere, lab, legend=False, lighting=False, plotter=new_plotter(off_screen=True))
    img = _picture(p, tmp_path)
    for c in (label_colors(1)[0], colors_of([10**12])[0]):
        d = np.abs(img.astype(int) - c.astype(int)).max(axis=2)
        assert (d <= 3).sum() > 50


def test_show_labels_refuses_labels_below_minus_one_like_read_labels(sphere, tmp_path):
    lab = np.zeros(80, dtype=np.int64)
    lab[7] = -100                                              # was drawn as "unlabelled"
    with pytest.raises(MeshShapeError, match=r"^labels: expected labels >= -1 \(-1: unlabelled\) "
                                             r"\(got -100 at face 7\)$"):
        show_labels(sphere, lab)
    vlab = np.full(42, -1, dtype=np.int64)
    vlab[3] = -2
    with pytest.raises(MeshShapeError, match=r"\(got -2 at vertex 3\)"):
        show_labels(sphere, vlab)
    f = _lines(tmp_path / "l.txt", lab.tolist())             # the file reader says the same
    with pytest.raises(MeshShapeError, match=r"expected labels >= -1 \(-1: unlabelled\) \(got -100 at face 7\)"):
        read_labels(f, sphere)


# ------------------------------------------------------------------------------- plots


@pytest.mark.parametrize("doc, words", [
    ({"errors": None}, 'expected lists of numbers under "errors" (got null)'),
    ({"errors": {"a": None}}, "(got null for 'a')"),
    ({"errors": 0.1}, "(got float)"),
    ({"errors": {}}, 'expected at least one curve under "errors" (got {})'),
    ({"errors": [None, None]}, "expected at least one finite error in 'e_errors' (got 2 non-finite values)"),
])
def test_error_files_without_a_curve_are_refused(tmp_path, doc, words):
    f = tmp_path / "e_errors.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(MeshParseError) as e:                    # was an empty panel, exit 0
        read_errors(f)
    assert words in str(e.value)


@pytest.mark.parametrize("text, words", [
    ("epoch,train_loss\n", "expected at least one row of values after the header (got none)"),
    ("epoch,train_loss,val_accuracy\n1,nan,\n2,,nan\n", "expected a finite value in some column"),
])
def test_metrics_without_values_are_refused(tmp_path, text, words):
    (tmp_path / "metrics.csv").write_text(text)
    with pytest.raises(MeshParseError) as e:
        read_metrics(tmp_path)
    assert words in str(e.value)


def test_evaluation_json_errors_name_the_entry_not_line_0(tmp_path):
    f = tmp_path / "eval.json"
    f.write_text(json.dumps({"per_category": {"chair": "x"}}))
    with pytest.raises(MeshParseError, match=r"eval.json: expected a number in entry 'chair' \(got 'x'\)"):
        read_evaluation(f)
    f.write_text(json.dumps({"per_category": {}}))             # was an empty bar panel
    with pytest.raises(MeshParseError, match="expected per_category, per_part_iou or per_mesh entries"):
        read_evaluation(f)


def test_infinite_bars_are_not_drawn_as_huge(tmp_path):
    ax = plot_bars({"a": float("inf"), "b": 0.5, "c": float("nan")})
    widths = [r.get_width() for r in ax.patches]
    assert widths == [0.0, 0.5, 0.0]                           # inf was 1.8e308
    assert [t.get_text().strip() for t in ax.texts] == ["n/a", "50.0%", "n/a"]


def test_plot_training_checks_its_columns():
    with pytest.raises(MeshShapeError, match="expected an 'epoch' column"):
        plot_training({"loss": np.ones(3)})
    with pytest.raises(MeshShapeError, match=r"metrics\['train_loss'\]: expected 3 values, one per epoch \(got 2\)"):
        plot_training({"epoch": np.arange(3), "train_loss": np.ones(2)})


def test_viewer_picks_the_right_vertex_of_a_rescaled_drawing(rendering, sphere):
    from manifold_nets.viz.interactive import Layer, Viewer
    from manifold_nets.viz.views import drawing_scale

    V = sphere.V * 1e-30
    lab = np.where(np.arange(80) < 40, 0, 10**12)
    v = Viewer((V, sphere.F), [Layer("labels", "labels", lab, "face")])
    p = v.build(off_screen=True, window_size=(W, H))
    try:
        k = drawing_scale(p, V)
        assert k > 1e20                                        # drawn near unit size
        assert v.nearest_vertex(V[17] * k) == 17               # picked points are drawing coordinates
        assert "legend" in p.actors or p.legend is not None    # the 10**12 part did not stop the legend
    finally:
        p.close()
