"""``manifold-nets correspond SRC TGT -o MAP`` and ``manifold-nets correspond eval PAIRS_DIR``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from manifold_nets.io import write_mesh
from manifold_nets_apps.cli import main
from tests.geometry.test_fmaps import ASYM, bumpy, renumbered_moved


@pytest.fixture()
def pair(tmp_path):
    V, F = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(V, F, seed=2)
    write_mesh(tmp_path / "a.ply", V, F)
    write_mesh(tmp_path / "b.obj", Vb, Fb)
    return tmp_path / "a.ply", tmp_path / "b.obj", true


def test_map_text_npy_and_colors(pair, tmp_path, capsys):
    a, b, true = pair
    out = tmp_path / "out" / "map.txt"
    assert main(["correspond", str(a), str(b), "-o", str(out), "--k", "40", "--colors", str(tmp_path / "view")]) == 0
    got = np.array([int(x) for x in out.read_text().split()])
    assert got.shape == true.shape and (got == true).mean() > 0.99
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "view_source.ply").exists() and (tmp_path / "view_target.ply").exists()
    assert main(["correspond", str(a), str(b), "-o", str(tmp_path / "m.npy"), "--k", "40", "--refine", "none"]) == 0
    assert (np.load(tmp_path / "m.npy") == true).mean() > 0.9


def test_usage_and_input_errors(pair, tmp_path, capsys):
    a, b, _ = pair
    assert main(["correspond", str(a), str(b)]) == 2
    assert "expected -o MAP" in capsys.readouterr().err
    assert main(["correspond", str(a), "-o", "x.txt"]) == 2
    assert main(["correspond", str(a), str(b), "-o", str(tmp_path / "x.txt"), "--json"]) == 2
    assert main(["correspond", str(a), str(b), "-o", str(tmp_path / "x.txt"), "--k", "10", "--k-init", "20"]) == 2
    assert main(["correspond", str(a), str(tmp_path / "missing.ply"), "-o", str(tmp_path / "x.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("manifold-nets: error:") and "missing.ply" in err and "Traceback" not in err
    assert main(["correspond", str(a), str(b), "-o", str(tmp_path)]) == 4


def test_eval_over_a_pairs_folder(tmp_path, capsys):
    from manifold_nets.data.remeshed_pairs import build_remeshed_pairs

    V, F = bumpy(ASYM)
    write_mesh(tmp_path / "p0.ply", V, F)
    write_mesh(tmp_path / "p1.ply", V * [1.1, 1.0, 0.95], F)
    build_remeshed_pairs({"blob": [tmp_path / "p0.ply", tmp_path / "p1.ply"]}, tmp_path / "pairs",
                         resolution=(0.6, 0.8), seed=3)
    assert main(["correspond", "eval", str(tmp_path / "pairs"), "--k", "40", "--json",
                 "-o", str(tmp_path / "res.json")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["summary"]["n_pairs"] == 2 and len(res["pairs"]) == 2
    assert all(r["descriptors"] in ("hks", "wks") for r in res["pairs"])  # the kind "auto" kept
    assert res["summary"]["mean_error"] < 0.05 and res["summary"]["n_mirrored"] == 0
    assert json.loads((tmp_path / "res.json").read_text())["summary"]["n_pairs"] == 2
    assert main(["correspond", "eval", str(tmp_path / "pairs"), "--k", "40", "--sample", "50"]) == 0
    out = capsys.readouterr().out
    assert "2 pairs: mean error x100" in out and "p0" in out
    assert main(["correspond", "eval", str(tmp_path / "nothing")]) == 1
    assert "pairs.tsv" in capsys.readouterr().err
    assert main(["correspond", "eval"]) == 2


def test_a_triangle_soup_is_mapped_with_a_one_line_warning(pair, tmp_path, capsys):
    """A soup (three vertices of its own per facet, as STL files and some PLYs store meshes): the
    map is written, and a one-line warning names the soup and says how to merge its vertices
    (no traceback)."""
    a, b, _ = pair
    from manifold_nets import read_mesh

    m = read_mesh(a)
    soup_V = m.V[m.F.ravel()]
    write_mesh(tmp_path / "soup.ply", soup_V, np.arange(soup_V.shape[0]).reshape(-1, 3))
    out = tmp_path / "soup_map.txt"
    assert main(["correspond", str(tmp_path / "soup.ply"), str(b), "-o", str(out), "--k", "20",
                 "--k-init", "10"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(lines) == 1 and lines[0].startswith("manifold-nets: warning: source: ")
    assert "triangle soup" in lines[0] and "--steps merge-vertices" in lines[0] and "Traceback" not in err
    assert len(out.read_text().split()) == soup_V.shape[0]
    # the merged mesh maps without a warning
    assert main(["correspond", str(a), str(b), "-o", str(out), "--k", "20", "--k-init", "10"]) == 0
    assert "warning" not in capsys.readouterr().err
