"""Speed and memory of the default ``correspond`` on a 25k–30k-vertex pair, against pyFM's ZoomOut.

The pair is built once (``--pair-dir``, default ``bench_out/correspondence_speed``) from a mesh
that is not in the cat/lion benchmark, ``$MANIFOLD_NETS_DATA/meshes/clean/horse.ply`` (48 485
vertices, closed): it is remeshed twice on its own
(:func:`manifold_nets.data.remeshed_pairs.remesh_with_reference`, two seeds) to about 30 000
(source) and 26 000 (target) vertices, and the target is rotated, translated and scaled by 3.7.
The ground truth is carried over by closest-point projection as in the remeshed benchmark (the
source vertex's point on the original surface, then the nearest target vertex), so the error of
both methods is reported too (heat geodesics on ``--sample`` source vertices, ×100 of √area).

Each method runs in a child process of its own, so its peak resident memory (``VmHWM``) is its
own: ``ours`` is :func:`manifold_nets.tasks.correspondence.correspond` with its defaults
(``return_info=True`` gives the time of every stage), ``pyfm`` is the quickstart pipeline of
``benchmarks/bench_correspondence.py::pyfm_map``.  The peak includes reading the meshes (printed
as "after reading"); the child's time excludes it.

    OMP_NUM_THREADS=1 python benchmarks/bench_correspondence_speed.py
    OMP_NUM_THREADS=1 python benchmarks/bench_correspondence_speed.py --methods ours --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

N_SOURCE = 30000
N_TARGET = 26000


def build(pair_dir: Path, mesh: Path, n_source: int = N_SOURCE, n_target: int = N_TARGET, seed: int = 0) -> None:
    """Write ``source.ply``, ``target.ply`` and ``gt.txt`` (0-based target vertex per source vertex)."""
    from scipy.spatial import cKDTree
    from scipy.spatial.transform import Rotation

    from manifold_nets.data.maps import write_map
    from manifold_nets.data.remeshed_pairs import remesh_with_reference
    from manifold_nets.io import read_triangles, write_mesh

    m = read_triangles(mesh)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    src = remesh_with_reference(m.V, m.F, target_vertices=n_source, seed=int(rng.integers(2**31)), name="source")
    tgt = remesh_with_reference(m.V, m.F, target_vertices=n_target, seed=int(rng.integers(2**31)), name="target")
    # ground truth on the original surface, before the target is moved
    P = np.einsum("nk,nkc->nc", src.bary, m.V[m.F[src.face]])
    gt = cKDTree(tgt.V).query(P, k=1)[1].astype(np.int64)
    R = Rotation.random(random_state=rng).as_matrix()
    Vt = 3.7 * tgt.V @ R.T + rng.normal(size=3)
    pair_dir.mkdir(parents=True, exist_ok=True)
    write_mesh(pair_dir / "source.ply", src.V, src.F)
    write_mesh(pair_dir / "target.ply", Vt, tgt.F)
    write_map(pair_dir / "gt.txt", gt)
    print(f"built {pair_dir}: {len(src.V)} / {len(tgt.V)} vertices from {mesh.name} "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process in MB: ``VmHWM`` (reset by ``exec``; ``ru_maxrss`` can
    keep the parent's peak from before the fork), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(method: str, pair_dir: Path, sample: int, out: Path) -> None:
    """Run one method on the pair and write its numbers (time, stages, peak RSS, error) to ``out``."""
    from manifold_nets.data.maps import read_map
    from manifold_nets.io import read_triangles
    from manifold_nets.tasks.correspondence import geodesic_error, orientation_score

    s, t = read_triangles(pair_dir / "source.ply"), read_triangles(pair_dir / "target.ply")
    gt = read_map(pair_dir / "gt.txt", n_source=len(s.V), n_target=len(t.V))
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    if method == "ours":
        from manifold_nets.tasks.correspondence import correspond

        p2p, info = correspond(s.V, s.F, t.V, t.F, return_info=True)
    else:
        from bench_correspondence import pyfm_map

        p2p, info = pyfm_map(s.V, s.F, t.V, t.F), {}
    dt = time.perf_counter() - t0
    rss = _peak_rss_mb()
    sel = np.sort(np.random.default_rng(0).choice(len(s.V), min(sample, len(s.V)), replace=False))
    err = geodesic_error(t.V, t.F, p2p, gt, sources=sel)
    score = orientation_score(s.V, s.F, t.V, t.F, p2p)
    res = {"method": method, "seconds": dt, "peak_rss_mb": rss, "rss_before_mb": rss0,
           "error_x100": 100 * float(np.nanmean(err)), "orientation_score": score,
           "mirrored": bool(score < 0.5), "n_source": len(s.V), "n_target": len(t.V),
           "stages": {k: v for k, v in info.items() if k.startswith("seconds")}}
    out.write_text(json.dumps(res, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair-dir", type=Path, default=REPO / "bench_out" / "correspondence_speed")
    ap.add_argument("--mesh", type=Path, default=DATA / "meshes" / "clean" / "horse.ply")
    ap.add_argument("--methods", nargs="+", choices=["ours", "pyfm"], default=["ours", "pyfm"])
    ap.add_argument("--sample", type=int, default=2000, help="source vertices scored for the error")
    ap.add_argument("--json", type=Path, default=None, help="write every number to this file")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child[0], args.pair_dir, args.sample, Path(args.child[1]))
        return 0
    if not (args.pair_dir / "gt.txt").exists():
        build(args.pair_dir, args.mesh)
    results = {}
    for m in args.methods:
        out = args.pair_dir / f".result_{m}.json"
        out.unlink(missing_ok=True)
        cmd = [sys.executable, __file__, "--pair-dir", str(args.pair_dir), "--sample", str(args.sample),
               "--child", m, str(out)]
        rc = subprocess.run(cmd).returncode
        if rc != 0 or not out.exists():
            print(f"{m}: failed (exit status {rc})", flush=True)
            continue
        r = json.loads(out.read_text())
        out.unlink()
        results[m] = r
        print(f"{m:>5}: {r['n_source']} -> {r['n_target']} vertices, {r['seconds']:.1f} s, peak RSS "
              f"{r['peak_rss_mb']:.0f} MB (after reading {r['rss_before_mb']:.0f} MB), error x100 "
              f"{r['error_x100']:.2f}, orientation {r['orientation_score']:.2f}"
              f"{' (mirrored)' if r['mirrored'] else ''}", flush=True)
        for k, v in r["stages"].items():
            print(f"        {k:<28}{v:8.2f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
