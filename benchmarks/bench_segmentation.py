"""Labeled PSB cross-validation of ``segment train`` (area-weighted accuracy per category).

For every category of ``$MANIFOLD_NETS_DATA/datasets/labeled-psb`` (14 meshes each) and every
model family, ``--folds`` folds hold out ``--test-size`` meshes each (disjoint, chosen by a
seeded permutation) and train on the other 12 with the default settings of ``manifold-nets segment
train`` (including its ``--val-fraction``: by default no validation split, all 12 meshes for
every epoch); the held-out meshes are labelled by
:func:`manifold_nets.tasks.predict.predict_labels` on their original triangulation and scored by :func:`manifold_nets.tasks.metrics.area_weighted_accuracy`
(Kalogerakis et al. 2010: face areas normalised per mesh, mean over the test meshes).  The
``remesh×1000`` column scores the same test meshes after
:func:`manifold_nets.data.transforms.remesh` to half their vertex count and a scale of 1000.

Prints a table (accuracy, remeshed accuracy, drop, train seconds per fold, peak memory of the
process) and the means over the 11 categories of the published comparisons and over all of them;
``--json`` writes every number.  ``--smoothness S ...`` also scores the labels after the graph cut
of ``segment predict --smooth graphcut`` (off by default; smoothness 16 when asked) on the original meshes; ``--work DIR``
keeps the run folders and ``--reuse`` scores them again without training.

    OMP_NUM_THREADS=2 python benchmarks/bench_segmentation.py                  # the full table
    python benchmarks/bench_segmentation.py --categories Human Ant --folds 1   # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: The 11 categories of Kalogerakis et al. 2010 / Guo et al. 2015 / SFCN's published means.
TARGET = ("Cup", "Glasses", "Airplane", "Chair", "Octopus", "Table", "Teddy", "Plier", "Fish", "Bird", "Mech")
ALL = ("Human", "Cup", "Glasses", "Airplane", "Ant", "Chair", "Octopus", "Table", "Teddy", "Hand", "Plier",
       "Fish", "Bird", "Armadillo", "Bust", "Mech", "Bearing", "Vase", "FourLeg")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def folds_of(n: int, n_folds: int, test_size: int, seed: int) -> list[list[int]]:
    """Disjoint test sets of ``test_size`` indices (a seeded permutation of ``range(n)``)."""
    perm = np.random.default_rng([seed, 0xF01D]).permutation(n)
    n_folds = min(n_folds, n // test_size)
    return [sorted(perm[f * test_size:(f + 1) * test_size].tolist()) for f in range(n_folds)]


def run_category(root: Path, category: str, family: str, args, work: Path) -> dict:
    from manifold_nets.data.readers import load_dataset
    from manifold_nets.data.transforms import remesh
    from manifold_nets.tasks.metrics import area_weighted_accuracy
    from manifold_nets.tasks.predict import predict, predict_labels
    from manifold_nets.tasks.segmentation import (
        VAL_FRACTION_DEFAULT,
        SegmentationConfig,
        split_train_val,
        train_segmentation,
    )
    from manifold_nets.tasks.smoothing import graphcut_smooth

    ds = load_dataset(root, "labeled-psb", category=category)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("features", args.features),
                                   ("max_vertices", args.max_vertices), ("width", args.width)) if v is not None}
    if overrides.get("max_vertices") == 0:
        overrides["max_vertices"] = None
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    accs, accs_r, secs, rows = [], [], [], []
    t_cat = time.perf_counter()
    for f, test in enumerate(folds_of(len(ds), args.folds, args.test_size, args.seed)):
        if f < args.first_fold:
            continue
        if args.max_minutes and f > args.first_fold and time.perf_counter() - t_cat > 60 * args.max_minutes:
            break
        train_all = ds.subset([i for i in range(len(ds)) if i not in test])
        val_fraction = VAL_FRACTION_DEFAULT if args.val_fraction is None else args.val_fraction
        train, val = split_train_val(train_all, val_fraction, seed=args.seed)
        seed = args.seed if args.train_seed is None else args.train_seed
        cfg = SegmentationConfig(family=family, seed=seed, cache_dir=args.cache_dir, **overrides)
        run_dir = work / f"{category}_{family}_fold{f}"
        t0 = time.perf_counter()
        if args.reuse:
            res = _trained(run_dir, cfg, train)
        else:
            res = train_segmentation(train, val, cfg, run_dir, device=args.device, overwrite=True)
        secs.append(time.perf_counter() - t0)
        for i in test:
            m = ds.raw(i)
            p = predict(run_dir, m.V, m.F, device=args.device)
            pred = p.face_labels
            acc = area_weighted_accuracy(pred, m.face_labels, m.face_areas)
            smoothed = {str(sm): area_weighted_accuracy(
                graphcut_smooth(m.V, m.F, p.face_scores, smoothness=sm, init=pred), m.face_labels, m.face_areas)
                for sm in args.smoothness}
            acc_r = float("nan")
            if not args.no_remesh:
                r = remesh(m, target_vertices=max(100, m.n_vertices // 2), seed=args.seed + i)
                pred_r, _, _ = predict_labels(run_dir, r.V * 1000.0, r.F, device=args.device)
                acc_r = area_weighted_accuracy(pred_r, r.face_labels, r.face_areas)
            accs.append(acc)
            accs_r.append(acc_r)
            rows.append({"fold": f, "mesh": m.name, "accuracy": acc, "remeshed_accuracy": acc_r,
                         "smoothed_accuracy": smoothed, "best_epoch": res.best_epoch, "epochs_run": res.epochs_run})
        if args.verbose:
            print(f"  {category} {family} fold {f}: {np.mean(accs[-len(test):]):.4f} "
                  f"({secs[-1]:.0f} s, best epoch {res.best_epoch}/{res.epochs_run})", file=sys.stderr, flush=True)
    smoothed = {str(sm): float(np.mean([r["smoothed_accuracy"][str(sm)] for r in rows])) for sm in args.smoothness}
    return {"category": category, "family": family, "folds": len(secs), "accuracy": float(np.mean(accs)),
            "remeshed_accuracy": float(np.mean(accs_r)), "smoothed_accuracy": smoothed,
            "train_seconds": float("nan") if args.reuse else float(np.mean(secs)),
            "peak_mb": _peak_mb(), "meshes": rows}


def _trained(run_dir: Path, cfg, train):
    """The result of an earlier run in ``run_dir`` (``--reuse``), checked against ``cfg`` and ``train``."""
    from types import SimpleNamespace

    rec_path = run_dir / "config.json"
    if not (run_dir / "model.pt").is_file() or not rec_path.is_file():
        raise SystemExit(f"bench_segmentation: error: {run_dir}: expected a finished run folder for --reuse "
                         "(got none; run once with the same --work and without --reuse)")
    rec = json.loads(rec_path.read_text())
    want = {k: v for k, v in cfg.to_dict().items() if k != "cache_dir"}
    got = {k: v for k, v in rec["segmentation"].items() if k != "cache_dir"}
    if want != got or rec["data"]["train"]["meshes"] != train.names:
        raise SystemExit(f"bench_segmentation: error: {run_dir}: expected a run with these settings and "
                         "training meshes (got another; drop --reuse to train again)")
    hist = json.loads((run_dir / "metrics.json").read_text())
    val = [r.get("val_accuracy") for r in hist]
    best = len(hist) if any(v is None for v in val) else 1 + int(np.argmax(val))
    return SimpleNamespace(best_epoch=best, epochs_run=len(hist))


def _table(results: list[dict]) -> str:
    lines = [f"{'category':<10} {'family':<10} {'folds':>5} {'accuracy':>9} {'remesh×1000':>11} {'drop':>6} "
             f"{'train s':>8} {'peak MB':>8}"]
    for r in results:
        drop = 100 * (r["accuracy"] - r["remeshed_accuracy"])
        lines.append(f"{r['category']:<10} {r['family']:<10} {r['folds']:>5} {100 * r['accuracy']:>8.2f}% "
                     f"{100 * r['remeshed_accuracy']:>10.2f}% {drop:>6.2f} {r['train_seconds']:>8.0f} "
                     f"{r['peak_mb']:>8.0f}")
    for sm in results[0].get("smoothed_accuracy", {}) if results else ():
        lines.append(f"graph cut, smoothness {sm}: " + ", ".join(
            f"{r['category']} {100 * r['smoothed_accuracy'][sm]:.2f}%" for r in results)
            + f"; mean {100 * np.mean([r['smoothed_accuracy'][sm] for r in results]):.2f}%")
    for fam in sorted({r["family"] for r in results}):
        for name, cats in (("mean 11", TARGET), ("mean all", None)):
            sel = [r for r in results if r["family"] == fam and (cats is None or r["category"] in cats)]
            if not sel or (cats is not None and len(sel) < len(cats)):
                if sel:
                    name += f" ({len(sel)} of {len(cats)})"
                else:
                    continue
            a = np.mean([r["accuracy"] for r in sel])
            ar = np.mean([r["remeshed_accuracy"] for r in sel])
            lines.append(f"{name:<16} {fam:<10} {100 * a:>8.2f}% {100 * ar:>10.2f}% {100 * (a - ar):>6.2f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=None, help="labeled-psb folder (default $MANIFOLD_NETS_DATA/datasets/labeled-psb)")
    p.add_argument("--categories", nargs="+", default=list(ALL))
    p.add_argument("--families", nargs="+", default=["diffusion"])
    p.add_argument("--folds", type=int, default=3, help="folds per category (default 3)")
    p.add_argument("--first-fold", type=int, default=0,
                   help="skip the folds before this one (run the rest of --folds in another process)")
    p.add_argument("--test-size", type=int, default=2, help="held-out meshes per fold (default 2)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="as segment train (default its default, VAL_FRACTION_DEFAULT)")
    p.add_argument("--max-minutes", type=float, default=0.0, help="start no new fold of a category after this")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--features", default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--max-vertices", type=int, default=None)
    p.add_argument("--set", nargs="+", metavar="KEY=JSON",
                   help="other SegmentationConfig fields, e.g. dropout=0.2 remesh_variants=2")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds (and of training unless --train-seed)")
    p.add_argument("--train-seed", type=int, default=None,
                   help="seed of the training runs only (default --seed): same folds, another initialisation")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--work", default=None, help="folder for the run folders (default a temporary one)")
    p.add_argument("--no-remesh", action="store_true", help="skip the remeshed ×1000 column")
    p.add_argument("--smoothness", type=float, nargs="+", default=[], metavar="S",
                   help="also score the labels smoothed by a graph cut (segment predict --smooth graphcut) "
                        "at each smoothness")
    p.add_argument("--reuse", action="store_true",
                   help="score the run folders an earlier run left in --work (same settings) instead of training")
    p.add_argument("--json", default=None, help="write all results here")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    if args.reuse and not args.work:
        p.error("--reuse needs --work (the folder of the earlier run)")

    data = Path(os.environ.get("MANIFOLD_NETS_DATA", Path(__file__).resolve().parents[2] / "shared"))
    root = Path(args.data) if args.data else data / "datasets" / "labeled-psb"
    if not root.is_dir():
        print(f"bench_segmentation: error: {root}: expected the Labeled PSB folder (got no such folder)",
              file=sys.stderr)
        return 1
    import torch

    print(f"# Labeled PSB, {args.folds} folds x {args.test_size} test meshes, torch threads "
          f"{torch.get_num_threads()}, device {args.device}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        for cat in args.categories:
            for fam in args.families:
                r = run_category(root, cat, fam, args, work)
                results.append(r)
                print(f"{cat:<10} {fam:<10} {100 * r['accuracy']:.2f}% remeshed {100 * r['remeshed_accuracy']:.2f}% "
                      f"{r['train_seconds']:.0f} s/fold", flush=True)
    print(_table(results), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
