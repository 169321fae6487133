"""Batch throughput: the ``operators`` task over a folder of meshes with 1 and 2 local workers
and with a Dask ``LocalCluster`` of 2 workers (1 thread each).

The folder is generated in a temporary directory (never in the repository): tori and UV
spheres of 5k–25k vertices, and, when the research data is present
(``$MANIFOLD_NETS_DATA``, default ``../shared``), copies of the ``meshes/clean`` meshes of that
size — every mesh with a small seeded jitter of its vertices so that no two files are alike.
Each configuration runs :func:`manifold_nets.batch.map_meshes` into its own fresh output folder;
the time includes starting the workers (or the cluster), reading, computing, writing the
``.npz`` bundles and the manifest.

Usage::

    python benchmarks/bench_batch.py            # 50 meshes of 5k-25k vertices, k = 64 (a few minutes)
    python benchmarks/bench_batch.py --quick    # 12 meshes of 5k-10k vertices, k = 32
    python benchmarks/bench_batch.py --n 30 --k 128 --no-dask

Prints the machine load before and after (other processes on the cores distort the ratios),
one markdown table and the two targets: at least 1.5x from 1 to 2 workers on 2 cores, Dask
within 15 % of the local pool (both on the wall time, start-up included; the table also gives
the time to the first result and the rate after it, and the CPU time spent in the tasks).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))


def make_folder(folder: Path, n: int, lo: int, hi: int, seed: int = 0) -> list[Path]:
    """``n`` distinct meshes of ``lo``..``hi`` vertices in ``folder``; returns their paths."""
    from manifold_nets import read_mesh, shapes, write_mesh

    rng = np.random.default_rng(seed)
    shared = []
    clean = DATA / "meshes" / "clean"
    if clean.is_dir():
        for p in sorted(clean.iterdir()):
            try:
                m = read_mesh(p)
            except Exception:  # noqa: BLE001 - a benchmark input we cannot use is left out
                continue
            if lo <= m.n_vertices <= hi:
                shared.append((p.stem, m.V, m.F))
    sizes = np.geomspace(lo, hi, n)
    paths = []
    for i, nv in enumerate(sizes):
        kind = i % 3
        if kind == 2 and shared:
            name, V, F = shared[(i // 3) % len(shared)]
        elif kind == 0:
            a = max(8, int(round(np.sqrt(2 * nv))))
            V, F = shapes.torus(a, max(4, int(round(nv / a))))
            name = "torus"
        else:
            lat = max(4, int(round(np.sqrt(nv / 2))))
            V, F = shapes.uv_sphere(lat, max(8, int(round(nv / lat))))
            name = "sphere"
        e = np.linalg.norm(V[F[:, 0]] - V[F[:, 1]], axis=1).mean()
        V = V + rng.normal(scale=1e-3 * e, size=V.shape)
        p = folder / f"m{i:03d}_{name}.ply"
        write_mesh(p, V, F)
        paths.append(p)
    return paths


def run(label: str, paths, out: Path, **kw) -> dict:
    from manifold_nets.batch import make_task, map_meshes

    shutil.rmtree(out, ignore_errors=True)
    stamps = []
    t0 = time.perf_counter()
    rep = map_meshes(make_task("operators", k=kw.pop("k")), paths, out,
                     progress=lambda done, total, recs: stamps.append(time.perf_counter()) if done else None, **kw)
    wall = time.perf_counter() - t0
    if rep.n_failed:
        raise SystemExit(f"{label}: {rep.n_failed} files failed: {rep.failed[0]}")
    shutil.rmtree(out, ignore_errors=True)
    cpu = sum(r.get("cpu_seconds") or 0.0 for r in rep.records)
    # after the first result: the rate once the workers (or the cluster) have started
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    return {"label": label, "executor": rep.executor, "seconds": wall, "mps": len(paths) / wall, "cpu": cpu,
            "steady": steady, "first": stamps[0] - t0 if stamps else wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="number of meshes (default 50)")
    ap.add_argument("--min-vertices", type=int, default=5000)
    ap.add_argument("--max-vertices", type=int, default=25000)
    ap.add_argument("--k", type=int, default=64, help="eigenpairs per mesh (default 64)")
    ap.add_argument("--quick", action="store_true", help="12 meshes of 5k-10k vertices, k = 32")
    ap.add_argument("--no-dask", action="store_true", help="leave out the Dask LocalCluster run")
    ap.add_argument("--threads-row", action="store_true", help="also 1 worker with 2 BLAS threads")
    args = ap.parse_args()
    if args.quick:
        args.n, args.max_vertices, args.k = 12, 10000, 32

    tmp = Path(tempfile.mkdtemp(prefix="mn_bench_batch_"))
    try:
        t0 = time.perf_counter()
        paths = make_folder(tmp / "in", args.n, args.min_vertices, args.max_vertices)
        from manifold_nets import read_mesh

        nvs = [read_mesh(p).n_vertices for p in paths]
        print(f"{len(paths)} meshes, {min(nvs)}-{max(nvs)} vertices ({sum(nvs)} in all), k = {args.k}; "
              f"generated in {time.perf_counter() - t0:.1f} s; cores available: {len(os.sched_getaffinity(0))}")
        load0 = os.getloadavg()
        rows = [run("local, 1 worker", paths, tmp / "o1", executor="local", workers=1, threads_per_worker=1, k=args.k),
                run("local, 2 workers", paths, tmp / "o2", executor="local", workers=2, threads_per_worker=1, k=args.k)]
        if args.threads_row:
            rows.append(run("local, 1 worker x 2 threads", paths, tmp / "o3", executor="local", workers=1,
                            threads_per_worker=2, k=args.k))
        if not args.no_dask:
            rows.append(run("Dask LocalCluster, 2 workers", paths, tmp / "o4", executor="dask", workers=2,
                            threads_per_worker=1, k=args.k))
        load1 = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average (1 min) before {load0[0]:.2f}, after {load1[0]:.2f}")
    print("\n| configuration | seconds | meshes / s | vs 1 worker | first result s | meshes / s after it "
          "| task CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    base = rows[0]["mps"]
    for r in rows:
        print(f"| {r['label']} | {r['seconds']:.1f} | {r['mps']:.2f} | {r['mps'] / base:.2f}x | {r['first']:.1f} "
              f"| {r['steady']:.2f} | {r['cpu']:.1f} |")
    print("(task CPU s: CPU time of the workers inside the tasks, summed; equal across rows when the"
          " work is the same, so a lower speed-up than 2x with equal CPU means the cores were shared)")
    speedup = rows[1]["mps"] / base
    print(f"\n1 -> 2 workers: {speedup:.2f}x (target >= 1.5x): {'met' if speedup >= 1.5 else 'NOT met'}")
    dask = [r for r in rows if r["label"].startswith("Dask")]
    if dask:
        ratio = dask[0]["mps"] / rows[1]["mps"]
        print(f"Dask / local pool (2 workers): {ratio:.2f} (target >= 0.85): {'met' if ratio >= 0.85 else 'NOT met'}")


if __name__ == "__main__":
    main()
