"""``manifold-nets operators``: outputs, progress, batch over files with a broken one, exit codes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from manifold_nets import shapes, write_mesh
from manifold_nets.geometry import load_operators, operators
from manifold_nets_apps.cli import SUBCOMMANDS, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "manifold_nets_apps.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_registered():
    assert "operators_cmd" in SUBCOMMANDS
    r = run_cli("operators", "--help")
    assert r.returncode == 0 and "usage: manifold-nets operators" in r.stdout and "--k" in r.stdout


def test_batch_with_a_broken_file(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    V, F = shapes.torus(10, 6)
    write_mesh(src / "torus.ply", V, F)
    Vs, Fs = shapes.icosphere(2)
    write_mesh(src / "sphere.obj", Vs, Fs)
    (src / "broken.off").write_text("OFF\n3 1 0\n0 0 0\n")
    out = tmp_path / "out"
    rc = main(["operators", str(src), "-o", str(out), "--k", "8", "--quiet"])
    text = capsys.readouterr().out
    assert rc == 1
    assert "broken.off: error: MeshParseError" in text
    assert "3 files: 2 done, 1 failed" in text
    ops = load_operators(out / "torus.ply.npz")
    ref = operators(V, F, k=8)
    np.testing.assert_allclose(ops.evals, ref.evals, rtol=1e-10)
    assert ops.k == 8 and (out / "sphere.obj.npz").exists()


def test_cache_and_progress_bar(tmp_path):
    V, F = shapes.icosphere(2)
    write_mesh(tmp_path / "s.off", V, F)
    cache = tmp_path / "cache"
    r1 = run_cli("operators", tmp_path / "s.off", "-o", tmp_path / "o", "--k", "6", "--cache-dir", cache)
    assert r1.returncode == 0, r1.stderr
    assert "operators" in r1.stderr  # the tqdm bar goes to stderr
    r2 = run_cli("operators", tmp_path / "s.off", "-o", tmp_path / "o", "--k", "6", "--cache-dir", cache)
    assert r2.returncode == 0 and "(cached)" in r2.stdout


def test_auto_uses_robust_laplacian_on_nonmanifold(tmp_path, capsys):
    V, F = shapes.icosphere(1)
    # Three faces on one edge: glue an extra triangle (fin) to the edge (F[0,0], F[0,1]).
    V2 = np.vstack([V, [[2.0, 2.0, 2.0]]])
    F2 = np.vstack([F, [[F[0, 0], F[0, 1], len(V)]]])
    write_mesh(tmp_path / "fin.ply", V2, F2)
    rc = main(["operators", str(tmp_path / "fin.ply"), "-o", str(tmp_path / "o"), "--k", "4", "--quiet"])
    assert rc == 0 and "robust Laplacian" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["nothing-here.obj"], []])
def test_user_errors_one_line(tmp_path, args):
    r = run_cli("operators", *args, "-o", tmp_path / "o")
    assert r.returncode != 0 and "Traceback" not in r.stderr
