"""``manifold-nets segment predict`` and ``segment eval`` on temporary folders: outputs read back,
bad inputs reported in one line with the documented exit code."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from manifold_nets import read_mesh, write_mesh  # noqa: E402
from manifold_nets.data.labels import face_areas  # noqa: E402
from manifold_nets_apps.cli import main  # noqa: E402

from .tasks.test_predict import PARTS, _have_maxflow, egg, make_run  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("cli_run"))


@pytest.fixture()
def meshes(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    V, F, _ = egg()
    write_mesh(d / "egg.ply", V, F)
    V2, F2, _ = egg(2)
    write_mesh(d / "small.obj", V2 * 1000, F2[::-1].copy())
    return d


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_folder_writes_ply_and_json(run, meshes, tmp_path, capsys):
    out = tmp_path / "out"
    code, so, se = _run(["segment", "predict", "--model", run, meshes, "-o", out], capsys)
    assert code == 0, se
    assert "labelled 2 of 2 meshes" in so
    for stem, src in (("egg", "egg.ply"), ("small", "small.obj")):
        inp = read_mesh(meshes / src)
        m = read_mesh(out / f"{stem}.ply")
        assert np.array_equal(m.V, inp.V) and np.array_equal(m.F, inp.F)  # original order
        fl, vl = m.face_data["label"], m.vertex_data["label"]
        assert fl.shape == (m.n_faces,) and vl.shape == (m.n_vertices,)
        assert np.issubdtype(fl.dtype, np.integer) and np.issubdtype(vl.dtype, np.integer)
        assert set(np.unique(fl)) <= {0, 1}
        info = json.loads((out / f"{stem}.json").read_text())
        assert info["part_names"] == list(PARTS) and info["labels"] == {"0": "tip", "1": "mid"}
        assert info["source"] == str(meshes / src) and info["model"].endswith("model.pt")
        areas = face_areas(m.V, m.F)
        assert info["part_area"]["tip"] == pytest.approx(areas[fl == 0].sum())
        assert sum(info["part_area"].values()) == pytest.approx(areas.sum())
    # the true labels of the egg are recovered on most of its surface
    _, _, lab = egg()
    m = read_mesh(out / "egg.ply")
    assert face_areas(m.V, m.F)[m.face_data["label"] == lab].sum() / face_areas(m.V, m.F).sum() > 0.9


def test_a_bad_input_is_reported_and_the_rest_go_on(run, meshes, tmp_path, capsys):
    (meshes / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
    out = tmp_path / "out"
    code, so, se = _run(["segment", "predict", "--model", run, meshes / "*.off", meshes / "egg.ply", "-o", out],
                        capsys)
    assert code == 1
    assert "broken.off" in se and "Traceback" not in se
    assert (out / "egg.ply").exists() and not (out / "broken.ply").exists()
    assert "labelled 1 of 2 meshes" in so


def test_a_triangle_soup_is_labelled_with_a_one_line_warning(run, meshes, tmp_path, capsys):
    m = read_mesh(meshes / "egg.ply")
    soup = m.V[m.F.ravel()]
    write_mesh(meshes / "soup.ply", soup, np.arange(soup.shape[0]).reshape(-1, 3))
    code, so, se = _run(["segment", "predict", "--model", run, meshes / "soup.ply", meshes / "egg.ply",
                         "-o", tmp_path / "out"], capsys)
    assert code == 0 and "labelled 2 of 2 meshes" in so
    warnings = [ln for ln in se.splitlines() if ln.startswith("manifold-nets: warning: ")]
    assert len(warnings) == 1 and str(meshes / "soup.ply") in warnings[0] and "triangle soup" in warnings[0]
    assert "Traceback" not in se


def test_graphcut_option(run, meshes, tmp_path, capsys):
    _have_maxflow()
    out = tmp_path / "out"
    code, so, se = _run(["segment", "predict", "--model", run / "model.pt", meshes / "egg.ply", "-o", out,
                         "--smooth", "graphcut", "--smoothness", "0.5"], capsys)
    assert code == 0, se
    assert json.loads((out / "egg.json").read_text())["smooth"] == "graphcut"


def test_default_smoothing_and_none(run, meshes, tmp_path, capsys):
    """By default the labels are the model's arg-max, as the library's; ``--smooth graphcut`` smooths
    at DEFAULT_SMOOTHNESS."""
    _have_maxflow()
    from manifold_nets import read_mesh
    from manifold_nets.tasks.predict import predict
    from manifold_nets.tasks.smoothing import DEFAULT_SMOOTHNESS, graphcut_smooth

    code, so, se = _run(["segment", "predict", "--model", run, meshes / "egg.ply", "-o", tmp_path / "d",
                         "--smooth", "graphcut"], capsys)
    assert code == 0, se
    assert json.loads((tmp_path / "d" / "egg.json").read_text())["smooth"] == "graphcut"
    code, so, se = _run(["segment", "predict", "--model", run, meshes / "egg.ply", "-o", tmp_path / "n"], capsys)
    assert code == 0, se
    assert json.loads((tmp_path / "n" / "egg.json").read_text())["smooth"] is None
    m = read_mesh(meshes / "egg.ply")
    p = predict(run, m.V, m.F)
    assert p.info["smooth"] is None
    got_none = read_mesh(tmp_path / "n" / "egg.ply").face_data["label"]
    got_default = read_mesh(tmp_path / "d" / "egg.ply").face_data["label"]
    np.testing.assert_array_equal(got_none, p.face_labels)
    want = graphcut_smooth(m.V, m.F, p.face_scores, smoothness=DEFAULT_SMOOTHNESS, init=p.face_labels)
    np.testing.assert_array_equal(got_default, want)


@pytest.mark.parametrize("case, code, fragment", [
    ("missing_model", 1, "expected a run folder or a .pt checkpoint"),
    ("corrupt_model", 1, "expected a manifold_nets checkpoint"),
    ("unreadable_mesh", 1, "could not be labelled"),
    ("no_inputs", 1, "expected mesh files"),
    ("collision", 2, "would both be written as egg.ply"),
    ("output_is_file", 4, "expected a folder"),
    ("replaces_input", 2, "would replace the input"),
    ("bad_device", 2, "argument --device: expected cpu, cuda or cuda:N"),
])
def test_bad_invocations(run, meshes, tmp_path, capsys, case, code, fragment):
    out = tmp_path / "out"
    model = run
    inputs = [meshes / "egg.ply"]
    if case == "missing_model":
        model = tmp_path / "nowhere"
    elif case == "corrupt_model":
        model = tmp_path / "bad.pt"
        model.write_bytes(b"garbage" * 10)
    elif case == "unreadable_mesh":
        (meshes / "x.ply").write_bytes(b"ply\nformat nonsense\n")
        inputs = [meshes / "x.ply"]
    elif case == "no_inputs":
        inputs = [tmp_path / "empty_dir"]
        inputs[0].mkdir()
    elif case == "collision":
        other = tmp_path / "other"
        other.mkdir()
        (other / "egg.ply").write_bytes((meshes / "egg.ply").read_bytes())
        inputs = [meshes / "egg.ply", other / "egg.ply"]
    elif case == "output_is_file":
        out.write_text("a file")
    elif case == "replaces_input":
        out = meshes
    extra = ["--device", "warp9"] if case == "bad_device" else []
    c, so, se = _run(["segment", "predict", "--model", model, *inputs, "-o", out, *extra], capsys)
    assert c == code, se
    assert fragment in se
    assert "Traceback" not in se
    # argparse's own usage errors are "manifold-nets segment predict: error: ..."
    assert se.count("manifold-nets: error:") + se.count("manifold-nets segment predict: error:") >= 1
    last = [ln for ln in se.splitlines() if ln.startswith("manifold-nets: error:")]
    assert all("\n" not in ln for ln in last)


def test_bad_model_in_a_subprocess_is_one_line(tmp_path, meshes):
    (tmp_path / "m.pt").write_bytes(b"\x00" * 64)
    r = subprocess.run([sys.executable, "-m", "manifold_nets_apps.cli", "segment", "predict", "--model",
                        str(tmp_path / "m.pt"), str(meshes / "egg.ply"), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("manifold-nets: error:")


# ------------------------------------------------------------------------------------ eval
def _psb(root, n=2):
    """A Labeled PSB layout: <root>/Egg/<id>.off + <id>_labels.txt (part name, 1-based faces)."""
    cat = root / "Egg"
    cat.mkdir(parents=True)
    for i, sub in zip(range(1, n + 1), (3, 2, 3)):
        V, F, lab = egg(sub)
        write_mesh(cat / f"{i}.off", V * (10 ** i), F)
        lines = []
        for k, name in enumerate(PARTS):
            lines += [name, " ".join(str(f + 1) for f in np.flatnonzero(lab == k))]
        (cat / f"{i}_labels.txt").write_text("\n".join(lines) + "\n")
        seg = root / "seg" / str(i)
        seg.mkdir(parents=True)
        (seg / f"{i}_0.seg").write_text("\n".join(str(v) for v in lab) + "\n")
    return root


def test_eval_text_json_and_boundaries(run, tmp_path, capsys):
    root = _psb(tmp_path / "psb")
    code, so, se = _run(["segment", "eval", "--model", run, "--data", root, "--format", "labeled-psb",
                         "--category", "Egg"], capsys)
    assert code == 0, se
    assert "area-weighted accuracy (mean over 2 meshes)" in so and "Egg/1" in so and "confusion" in so
    out = tmp_path / "r.json"
    code, so, se = _run(["segment", "eval", "--model", run, "--data", root, "--category", "Egg", "--json",
                         "--seg-dir", root / "seg", "--output", out], capsys)
    assert code == 0, se
    d = json.loads(so)
    assert d == json.loads(out.read_text())
    seg = d["segmentation"]
    assert seg["n_meshes"] == 2 and seg["area_weighted_accuracy"] > 0.85
    assert set(seg["per_part_iou"]) == set(PARTS) and len(seg["confusion"]) == 2
    b = d["boundaries"]
    assert b["n_meshes"] == 2 and b["missing"] == []
    assert 0 <= b["rand_index_error"] < 0.2 and b["per_mesh"][0]["n_references"] == 1


def test_eval_remeshed_and_rescaled(run, tmp_path, capsys):
    root = _psb(tmp_path / "psb", n=1)
    code, so, se = _run(["segment", "eval", "--model", run, "--data", root, "--category", "Egg", "--json",
                         "--remesh-resolution", "0.5", "--rescale", "1000"], capsys)
    assert code == 0, se
    d = json.loads(so)["segmentation"]
    assert d["data"]["remesh_resolution"] == 0.5 and d["data"]["rescale"] == 1000
    assert d["per_mesh"][0]["n_faces"] < 1280 * 0.6
    assert d["area_weighted_accuracy"] > 0.85


def test_eval_errors(run, tmp_path, capsys):
    root = _psb(tmp_path / "psb", n=1)
    code, _, se = _run(["segment", "eval", "--model", run, "--data", tmp_path / "nope"], capsys)
    assert code == 1 and "expected a data folder" in se
    code, _, se = _run(["segment", "eval", "--model", run, "--data", root, "--category", "Egg",
                        "--seg-dir", root / "seg", "--remesh-resolution", "0.5"], capsys)
    assert code == 2 and "--seg-dir" in se
    code, _, se = _run(["segment", "eval", "--model", tmp_path / "none", "--data", root], capsys)
    assert code == 1 and "Traceback" not in se
