"""Accuracy of heat-method geodesics and log maps against exact (MMP) distances, on the
HELD-OUT meshes of :mod:`tests.geometry._geodesic_meshes` (no default was tuned on them), and
against potpourri3d / libigl at equal settings (same ``t = t_factor · h²``; potpourri3d with its
intrinsic-Delaunay Laplacian, libigl's plain cotan one).

Also a script that prints the comparison tables (the figures quoted in the docstrings)::

    OMP_NUM_THREADS=1 python -m tests.geometry.test_geodesic_accuracy --set held-out
    OMP_NUM_THREADS=1 python -m tests.geometry.test_geodesic_accuracy --set tuning --grid
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from manifold_nets.geometry import HeatGeodesicSolver, exact_geodesic_distance
from tests.geometry import _geodesic_meshes as gm

N_SOURCES = 4


def _sources(V, F, k=N_SOURCES, seed=0):
    used = np.flatnonzero(np.bincount(F.ravel(), minlength=len(V)) > 0)
    return np.random.default_rng(seed).choice(used, k, replace=False)


def _mre(d, ref, mask=None):
    m = np.isfinite(ref) & (ref > 0) & np.isfinite(d)
    if mask is not None:
        m &= mask
    return float(np.mean(np.abs(d[m] - ref[m]) / ref[m]))


def _mean_edge(V, F):
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    return float(np.mean(np.linalg.norm(V[e[:, 0]] - V[e[:, 1]], axis=1)))


def heat_errors(V, F, srcs, exact, method="ours", t_factor=1.0, **kw):
    """Mean relative error over the sources of one heat-method implementation.

    ``t_factor=None`` means each implementation's default (potpourri3d, libigl: 1.0).
    """
    if method == "ours":
        D = HeatGeodesicSolver(V, F, t_factor=t_factor, **kw).distances(srcs)
    elif t_factor is None:
        return heat_errors(V, F, srcs, exact, method, 1.0, **kw)
    elif method == "pp3d":
        import potpourri3d as pp3d

        s = pp3d.MeshHeatMethodDistanceSolver(V, F, t_coef=t_factor, use_robust=kw.get("use_robust", True))
        D = np.stack([s.compute_distance(int(x)) for x in srcs])
    elif method == "igl":
        import igl

        data = igl.HeatGeodesicsData()
        h = _mean_edge(V, F)
        igl.heat_geodesics_precompute(V, F, t_factor * h * h, data)
        D = np.stack([igl.heat_geodesics_solve(data, np.array([x], dtype=np.int64)) for x in srcs])
    else:
        raise ValueError(method)
    return float(np.mean([_mre(D[k], exact[k]) for k in range(len(srcs))]))


def near_radius_error(r, ex, frac=0.3):
    """Mean relative error of log-map radii ``r`` over the nearest ``frac`` of the vertices."""
    m = np.isfinite(ex) & (ex > 0)
    sel = m & (ex <= np.quantile(ex[m], frac))
    rr = np.where(np.isfinite(r), r, 0.0)
    return float(np.mean(np.abs(rr[sel] - ex[sel]) / ex[sel]))


def logmap_errors(V, F, srcs, exact, old=None):
    """Near-source radius errors of our log map (default, affine radius), potpourri3d's and,
    with ``old``, the previous solver's."""
    from manifold_nets.geometry import VectorHeatSolver

    out = {}
    R, _ = VectorHeatSolver(V, F).log_maps(srcs)
    out["ours default"] = float(np.mean([near_radius_error(R[k], exact[k]) for k in range(len(srcs))]))
    R, _ = VectorHeatSolver(V, F, radius="affine").log_maps(srcs)
    out["ours affine"] = float(np.mean([near_radius_error(R[k], exact[k]) for k in range(len(srcs))]))
    import potpourri3d as pp3d

    pp = pp3d.MeshVectorHeatSolver(V, F)
    out["pp3d"] = float(np.mean([near_radius_error(np.linalg.norm(pp.compute_log_map(int(s)), axis=1), exact[k])
                                 for k, s in enumerate(srcs)]))
    if old:
        import old_logmap

        R, _ = old_logmap.VectorHeatSolver(V, F).log_maps(srcs)
        out["old default"] = float(np.mean([near_radius_error(R[k], exact[k]) for k in range(len(srcs))]))
    return out


def _exact(V, F, srcs):
    return np.stack([exact_geodesic_distance(V, F, int(s)) for s in srcs])


# -- tests -------------------------------------------------------------------------------------
#
# Figures in comments: mean relative error vs exact over the N_SOURCES sources of ``_sources``,
# reproduced by ``python -m tests.geometry.test_geodesic_accuracy --set held-out --old DIR``
# (DIR holding the pre-issue-8 ``geodesics.py`` as ``old_geodesics.py``).

#: held-out meshes where the pre-issue-8 solver was clearly off (its default: 4.39 %, 1.90 %,
#: 2.78 %, 6.66 %, 2.60 % in this order); now 2.31 %, 1.13 %, 1.57 %, 2.35 %, 1.25 %, with
#: potpourri3d (use_robust, t_coef=1) at 2.30 %, 1.13 %, 1.68 %, 2.34 %, 1.24 %.
IMPROVED = {"homer.obj": 0.03, "screwdriver.off": 0.015, "lion.off": 0.02, "homer.obj-dec50": 0.03,
            "horse.ply-dec80": 0.018}
HELD_OUT_FAST = [e for e in gm.HELD_OUT if gm.label(e) in IMPROVED or gm.label(e) in
                 ("elephant.obj-dec50", "rocker-arm.obj-dec50", "elephant.obj")]


@functools.cache
def _held_out_case(label: str):
    entry = next(e for e in gm.HELD_OUT if gm.label(e) == label)
    V, F = gm.get(entry)
    srcs = _sources(V, F)
    return V, F, srcs, _exact(V, F, srcs)


@pytest.mark.parametrize("entry", HELD_OUT_FAST, ids=gm.label)
def test_heat_at_least_as_accurate_as_potpourri3d_on_held_out(entry):
    pytest.importorskip("potpourri3d")
    V, F, srcs, ex = _held_out_case(gm.label(entry))
    ours = heat_errors(V, F, srcs, ex)
    pp = heat_errors(V, F, srcs, ex, "pp3d")
    # equal settings (t = h² of the intrinsic Delaunay triangulation, intrinsic Delaunay
    # operators): equal to potpourri3d up to mollification details, better with a boundary
    assert ours <= 1.01 * pp + 1e-4, (ours, pp)
    assert ours < IMPROVED.get(gm.label(entry), 0.03), ours


def test_defaults_vs_potpourri3d_defaults_on_held_out():
    pytest.importorskip("potpourri3d")
    ours, theirs = [], []
    for entry in HELD_OUT_FAST:
        V, F, srcs, ex = _held_out_case(gm.label(entry))
        ours.append(heat_errors(V, F, srcs, ex, t_factor=None))
        theirs.append(heat_errors(V, F, srcs, ex, "pp3d", t_factor=None))
    # measured mean 1.80 % against 1.94 % on these 8 meshes: ours better on 5 (homer.obj only
    # by 0.01 points), worse on 3 (screwdriver 1.47/1.13, horse-dec80 1.35/1.24,
    # rocker-arm-dec50 2.03/1.91 %)
    assert np.mean(ours) <= np.mean(theirs)
    assert max(o - t for o, t in zip(ours, theirs)) < 0.005


def test_poor_triangles_pick_robust_and_beat_cotan():
    entry = next(e for e in gm.HELD_OUT if gm.label(e) == "homer.obj-dec50")
    V, F = gm.get(entry)
    srcs = _sources(V, F, 2)
    ex = _exact(V, F, srcs)
    solver = HeatGeodesicSolver(V, F)
    assert solver.laplacian == "robust" and "negative cotan" in solver.laplacian_reason
    assert solver.n_flips > 0
    robust = heat_errors(V, F, srcs, ex, laplacian="robust")
    cotan = heat_errors(V, F, srcs, ex, laplacian="cotan")
    # measured 2.35 % vs 36.4 % (4 sources)
    assert robust < 0.03 and robust < 0.2 * cotan


def test_stretched_sphere_generated_without_data():
    V, F = gm.stretched_sphere(4)
    srcs = _sources(V, F, 2)
    ex = _exact(V, F, srcs)
    ours = heat_errors(V, F, srcs, ex)
    cotan = heat_errors(V, F, srcs, ex, laplacian="cotan")
    # measured 1.09 % vs 41 % (4 sources); libigl (cotan) 41 %, potpourri3d 1.09 %
    assert ours < 0.02 and ours < 0.1 * cotan


def test_heat_solver_prints_nothing_at_c_level(capfd):
    entry = next(e for e in gm.HELD_OUT if gm.label(e) == "homer.obj-dec50")
    V, F = gm.get(entry)
    capfd.readouterr()
    for lap in ("cotan", "robust"):
        d = HeatGeodesicSolver(V, F, laplacian=lap).distance(0)
        assert np.isfinite(d).all()
    out, err = capfd.readouterr()
    assert "CHOLMOD" not in out + err


# -- the script ---------------------------------------------------------------------------------

def _main():
    import argparse
    import sys
    import time

    ap = argparse.ArgumentParser(description="heat-method accuracy vs exact, ours vs peers")
    ap.add_argument("--set", choices=["tuning", "held-out"], default="held-out")
    ap.add_argument("--grid", action="store_true", help="sweep our parameters (for the tuning set)")
    ap.add_argument("--old", help="folder holding old_geodesics.py / old_logmap.py, the modules before a "
                    "change (`git show <rev>:manifold_nets/geometry/geodesics.py` with absolute imports)")
    ap.add_argument("--t-factor", type=float, default=1.0)
    ap.add_argument("--only", nargs="*", help="labels to run")
    ap.add_argument("--laps", nargs="*", default=["cotan", "robust"], help="Laplacians in the --grid sweep")
    ap.add_argument("--logmap", action="store_true",
                    help="log-map radius error over the nearest 30 %% of vertices instead of distances")
    args = ap.parse_args()
    entries = gm.TUNING if args.set == "tuning" else gm.HELD_OUT
    if args.old:
        sys.path.insert(0, args.old)
    rows = []
    for entry in entries:
        lab = gm.label(entry)
        if args.only and lab not in args.only:
            continue
        V, F = gm.get(entry)
        srcs = _sources(V, F)
        t0 = time.time()
        ex = _exact(V, F, srcs)
        res = {}
        tf = args.t_factor
        if args.logmap:
            res = logmap_errors(V, F, srcs, ex, args.old)
            rows.append((lab, len(V), res))
            print(f"{lab} nV={len(V)} ({time.time() - t0:.1f}s): " +
                  ", ".join(f"{k} {100 * v:.2f}%" for k, v in res.items()), flush=True)
            continue
        if args.grid:
            for lap in args.laps:
                for tfg in (0.5, 0.75, 1.0, 1.5):
                    for off in ("one-ring", "source"):
                        res[f"{lap} t={tfg} {off}"] = heat_errors(V, F, srcs, ex, laplacian=lap, t_factor=tfg,
                                                                  offset=off)
            if np.bincount(F.ravel(), minlength=len(V)).size and "boundary" in entry[1]:
                res["robust t=1 neumann"] = heat_errors(V, F, srcs, ex, laplacian="robust", boundary="neumann")
        res["ours default"] = heat_errors(V, F, srcs, ex, t_factor=None)
        res[f"ours t={tf}"] = heat_errors(V, F, srcs, ex, t_factor=tf)
        res[f"pp3d t={tf}"] = heat_errors(V, F, srcs, ex, "pp3d", t_factor=tf)
        res[f"igl t={tf}"] = heat_errors(V, F, srcs, ex, "igl", t_factor=tf)
        if args.old:
            import old_geodesics

            D = old_geodesics.HeatGeodesicSolver(V, F).distances(srcs)
            res["old default"] = float(np.mean([_mre(D[k], ex[k]) for k in range(len(srcs))]))
            D = old_geodesics.HeatGeodesicSolver(V, F, t_factor=1.0).distances(srcs)
            res["old t=1"] = float(np.mean([_mre(D[k], ex[k]) for k in range(len(srcs))]))
        rows.append((lab, len(V), res))
        print(f"{lab} nV={len(V)} ({time.time() - t0:.1f}s): " +
              ", ".join(f"{k} {100 * v:.2f}%" for k, v in res.items()), flush=True)
    keys = list(rows[0][2]) if rows else []
    print("\n| mesh | nV | " + " | ".join(keys) + " |")
    print("|---|---:|" + "---:|" * len(keys))
    for lab, n, res in rows:
        print(f"| {lab} | {n} | " + " | ".join(f"{100 * res[k]:.2f} %" for k in keys) + " |")
    print("| **mean** | | " + " | ".join(f"{100 * np.mean([r[2][k] for r in rows]):.2f} %" for k in keys) + " |")


if __name__ == "__main__":
    _main()
