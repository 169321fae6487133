"""``manifold-nets segment train``: a short run on a Labeled-PSB-style folder and on the synthetic
set, resume, and bad input (one line, the documented exit code, no traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from manifold_nets import write_mesh  # noqa: E402
from manifold_nets.nn import load  # noqa: E402
from manifold_nets.shapes import uv_sphere  # noqa: E402
from manifold_nets_apps.cli import main  # noqa: E402
from manifold_nets_apps.common import EXIT_FAILED, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE  # noqa: E402

RUN_FILES = ("model.pt", "checkpoint.pt", "config.json", "metrics.csv", "metrics.json")
FAST = ["--epochs", "2", "--width", "16", "--n-blocks", "1", "--quiet"]


@pytest.fixture(scope="module")
def psb_folder(tmp_path_factory):
    """A Labeled PSB layout: Blob/<id>.off + <id>_labels.txt, 5 deformed spheres labelled
    top / bottom by height (part-name lines each followed by 1-based face indices)."""
    root = tmp_path_factory.mktemp("psb")
    cat = root / "Blob"
    cat.mkdir()
    V0, F = uv_sphere(10, 20)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        V = V0 * rng.uniform(0.7, 1.3, size=3)
        write_mesh(cat / f"{i}.off", V, F)
        top = V[F].mean(axis=1)[:, 2] > 0
        lines = []
        for name, mask in (("top", top), ("bottom", ~top)):
            lines += [name, " ".join(str(j + 1) for j in np.flatnonzero(mask))]
        (cat / f"{i}_labels.txt").write_text("\n".join(lines) + "\n")
    return root


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_train_on_a_psb_folder(psb_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, err = _run(["segment", "train", "--data", psb_folder, "--format", "labeled-psb",
                              "--category", "Blob", "--out", out, "--val-fraction", "0.2", "--standardize",
                              "--class-weights", "sqrt", "--cache-dir", tmp_path / "cache", *FAST], capsys)
    assert code == EXIT_OK, err
    assert load(out / "model.pt").input_std.shape == (16,)  # --standardize: statistics in the model
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["format"] == "labeled-psb" and cfg["data"]["category"] == "Blob"
    assert cfg["segmentation"]["class_weights"] == "sqrt"
    assert sorted(cfg["data"]["part_names"]) == ["bottom", "top"]
    assert len(cfg["data"]["val"]["meshes"]) == 1 and len(cfg["data"]["train"]["meshes"]) == 4
    assert "epochs (best epoch" in stdout and "Traceback" not in err
    assert len((out / "metrics.csv").read_text().splitlines()) == 3
    # --resume of a finished run: nothing left to do, same files
    before = (out / "metrics.json").read_text()
    code, stdout, err = _run(["segment", "train", "--data", psb_folder, "--category", "Blob", "--out", out,
                              "--resume", "--quiet"], capsys)
    assert code == EXIT_OK, err
    assert (out / "metrics.json").read_text() == before


def test_train_on_the_synthetic_set(tmp_path, capsys):
    out = tmp_path / "syn"
    code, stdout, err = _run(["segment", "train", "--data", "synthetic", "--n-meshes", "4", "--out", out,
                              "--features", "xyz", "--cache-dir", tmp_path / "cache", *FAST],
                             capsys)
    assert code == EXIT_OK, err
    assert all((out / n).is_file() for n in RUN_FILES)
    cfg = json.loads((out / "config.json").read_text())
    # by default no validation split: all four meshes train, model.pt is the last epoch's
    assert cfg["data"]["format"] == "synthetic" and cfg["data"]["val"] is None
    assert len(cfg["data"]["train"]["meshes"]) == 4
    assert "epochs (best epoch 2" in stdout
    assert cfg["segmentation"]["features"] == "xyz" and cfg["segmentation"]["standardize"] is False


@pytest.mark.parametrize("argv,code,fragment", [
    (["--data", "{d}/missing"], EXIT_FAILED, "expected a data folder (got no such folder)"),
    (["--data", "{psb}", "--category", "Nope"], EXIT_FAILED, "Nope"),
    (["--data", "{psb}", "--category", "Blob", "--family", "resnet"], EXIT_USAGE, "invalid choice: 'resnet'"),
    (["--data", "{psb}", "--category", "Blob", "--epochs", "0"], EXIT_USAGE, "positive integer"),
    (["--data", "{psb}", "--category", "Blob", "--val-fraction", "1.5"], EXIT_USAGE, "[0, 1)"),
    (["--data", "{psb}", "--category", "Blob", "--resume"], EXIT_USAGE, "no checkpoint.pt"),
    (["--data", "{psb}", "--category", "Blob", "--device", "tpu"], EXIT_USAGE, "argument --device: expected"),
])
def test_bad_input_is_one_line(argv, code, fragment, psb_folder, tmp_path, capsys):
    argv = [a.format(d=tmp_path, psb=psb_folder) for a in argv]
    got, out, err = _run(["segment", "train", *argv, "--out", tmp_path / "run", *FAST], capsys)
    assert got == code, err
    assert fragment in err
    assert "Traceback" not in err
    if code == EXIT_FAILED:
        assert len(err.strip().splitlines()) == 1 and err.startswith("manifold-nets: error: ")


def test_out_under_a_file_is_an_output_error(psb_folder, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    code, _, err = _run(["segment", "train", "--data", psb_folder, "--category", "Blob",
                         "--out", tmp_path / "f" / "run", *FAST], capsys)
    assert code == EXIT_OUTPUT and "Traceback" not in err


def test_an_earlier_run_needs_resume_or_overwrite(psb_folder, tmp_path, capsys):
    """A second `segment train` into a run folder is refused before any work (it used to replace
    the run's files and exit 0); --overwrite starts over; a folder another live process holds is
    an output error (exit 4)."""
    import socket
    import subprocess
    import sys

    from manifold_nets.tasks.training import LOCK_NAME

    out = tmp_path / "run"
    base = ["segment", "train", "--data", psb_folder, "--category", "Blob", "--out", out, *FAST]
    assert _run(base, capsys)[0] == EXIT_OK
    before = (out / "config.json").read_text()
    code, _, err = _run(base, capsys)
    assert code == EXIT_USAGE and "expected a folder without an earlier run (got config.json" in err
    assert "pass --resume to finish it or --overwrite to start over" in err and len(err.splitlines()) == 1
    assert (out / "config.json").read_text() == before
    code, _, err = _run([*base, "--resume", "--overwrite"], capsys)
    assert code == EXIT_USAGE and "--overwrite: expected either --resume or --overwrite (got both)" in err
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK_NAME).write_text(f"{holder.pid} {socket.gethostname()}\n")
        code, _, err = _run([*base, "--overwrite"], capsys)
        assert code == EXIT_OUTPUT and f"held by process {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait()
    code, _, err = _run([*base, "--overwrite"], capsys)  # the holder is gone: its lock is stale
    assert code == EXIT_OK, err
    assert not (out / LOCK_NAME).exists()
