"""Every command against a table of bad invocations: one line, the documented exit code, no
traceback, and no message that suggests an option the command does not have."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from manifold_nets import read_mesh, shapes, write_mesh
from manifold_nets_apps.cli import build_parser, main
from manifold_nets_apps.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
)


def _options(command: str, subcommand: str | None = None) -> set[str]:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    if subcommand is not None and sub._subparsers is not None:  # segment train, ...
        sub = sub._subparsers._group_actions[0].choices.get(subcommand, sub)
    opts = {"--debug", "--version", "--help"}
    for action in sub._actions:
        opts.update(o for o in action.option_strings if o.startswith("--"))
    return opts


@pytest.fixture
def files(tmp_path):
    """A small world of good and bad paths."""
    d = tmp_path
    V, F = shapes.tetrahedron()
    write_mesh(d / "tet.ply", V, F)
    write_mesh(d / "labelled.ply", V, F, vertex_data={"label": np.arange(4)})
    (d / "quad.obj").write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n")
    (d / "garbage.stl").write_bytes(b"\x00\x01not a mesh at all")
    (d / "notes.xyz").write_text("1 2 3\n")
    (d / "empty").mkdir()
    (d / "dir.obj").mkdir()
    (d / "a_file").write_text("I am a file")
    os.symlink("/dev/zero", d / "z.ply")
    os.symlink("/dev/zero", d / "z.ply.gz")
    (d / "outdir").mkdir()
    (d / "tetdata").mkdir()  # a tetrahedron has as many faces as vertices: labels on which?
    write_mesh(d / "tetdata" / "tet.ply", V, F)
    (d / "tetdata" / "tet_labels.txt").write_text("0\n1\n1\n0\n")
    return d


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


# (command line with {d} for the folder, expected exit code, fragment of the output)
BAD = [
    # info: inputs
    ("info {d}/missing.obj", EXIT_FAILED, "expected an existing mesh file"),
    ("info {d}/a_file/x.obj", EXIT_FAILED, "expected an existing mesh file"),
    ("info {d}/z.ply", EXIT_FAILED, "expected a regular file (got a character device)"),
    ("info {d}/z.ply.gz", EXIT_FAILED, "expected a regular file (got a character device)"),
    ("info {d}/garbage.stl", EXIT_FAILED, "MeshParseError"),
    ("info {d}/notes.xyz", EXIT_FAILED, "UnknownFormatError"),
    ("info {d}/dir.obj", EXIT_FAILED, "folder without mesh files"),
    ("info {d}/empty", EXIT_FAILED, "folder without mesh files"),
    ("info {d}/nothing*.obj", EXIT_FAILED, "no file matches this pattern"),
    ("info --no-triangulate {d}/quad.obj", EXIT_FAILED, "drop --no-triangulate"),
    ("info --bogus {d}/tet.ply", EXIT_USAGE, "unrecognized arguments"),
    ("info", EXIT_USAGE, "required"),
    # repair: output checked before any work, then input
    ("repair {d}/missing.obj {d}/out.stl", EXIT_USAGE, "'.stl'"),
    ("repair {d}/tet.ply {d}/out.xyz", EXIT_USAGE, "expected one of .obj, .off, .ply"),
    ("repair {d}/tet.ply {d}/outdir", EXIT_OUTPUT, "expected a file name (got an existing folder)"),
    ("repair {d}/tet.ply {d}/newname", EXIT_USAGE, "no extension"),
    ("repair {d}/tet.ply {d}/dir.obj", EXIT_OUTPUT, "expected a file name (got an existing folder)"),
    ("repair {d}/tet.ply {d}/a_file/out.ply", EXIT_OUTPUT, "under the file"),
    ("repair {d}/tet.ply {d}/out.ply --steps nonsense", EXIT_USAGE, "expected names from"),
    ("repair {d}/missing.obj {d}/out.ply", EXIT_FAILED, "expected an existing mesh file"),
    ("repair {d}/z.ply {d}/out.ply", EXIT_FAILED, "expected a regular file"),
    ("repair {d}/empty {d}/out.ply", EXIT_FAILED, "got a directory"),
    ("repair {d}/quad.obj {d}/out.ply", EXIT_FAILED, "--triangulate"),
    ("repair {d}/labelled.ply {d}/out.obj", EXIT_FAILED, "--drop-data"),
    # operators: the output folder and the cache folder are checked first
    ("operators {d}/tet.ply -o {d}/a_file", EXIT_OUTPUT, "expected a folder (got an existing file)"),
    ("operators {d}/tet.ply -o {d}/a_file/sub", EXIT_OUTPUT, "under the file"),
    ("operators {d}/tet.ply -o {d}/o --cache-dir {d}/a_file", EXIT_OUTPUT, "--cache-dir"),
    ("operators {d}/tet.ply -o {d}/o --k -1", EXIT_USAGE, "non-negative integer"),
    ("operators {d}/tet.ply -o {d}/o --k many", EXIT_USAGE, "non-negative integer"),
    ("operators {d}/missing.obj -o {d}/o", EXIT_FAILED, "expected an existing mesh file"),
    ("operators {d}/z.ply -o {d}/o", EXIT_FAILED, "expected a regular file"),
    ("operators {d}/empty -o {d}/o", EXIT_FAILED, "folder without mesh files"),
    ("operators {d}/quad.obj -o {d}/o --no-triangulate --quiet", EXIT_FAILED, "drop --no-triangulate"),
    ("operators {d}/tet.ply", EXIT_USAGE, "required"),
    # the cache folder of the segment commands and batch's target are checked before any work
    ("segment predict --model {d}/missing_run {d}/tet.ply -o {d}/o --cache-dir {d}/a_file", EXIT_OUTPUT,
     "--cache-dir"),
    ("segment train --data {d}/tetdata --format folder --out {d}/o --quiet", EXIT_FAILED,
     "matches both the face and the vertex count; say which with labels_on='faces'|'vertices' "
     "(manifold-nets segment: --labels-on faces|vertices)"),
    ("batch {d}/tet.ply -o {d}/o --do segment --model {d}/tet.ply --device warp9", EXIT_USAGE,
     "device: expected a torch device"),
    ("batch {d}/tet.ply -o {d}/o --do correspond --target {d}/outdir", EXIT_FAILED,
     "expected a target mesh file (got a folder)"),
]


@pytest.mark.parametrize("line, code, fragment", BAD, ids=[b[0].replace("{d}/", "") for b in BAD])
def test_bad_invocation(files, capsys, line, code, fragment):
    argv = line.format(d=files).split()
    rc, out, err = _run(argv, capsys)
    text = out + err
    assert rc == code, text
    assert fragment in text, text
    assert "Traceback" not in text
    if rc in (EXIT_USAGE, EXIT_OUTPUT) or argv[0] == "repair":
        errors = [ln for ln in err.splitlines() if "error" in ln]
        assert len(errors) == 1, err  # one line
    # no message suggests an option that this command does not have
    for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", text):
        assert flag in _options(argv[0], argv[1] if len(argv) > 1 else None) or flag in argv, (flag, text)
    # nothing is written by a command that stopped before its work
    if code in (EXIT_USAGE, EXIT_OUTPUT):
        assert not (files / "out.ply").exists() and not (files / "o").exists()


def test_an_output_folder_that_refuses_files_is_found_before_the_work(files, capsys, monkeypatch):
    """Root passes every ``os.access`` test, also on a read-only file system or under /proc, so
    the output folder is probed with a temporary file: the refusal (exit 4) comes before the
    repair, names the output and not the probe, and a later real write names its target."""
    import tempfile

    from manifold_nets.files import atomic_write

    real = tempfile.mkstemp

    def refuse(*a, dir=None, **k):
        if dir is not None and Path(dir) == files / "outdir":
            raise OSError(30, "Read-only file system", str(Path(dir) / ".x.tmp"))
        return real(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    rc, out, err = _run(["repair", files / "tet.ply", files / "outdir" / "x.ply"], capsys)
    assert rc == EXIT_OUTPUT and "vertices" not in out  # no repair step ran
    assert err.strip().endswith(f"OUTPUT {files / 'outdir' / 'x.ply'}: expected a writable folder (got "
                                f"'Read-only file system' when creating a file in {files / 'outdir'})"), err
    assert list((files / "outdir").iterdir()) == []
    with pytest.raises(OSError) as ei:
        atomic_write(files / "outdir" / "y.ply", b"x")
    assert ei.value.filename == str(files / "outdir" / "y.ply")


def test_batch_segment_on_a_gpu_this_machine_lacks_is_a_usage_error(files, capsys):
    """--device cuda without a GPU is refused before any file is read (make_task checks it)."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc, out, err = _run(["batch", files / "tet.ply", "-o", files / "o", "--do", "segment", "--model",
                         files / "tet.ply", "--device", "cuda"], capsys)
    assert rc == EXIT_USAGE and "device: expected an available device (got 'cuda': CUDA is not available)" in err, err
    assert not (files / "o").exists()


def test_dev_zero_in_a_subprocess_does_not_hang_or_trace(files):
    """The process itself: no MemoryError, no endless read, no traceback."""
    for args in (["info", files / "z.ply"], ["operators", files / "z.ply", "-o", files / "a_file"],
                 ["repair", files / "tet.ply", files / "a_file" / "x.ply"]):
        r = subprocess.run([sys.executable, "-m", "manifold_nets_apps.cli", *map(str, args)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode in (EXIT_FAILED, EXIT_OUTPUT), r.stderr
        assert "Traceback" not in r.stdout + r.stderr


def test_permission_errors_are_one_line(files, capsys, monkeypatch):
    """Unreadable input and unwritable output (simulated: the tests may run as root)."""
    import builtins

    import manifold_nets.io as mio

    def deny(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(mio, "open", deny, raising=False)
    rc, out, err = _run(["info", files / "tet.ply"], capsys)
    assert rc == EXIT_FAILED and "MeshPermissionError" in out and "permission denied" in out
    monkeypatch.setattr(mio, "open", builtins.open, raising=False)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    rc, out, err = _run(["operators", files / "tet.ply", "-o", files / "outdir"], capsys)
    assert rc == EXIT_OUTPUT and "permission denied" in err and "Traceback" not in err
    rc, out, err = _run(["repair", files / "tet.ply", files / "outdir" / "x.ply"], capsys)
    assert rc == EXIT_OUTPUT and "permission denied" in err


def test_too_large_file_is_refused(files, capsys, monkeypatch):
    import manifold_nets.io as mio

    monkeypatch.setattr(mio, "MAX_READ_BYTES", 64)
    rc, out, _ = _run(["info", files / "tet.ply"], capsys)
    assert rc == EXIT_FAILED and "MeshFileTooLargeError" in out and "MANIFOLD_NETS_MAX_READ_BYTES" in out


def test_info_json_on_an_empty_folder_is_valid_json(files, capsys):
    rc, out, err = _run(["info", "--json", files / "empty"], capsys)
    doc = json.loads(out)
    assert rc == EXIT_FAILED and doc["files"] == [] and doc["summary"]["files"] == 0
    assert doc["skipped"] == [{"path": str(files / "empty"), "reason": "folder without mesh files"}]
    assert "expected mesh files" in err


def test_a_folder_among_files_is_reported(files, capsys):
    rc, out, _ = _run(["info", files / "tet.ply", files / "empty"], capsys)
    assert rc == EXIT_OK
    assert "1 files: 1 read, 0 failed; 1 skipped" in out and "folder without mesh files" in out
    rc, out, _ = _run(["info", "--json", files / "tet.ply", files / "empty"], capsys)
    doc = json.loads(out)
    assert doc["summary"]["skipped"] == 1 and doc["skipped"][0]["path"] == str(files / "empty")


def test_a_folder_of_mixed_entries_reports_what_it_skips(files, capsys):
    rc, out, _ = _run(["info", "--json", files], capsys)
    doc = json.loads(out)
    reasons = {s["path"]: s["reason"] for s in doc["skipped"]}
    assert reasons[str(files / "dir.obj")] == "a folder named like a mesh file"
    assert "without a mesh extension" in reasons[str(files)]


def test_operators_k_above_vertex_count_warns_and_k0_is_allowed(files, capsys):
    rc, out, _ = _run(["operators", files / "tet.ply", "-o", files / "o", "--k", "50", "--quiet"], capsys)
    assert rc == EXIT_OK
    assert "warning: --k 50 exceeds the 4 referenced vertices; computing all 4 eigenpairs" in out
    from manifold_nets.geometry import load_operators

    assert load_operators(files / "o" / "tet.ply.npz").evals.shape == (4,)
    rc, out, _ = _run(["operators", files / "tet.ply", "-o", files / "o0", "--k", "0", "--quiet"], capsys)
    assert rc == EXIT_OK and "warning" not in out
    assert load_operators(files / "o0" / "tet.ply.npz").evals.shape == (0,)


def test_repair_drop_data_is_explicit(files, capsys):
    rc, out, _ = _run(["repair", files / "labelled.ply", files / "out.obj", "--drop-data",
                       "--steps", "drop-unreferenced"], capsys)
    assert rc == EXIT_OK and "dropping vertex_data['label']" in out
    assert read_mesh(files / "out.obj").n_vertices == 4


def test_repair_checks_output_before_reading(files, capsys, monkeypatch):
    """An unwritable output extension fails at once: the mesh is never read."""
    import manifold_nets_apps.repair_cmd as rc_mod

    def boom(*a, **k):
        raise AssertionError("read_mesh called before the output was checked")

    monkeypatch.setattr(rc_mod, "read_mesh", boom)
    rc, _, err = _run(["repair", files / "tet.ply", files / "out.stl"], capsys)
    assert rc == EXIT_USAGE and "'.stl'" in err


def test_exit_codes_are_documented():
    text = Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
    for code in ("0", "1", "2", "3", "4", "130"):
        assert re.search(rf"\| {code} \|", text), code
