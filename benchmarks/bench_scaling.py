"""Scaling curves: time and peak memory from 10k to 1M vertices, ours against the peers.

For each size of a generated geodesic sphere (an icosahedron with every face split into
``freq²`` triangles, ``10 freq² + 2`` vertices) and each method, one fresh subprocess with
``--threads`` BLAS/OpenMP threads (default 1, set in its environment before numpy loads)
measures the wall time and the peak resident memory above its baseline after loading the mesh:

* ``operators``: the full operator set with ``k = 128`` eigenpairs —
  :func:`manifold_nets.geometry.operators` against the DiffusionNet recipe
  (``benchmarks/bench_operators.py``: potpourri3d's cotan Laplacian, shift-invert ``eigsh``,
  per-vertex gradient loop);
* ``geodesics``: heat-method distances from 10 sources, setup included —
  :class:`~manifold_nets.geometry.HeatGeodesicSolver` (``distances``, batched) against
  ``potpourri3d.MeshHeatMethodDistanceSolver`` (one call per source), both on the intrinsic
  Delaunay Laplacian with ``t = h²``;
* ``logmap``: one log map, setup included — the one-off :func:`~manifold_nets.geometry.log_map`
  (a :class:`~manifold_nets.geometry.VectorHeatSolver` that frees each factor after its last
  solve) against ``potpourri3d.MeshVectorHeatSolver`` (which has no one-off log map);
  ``log_ours_solver`` (``--worker`` only) times the solver class's ``log_map`` instead, which keeps
  every factor for further sources.

A method that runs past ``--timeout`` seconds or fails (past ``--memory-limit`` GB of address
space, an assertion in a native library) is recorded as such, and the larger sizes of that method are skipped.

Prints a markdown table, the exponent ``p`` of a least-squares fit ``time ∝ n^p`` (and of the
peak memory) per method over the sizes it finished, and writes ``--plot`` (log-log axes,
matplotlib) and ``--json``.  ``--hot`` adds how close the eigensolver's hot loops come to this
machine's limits at ``--hot-size`` vertices: one reorthogonalisation of a block of 8 columns
against an ``n × 300`` basis (``h = Qᵀx`` and ``Qh``, in the transposed form the solver uses;
two passes over the basis) as a fraction of the copy bandwidth numpy reaches and of a square
DGEMM's flop rate, with the same BLAS threads as the methods.

Usage::

    python benchmarks/bench_scaling.py                                 # 10k ... 1M (about 1 h)
    python benchmarks/bench_scaling.py --sizes 10k 30k 100k --plot docs/images/scaling.png
    python benchmarks/bench_scaling.py --only operators --sizes 10k 30k --hot
    python benchmarks/bench_scaling.py --mesh dirty/ogre.obj@2       # a scan with 44 components, 1M vertices

``--mesh PATH@N``: a mesh from ``$MANIFOLD_NETS_DATA/meshes`` refined by ``N`` rounds of midpoint
subdivision (components, boundaries and non-manifold edges kept) instead of the spheres;
``PATH@N:split`` then splits its non-manifold vertices (:func:`manifold_nets.repair.split_nonmanifold`),
which the log maps of both sides refuse.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS")
METHODS = {
    "operators": ("ops_ours", "ops_recipe"),
    "geodesics": ("geo_ours", "geo_pp3d"),
    "logmap": ("log_ours", "log_pp3d"),
}
LABELS = {"ops_ours": "manifold_nets operators", "ops_recipe": "DiffusionNet recipe",
          "geo_ours": "manifold_nets heat geodesics", "geo_pp3d": "potpourri3d heat geodesics",
          "log_ours": "manifold_nets log map", "log_pp3d": "potpourri3d log map"}
N_SOURCES = 10


def parse_size(s: str) -> int:
    s = s.strip().lower()
    mult = 1
    if s.endswith("k"):
        mult, s = 1_000, s[:-1]
    elif s.endswith("m"):
        mult, s = 1_000_000, s[:-1]
    return int(float(s) * mult)


def freq_for(n: int) -> int:
    """Subdivision frequency whose geodesic sphere has the vertex count nearest ``n``."""
    return max(1, int(round(np.sqrt((n - 2) / 10))))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sources(n: int) -> np.ndarray:
    return np.random.default_rng(0).choice(n, size=N_SOURCES, replace=False)


def load_spec(spec: str):
    """``V, F`` of a measurement: a geodesic sphere of frequency ``spec`` (an integer), or
    ``PATH@N``: a mesh under ``$MANIFOLD_NETS_DATA/meshes`` (default ``../shared``) refined by
    ``N`` rounds of midpoint subdivision (``trimesh.remesh.subdivide``: every triangle split in
    four, shared edge midpoints, so components, boundaries and non-manifold edges are kept)."""
    if "@" not in spec:
        sys.path.insert(0, str(HERE))
        from bench_operators import geodesic_sphere

        return geodesic_sphere(int(spec))
    path, rounds = spec.rsplit("@", 1)
    rounds, _, repair = rounds.partition(":")
    from manifold_nets import read_mesh

    data = Path(os.environ.get("MANIFOLD_NETS_DATA", HERE.parents[1] / "shared"))
    m = read_mesh(data / "meshes" / path)
    V, F = np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)
    if int(rounds):  # trimesh: libigl's upsample corrupts memory on non-manifold edges (the dragons)
        from trimesh.remesh import subdivide

        for _ in range(int(rounds)):
            V, F = subdivide(V, F)
    if repair == "split":  # non-manifold vertices split into one copy per fan (manifold_nets.repair)
        from manifold_nets import Mesh
        from manifold_nets.repair import split_nonmanifold

        r = split_nonmanifold(Mesh(V, F))
        V, F = np.asarray(r.mesh.V), np.asarray(r.mesh.F)
    elif repair:
        raise SystemExit(f"{spec}: expected PATH@N or PATH@N:split (got {repair!r} after the colon)")
    return np.ascontiguousarray(V, dtype=np.float64), np.ascontiguousarray(F, dtype=np.int64)


def worker(task: str, spec: str, out: str) -> None:
    V, F = load_spec(spec)
    import scipy.sparse.linalg  # noqa: F401  (import cost outside the timings)

    import manifold_nets.geometry as g

    res = {"task": task, "nV": int(len(V))}
    if "@" in spec:  # what kind of mesh it is (outside the timing)
        import scipy.sparse as sp
        from scipy.sparse.csgraph import connected_components

        e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
        key = e[:, 0] * len(V) + e[:, 1]
        _, cnt = np.unique(key, return_counts=True)
        G = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(V), len(V)))
        used = np.bincount(F.ravel(), minlength=len(V)) > 0
        lab = connected_components(G, directed=False)[1]
        res.update(nF=int(len(F)), components=int(np.unique(lab[used]).size),
                   nonmanifold_edges=int((cnt > 2).sum()), boundary_edges=int((cnt == 1).sum()))
        del e, key, cnt, G, lab, used
    base = _rss_mb()
    srcs = _sources(len(V))
    t0 = time.perf_counter()
    if task == "ops_ours":
        g.operators(V, F, k=128)
    elif task == "ops_recipe":
        from bench_operators import recipe_full

        recipe_full(V, F, 128, False)
    elif task == "geo_ours":
        solver = g.HeatGeodesicSolver(V, F, t_factor=1.0, laplacian="robust")
        solver.distances(srcs)
    elif task == "geo_pp3d":
        import potpourri3d as pp3d

        solver = pp3d.MeshHeatMethodDistanceSolver(V, F, t_coef=1.0, use_robust=True)
        for s in srcs:
            solver.compute_distance(int(s))
    elif task == "log_ours":
        g.log_map(V, F, int(srcs[0]), t_factor=1.0, laplacian="robust")
    elif task == "log_ours_solver":
        g.VectorHeatSolver(V, F, t_factor=1.0, laplacian="robust").log_map(int(srcs[0]))
    elif task == "log_pp3d":
        import potpourri3d as pp3d

        pp3d.MeshVectorHeatSolver(V, F, t_coef=1.0, use_intrinsic_delaunay=True).compute_log_map(int(srcs[0]))
    else:
        raise SystemExit(f"unknown task {task}")
    res["seconds"] = time.perf_counter() - t0
    res["peak_mb"] = _peak_mb() - base
    Path(out).write_text(json.dumps(res))


def run_task(task: str, freq, threads: int, timeout: float, tmp: str, memory_gb: float = 0.0) -> dict:
    """One measurement in a fresh subprocess; ``freq``: a sphere frequency or a ``PATH@N`` spec."""
    out = str(Path(tmp) / f"{task}_{abs(hash(str(freq)))}.json")
    env = dict(os.environ)
    if threads:
        env.update({v: str(threads) for v in BLAS_VARS})
    cmd = [sys.executable, __file__, "--worker", task, str(freq), out]

    def limit():  # in the child: an address-space cap turns running out of memory into an error
        if memory_gb:
            cap = int(memory_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return {"task": task, "error": f"over {timeout:.0f} s"}
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or [f"exit code {r.returncode}"])[-1]
        if r.returncode < 0:
            last = f"killed by signal {-r.returncode} ({last[:80]})"
        return {"task": task, "error": last[:160]}
    return json.loads(Path(out).read_text())


def fit_exponent(n, y) -> float | None:
    n, y = np.asarray(n, float), np.asarray(y, float)
    ok = (n > 0) & (y > 0)
    if ok.sum() < 2:
        return None
    return float(np.polyfit(np.log(n[ok]), np.log(y[ok]), 1)[0])


def hot_loops(n_target: int) -> dict:
    """Copy bandwidth, DGEMM rate and the reorthogonalisation product's rate at ``n`` rows."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(20_000_000)
    b = np.empty_like(a)
    np.copyto(b, a)
    t = min(_timed(lambda a=a, b=b: np.copyto(b, a)) for _ in range(5))
    copy_gbs = 2 * a.nbytes / t / 1e9  # read + write
    del a, b
    m = 2000
    A, B = rng.standard_normal((m, m)), rng.standard_normal((m, m))
    t = min(_timed(lambda: A @ B) for _ in range(3))
    gemm_gflops = 2 * m**3 / t / 1e9
    Q = rng.standard_normal((n_target, 300))
    X = rng.standard_normal((n_target, 8))
    Qt = np.ascontiguousarray(Q.T)  # the transposed (row-major) basis, as the solver keeps it
    H = Qt @ X
    # one reorthogonalisation: h = Qᵀ x, then x − Q h, both in the solver's transposed form
    t = min(_timed(lambda: (Qt @ X, (H.T @ Qt).T)) for _ in range(5))
    reorth_gbs = 2 * Q.nbytes / t / 1e9
    reorth_gflops = 4 * Q.size * 8 / t / 1e9
    return {"n": n_target, "copy_GBps": copy_gbs, "dgemm_GFLOPs": gemm_gflops,
            "reorth_GBps": reorth_gbs, "reorth_GFLOPs": reorth_gflops,
            "reorth_fraction_of_bandwidth": reorth_gbs / copy_gbs,
            "reorth_fraction_of_dgemm": reorth_gflops / gemm_gflops}


def run_hot(n: int, threads: int) -> dict:
    """:func:`hot_loops` in a subprocess with the same BLAS threads as the methods."""
    env = dict(os.environ)
    if threads:
        env.update({v: str(threads) for v in BLAS_VARS})
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "hot.json")
        subprocess.run([sys.executable, __file__, "--worker", "hot", str(n), out], check=True, env=env)
        return json.loads(Path(out).read_text())


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"ours": "-o", "recipe": "--s", "pp3d": "--s"}
    colours = {"ops": "C0", "geo": "C1", "log": "C2"}
    for task in LABELS:
        rows = [r for r in results if r["task"] == task and "seconds" in r]
        if not rows:
            continue
        n = [r["nV"] for r in rows]
        kind, who = task.split("_")
        for ax, key in zip(axes, ("seconds", "peak_mb"), strict=True):
            y = [r[key] for r in rows]
            p = fit_exponent(n, y)
            label = LABELS[task] + (f" (p = {p:.2f})" if p is not None else "")
            ax.loglog(n, y, styles[who], color=colours[kind], label=label)
    axes[0].set_ylabel("wall time (s)")
    axes[1].set_ylabel("peak memory above baseline (MB)")
    for ax in axes:
        ax.set_xlabel("vertices")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["10k", "30k", "100k", "300k", "1M"])
    ap.add_argument("--only", nargs="+", choices=sorted(METHODS), default=sorted(METHODS))
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads of every method (0: leave alone)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per measurement")
    ap.add_argument("--memory-limit", type=float, default=16.0, metavar="GB",
                    help="address-space cap of each measurement (0: none); past it a method fails")
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--hot", action="store_true", help="also measure the hot loops against the machine's limits")
    ap.add_argument("--hot-size", default="100k")
    ap.add_argument("--mesh", nargs="+", default=None, metavar="PATH@N",
                    help="measure these meshes instead of the spheres: a path under $MANIFOLD_NETS_DATA/meshes, "
                         "refined by N rounds of midpoint subdivision (e.g. dirty/ogre.obj@2)")
    args = ap.parse_args(argv)

    if args.mesh:  # given meshes instead of the spheres: no exponent fit
        cases = [(spec, spec, None) for spec in args.mesh]
    else:
        cases = [(f"{10 * freq_for(n) ** 2 + 2:,}", freq_for(n), 10 * freq_for(n) ** 2 + 2)
                 for n in (parse_size(s) for s in args.sizes)]
    tasks = [t for kind in args.only for t in METHODS[kind]]
    print(f"threads per method: {args.threads or 'environment'}; meshes: " + ", ".join(c[0] for c in cases), flush=True)
    results: list[dict] = []
    given_up: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec, nV in cases:
            for task in tasks:
                if task in given_up and not args.mesh:
                    results.append({"task": task, "nV": nV, "case": label, "error": f"skipped ({given_up[task]})"})
                    continue
                r = run_task(task, spec, args.threads, args.timeout, tmp, args.memory_limit)
                r.setdefault("nV", nV)
                r["case"] = label
                results.append(r)
                if "error" in r:
                    given_up[task] = f"failed at {r['nV']}"
                    print(f"  {task:11s} {label:>12s}  {r['error']}", flush=True)
                else:
                    print(f"  {task:11s} {label:>12s}  {r['nV']:>8d} vertices  {r['seconds']:8.2f} s  "
                          f"{r['peak_mb']:8.0f} MB", flush=True)

    print("\n| method | " + " | ".join(c[0] for c in cases) + ("" if args.mesh else " | exponent (time) | exponent (memory)")
          + " |")
    print("|---|" + "---:|" * (len(cases) + (0 if args.mesh else 2)))
    for task in tasks:
        rows = [r for r in results if r["task"] == task]
        cells = [f"{r['seconds']:.3g} s / {r['peak_mb']:.0f} MB" if "seconds" in r else r["error"] for r in rows]
        if args.mesh:
            print(f"| {LABELS[task]} | " + " | ".join(cells) + " |")
            continue
        ok = [r for r in rows if "seconds" in r]
        pt = fit_exponent([r["nV"] for r in ok], [r["seconds"] for r in ok])
        pm = fit_exponent([r["nV"] for r in ok], [r["peak_mb"] for r in ok])
        fmt = lambda p: f"{p:.2f}" if p is not None else "–"  # noqa: E731
        print(f"| {LABELS[task]} | " + " | ".join(cells) + f" | {fmt(pt)} | {fmt(pm)} |")
    if args.mesh:
        for label, _, _ in cases:
            info = next((r for r in results if r["case"] == label and "components" in r), None)
            if info:
                print(f"{label}: {info['nV']:,} vertices, {info['nF']:,} faces, {info['components']} component(s), "
                      f"{info['nonmanifold_edges']} non-manifold edges, {info['boundary_edges']} boundary edges")
    hot = None
    if args.hot:
        hot = run_hot(parse_size(args.hot_size), args.threads)
        print(f"\nhot loops at n = {hot['n']:,} ({args.threads or 'environment'} BLAS thread(s)): copy {hot['copy_GBps']:.1f} GB/s, "
              f"DGEMM {hot['dgemm_GFLOPs']:.1f} GFLOP/s; reorthogonalisation (a block of 8 against 300 x n, both products) "
              f"{hot['reorth_GBps']:.1f} GB/s = {hot['reorth_fraction_of_bandwidth']:.0%} of the copy bandwidth "
              f"({hot['reorth_GFLOPs']:.1f} GFLOP/s = {hot['reorth_fraction_of_dgemm']:.0%} of DGEMM)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "hot": hot}, indent=1))
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker" and sys.argv[2] == "hot":
        Path(sys.argv[4]).write_text(json.dumps(hot_loops(int(sys.argv[3]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(main())
