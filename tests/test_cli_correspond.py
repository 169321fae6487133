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
    assert res["failures"] == [] and res["summary"]["n_failed"] == 0
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


CUBE_OBJ = """v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
f 1 4 3 2
f 5 6 7 8
f 1 2 6 5
f 2 3 7 6
f 3 4 8 7
f 4 1 5 8
"""


def test_quad_meshes_need_and_take_triangulate(tmp_path, capsys):
    """A mesh of quads: the error's hint names the command's --triangulate (not the Python
    API's triangulate=True), and --triangulate maps it (map and eval forms)."""
    (tmp_path / "cube.obj").write_text(CUBE_OBJ)
    cube, out = str(tmp_path / "cube.obj"), tmp_path / "m.txt"
    assert main(["correspond", cube, cube, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("manifold-nets: error: ") and "cube.obj" in err
    assert "triangulate with --triangulate" in err and "triangulate=True" not in err
    assert not out.exists()
    assert main(["correspond", cube, cube, "-o", str(out), "--triangulate"]) == 0
    got = np.array([int(x) for x in out.read_text().split()])
    assert got.shape == (8,) and got.min() >= 0 and got.max() < 8
    # eval reads its meshes the same way
    (tmp_path / "gt.txt").write_text("\n".join(str(i) for i in range(8)) + "\n")
    (tmp_path / "pairs.tsv").write_text("source\ttarget\tground_truth\ncube.obj\tcube.obj\tgt.txt\n")
    capsys.readouterr()
    assert main(["correspond", "eval", str(tmp_path), "--json"]) == 1
    cap = capsys.readouterr()
    assert "line 2: " in cap.err and "triangulate with --triangulate" in cap.err
    assert "triangulate=True" not in cap.out + cap.err
    assert main(["correspond", "eval", str(tmp_path), "--json", "--triangulate"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["summary"]["n_pairs"] == 1 and res["failures"] == []
    assert main(["correspond", "train", str(tmp_path), "--out", str(tmp_path / "run"), "--triangulate"]) == 2


def _small_pair(folder):
    V, F = bumpy(ASYM, 2)
    Vb, Fb, true = renumbered_moved(V, F, seed=2)
    write_mesh(folder / "a.ply", V, F)
    write_mesh(folder / "b.off", Vb, Fb)
    return V, true


def test_eval_reports_every_failed_pair_with_its_line_and_goes_on(tmp_path, capsys):
    V, true = _small_pair(tmp_path)
    np.savetxt(tmp_path / "gt.txt", true, fmt="%d")
    np.savetxt(tmp_path / "short.txt", true[:-1], fmt="%d")
    (tmp_path / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")
    lines = ["source\ttarget\tground_truth",
             "a.ply\tb.off\tgt.txt",            # 2: good
             "a.ply\tmissing.off\tgt.txt",      # 3: no such mesh
             "a.ply\tb.off\tshort.txt",         # 4: ground truth one entry short
             "a.ply\tbad.off\tgt.txt",          # 5: malformed mesh
             "a.ply\tb.off",                    # 6: too few columns
             "",
             "a.ply\tb.off\tgt.txt\tg"]         # 8: good
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    tsv = tmp_path / "pairs.tsv"
    args = ["correspond", "eval", str(tmp_path), "--k", "20", "--k-init", "10"]
    assert main(args + ["--json", "-o", str(tmp_path / "res.json")]) == 1
    cap = capsys.readouterr()
    res = json.loads(cap.out)
    assert json.loads((tmp_path / "res.json").read_text()) == res
    assert [r["group"] for r in res["pairs"]] == ["", "g"] and res["summary"]["n_pairs"] == 2
    assert res["summary"]["mean_error"] < 0.05
    expect = {3: ("missing.off", "MeshFileNotFoundError"), 4: ("short.txt", "MeshShapeError"),
              5: ("bad.off", "MeshParseError"), 6: ("pairs.tsv", "MeshParseError")}
    assert res["summary"]["n_failed"] == len(expect) == len(res["failures"])
    assert [f["line"] for f in res["failures"]] == sorted(expect)
    for f in res["failures"]:
        name, error = expect[f["line"]]
        assert f["error"] == error and f["file"] == str(tmp_path / name)
        assert f["message"].startswith(f"{tsv} line {f['line']}: {tmp_path / name}") or (
            name == "pairs.tsv" and f["message"].startswith(f"{tsv} line {f['line']}: expected 3 or 4"))
    assert f"{tmp_path / 'short.txt'}: expected one entry per source vertex, {len(V)} (got {len(V) - 1})" in cap.err
    # every failure on stderr, one line each, after the results; no traceback
    errs = [ln for ln in cap.err.splitlines() if ln.startswith("manifold-nets: error: ")]
    assert errs == [f"manifold-nets: error: {f['message']}" for f in res["failures"]]
    assert "Traceback" not in cap.err
    # text form: the good pairs' rows, the summary with the count of failures
    assert main(args) == 1
    cap = capsys.readouterr()
    assert cap.out.count(" a -> b ") == 2 and "2 pairs: mean error x100" in cap.out and "; 4 failed" in cap.out
    assert len([ln for ln in cap.err.splitlines() if " line " in ln]) == 4
    # the good lines alone: exit 0, no failures
    (tmp_path / "pairs.tsv").write_text("\n".join(lines[:2]) + "\n")
    assert main(args + ["--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["failures"] == [] and res["summary"]["n_failed"] == 0 and res["summary"]["n_pairs"] == 1


def test_output_extensions_are_checked_before_any_work(pair, tmp_path, capsys):
    a, b, true = pair
    missing = str(tmp_path / "missing.ply")
    # a mesh extension is refused (usage, exit 2) before the inputs are read (they do not exist)
    for name in ("b.ply", "map.obj", "map.json"):
        assert main(["correspond", missing, missing, "-o", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"manifold-nets: error: -o {tmp_path / name}: expected a map file ending .txt")
        assert ".vts" in err and ".npy" in err and f"(got {name[name.index('.'):]})" in err
        assert not (tmp_path / name).exists()
    assert main(["correspond", "eval", str(tmp_path / "nothing"), "-o", str(tmp_path / "res.csv")]) == 2
    assert "expected a JSON results file ending .json (got .csv)" in capsys.readouterr().err
    # .vts is the 1-based text of the same map; no extension is 0-based text
    opts = ["--k", "20", "--k-init", "10", "--refine", "none"]
    assert main(["correspond", str(a), str(b), "-o", str(tmp_path / "m.vts")] + opts) == 0
    assert main(["correspond", str(a), str(b), "-o", str(tmp_path / "m")] + opts) == 0
    one = np.array([int(x) for x in (tmp_path / "m.vts").read_text().split()])
    zero = np.array([int(x) for x in (tmp_path / "m").read_text().split()])
    assert one.shape == true.shape and (one == zero + 1).all()


def test_a_collapsed_map_is_written_with_a_one_line_warning(tmp_path, capsys):
    from manifold_nets.shapes import tetrahedron

    V, F = tetrahedron()
    write_mesh(tmp_path / "tet.ply", V, F)
    out = tmp_path / "t.txt"
    assert main(["correspond", str(tmp_path / "tet.ply"), str(tmp_path / "tet.ply"), "-o", str(out)]) == 0
    cap = capsys.readouterr()
    got = np.array([int(x) for x in out.read_text().split()])
    n_hit = len(np.unique(got))
    assert got.shape == (4,) and n_hit == 1
    lines = [ln for ln in cap.err.splitlines() if "warning" in ln]
    assert len(lines) == 1 and cap.err.count("\n") == 1
    assert lines[0].startswith("manifold-nets: warning: degenerate map: the 4 source vertices map onto only "
                               f"{n_hit} of the 4 target vertices")
    assert "symmetric" in lines[0] and "Traceback" not in cap.err
    assert f"mapped onto {n_hit} of the 4 target vertices" in cap.out
