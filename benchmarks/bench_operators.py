"""Benchmark of the intrinsic operators (issue 3) against the reference recipes.

(a) The full operator set a DiffusionNet-style model needs (L, M, k = 128 eigenpairs, tangent
    frames and gradients): ``manifold_nets.geometry.operators`` versus the DiffusionNet recipe,
    re-implemented here: potpourri3d's cotan Laplacian and vertex areas (robust_laplacian on
    non-manifold meshes), ``scipy.sparse.linalg.eigsh`` in shift-invert mode on ``L + εI`` with
    ``σ = ε = 1e-8`` and the same retry loop, vectorised frames, and a per-vertex Python loop that
    solves each vertex's 2×2 least-squares gradient system.  Our eigenvalues are checked against
    scipy's own shift-invert solve (SuperLU) of the same ``(L, M)`` to 1e-6 relative.
(b) Cotan Laplacian assembly versus ``igl.cotmatrix``; robust Laplacian versus
    ``robust_laplacian.mesh_laplacian``.
(c) Peak memory of each: every measurement runs in a fresh subprocess and reports its peak
    resident set size above the baseline after loading the mesh.

Usage::

    python benchmarks/bench_operators.py --threads 1   # full run (about 10 min on 2 busy cores)
    python benchmarks/bench_operators.py --quick        # small meshes, about a minute
    python benchmarks/bench_operators.py --quick --only clean/bunny.off --part b   # seconds

Threads: both sides of every comparison (ours and the reference recipe / library) run with the
same ``--threads`` BLAS/OpenMP threads (default 1): ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` are set in the environment of every measurement subprocess before numpy
loads, and each measurement reports the BLAS threads it actually had (via threadpoolctl when
installed).  The header line says which.  ``--threads 0`` leaves the environment alone.

Prints a markdown table.
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

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared")) / "meshes"
#: BLAS threads of each measurement, ours and reference alike (``--threads``; 0 leaves the
#: environment alone).
THREADS = 1
BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS")


# --------------------------------------------------------------------------------------------
# Meshes
# --------------------------------------------------------------------------------------------

def geodesic_sphere(freq: int):
    """Icosahedron with every face split into ``freq²`` triangles, projected to the unit sphere
    (``10 freq² + 2`` vertices)."""
    from manifold_nets.shapes import icosahedron

    V0, F0 = icosahedron()
    n = freq
    ij = [(i, j) for i in range(n + 1) for j in range(n + 1 - i)]
    index = {p: t for t, p in enumerate(ij)}
    I = np.array([p[0] for p in ij])
    J = np.array([p[1] for p in ij])
    tris = []
    for i in range(n):
        for j in range(n - i):
            tris.append((index[(i, j)], index[(i + 1, j)], index[(i, j + 1)]))
            if i + j < n - 1:
                tris.append((index[(i + 1, j)], index[(i + 1, j + 1)], index[(i, j + 1)]))
    tris = np.array(tris)
    P, Fs = [], []
    for f, (a, b, c) in enumerate(F0):
        pts = (np.outer(n - I - J, V0[a]) + np.outer(I, V0[b]) + np.outer(J, V0[c])) / n
        P.append(pts)
        Fs.append(tris + f * len(ij))
    P = np.concatenate(P)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    F = np.concatenate(Fs)
    key = np.round(P * 1e9).astype(np.int64)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    V = P[first[order]]
    F = rank[inv.reshape(-1)][F]
    return V, F.astype(np.int64)


def load(spec: str):
    from manifold_nets import read_mesh
    from manifold_nets.shapes import icosphere

    if spec.startswith("icosphere:"):
        return icosphere(int(spec.split(":")[1]))
    if spec.startswith("geosphere:"):
        return geodesic_sphere(int(spec.split(":")[1]))
    m = read_mesh(DATA / spec, triangulate=True)
    return np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# The DiffusionNet recipe (re-implemented; the per-vertex loop has the recipe's cost)
# --------------------------------------------------------------------------------------------

def recipe_frames(V, F):
    fn = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    N = np.zeros_like(V)
    for k in range(3):
        np.add.at(N, F[:, k], fn)
    N /= np.maximum(np.linalg.norm(N, axis=1, keepdims=True), 1e-12)
    cand = np.where((np.abs(N[:, 0]) > 0.9)[:, None], [[0.0, 1.0, 0.0]], [[1.0, 0.0, 0.0]])
    X = cand - (cand * N).sum(1, keepdims=True) * N
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y = np.cross(N, X)
    return N, X, Y


def recipe_gradient_loop(V, F, X, Y, eps_reg=1e-5):
    """Per-vertex least squares in Python, like DiffusionNet's gradient construction."""
    import scipy.sparse as sp

    tails = np.concatenate([F[:, 0], F[:, 1], F[:, 2]])
    tips = np.concatenate([F[:, 1], F[:, 2], F[:, 0]])
    nV = V.shape[0]
    outgoing = [[] for _ in range(nV)]
    for e in range(len(tails)):
        if tails[e] != tips[e]:
            outgoing[tails[e]].append(e)
    d = V[tips] - V[tails]
    tvec = np.stack([(d * X[tails]).sum(1), (d * Y[tails]).sum(1)], axis=1)
    rows, cols, vals = [], [], []
    for i in range(nV):
        es = outgoing[i]
        m = len(es)
        A = np.zeros((m, 2))
        B = np.zeros((m, m + 1))
        nbrs = [i]
        for t, e in enumerate(es):
            nbrs.append(tips[e])
            A[t] = tvec[e]
            B[t, 0] = -1.0
            B[t, t + 1] = 1.0
        sol = np.linalg.inv(A.T @ A + eps_reg * np.eye(2)) @ A.T @ B
        coef = sol[0] + 1j * sol[1]
        for t in range(m + 1):
            rows.append(i)
            cols.append(nbrs[t])
            vals.append(coef[t])
    return sp.coo_matrix((vals, (rows, cols)), shape=(nV, nV)).tocsc()


def recipe_full(V, F, k, dirty):
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    t = {}
    t0 = time.perf_counter()
    if dirty:
        import robust_laplacian

        L, Mm = robust_laplacian.mesh_laplacian(V, F)
        mass = Mm.diagonal()
    else:
        import potpourri3d as pp3d

        L = pp3d.cotan_laplacian(V, F, denom_eps=1e-10)
        mass = pp3d.vertex_areas(V, F)
        mass = mass + 1e-8 * mass.mean()
    t["laplacian"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    eps = 1e-8
    Le = (L + sp.identity(L.shape[0]) * eps).tocsc()
    Mm = sp.diags(mass)
    fails = 0
    while True:
        try:
            evals, evecs = sla.eigsh(Le, k=k, M=Mm, sigma=eps)
            evals = np.clip(evals, 0.0, np.inf)
            break
        except Exception:
            if fails > 3:
                raise
            fails += 1
            Le = Le + sp.identity(L.shape[0]) * (eps * 10**fails)
    t["eigen"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    N, X, Y = recipe_frames(V, F)
    G = recipe_gradient_loop(V, F, X, Y)
    _ = (G.real, G.imag)
    t["gradients"] = time.perf_counter() - t2
    t["total"] = time.perf_counter() - t0
    return t, evals


# --------------------------------------------------------------------------------------------
# Workers (one measurement per subprocess, for clean peak-memory numbers)
# --------------------------------------------------------------------------------------------

def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _blas_threads():
    """The thread counts of the loaded BLAS / OpenMP pools (None without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return sorted({int(i["num_threads"]) for i in threadpool_info()})


def worker(task: str, spec: str, k: int, dirty: bool, out: str) -> None:
    V, F = load(spec)
    import scipy.sparse.linalg  # noqa: F401  (import cost outside the timings)

    import manifold_nets.geometry as g

    # Warm up imports and BLAS on a tiny mesh so that first-call costs are not timed.
    from manifold_nets.shapes import icosphere

    g.operators(*icosphere(2), k=8)
    base = _rss_mb()
    res = {"task": task, "nV": int(len(V))}
    evals = None
    if task == "ours_full":
        t0 = time.perf_counter()
        ops = g.operators(V, F, k=k, laplacian="robust" if dirty else "cotan")
        res["total"] = time.perf_counter() - t0
        evals = ops.evals
        L, M = ops.L, ops.M
        np.savez(out + ".LM.npz", Ld=L.data, Li=L.indices, Lp=L.indptr, m=M.diagonal())
    elif task == "recipe_full":
        t, evals = recipe_full(V, F, k, dirty)
        res.update(t)
    elif task == "scipy_check":
        import scipy.sparse as sp
        import scipy.sparse.linalg as sla

        z = np.load(out.replace("scipy_check", "ours_full") + ".LM.npz")
        n = len(z["m"])
        L = sp.csr_matrix((z["Ld"], z["Li"], z["Lp"]), shape=(n, n))
        act = (z["m"] > 0) | (np.diff(L.indptr) > 1)  # unreferenced vertices have neither
        L = L[act][:, act]
        n = int(act.sum())
        Mm = sp.diags(z["m"][act])
        sigma = -0.01 * float(np.mean(L.diagonal() / z["m"][act])) / n
        t0 = time.perf_counter()
        # scipy only: SuperLU (symmetric ordering) of L − σM and ARPACK shift-invert at full accuracy.
        lu = sla.splu((L - sigma * Mm).tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
        op = sla.LinearOperator((n, n), matvec=lu.solve, dtype=np.float64)
        evals, _ = sla.eigsh(L, k=k, M=Mm, sigma=sigma, OPinv=op, tol=0)
        res["total"] = time.perf_counter() - t0
    elif task in ("ours_cotan", "igl_cotan", "ours_robust", "rl_robust"):
        if task == "ours_cotan":
            fn = lambda: g.cotan_laplacian(V, F)  # noqa: E731
        elif task == "igl_cotan":
            import igl

            fn = lambda: igl.cotmatrix(V, F)  # noqa: E731
        elif task == "ours_robust":
            fn = lambda: g.robust_laplacian(V, F)  # noqa: E731
        else:
            import robust_laplacian

            fn = lambda: robust_laplacian.mesh_laplacian(V, F)  # noqa: E731
        times = []
        for _ in range(5 if len(V) < 50000 else 3):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        res["total"] = min(times)
    else:
        raise SystemExit(f"unknown task {task}")
    res["peak_mb"] = _rss_mb() - base
    res["blas_threads"] = _blas_threads()
    if evals is not None:
        np.save(out + ".evals.npy", np.sort(np.asarray(evals)))
    Path(out + ".json").write_text(json.dumps(res))


def run_task(task, spec, k, dirty, tmp, timeout=3600):
    out = str(Path(tmp) / f"{task}_{spec.replace('/', '_').replace(':', '_')}")
    cmd = [sys.executable, __file__, "--worker", task, spec, str(k), "1" if dirty else "0", out]
    env = dict(os.environ)
    if THREADS:
        env.update({var: str(THREADS) for var in BLAS_VARS})
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        return {"task": task, "error": (r.stderr.strip().splitlines() or ["?"])[-1]}, None
    res = json.loads(Path(out + ".json").read_text())
    ev = np.load(out + ".evals.npy") if Path(out + ".evals.npy").exists() else None
    return res, ev


def rel_err(a, b):
    scale = np.maximum(np.abs(b), np.abs(b[b > 1e-9 * np.abs(b).max()]).min())
    return float(np.max(np.abs(a - b) / scale))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small meshes only")
    ap.add_argument("--k", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP threads of every measurement, ours and the reference alike "
                         "(default 1: stable numbers on a busy machine; 0 leaves the environment alone)")
    ap.add_argument("--only", default=None, help="comma-separated subset of the mesh list")
    ap.add_argument("--part", choices=("all", "a", "b"), default="all",
                    help="run only part (a) (full operator set) or (b) (Laplacian assembly)")
    ap.add_argument("--worker", nargs=5, metavar=("TASK", "MESH", "K", "DIRTY", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    global THREADS
    THREADS = args.threads
    if args.worker:
        task, spec, k, dirty, out = args.worker
        worker(task, spec, int(k), dirty == "1", out)
        return
    if args.quick:
        meshes = [("dirty/dragon_vrip_res4.ply.gz", True), ("clean/bunny.off", False), ("icosphere:5", False)]
    else:
        meshes = [
            ("dirty/dragon_vrip_res4.ply.gz", True),
            ("clean/bunny.off", False),
            ("icosphere:5", False),
            ("dirty/dragon_vrip_res3.ply.gz", True),
            ("icosphere:6", False),
            ("dirty/dragon_vrip_res2.ply.gz", True),
            ("geosphere:100", False),
            ("clean/armadillo.obj", False),
            ("clean/horse.ply", False),
        ]
    if args.only:
        wanted = args.only.split(",")
        meshes = [m for m in meshes if m[0] in wanted]
    threads = (f"threads={THREADS} for both sides of every comparison ({'/'.join(BLAS_VARS[:3])}={THREADS} "
               f"in each measurement's environment)" if THREADS else "threads: environment defaults (not set)")
    print(f"# bench_operators  k={args.k}  cpu_count={os.cpu_count()}  load={os.getloadavg()[0]:.2f}  {threads}",
          flush=True)
    rows_a, rows_b = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, dirty in meshes:
            if not spec.startswith(("icosphere", "geosphere")) and not (DATA / spec).exists():
                print(f"skip {spec}: not found under {DATA}", flush=True)
                continue
            if args.part == "b":
                ours = rec = chk = {}
                ev_ours = ev_chk = None
            else:
                ours, ev_ours = run_task("ours_full", spec, args.k, dirty, tmp)
                rec, _ = run_task("recipe_full", spec, args.k, dirty, tmp)
                chk, ev_chk = run_task("scipy_check", spec, args.k, dirty, tmp) if "error" not in ours else ({}, None)
            err = rel_err(ev_ours, ev_chk) if ev_ours is not None and ev_chk is not None else float("nan")
            if args.part != "b":
                row = {"mesh": spec, "nV": ours.get("nV", rec.get("nV")), "lap": "robust" if dirty else "cotan",
                       "ours": ours, "recipe": rec, "check": chk, "eig_rel_err": err}
                rows_a.append(row)
                print(json.dumps(row), flush=True)
            if args.part == "a":
                continue
            lap_pair = ("ours_robust", "rl_robust") if dirty else ("ours_cotan", "igl_cotan")
            a, _ = run_task(lap_pair[0], spec, args.k, dirty, tmp)
            b, _ = run_task(lap_pair[1], spec, args.k, dirty, tmp)
            rows_b.append({"mesh": spec, "nV": a.get("nV"), "kind": "robust" if dirty else "cotan", "ours": a, "ref": b})
            print(json.dumps(rows_b[-1]), flush=True)

    seen = {t for r in rows_a for side in ("ours", "recipe", "check") for t in (r[side].get("blas_threads") or [])}
    seen |= {t for r in rows_b for side in ("ours", "ref") for t in (r[side].get("blas_threads") or [])}
    print(f"\nBLAS/OpenMP threads the measurements ran with: {sorted(seen) if seen else 'not checked (no threadpoolctl)'}"
          f"; requested {THREADS or 'environment defaults'} for both sides")

    def f(x, key="total", fmt="{:.2f}"):
        return fmt.format(x[key]) if key in x else x.get("error", "-")[:40]

    print(f"\n### (a) Full operator set (L, M, k={args.k} eigenpairs, frames, tangent gradients)\n")
    print("| mesh | nV | Laplacian | ours [s] | DiffusionNet recipe [s] (L / eig / grad) | speed-up | "
          "ours peak MB | recipe peak MB | max rel. eig. error vs scipy |")
    print("|---|---:|---|---:|---|---:|---:|---:|---:|")
    for r in rows_a:
        o, c = r["ours"], r["recipe"]
        sp_ = f"{c['total'] / o['total']:.1f}×" if "total" in o and "total" in c else "-"
        parts = " / ".join(f"{c[key]:.1f}" for key in ("laplacian", "eigen", "gradients") if key in c)
        print(f"| {r['mesh']} | {r['nV']} | {r['lap']} | {f(o)} | {f(c)} ({parts}) | {sp_} | "
              f"{f(o, 'peak_mb', '{:.0f}')} | {f(c, 'peak_mb', '{:.0f}')} | {r['eig_rel_err']:.1e} |")
    print("\n### (b) Laplacian assembly (best of 3-5)\n")
    print("| mesh | nV | kind | ours [ms] | reference [ms] | reference | ratio ref/ours | ours peak MB | ref peak MB |")
    print("|---|---:|---|---:|---:|---|---:|---:|---:|")
    for r in rows_b:
        o, c = r["ours"], r["ref"]
        ratio = f"{c['total'] / o['total']:.2f}" if "total" in o and "total" in c else "-"
        ref = "robust_laplacian.mesh_laplacian" if r["kind"] == "robust" else "igl.cotmatrix"
        print(f"| {r['mesh']} | {r['nV']} | {r['kind']} | {1e3 * o.get('total', float('nan')):.1f} | "
              f"{1e3 * c.get('total', float('nan')):.1f} | {ref} | {ratio} | "
              f"{f(o, 'peak_mb', '{:.0f}')} | {f(c, 'peak_mb', '{:.0f}')} |")


if __name__ == "__main__":
    main()
