"""Benchmark: heat-method distance solver setup on small meshes, ours against potpourri3d.

A setup on a few-thousand-vertex mesh takes 10–50 ms, so one cold setup per process (what
``bench_geodesics.py`` times) is at the mercy of the machine's noise.  Here both solvers are set
up many times in one process, interleaved (ours, potpourri3d, ours, ...), after three untimed
setups each, with the same settings: one BLAS/OpenMP thread, the intrinsic Delaunay Laplacian
(``laplacian="robust"`` / ``use_robust=True``) and ``t = h²`` (``t_factor`` / ``t_coef`` 1).
Prints the fastest and the median setup of each and the ratio of the fastest.

``--log-map``: the vector heat method instead, :class:`~manifold_nets.geometry.VectorHeatSolver`
against potpourri3d's ``MeshVectorHeatSolver``, each timed as setup plus the first log map (of
vertex 0), since potpourri3d factorises lazily on first use; same settings (one thread, intrinsic
Delaunay, ``t = h²``).  A mesh one side refuses (ours: non-manifold vertices) is reported as such.

``--first-distance``: each side timed as setup plus its first distance query (from vertex 0),
so that work one side defers to its first solve (ours builds the gradient matrix then) is
counted on both.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_heat_setup.py                 # the default meshes
    OMP_NUM_THREADS=1 python benchmarks/bench_heat_setup.py ico:4 clean/bunny.off --repeats 40
    OMP_NUM_THREADS=1 python benchmarks/bench_heat_setup.py --log-map

Meshes are paths under ``$MANIFOLD_NETS_DATA/meshes`` (default ``../shared``) or ``ico:<level>``
(generated icospheres).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))
DEFAULT = ["ico:4", "clean/teddy.obj", "clean/cow.obj", "clean/bunny.off", "clean/3holes.off",
           "clean/homer.obj", "clean/elephant.obj", "clean/fandisk.off", "ico:5"]


def load(spec: str):
    if spec.startswith("ico:"):
        from manifold_nets.shapes import icosphere

        return icosphere(int(spec[4:]))
    from manifold_nets import read_mesh

    m = read_mesh(DATA / "meshes" / spec)
    return np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)


def _runs(f) -> bool:
    """Whether a setup runs (a solver may refuse a mesh with an exception)."""
    try:
        f()
    except Exception as exc:  # noqa: BLE001 - report which side refused, whatever the error
        print(f"  ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})", file=sys.stderr)
        return False
    return True


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("meshes", nargs="*", default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--log-map", action="store_true", help="vector heat setup + first log map instead")
    ap.add_argument("--first-distance", action="store_true", help="time setup + the first distance query")
    args = ap.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    import potpourri3d as pp3d

    from manifold_nets.geometry import HeatGeodesicSolver, VectorHeatSolver

    print("| mesh | nV | ours: fastest / median | potpourri3d: fastest / median | ours / potpourri3d (fastest) |")
    print("|---|---:|---:|---:|---:|")
    for spec in args.meshes:
        if not spec.startswith("ico:") and not (DATA / "meshes" / spec).exists():
            print(f"| {spec} | missing | | | |", file=sys.stderr)
            continue
        V, F = load(spec)
        if args.log_map:
            runs = {
                "ours": lambda V=V, F=F: VectorHeatSolver(V, F, t_factor=1.0, laplacian="robust").log_map(0),
                "pp3d": lambda V=V, F=F: pp3d.MeshVectorHeatSolver(V, F, t_coef=1.0).compute_log_map(0),
            }
        elif args.first_distance:
            runs = {
                "ours": lambda V=V, F=F: HeatGeodesicSolver(V, F, t_factor=1.0, laplacian="robust").distance(0),
                "pp3d": lambda V=V, F=F: pp3d.MeshHeatMethodDistanceSolver(V, F, t_coef=1.0,
                                                                           use_robust=True).compute_distance(0),
            }
        else:
            runs = {
                "ours": lambda V=V, F=F: HeatGeodesicSolver(V, F, t_factor=1.0, laplacian="robust"),
                "pp3d": lambda V=V, F=F: pp3d.MeshHeatMethodDistanceSolver(V, F, t_coef=1.0, use_robust=True),
            }
        times = {k: [] for k in runs}
        refused = [k for k, f in runs.items() if not _runs(f)]
        if refused:
            print(f"| {spec} | {len(V):,} | {'refused' if 'ours' in refused else ''} | "
                  f"{'refused' if 'pp3d' in refused else ''} | |", flush=True)
            continue
        for _ in range(3):
            for f in runs.values():
                f()
        for _ in range(args.repeats):
            for k, f in runs.items():
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
        o, p = (np.array(times[k]) * 1e3 for k in ("ours", "pp3d"))
        print(f"| {spec} | {len(V):,} | {o.min():.1f} / {np.median(o):.1f} ms | {p.min():.1f} / {np.median(p):.1f} ms "
              f"| {o.min() / p.min():.2f} |", flush=True)


if __name__ == "__main__":
    main()
