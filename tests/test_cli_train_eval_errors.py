"""User mistakes around ``segment eval`` / ``segment train`` data, ``--seed``, ``--device``, label
files, wrong models and ``plot``: one line, the documented exit code, no traceback, CLI terms."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from manifold_nets import shapes, write_mesh
from manifold_nets.data.readers import MAX_PARTS, load_dataset
from manifold_nets.errors import MeshParseError, MeshWarning
from manifold_nets_apps.cli import main, out_of_memory_line
from manifold_nets_apps.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    check_model_kind,
    report_skipped,
)

from .test_cli_errors import _options


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _no_foreign_options(argv, text):
    for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", text):
        assert flag in _options(argv[0], argv[1]) or flag in argv, (flag, text)


def _psb(root, names=("tip", "mid"), n=2):
    """A small Labeled PSB category ``root/Cat``: tetrahedra with two parts each."""
    cat = root / "Cat"
    cat.mkdir(parents=True)
    V, F = shapes.tetrahedron()
    for i in range(1, n + 1):
        write_mesh(cat / f"{i}.off", V, F)
        (cat / f"{i}_labels.txt").write_text(f"{names[0]}\n1 2\n{names[1]}\n3 4\n")
    return cat


def _folder(root, big=None, n=2):
    """A ``--format folder`` set of icospheres with 6 face labels; mesh 0 gets one label ``big``."""
    root.mkdir(parents=True)
    V, F = shapes.icosphere(1)
    for i in range(n):
        lab = np.arange(len(F)) % 6
        if big is not None and i == 0:
            lab[3] = big
        write_mesh(root / f"m{i}.off", V, F)
        (root / f"m{i}.labels.txt").write_text("\n".join(str(v) for v in lab) + "\n")
    return root


# ------------------------------------------------------------------------ label files
@pytest.mark.parametrize("bad, fragment", [
    (b"big\xffroller", "line 3: expected UTF-8 text (got byte 0xff)"),
    (b"base\x001", "line 3: expected text without control characters (got '\\x00')"),
    (b"mid\x0cdle", "line 3: expected text without control characters (got '\\x0c')"),
])
def test_psb_part_name_with_a_bad_byte_is_refused_naming_file_and_line(tmp_path, capsys, bad, fragment):
    cat = _psb(tmp_path / "d")
    p = cat / "1_labels.txt"
    p.write_bytes(p.read_bytes().replace(b"mid", bad))
    with pytest.raises(MeshParseError, match=re.escape(f"{p}: {fragment}")):
        load_dataset(tmp_path / "d", "labeled-psb", category="Cat")
    argv = ["segment", "train", "--data", tmp_path / "d", "--category", "Cat", "--out", tmp_path / "run",
            "--quiet"]
    rc, out, err = _run(argv, capsys)
    assert rc == EXIT_FAILED and f"{p}: {fragment}" in _one_error_line(err)
    assert not (tmp_path / "run").exists()
    ds = load_dataset(tmp_path / "d", "labeled-psb", category="Cat", skip_bad=True)  # skipped, not renamed
    assert ds.part_names == ("mid", "tip") and [s[0] for s in ds.skipped] == [str(p)]


def test_other_label_readers_refuse_bad_bytes(tmp_path):
    root = _folder(tmp_path / "f")
    (root / "m1.labels.txt").write_bytes(b"0\n1\n\xfe\n")
    with pytest.raises(MeshParseError, match=re.escape(f"{root / 'm1.labels.txt'}: line 3: expected UTF-8 text")):
        load_dataset(root, "folder")
    (root / "m1.labels.txt").write_text("\n".join(str(i % 6) for i in range(80)) + "\n")
    (root / "m1.json").write_text(json.dumps({"part_names": ["a\u0000", "b"]}))
    with pytest.raises(MeshParseError, match="expected part names of printable characters"):
        load_dataset(root, "folder")


def test_a_stray_huge_folder_label_is_refused_with_file_and_line(tmp_path, capsys):
    for big in (MAX_PARTS, 5000, 1_000_000):
        root = _folder(tmp_path / f"d{big}", big=big)
        where = f"{root / 'm0.labels.txt'}: line 4: expected a label in [0, {MAX_PARTS - 1}]"
        with pytest.raises(MeshParseError, match=re.escape(where)):
            load_dataset(root, "folder")
        rc, _, err = _run(["segment", "train", "--data", root, "--format", "folder", "--out", tmp_path / "o",
                           "--quiet"], capsys)
        assert rc == EXIT_FAILED and where in _one_error_line(err) and f"(got {big})" in err
        assert not (tmp_path / "o").exists()
    with pytest.warns(MeshWarning, match="is it a typo"):
        ds = load_dataset(_folder(tmp_path / "ok", big=MAX_PARTS - 1), "folder")
    assert len(ds.part_names) == MAX_PARTS  # the cap itself is allowed


def test_mostly_unused_part_indices_warn_naming_file_and_label(tmp_path):
    root = _folder(tmp_path / "d", big=500)
    with pytest.warns(MeshWarning, match=re.escape(f"{root / 'm0.labels.txt'}: expected labels that use most "
                                                   f"part indices 0..500 (got label 500, which makes 501 parts "
                                                   f"of which only 7 are used")):
        ds = load_dataset(root, "folder")
    assert len(ds.part_names) == 501
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_dataset(_folder(tmp_path / "ok"), "folder").part_names) == 6


# ------------------------------------------------------------------------ memory
def test_torch_allocation_failure_is_one_line(monkeypatch, capsys, tmp_path):
    msg = ("[enforce fail at alloc_cpu.cpp:114] data. DefaultCPUAllocator: can't allocate memory: you tried "
           "to allocate 40000000000 bytes. Error code 12 (Cannot allocate memory)")
    line = out_of_memory_line(RuntimeError(msg))
    assert line.startswith("memory: expected the data and model to fit in memory (got a refused allocation "
                           "of 40 GB)")
    assert "GPU memory" in out_of_memory_line(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert out_of_memory_line(RuntimeError("something else")) is None
    assert out_of_memory_line(ValueError("out of memory")) is None

    import manifold_nets.tasks.predict as P

    def boom(*a, **k):
        raise RuntimeError(msg)

    monkeypatch.setattr(P, "load_segmentation_model", boom)
    rc, out, err = _run(["segment", "eval", "--model", tmp_path, "--data", "synthetic", "--smooth", "none"], capsys)
    assert rc == EXIT_FAILED and _one_error_line(err) == f"manifold-nets: error: {line}"

    def other(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(P, "load_segmentation_model", other)
    with pytest.raises(RuntimeError, match="a bug"):  # not hidden: only allocation failures are converted
        main(["segment", "eval", "--model", str(tmp_path), "--data", "synthetic", "--smooth", "none"])


# ------------------------------------------------------------------------ options
BAD = [
    ("--data synthetic --seed -1", "argument --seed: expected an integer in [0, 4294967295] (got -1)"),
    ("--data synthetic --seed 4294967296", "argument --seed: expected an integer in [0, 4294967295] (got 4294967296)"),
    ("--data synthetic --seed x", "argument --seed: expected an integer in [0, 4294967295] (got 'x')"),
    ("--data synthetic --device bogus", "argument --device: expected cpu, cuda or cuda:N (got 'bogus')"),
    ("--data synthetic --device cpu:0", "argument --device: expected cpu, cuda or cuda:N (got 'cpu:0')"),
    ("--data synthetic --device cuda:99", "argument --device: expected "),
    ("--data {d} --labels-on faces", "--labels-on faces: expected --format folder, whose labels may be per face "
                                     "or per vertex (got --format labeled-psb)"),
    ("--data {d} --format meshcnn --labels-on vertices", "(got --format meshcnn)"),
    ("--data synthetic --labels-on faces", "(got --format synthetic)"),
    ("--data {d} --format synthetic", "--format synthetic: expected --data synthetic (got --data {d}; leave out "
                                      "--format synthetic to read that folder)"),
    ("--data synthetic --format folder", "--data synthetic: expected no --format or --format synthetic (got "
                                         "--format folder"),
    ("--data synthetic --category Cat", "--category Cat: expected a data folder with categories (got --data "
                                        "synthetic, which has none)"),
    ("--data synthetic --n-meshes 0", "argument --n-meshes: expected a positive integer (got 0)"),
    ("--data synthetic --n-meshes -1", "argument --n-meshes: expected a positive integer (got -1)"),
]


@pytest.mark.parametrize("line, fragment", BAD, ids=[b[0] for b in BAD])
def test_eval_usage_errors_name_the_option(tmp_path, capsys, monkeypatch, line, fragment):
    """Found before the model is read (it does not exist here): exit 2, one line."""
    import manifold_nets.tasks.predict as P

    def never(*a, **k):
        raise AssertionError("the model was loaded before the command line was checked")

    monkeypatch.setattr(P, "load_segmentation_model", never)
    d = tmp_path / "data"
    d.mkdir()
    argv = ["segment", "eval", "--model", str(tmp_path / "run"), *line.format(d=d).split()]
    rc, out, err = _run(argv, capsys)
    assert rc == EXIT_USAGE, err
    assert fragment.format(d=d) in _one_error_line(err)
    _no_foreign_options(argv, out + err)


def test_seg_dir_naming_a_file_says_so(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    rc, _, err = _run(["segment", "eval", "--model", tmp_path, "--data", "synthetic", "--seg-dir",
                       tmp_path / "afile"], capsys)
    assert rc == EXIT_FAILED and "expected a folder of .seg files (got a file)" in _one_error_line(err)


# ------------------------------------------------------------------------ wrong models
def _fake_run(path, kind):
    path.mkdir()
    (path / "model.pt").write_bytes(b"not read")
    (path / "config.json").write_text(json.dumps({kind: {"epochs": 1}, "model": {}}))
    return path


def test_a_model_of_the_other_task_is_named_in_cli_terms(tmp_path, capsys):
    cor = _fake_run(tmp_path / "cor", "correspondence")
    argv = ["segment", "eval", "--model", cor, "--data", "synthetic", "--smooth", "none"]
    rc, out, err = _run(argv, capsys)
    assert rc == EXIT_FAILED
    assert _one_error_line(err) == (f"manifold-nets: error: --model {cor}: expected a segmentation model (from "
                                    f"'manifold-nets segment train') (got a correspondence model)")
    seg = _fake_run(tmp_path / "seg", "segmentation")
    with pytest.raises(CommandError, match=re.escape(f"--model {seg}: expected a correspondence model (from "
                                                     f"'manifold-nets correspond train') (got a segmentation "
                                                     f"model)")):
        check_model_kind(seg, "correspondence")
    with pytest.raises(CommandError, match="got a segmentation model"):
        check_model_kind(seg / "model.pt", "correspondence")
    check_model_kind(seg, "segmentation")
    check_model_kind(tmp_path / "nothing", "segmentation")  # unknown: left to the loader


torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def egg_run(tmp_path_factory):
    from .tasks.test_predict import make_run

    return make_run(tmp_path_factory.mktemp("egg_run"), steps=5)


def test_a_lone_checkpoint_without_part_names_names_no_library_call(tmp_path, capsys):
    from manifold_nets.nn import SegmentationNet, save

    net = SegmentationNet(in_channels=16, out_channels=2, family="diffusion", width=4, n_blocks=1)
    save(net, tmp_path / "m.pt", features={"kind": "hks", "n": 16},
         operators={"k": 32, "patches": False, "curvature": False})
    rc, _, err = _run(["segment", "eval", "--model", tmp_path / "m.pt", "--data", "synthetic", "--smooth", "none"],
                      capsys)
    line = _one_error_line(err)
    assert rc == EXIT_FAILED and "expected a segmentation model, which holds its part names" in line
    assert "save(" not in line and "labels=" not in line
    model = torch.nn.Module()
    model.pipeline = type("P", (), {"labels": ("a", "b")})()
    with pytest.raises(CommandError, match="got a segmentation model"):
        check_model_kind(tmp_path / "m.pt", "correspondence", model=model)


def test_a_model_of_other_parts_on_the_synthetic_set_names_model_and_data(egg_run, capsys):
    argv = ["segment", "eval", "--model", egg_run, "--data", "synthetic", "--n-meshes", "1", "--smooth", "none"]
    rc, out, err = _run(argv, capsys)
    line = _one_error_line(err)
    assert rc == EXIT_FAILED
    assert f"--model {egg_run}: expected a model of the parts of --data synthetic ['head'" in line
    assert "(got a model of the parts ['tip', 'mid'])" in line and "labels=" not in line
    _no_foreign_options([str(a) for a in argv], out + err)


# ------------------------------------------------------------------------ skipped meshes
def test_report_skipped_prints_one_warning_per_file(capsys):
    report_skipped([("d/1_labels.txt", "d/1_labels.txt: line 3: expected an integer face index (got 'x')"),
                    {"path": "d/2.off", "reason": "other reason\nsecond line"}])
    assert capsys.readouterr().err.splitlines() == [
        "manifold-nets: warning: skipped d/1_labels.txt: line 3: expected an integer face index (got 'x')",
        "manifold-nets: warning: skipped d/2.off: other reason"]


def test_eval_skip_bad_reports_each_skipped_file(egg_run, tmp_path, capsys):
    from .tasks.test_predict import PARTS, egg

    cat = tmp_path / "psb" / "Egg"
    cat.mkdir(parents=True)
    for i in (1, 2):
        V, F, lab = egg(2)
        write_mesh(cat / f"{i}.off", V, F)
        lines = []
        for k, name in enumerate(PARTS):
            lines += [name, " ".join(str(f + 1) for f in np.flatnonzero(lab == k))]
        (cat / f"{i}_labels.txt").write_text("\n".join(lines) + "\n")
    bad = cat / "2_labels.txt"
    bad.write_bytes(bad.read_bytes().replace(b"mid", b"m\xffd"))
    rc, out, err = _run(["segment", "eval", "--model", egg_run, "--data", tmp_path / "psb", "--category", "Egg",
                         "--skip-bad", "--smooth", "none", "--json"], capsys)
    assert rc == EXIT_OK, err
    assert [ln for ln in err.splitlines() if "skipped" in ln] == [
        f"manifold-nets: warning: skipped {bad}: line 3: expected UTF-8 text (got byte 0xff)"]
    assert json.loads(out)["segmentation"]["n_meshes"] == 1


# ------------------------------------------------------------------------ plot
def test_plot_reads_the_json_segment_eval_writes(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from manifold_nets.tasks.evaluate import to_json

    seg = {"n_meshes": 2, "part_names": ["a", "b"], "area_weighted_accuracy": 0.5,
           "per_part_iou": {"a": 0.25, "b": float("nan")},
           "per_mesh": [{"name": "m0", "n_faces": 4, "area_weighted_accuracy": 0.5, "face_accuracy": 0.5},
                        {"name": "m1", "n_faces": 4, "area_weighted_accuracy": None, "face_accuracy": None}]}
    bounds = {"per_mesh": [], "n_meshes": 2, "missing": [], "rand_index": 0.9, "rand_index_error": 0.1,
              "cut_discrepancy": 0.3, "gce": 0.2, "lce": 0.1}
    (tmp_path / "ev.json").write_text(to_json({"segmentation": seg, "boundaries": bounds}))
    rc, out, err = _run(["plot", tmp_path / "ev.json", "-o", tmp_path / "ev.png"], capsys)
    assert rc == EXIT_OK, err
    assert "per-part IoU (ev)" in out and "per-mesh area weighted accuracy (ev)" in out
    assert "Princeton metrics" in out and (tmp_path / "ev.png").stat().st_size > 0
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "eval.json").write_text(to_json({"segmentation": seg}))  # found in a run folder too
    rc, out, err = _run(["plot", tmp_path / "run", "-o", tmp_path / "r.png"], capsys)
    assert rc == EXIT_OK and "per-part IoU (eval)" in out and "Princeton" not in out
