"""Training curves, correspondence error curves and bars; ``manifold-nets plot``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pyvista")

from manifold_nets.errors import MeshError, MeshFileNotFoundError, MeshParseError  # noqa: E402
from manifold_nets.viz.plots import (  # noqa: E402
    error_curve,
    plot_bars,
    plot_error_curves,
    plot_run,
    plot_training,
    read_errors,
    read_evaluation,
    read_metrics,
)
from manifold_nets_apps.cli import main  # noqa: E402
from tests.viz._images import read_png  # noqa: E402

COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_accuracy", "lr", "seconds"]


def _run_dir(tmp_path, n=6, val_missing_at=None):
    d = tmp_path / "run"
    d.mkdir()
    rows = []
    for e in range(1, n + 1):
        rows.append({"epoch": e, "train_loss": 2.0 / e, "train_accuracy": 1 - 0.5 / e,
                     "val_accuracy": "" if e == val_missing_at else 0.9 - 0.4 / e,
                     "lr": 0.01, "seconds": 1.5})
    with open(d / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    (d / "metrics.json").write_text(json.dumps(
        [{k: (None if v == "" else v) for k, v in r.items()} for r in rows]))
    return d


def test_read_metrics_csv_and_json_agree(tmp_path):
    d = _run_dir(tmp_path, val_missing_at=3)
    a = read_metrics(d / "metrics.csv")
    b = read_metrics(d / "metrics.json")
    assert list(a) == COLUMNS == list(b)
    np.testing.assert_allclose(a["train_loss"], [2.0, 1.0, 2 / 3, 0.5, 0.4, 2 / 6])
    assert np.isnan(a["val_accuracy"][2]) and np.isnan(b["val_accuracy"][2])
    np.testing.assert_array_equal(np.nan_to_num(a["val_accuracy"]), np.nan_to_num(b["val_accuracy"]))
    assert read_metrics(d)["epoch"].tolist() == [1, 2, 3, 4, 5, 6]   # the folder finds the csv


def test_read_metrics_bad_files(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,train_loss\n1,0.5\n2,abc\n")
    with pytest.raises(MeshParseError, match=r"line 3: expected a number in column 'train_loss' \(got 'abc'\)"):
        read_metrics(p)
    p.write_text("step,loss\n1,2\n")
    with pytest.raises(MeshParseError, match="expected an 'epoch' column"):
        read_metrics(p)
    p.write_text("epoch,train_loss\n1,0.5,7\n")
    with pytest.raises(MeshParseError, match=r"line 2: expected 2 values \(got 3\)"):
        read_metrics(p)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeshFileNotFoundError, match="metrics.csv or metrics.json"):
        read_metrics(tmp_path / "empty")


def test_error_curve_hand_computed():
    t, f = error_curve([0.0, 0.05, 0.05, 0.2], [0.0, 0.05, 0.1, 0.3])
    assert f.tolist() == [0.25, 0.75, 0.75, 1.0]
    _, f = error_curve([np.nan, 0.0, 0.2], [0.1])
    assert f.tolist() == [0.5]                       # NaN left out, as the correspondence task does


def test_axes_functions_draw_what_they_are_given(tmp_path):
    cols = read_metrics(_run_dir(tmp_path))
    ax = plot_training(cols)
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels == ["train_loss"]
    assert ax.get_legend() is not None and len(ax.get_legend().get_texts()) == 3
    ax = plot_error_curves({"ours": [0.0, 0.1], "theirs": [0.2, 0.3]})
    assert [ln.get_label().split(" (")[0] for ln in ax.get_lines()] == ["ours", "theirs"]
    ax = plot_bars({"head": 0.9, "leg": float("nan")})
    assert [t.get_text() for t in ax.texts] == [" 90.0%", " n/a"]


def test_evaluation_and_error_files(tmp_path):
    ev = tmp_path / "evaluation.json"
    ev.write_text(json.dumps({"per_part_iou": {"head": 0.9, "arm": None},
                              "per_mesh": [{"name": "m0", "area_weighted_accuracy": 0.8}]}))
    bars = read_evaluation(ev)
    assert list(bars) == ["per-part IoU", "per-mesh area weighted accuracy"]
    assert bars["per-part IoU"]["head"] == 0.9 and np.isnan(bars["per-part IoU"]["arm"])
    (tmp_path / "e.json").write_text(json.dumps({"errors": {"a": [0.1, 0.2], "b": [0.0]}}))
    assert list(read_errors(tmp_path / "e.json")) == ["a", "b"]
    np.savetxt(tmp_path / "errs.txt", [0.1, -0.2])
    with pytest.raises(MeshParseError, match="expected non-negative errors"):
        read_errors(tmp_path / "errs.txt")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(MeshError, match="per_category, per_part_iou or per_mesh"):
        read_evaluation(tmp_path / "other.json")


def test_plot_run_writes_one_png_with_every_panel(tmp_path):
    d = _run_dir(tmp_path)
    (d / "eval.json").write_text(json.dumps({"per_category": {"human": 0.9, "vase": 0.8}}))
    np.save(d / "geodesic_errors.npy", np.linspace(0, 0.2, 50))
    out = tmp_path / "out" / "plot.png"
    out.parent.mkdir()
    titles = plot_run(d, out)
    assert titles == ["training (run)", "per-category accuracy (eval)", "correspondence error"]
    img = read_png(out)
    assert img.shape[1] == 700 and img.shape[0] > 600 and img.std() > 10


def test_cli_plot(tmp_path, capsys):
    d = _run_dir(tmp_path)
    out = tmp_path / "p.png"
    assert main(["plot", str(d), "-o", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("args, code, words", [
    (["{empty}", "-o", "{tmp}/p.png"], 1, "expected metrics.csv, metrics.json, an evaluation JSON"),
    (["{tmp}/missing", "-o", "{tmp}/p.png"], 1, "got no such file"),
    (["{run}", "-o", "{tmp}/p.jpg"], 2, "expected a file name ending in .png, .pdf, .svg"),
    (["{run}", "-o", "{tmp}/run/metrics.csv/p.png"], 4, "expected a file in a folder"),
    (["{run}/metrics.csv", "{tmp}/junk.txt", "-o", "{tmp}/p.png"], 1, "expected metrics.csv/json, an evaluation"),
])
def test_cli_plot_bad_input(tmp_path, capsys, args, code, words):
    run = _run_dir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.txt").write_text("1\n")
    argv = ["plot"] + [a.format(tmp=tmp_path, run=run, empty=tmp_path / "empty") for a in args]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("manifold-nets: error: ") and words in err
    assert "Traceback" not in err
