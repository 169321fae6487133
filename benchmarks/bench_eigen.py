"""Benchmark of the eigenbasis (issue 14, item 1): ``manifold_nets.geometry.eigenbasis`` versus the
DiffusionNet recipe on the same ``L`` and ``M``.

* Matrices: ``L`` and ``M`` from ``manifold_nets.geometry.operators(V, F, k=0)`` (the default
  Laplacian choice: cotan on clean manifold meshes, robust on the rest); both sides get these.
* Ours: ``eigenbasis(L, M, k)`` with its defaults.
* The DiffusionNet recipe (``diffusion_net.geometry.compute_operators``): ``scipy.sparse.linalg.eigsh(
  L + εI, k, M_r, sigma=ε)`` with ``ε = 1e-8``, shift-invert ARPACK (SuperLU) and the recipe's retry
  loop (ε grows 10× per failure).  ``M_r = M + 1e-8 · mean(diag M)`` on the diagonal, the mass
  regularisation of the recipe (keeps unreferenced vertices, which have zero mass, from making
  ``M`` singular).
* Accuracy: every eigenvalue set is compared to a tight reference solve, ``scipy.sparse.linalg.eigsh``
  shift-invert at ``tol=0`` with ``k + 16`` pairs (guards against missed copies of repeated
  eigenvalues) on the referenced vertices, SuperLU of ``L − σM`` (``σ`` the small negative shift of
  ``eigenbasis``): the maximum relative error over the ``k`` eigenvalues (the null-space
  eigenvalues, which shift-invert ARPACK gives only to an absolute accuracy, are compared on the
  scale of the largest one; see :func:`rel_err`).  Our eigenvectors'
  M-orthonormality ``max |ΦᵀMΦ − I|`` is printed too.
* Timing: the two sides run interleaved in one process, ``--reps`` times each (default 3), and the
  table gives medians of wall time and of process CPU time (with one thread the CPU time is much
  less disturbed by other jobs on a shared machine) and the ratios recipe / ours.
* Threads: both sides run with the same number of BLAS/OpenMP threads (``--threads``, default 1):
  ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` are set before numpy loads and
  ``threadpoolctl.threadpool_limits`` holds them; the header prints the pools and their threads.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_eigen.py                   # meshes of >= 40k vertices
    python benchmarks/bench_eigen.py --only icosphere:6,clean/armadillo.obj --reps 3
    python benchmarks/bench_eigen.py --only icosphere:7 --reps 3          # 164k vertices (minutes)
    python benchmarks/bench_eigen.py --only icosphere:4 --reps 1 --k 32   # seconds (smoke test)

Prints one JSON line per mesh as it goes and a markdown table at the end.
"""

from __future__ import annotations

import argparse
import os
import sys

BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS")


def _threads_from_argv(argv) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


if __name__ == "__main__":  # before numpy loads: the thread count of both sides
    _T = _threads_from_argv(sys.argv[1:])
    if _T > 0:
        os.environ.update({v: str(_T) for v in BLAS_VARS})

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared")) / "meshes"
#: Meshes of 40k vertices and more in ``../shared/meshes`` plus a generated sphere.
MESHES = ("icosphere:6", "clean/armadillo.obj", "clean/horse.ply", "clean/nefertiti.obj", "dirty/ogre.obj",
          "dirty/dragon_vrip_res2.ply.gz")


def load_mesh(spec: str):
    """``(V, F)`` of ``icosphere:<s>`` or a path under ``../shared/meshes``."""
    from manifold_nets import read_mesh
    from manifold_nets.shapes import icosphere

    if spec.startswith("icosphere:"):
        return icosphere(int(spec.split(":")[1]))
    m = read_mesh(DATA / spec, triangulate=True)
    return np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)


def recipe_eigen(L, M, k):
    """DiffusionNet's ``compute_operators`` eigen solve on ``(L, M)``: eigenvalues ``(k,)``."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    eps = 1e-8
    mass = M.diagonal()
    mass = mass + 1e-8 * mass.mean()
    Le = (L + sp.identity(L.shape[0]) * eps).tocsc()
    Mm = sp.diags(mass)
    fails = 0
    while True:
        try:
            evals, _ = sla.eigsh(Le, k=k, M=Mm, sigma=eps)
            return np.clip(evals, 0.0, np.inf)
        except Exception:
            if fails > 3:
                raise
            fails += 1
            Le = Le + sp.identity(L.shape[0]) * (eps * 10**fails)


def reference_eigen(L, M, k):
    """Tight reference: scipy shift-invert ARPACK (``tol=0``, ``k + 16`` pairs) with SuperLU of
    ``L − σM`` on the referenced vertices; the ``k`` smallest eigenvalues ``(k,)``."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    from manifold_nets.geometry.spectral import active_vertices

    act = active_vertices(L, M)
    La = L[act][:, act].tocsr()
    m = M.diagonal()[act]
    Ma = sp.diags(m)
    n = La.shape[0]
    sigma = -0.01 * float(np.mean(La.diagonal() / m)) / n
    lu = sla.splu((La - sigma * Ma).tocsc(), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    op = sla.LinearOperator((n, n), matvec=lu.solve, dtype=np.float64)
    kk = min(n - 2, k + 16)
    evals = sla.eigsh(La, k=kk, M=Ma, sigma=sigma, OPinv=op, tol=0, ncv=min(n, 2 * kk + 1),
                      v0=np.random.default_rng(1).uniform(0.5, 1.5, n), return_eigenvectors=False)
    return np.sort(evals)[:k]


def rel_err(a, ref):
    """Max relative error of ``a`` against ``ref``; the null space (``|ref|`` below 1e-9 of the
    largest) is measured on the scale of the largest eigenvalue, because shift-invert ARPACK gives
    zero eigenvalues only to an absolute accuracy (e.g. ±3e-7 next to a smallest non-zero
    eigenvalue of 43 on the 7-component dragon, where the other pairs agree to 1e-13).

    >>> round(rel_err([0.0, 1.0, 2.0 + 2e-9], [1e-12, 1.0, 2.0]), 12)
    1e-09
    """
    a, ref = np.sort(np.asarray(a, dtype=np.float64)), np.asarray(ref, dtype=np.float64)
    top = float(np.abs(ref).max())
    scale = np.where(np.abs(ref) > 1e-9 * top, np.abs(ref), top)
    return float(np.max(np.abs(a - ref) / scale))


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def bench_mesh(spec: str, k: int, reps: int) -> dict:
    import manifold_nets.geometry as g

    V, F = load_mesh(spec)
    ops = g.operators(V, F, k=0)
    L, M = ops.L.tocsr(), ops.M.tocsr()
    row = {"mesh": spec, "nV": int(L.shape[0]), "laplacian": ops.params.get("laplacian"),
           "k": k, "ours_wall": [], "ours_cpu": [], "recipe_wall": [], "recipe_cpu": []}
    ev_ours = ev_rec = vec = info = None
    for _ in range(reps):  # interleaved
        (ev_ours, vec, info), w, c = _timed(lambda: g.eigenbasis(L, M, k, return_info=True))
        row["ours_wall"].append(w)
        row["ours_cpu"].append(c)
        ev_rec, w, c = _timed(lambda: recipe_eigen(L, M, k))
        row["recipe_wall"].append(w)
        row["recipe_cpu"].append(c)
    ref, w, _ = _timed(lambda: reference_eigen(L, M, k))
    row["reference_wall"] = w
    row["ours_method"] = info["method"]
    row["ours_solves"] = info["solves"]
    row["ours_err"] = rel_err(ev_ours, ref)
    row["recipe_err"] = rel_err(ev_rec, ref)
    row["ours_orth"] = float(np.abs(vec.T @ (M @ vec) - np.eye(k)).max())
    for key in ("wall", "cpu"):
        row[f"ratio_{key}"] = float(np.median(row[f"recipe_{key}"]) / np.median(row[f"ours_{key}"]))
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions of each side (median)")
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS/OpenMP threads of both sides (default 1; 0 leaves the environment alone)")
    ap.add_argument("--only", default=None, help="comma-separated meshes (default: every mesh of >= 40k "
                    "vertices in ../shared/meshes and icosphere:6); icosphere:<s> generates a sphere")
    args = ap.parse_args()
    meshes = args.only.split(",") if args.only else list(MESHES)

    limits = contextlib_nullcontext()
    pools = "threadpoolctl not installed"
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        if args.threads > 0:
            limits = threadpool_limits(args.threads)
        pools = ", ".join(sorted({f"{i['internal_api']}={i['num_threads']}" for i in threadpool_info()}))
    except ImportError:
        pass
    env = " ".join(f"{v}={os.environ.get(v, '-')}" for v in BLAS_VARS[:3])
    print(f"# bench_eigen k={args.k} reps={args.reps} cpu_count={os.cpu_count()} load={os.getloadavg()[0]:.2f} "
          f"threads={args.threads or 'env'} ({env}; pools: {pools}) for both sides", flush=True)
    import manifold_nets.geometry as g
    from manifold_nets.shapes import icosphere

    with limits:
        g.eigenbasis(*_lm(g, *icosphere(3)), 16)  # warm-up: imports and BLAS
        recipe_eigen(*_lm(g, *icosphere(3)), 16)
        rows = []
        for spec in meshes:
            if not spec.startswith("icosphere:") and not (DATA / spec).exists():
                print(f"skip {spec}: not found under {DATA}", flush=True)
                continue
            row = bench_mesh(spec, args.k, args.reps)
            rows.append(row)
            print(json.dumps(row), flush=True)

    print(f"\n### Eigenbasis, k={args.k}: ours vs the DiffusionNet recipe (median of {args.reps}, interleaved, "
          f"threads={args.threads or 'env'})\n")
    print("| mesh | nV | Laplacian | ours wall [s] | recipe wall [s] | speed-up wall | ours CPU [s] | recipe CPU [s] | "
          "speed-up CPU | ours max rel. eig. error | recipe max rel. eig. error | ours max abs(ΦᵀMΦ − I) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        med = {key: float(np.median(r[key])) for key in ("ours_wall", "recipe_wall", "ours_cpu", "recipe_cpu")}
        print(f"| {r['mesh']} | {r['nV']} | {r['laplacian']} | {med['ours_wall']:.2f} | {med['recipe_wall']:.2f} | "
              f"{r['ratio_wall']:.2f}× | {med['ours_cpu']:.2f} | {med['recipe_cpu']:.2f} | {r['ratio_cpu']:.2f}× | "
              f"{r['ours_err']:.1e} | {r['recipe_err']:.1e} | {r['ours_orth']:.1e} |")


def _lm(g, V, F):
    ops = g.operators(V, F, k=0)
    return ops.L.tocsr(), ops.M.tocsr()


def contextlib_nullcontext():
    import contextlib

    return contextlib.nullcontext()


if __name__ == "__main__":
    main()
