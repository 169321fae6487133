"""Benchmark: geodesic distances, log maps, transport and patches vs potpourri3d and libigl.

Every measurement runs in its own subprocess so that peak memory (``ru_maxrss``, minus the
resident size after loading the mesh) is attributable to one method.  Prints markdown tables.

Fair comparison: every subprocess gets the same thread count (``--threads``, default 1) through
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``VECLIB_MAXIMUM_THREADS``
set before it starts (CHOLMOD and BLAS read them) and ``threadpoolctl`` inside it when
installed; and every method runs with the same parameters: the heat time ``t = t_factor · h²``
(``--t-factor``, default 1.0, the peers' default) with ``h`` the mean edge length of the
intrinsic Delaunay triangulation (what potpourri3d's ``use_robust`` uses; libigl gets the same
``t`` value explicitly), and the same Laplacian kind where the peer lets one choose
(``--laplacian``: ``robust`` = intrinsic Delaunay for us and potpourri3d; libigl only has
cotan).  The settings used are printed with the tables.

Usage::

    python benchmarks/bench_geodesics.py            # ~5k, ~25k, ~100k vertices
    python benchmarks/bench_geodesics.py --quick    # small meshes only
    python benchmarks/bench_geodesics.py --out results.md
    python benchmarks/bench_geodesics.py --sizes 10k 40k 160k --tasks ours_heat pp3d_heat ours_vhm pp3d_vhm

Meshes come from ``$MANIFOLD_NETS_DATA/meshes`` (default ``../shared`` beside the checkout);
icospheres are generated.  The dragon ladder is non-manifold: heat distances run (intrinsic
Delaunay with the non-manifold edges kept), log maps and radius patches are refused there with
``NonManifoldError`` (their radii would be too short) and the tables say so.
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

FULL = [
    ("clean/fertility.off", True),
    ("dirty/dragon_vrip_res4.ply.gz", False),
    ("ico:6", True),
    ("dirty/dragon_vrip_res3.ply.gz", False),
    ("clean/armadillo.obj", True),
    ("dirty/dragon_vrip_res2.ply.gz", False),
    ("ico:7", False),  # exact (MMP) distances on 163k vertices take too long for the accuracy column
]
QUICK = [("clean/fertility.off", True), ("dirty/dragon_vrip_res4.ply.gz", False), ("ico:5", True)]
TASKS = ["ours_heat", "pp3d_heat", "igl_heat", "ours_vhm", "pp3d_vhm", "patches"]
VHM_BATCH = 16  # sources per batched log-map call (memory: a few (nV, 2 · 16) complex blocks)


def _ico_level(n_vertices: float) -> int:
    """Icosphere subdivision level whose vertex count ``10 · 4^k + 2`` is nearest ``n_vertices``."""
    return int(max(0, round(float(np.log(max(n_vertices - 2, 10) / 10.0) / np.log(4.0)))))


def _parse_size(text: str) -> float:
    t = text.lower().strip()
    mult = {"k": 1e3, "m": 1e6}.get(t[-1:], 1.0)
    return float(t[:-1] if mult != 1.0 else t) * mult


def _load(spec: str):
    if spec.startswith("ico:"):
        from manifold_nets.shapes import icosphere

        return icosphere(int(spec[4:]))
    from manifold_nets import read_mesh

    m = read_mesh(DATA / "meshes" / spec, triangulate=True)
    return np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)


def _rss_now() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _sources(V, F, k, seed=0):
    used = np.flatnonzero(np.bincount(F.ravel(), minlength=len(V)) > 0)
    return np.random.default_rng(seed).choice(used, k, replace=False)


def _mre(d, ref):
    m = np.isfinite(ref) & (ref > 0) & np.isfinite(d)
    return float(np.mean(np.abs(d[m] - ref[m]) / ref[m]))


def _limit_threads(n: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(n)


def _heat_time(V, F, t_factor: float) -> float:
    """``t_factor · h²`` with ``h`` the mean edge length of the intrinsic Delaunay triangulation."""
    from manifold_nets.geometry import intrinsic_delaunay
    from manifold_nets.geometry.geodesics import _mean_edge_length

    T = intrinsic_delaunay(V, F)
    h = _mean_edge_length(T.F, T.lengths, len(V))
    return t_factor * h * h


def _warm_up(task: str) -> None:
    """Set up the method once on a 42-vertex sphere, untimed: the one-off costs of a process
    (lazy imports, loading and checking the native libraries) stay out of the timed setup, as
    loading potpourri3d's extension does on its side."""
    from manifold_nets.shapes import icosphere

    V, F = icosphere(1)
    if task.startswith("ours"):
        from manifold_nets.geometry import HeatGeodesicSolver, VectorHeatSolver

        HeatGeodesicSolver(V, F, laplacian="robust").distance(0)
        if task == "ours_vhm":
            VectorHeatSolver(V, F, laplacian="robust").log_map(0)
    elif task.startswith("pp3d"):
        import potpourri3d as pp3d

        pp3d.MeshHeatMethodDistanceSolver(V, F, use_robust=True).compute_distance(0)
        if task == "pp3d_vhm":
            pp3d.MeshVectorHeatSolver(V, F).compute_log_map(0)


def worker(task: str, spec: str, accuracy: bool, n_batch: int, threads: int = 1, t_factor: float = 1.0,
           laplacian: str = "robust") -> dict:
    _limit_threads(threads)
    V, F = _load(spec)
    robust = laplacian == "robust"
    srcs = _sources(V, F, n_batch)
    out: dict = {"nV": int(len(V))}
    _warm_up(task)
    base = _rss_now()
    rows = None  # heat distances of srcs[:2], compared with exact ones after the memory reading
    if task == "ours_heat":
        from manifold_nets.geometry import HeatGeodesicSolver

        t0 = time.perf_counter()
        solver = HeatGeodesicSolver(V, F, t_factor=t_factor, laplacian=laplacian)
        out["setup"] = time.perf_counter() - t0
        out["backend"] = solver.backend
        out["t"] = solver.t
        t0 = time.perf_counter()
        solver.distance(int(srcs[-1]))
        out["first"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        singles = [solver.distance(int(s)) for s in srcs[:5]]
        out["per_source"] = (time.perf_counter() - t0) / 5
        # warm, like the per-source figures of both sides: one untimed batch first (the first
        # batch of this width pays first-touch page faults and CHOLMOD's workspace growth)
        solver.distances(srcs)
        t0 = time.perf_counter()
        D = solver.distances(srcs)
        out["batch_per_source"] = (time.perf_counter() - t0) / len(srcs)
        rows = D[:2]
        del singles
    elif task == "pp3d_heat":
        import potpourri3d as pp3d

        t0 = time.perf_counter()
        solver = pp3d.MeshHeatMethodDistanceSolver(V, F, t_coef=t_factor, use_robust=robust)
        out["setup"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        solver.compute_distance(int(srcs[-1]))
        out["first"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        singles = [solver.compute_distance(int(s)) for s in srcs[:5]]
        out["per_source"] = (time.perf_counter() - t0) / 5
        t0 = time.perf_counter()
        D = np.stack([solver.compute_distance(int(s)) for s in srcs])
        out["batch_per_source"] = (time.perf_counter() - t0) / len(srcs)
        rows = D[:2]
    elif task == "igl_heat":
        import igl

        t_heat = _heat_time(V, F, t_factor)  # the same t as ours (not timed)
        out["t"] = t_heat
        t0 = time.perf_counter()
        data = igl.HeatGeodesicsData()
        igl.heat_geodesics_precompute(V, F, t_heat, data)
        out["setup"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        igl.heat_geodesics_solve(data, np.array([srcs[-1]], dtype=np.int64))
        out["first"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        singles = [igl.heat_geodesics_solve(data, np.array([s], dtype=np.int64)) for s in srcs[:5]]
        out["per_source"] = (time.perf_counter() - t0) / 5
        out["batch_per_source"] = out["per_source"]
        rows = singles[:2]
    elif task == "ours_vhm":
        from manifold_nets.geometry import VectorHeatSolver

        t0 = time.perf_counter()
        vhm = VectorHeatSolver(V, F, t_factor=t_factor, laplacian=laplacian)
        out["setup"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        vhm.log_map(int(srcs[-1]))
        vhm.transport(int(srcs[-1]), 1.0 + 0.0j)
        out["first"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in srcs[:5]:
            vhm.log_map(int(s))
            vhm.transport(int(s), 1.0 + 0.0j)
        out["per_source"] = (time.perf_counter() - t0) / 5
        out["backend"] = vhm.backend
        # batched: log maps of a block of sources at once, then each one's transport (one solve);
        # warm like the per-source figures of both sides: one untimed block first (the first
        # block of this width pays first-touch page faults and CHOLMOD's workspace growth), then
        # the median of up to 3 blocks of sources not in the solver's cache of recent sources
        blocks = [srcs[a:a + VHM_BATCH] for a in range(5, len(srcs) - VHM_BATCH + 1, VHM_BATCH)][:4] or [srcs]
        times = []
        for b, blk in enumerate(blocks):
            t0 = time.perf_counter()
            vhm.log_maps(blk)
            vhm.transports(blk, 1.0 + 0.0j)
            if b or len(blocks) == 1:
                times.append((time.perf_counter() - t0) / len(blk))
        out["batch_per_source"] = float(np.median(times))
    elif task == "pp3d_vhm":
        import potpourri3d as pp3d

        t0 = time.perf_counter()
        vhm = pp3d.MeshVectorHeatSolver(V, F, t_coef=t_factor, use_intrinsic_delaunay=robust)
        out["setup"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        vhm.compute_log_map(int(srcs[-1]))
        vhm.transport_tangent_vector(int(srcs[-1]), [1.0, 0.0])
        out["first"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in srcs[:5]:
            vhm.compute_log_map(int(s))
            vhm.transport_tangent_vector(int(s), [1.0, 0.0])
        out["per_source"] = (time.perf_counter() - t0) / 5
    elif task == "patches":
        from manifold_nets.geometry import geodesic_patches

        t0 = time.perf_counter()
        p1 = geodesic_patches(V, F)
        out["one_ring"] = time.perf_counter() - t0
        e = p1.r[p1.r > 0]
        radius = 3.0 * float(e.mean())
        t0 = time.perf_counter()
        p = geodesic_patches(V, F, radius=radius)
        out["radius"] = time.perf_counter() - t0
        out["pairs_per_vertex"] = len(p) / len(V)
    else:
        raise SystemExit(f"unknown task {task}")
    out["mem_mb"] = _peak() - base
    if accuracy and rows is not None:
        from manifold_nets.geometry import exact_geodesic_distance

        out["mre"] = float(np.mean([_mre(rows[k], exact_geodesic_distance(V, F, int(s)))
                                    for k, s in enumerate(srcs[:2])]))
    return out


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS")


def _worker_or_refusal(*args) -> dict:
    from manifold_nets.errors import NonManifoldError

    try:
        return worker(*args)
    except NonManifoldError as exc:
        return {"error": f"refused, non-manifold mesh ({type(exc).__name__})"}


def run_task(task, spec, accuracy, n_batch, timeout, threads=1, t_factor=1.0, laplacian="robust"):
    cmd = [sys.executable, __file__, "--worker", task, spec, str(int(accuracy)), str(n_batch),
           "--threads", str(threads), "--t-factor", str(t_factor), "--laplacian", laplacian]
    env = dict(os.environ, **{k: str(threads) for k in THREAD_VARS})
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["?"]
        return {"error": f"rc={res.returncode}: {tail[0][:80]}"}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def _nv(results, spec):
    """Vertex count of a mesh from whichever measurement of it reported one."""
    for (sp_, _task), r in results.items():
        if sp_ == spec and "nV" in r:
            return r["nV"]
    return "?"


def fmt(x, unit="s"):
    if x is None:
        return "–"
    if unit == "s":
        return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"
    if unit == "%":
        return f"{100 * x:.2f} %"
    if unit == "MB":
        return f"{x:.0f} MB"
    return f"{x:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small meshes only")
    ap.add_argument("--sources", type=int, default=100, help="sources in the batched query")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per measurement")
    ap.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    ap.add_argument("--only", nargs="+", help="run only these meshes (e.g. ico:7 clean/bunny.off)")
    ap.add_argument("--json", type=Path, help="save the raw results to this JSON file")
    ap.add_argument("--render", nargs="+", type=Path, help="print tables from saved JSON files, run nothing")
    ap.add_argument("--threads", type=int, default=1, help="threads for every method (env vars + threadpoolctl)")
    ap.add_argument("--t-factor", type=float, default=1.0, help="heat time t = t_factor · h² for every method")
    ap.add_argument("--laplacian", choices=["robust", "cotan"], default="robust",
                    help="Laplacian kind for us and potpourri3d (libigl: always cotan)")
    ap.add_argument("--sizes", nargs="+", help="a ladder of generated icospheres with about these vertex counts "
                    "(e.g. 10k 40k 160k 650k); replaces the default meshes (combine with --only to add others)")
    ap.add_argument("--tasks", nargs="+", choices=TASKS, help="run only these measurements (default: all)")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        task, spec, acc, nb = args.worker
        print(json.dumps(_worker_or_refusal(task, spec, bool(int(acc)), int(nb), args.threads, args.t_factor,
                                            args.laplacian)))
        return
    meshes = QUICK if args.quick else FULL
    if args.only:
        meshes = [m for m in meshes if m[0] in args.only] or [(spec, False) for spec in args.only]
    if args.sizes:
        ladder = [(f"ico:{_ico_level(_parse_size(x))}", False) for x in args.sizes]
        meshes = (meshes if args.only else []) + [m for i, m in enumerate(ladder) if m not in ladder[:i]]
    tasks = args.tasks or TASKS
    results = {}
    if args.render:
        for path in args.render:
            for row in json.loads(Path(path).read_text()):
                results[(row["spec"], row["task"])] = row["result"]
        seen = []
        for spec, _ in results:
            if spec not in seen:
                seen.append(spec)
        meshes = [(spec, False) for spec in seen]
    else:
        for spec, accuracy in meshes:
            for task in tasks:
                r = run_task(task, spec, accuracy, args.sources, args.timeout, args.threads, args.t_factor,
                             args.laplacian)
                results[(spec, task)] = r
                print(f"# {spec} {task}: {r}", file=sys.stderr, flush=True)
        if args.json:
            rows = [{"spec": k[0], "task": k[1], "result": v} for k, v in results.items()]
            args.json.write_text(json.dumps(rows, indent=1))

    settings = (f"Settings: {args.threads} thread(s) per method (OMP/MKL/OPENBLAS/VECLIB env vars + threadpoolctl); "
                f"heat time t = {args.t_factor} · h² (h: mean edge length of the intrinsic Delaunay triangulation) "
                f"for all three; Laplacian: {args.laplacian} for manifold_nets and potpourri3d "
                f"(use_robust / use_intrinsic_delaunay = {args.laplacian == 'robust'}), cotan for libigl.")
    lines = [settings, "", "### Heat-method geodesic distance", "",
             "| mesh | nV | method | setup | setup + 1st source | per source (single) | per source (batch of "
             f"{args.sources}) | peak mem | mean rel. err vs exact |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for spec, _ in meshes:
        for task, name in (("ours_heat", "manifold_nets"), ("pp3d_heat", "potpourri3d"), ("igl_heat", "libigl")):
            if (spec, task) not in results:
                continue  # not measured in this run (--tasks)
            r = results[(spec, task)]
            nV = _nv(results, spec)
            if "error" in r:
                lines.append(f"| {spec} | {nV} | {name} | failed: {r['error']} | | | | | |")
                continue
            lines.append(f"| {spec} | {nV} | {name} | {fmt(r['setup'])} | {fmt(r['setup'] + r['first'])} | "
                         f"{fmt(r['per_source'])} | "
                         f"{fmt(r['batch_per_source'])} | {fmt(r['mem_mb'], 'MB')} | {fmt(r.get('mre'), '%')} |")
    lines += ["", "### Log map + parallel transport (vector heat method), per source = one log map + one transport",
              "", "| mesh | nV | method | setup | setup + 1st source | per further source (single) | "
              f"per source (batch of {VHM_BATCH}: log_maps + transports) | peak mem |",
              "|---|---:|---|---:|---:|---:|---:|---:|"]
    for spec, _ in meshes:
        for task, name in (("ours_vhm", "manifold_nets"), ("pp3d_vhm", "potpourri3d")):
            if (spec, task) not in results:
                continue
            r = results[(spec, task)]
            nV = _nv(results, spec)
            if "error" in r:
                lines.append(f"| {spec} | {nV} | {name} | failed: {r['error']} | | | | |")
                continue
            batch = fmt(r["batch_per_source"]) if "batch_per_source" in r else "– (no batch API)"
            lines.append(f"| {spec} | {nV} | {name} | {fmt(r['setup'])} | {fmt(r['setup'] + r['first'])} | "
                         f"{fmt(r['per_source'])} | {batch} | {fmt(r['mem_mb'], 'MB')} |")
    if any(task == "patches" for _spec, task in results):
        lines += ["", "### Geodesic patches for all vertices", "",
                  "| mesh | nV | one-ring | radius = 3 h | pairs / vertex | peak mem |", "|---|---:|---:|---:|---:|---:|"]
    for spec, _ in meshes:
        if (spec, "patches") not in results:
            continue
        r = results[(spec, "patches")]
        nV = _nv(results, spec)
        if "error" in r:
            lines.append(f"| {spec} | {nV} | failed: {r['error']} | | | |")
            continue
        lines.append(f"| {spec} | {nV} | {fmt(r['one_ring'])} | {fmt(r['radius'])} | "
                     f"{r['pairs_per_vertex']:.1f} | {fmt(r['mem_mb'], 'MB')} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
