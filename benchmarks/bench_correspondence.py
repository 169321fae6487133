"""Remeshed pose pairs: mean geodesic error and time per pair, pyFM's and geomfum's ZoomOut vs ours.

The benchmark folder is built once (``--pairs-dir``, default ``bench_out/correspondence_pairs``)
from ``$MANIFOLD_NETS_DATA/datasets/deformation-poses`` (cat 7207 and lion 5000 vertices, ten
poses each, identity ground truth): every shape is remeshed on its own to 55–90 % of its vertex
count (:mod:`manifold_nets.data.remeshed_pairs`), and all ordered pairs within cat and within lion
(180) are listed with their carried-over ground truth.

Methods, on the same files:

(a) ``pyfm``: pyFM (``pip install pyfmaps``) as its README's quickstart ships it — ``TriMesh(V, F,
    area_normalize=True, center=True)``, ``preprocess(descr_type="WKS", subsample_step=2)``,
    ``fit(K=30, w_descr=1, w_lap=0.1, w_dcomm=1, w_orient=1)``, ``zoomout_refine(nit=16, step=5)``,
    ``get_p2p``;
(a') ``geomfum``: geomfum 1.0.0 (``pip install geomfum``; its optimiser wrapper needs ``geomstats``,
    whose PyPI release does not import under numpy 2.4, so scipy's L-BFGS-B is called directly, as
    that wrapper does) with the settings of the default ``MatcherConfig`` of its
    ``FunctionalMapMatcher`` (its "standard" preset, the landmark-free one; "precise" adds landmark
    descriptors, which an axiomatic pipeline does not have): ``TriangleMesh(V, F)`` as given,
    ``laplacian.find_spectrum(spectrum_size=200)``, descriptors ``WaveKernelSignature(n_domain=400)``
    → ``ArangeSubsampler(subsample_step=10)`` → ``L2InnerNormalizer`` on the 200 eigenpairs, a 30 × 30
    map minimising ``SpectralDescriptorPreservation`` (weight 1) + ``LBCommutativityEnforcing``
    (1e-2) + descriptor-multiplication ``OperatorCommutativityEnforcing`` (1e-1) with L-BFGS-B from
    zero (orientation weight 0, as in that config), then ``IcpRefiner(nit=10)``,
    ``ZoomOut(nit=10, step=5)`` (30 → 80) and ``P2pFromFmConverter``;
(b) ``ours``: :func:`manifold_nets.tasks.correspondence.correspond` with its defaults;
(c) ``learned`` (with ``--learned RUN_DIR``, a ``manifold-nets correspond train`` run, e.g.
    trained on the other animal's pairs or on synthetic shapes): the same pipeline with the run's
    descriptors (:func:`manifold_nets.tasks.correspondence_train.learned_descriptors`) instead of
    WKS; its time includes computing the descriptors.

Each pair: mean geodesic error on the target (heat method, ×100 of √area, Kim et al. 2011),
seconds for the map alone (reading and scoring excluded), and whether the map lands on the mirror
image (:func:`~manifold_nets.tasks.correspondence.is_mirrored`).  Prints one line per pair and
a summary: mean error, mean time, pairs where (b) beats (a), mirrored pairs per method.

    OMP_NUM_THREADS=2 python benchmarks/bench_correspondence.py               # all 180 pairs
    python benchmarks/bench_correspondence.py --quick                          # 3 cat + 3 lion pairs
    python benchmarks/bench_correspondence.py --methods ours --max-pairs 4 --json out.json
    OMP_NUM_THREADS=1 python benchmarks/bench_correspondence.py --methods geomfum --max-pairs 10
    python benchmarks/bench_correspondence.py --split-groups                 # bench_out/{cat,lion}_pairs
    manifold-nets correspond train bench_out/cat_pairs --out bench_out/learned_cat
    python benchmarks/bench_correspondence.py --learned bench_out/learned_cat --groups lion
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))


def pyfm_map(Vs, Fs, Vt, Ft):
    """pyFM's quickstart pipeline; returns the map source -> target ``(n_s,)``."""
    from pyFM.functional import FunctionalMapping
    from pyFM.mesh import TriMesh

    # pyFM maps functions mesh1 -> mesh2 and returns p2p_21 (a vertex of mesh1 per vertex of mesh2)
    mesh1 = TriMesh(np.asarray(Vt), np.asarray(Ft), area_normalize=True, center=True)
    mesh2 = TriMesh(np.asarray(Vs), np.asarray(Fs), area_normalize=True, center=True)
    model = FunctionalMapping(mesh1, mesh2)
    model.preprocess(descr_type="WKS", subsample_step=2, verbose=False)
    model.fit(K=30, w_descr=1e0, w_lap=1e-1, w_dcomm=1e0, w_orient=1e0, verbose=False)
    fm = model.zoomout_refine(nit=16, step=5, verbose=False)
    return np.asarray(model.get_p2p(fm), dtype=np.int64)


def geomfum_map(Vs, Fs, Vt, Ft, orient_weight=0.0):
    """geomfum's default functional-map matcher; returns the map source -> target ``(n_s,)``.

    geomfum 1.0.0's own pieces, put together as its ``FunctionalMapMatcher`` does with the default
    ``MatcherConfig`` (the "standard" preset); the meshes are given as they are (no rescaling).
    ``orient_weight`` > 0 adds its orientation-commutativity term (``MatcherConfig.orient_weight``;
    1e-1 in its "precise" preset and its functional-map how-to), off by default as in that config.
    """
    import logging

    from geomfum.convert import P2pFromFmConverter
    from geomfum.descriptor.pipeline import ArangeSubsampler, DescriptorPipeline, L2InnerNormalizer
    from geomfum.descriptor.spectral import WaveKernelSignature
    from geomfum.functional_map import (
        FactorSum,
        LBCommutativityEnforcing,
        OperatorCommutativityEnforcing,
        SpectralDescriptorPreservation,
    )
    from geomfum.refine import IcpRefiner, ZoomOut
    from geomfum.shape import TriangleMesh
    from scipy.optimize import minimize

    # geomfum's fmap12 maps functions a -> b and its p2p21 gives a vertex of a per vertex of b:
    # a = target, b = source, so p2p21 is the source -> target vertex map.
    mesh_a = TriangleMesh(np.asarray(Vt, dtype=np.float64), np.asarray(Ft, dtype=np.int64))
    mesh_b = TriangleMesh(np.asarray(Vs, dtype=np.float64), np.asarray(Fs, dtype=np.int64))
    spectrum_size, fmap_size = 200, 30
    for m in (mesh_a, mesh_b):
        m.laplacian.find_spectrum(spectrum_size=spectrum_size, set_as_basis=True)
        m.basis.use_k = spectrum_size  # descriptors from the whole computed spectrum
    pipeline = DescriptorPipeline([WaveKernelSignature.from_registry(n_domain=400),
                                   ArangeSubsampler(subsample_step=10), L2InnerNormalizer()])
    descr_a, descr_b = pipeline.apply(mesh_a), pipeline.apply(mesh_b)
    mesh_a.basis.use_k = mesh_b.basis.use_k = fmap_size
    factors = [
        SpectralDescriptorPreservation(mesh_a.basis.project(descr_a), mesh_b.basis.project(descr_b),
                                       weight=1.0),
        LBCommutativityEnforcing.from_bases(mesh_a.basis, mesh_b.basis, weight=1e-2),
        OperatorCommutativityEnforcing.from_multiplication(mesh_a.basis, descr_a, mesh_b.basis,
                                                           descr_b, weight=1e-1),
    ]
    if orient_weight > 0:
        factors.append(OperatorCommutativityEnforcing.from_orientation(
            mesh_a, descr_a, mesh_b, descr_b, weight=orient_weight))
    objective = FactorSum(factors)
    # geomfum's ScipyMinimize(method="L-BFGS-B") is scipy's L-BFGS-B on the flattened matrix from
    # zeros; it imports geomstats, whose PyPI release (2.8.0) does not import under numpy 2.4, so
    # scipy is called here the same way
    shape = (mesh_b.basis.spectrum_size, mesh_a.basis.spectrum_size)
    res = minimize(lambda x: objective(x.reshape(shape)), np.zeros(shape).ravel(), method="L-BFGS-B",
                   jac=lambda x: np.asarray(objective.gradient(x.reshape(shape))).ravel())
    fmap = res.x.reshape(shape)
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # ICP logs "Maximum number of iterations reached" on most pairs
    try:
        for refiner in (IcpRefiner(nit=10), ZoomOut(nit=10, step=5)):
            fmap = refiner(fmap, mesh_a.basis, mesh_b.basis)
    finally:
        root.setLevel(level)
    p2p21 = P2pFromFmConverter()(fmap, mesh_a.basis, mesh_b.basis)
    return np.asarray(p2p21, dtype=np.int64)


def ours_map(Vs, Fs, Vt, Ft):
    from manifold_nets.tasks.correspondence import correspond

    return correspond(Vs, Fs, Vt, Ft)


_LEARNED: dict = {}


def learned_map(Vs, Fs, Vt, Ft):
    from manifold_nets.tasks.correspondence import correspond
    from manifold_nets.tasks.correspondence_train import learned_descriptors

    model = _LEARNED["model"]
    return correspond(Vs, Fs, Vt, Ft, descriptors_src=learned_descriptors(model, Vs, Fs),
                      descriptors_tgt=learned_descriptors(model, Vt, Ft))


METHODS = {"pyfm": pyfm_map, "geomfum": geomfum_map, "ours": ours_map, "learned": learned_map}


def build(pairs_dir: Path) -> None:
    from manifold_nets.data.remeshed_pairs import build_remeshed_pairs

    src = DATA / "datasets" / "deformation-poses"
    if not src.is_dir():
        sys.exit(f"bench_correspondence: data not found at {src} (set MANIFOLD_NETS_DATA)")
    groups = {g: sorted((src / f"{g}-poses").glob("*.obj")) for g in ("cat", "lion")}
    build_remeshed_pairs(groups, pairs_dir, seed=0, progress=lambda m: print("  remeshed", m, flush=True))


def split_groups(pairs_dir: Path) -> int:
    """One folder per group beside ``pairs_dir`` whose ``pairs.tsv`` lists that group's rows, with
    paths relative to it (``../<pairs_dir name>/meshes/...``): training sets for one animal."""
    lines = (pairs_dir / "pairs.tsv").read_text().splitlines()
    head, rows = lines[0], [ln.split("\t") for ln in lines[1:] if ln.strip()]
    up = f"../{pairs_dir.name}/"
    for group in sorted({r[3] for r in rows}):
        out = pairs_dir.parent / f"{group}_pairs"
        out.mkdir(parents=True, exist_ok=True)
        body = ["\t".join([up + r[0], up + r[1], up + r[2], r[3]]) for r in rows if r[3] == group]
        (out / "pairs.tsv").write_text("\n".join([head, *body]) + "\n")
        print(f"{out}: {len(body)} pairs")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs-dir", type=Path, default=REPO / "bench_out" / "correspondence_pairs")
    ap.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["pyfm", "ours"])
    ap.add_argument("--quick", action="store_true", help="3 cat and 3 lion pairs")
    ap.add_argument("--max-pairs", type=int, default=None, help="at most this many pairs per group")
    ap.add_argument("--sample", type=int, default=None, help="score this many source vertices per pair")
    ap.add_argument("--json", type=Path, default=None, help="write every number to this file")
    ap.add_argument("--learned", type=Path, default=None, metavar="RUN_DIR",
                    help="add method (c): descriptors of this 'correspond train' run")
    ap.add_argument("--groups", nargs="+", default=None, help="only the pairs of these groups (e.g. lion)")
    ap.add_argument("--split-groups", action="store_true",
                    help="write PAIRS_DIR/../<group>_pairs/pairs.tsv (one training folder per animal for "
                         "'manifold-nets correspond train') and stop")
    args = ap.parse_args(argv)
    if args.learned is not None:
        from manifold_nets.nn import load

        p = args.learned
        _LEARNED["model"] = load(p / "model.pt" if p.is_dir() else p, map_location="cpu")
        if "learned" not in args.methods:
            args.methods = [*args.methods, "learned"]
    elif "learned" in args.methods:
        ap.error("--methods learned: expected --learned RUN_DIR")

    from manifold_nets.data.maps import read_map
    from manifold_nets.data.remeshed_pairs import read_pairs
    from manifold_nets.io import read_triangles
    from manifold_nets.tasks.correspondence import geodesic_error, orientation_score

    if not (args.pairs_dir / "pairs.tsv").exists():
        print(f"building the remeshed pairs in {args.pairs_dir}", flush=True)
        build(args.pairs_dir)
    if args.split_groups:
        return split_groups(args.pairs_dir)
    pairs = read_pairs(args.pairs_dir)
    if args.groups:
        pairs = [p for p in pairs if p.group in args.groups]
    per_group = 3 if args.quick else args.max_pairs
    if per_group is not None:
        keep, by_group = [], {}  # spread over each group: every n-th pair
        for p in pairs:
            by_group.setdefault(p.group, []).append(p)
        for ps in by_group.values():
            step = max(1, len(ps) // per_group)
            keep += ps[::step][:per_group]
        pairs = keep
    rng = np.random.default_rng(0)
    rows = []
    head = f"{'pair':<32}" + "".join(f"{m + ' err':>13}{m + ' s':>11}{'mir':>5}" for m in args.methods)
    print(head)
    for pr in pairs:
        s, t = read_triangles(pr.source), read_triangles(pr.target)
        gt = read_map(pr.ground_truth, n_source=len(s.V), n_target=len(t.V))
        sel = None
        if args.sample is not None and args.sample < len(s.V):
            sel = np.sort(rng.choice(len(s.V), args.sample, replace=False))
        row = {"source": pr.source.stem, "target": pr.target.stem, "group": pr.group,
               "n_source": len(s.V), "n_target": len(t.V)}
        line = f"{pr.source.stem + '->' + pr.target.stem:<32}"
        for m in args.methods:
            t0 = time.perf_counter()
            p2p = METHODS[m](s.V, s.F, t.V, t.F)
            dt = time.perf_counter() - t0
            err = geodesic_error(t.V, t.F, p2p, gt, sources=sel)
            score = orientation_score(s.V, s.F, t.V, t.F, p2p)
            row[m] = {"error": float(np.nanmean(err)), "seconds": dt, "orientation_score": score,
                      "mirrored": bool(score < 0.5)}
            line += f"{100 * row[m]['error']:13.2f}{dt:11.1f}{'  M' if row[m]['mirrored'] else '   ':>5}"
        rows.append(row)
        print(line, flush=True)
    summary = {}
    for m in args.methods:
        summary[m] = {"mean_error_x100": 100 * float(np.mean([r[m]["error"] for r in rows])),
                      "mean_seconds": float(np.mean([r[m]["seconds"] for r in rows])),
                      "n_mirrored": int(sum(r[m]["mirrored"] for r in rows))}
        print(f"{m:>6}: mean error x100 {summary[m]['mean_error_x100']:.2f}, mean time "
              f"{summary[m]['mean_seconds']:.1f} s, mirrored {summary[m]['n_mirrored']}/{len(rows)}")
    if {"pyfm", "ours"} <= set(args.methods):
        better = sum(r["ours"]["error"] < r["pyfm"]["error"] for r in rows)
        faster = sum(r["ours"]["seconds"] < r["pyfm"]["seconds"] for r in rows)
        summary["ours_better_pairs"], summary["ours_faster_pairs"] = better, faster
        print(f"ours: lower error on {better}/{len(rows)} pairs, faster on {faster}/{len(rows)}")
    if {"pyfm", "learned"} <= set(args.methods) and rows:
        gain = 1.0 - summary["learned"]["mean_error_x100"] / summary["pyfm"]["mean_error_x100"]
        summary["learned_error_reduction_vs_pyfm"] = gain
        print(f"learned: mean error {100 * gain:.0f} % lower than pyfm (target >= 25 %)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"pairs": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
