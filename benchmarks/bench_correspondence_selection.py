"""How ``correspond(descriptors="auto")`` chooses between its HKS and WKS initial maps, against
other ground-truth-free rules and an oracle, on the remeshed pose pairs.

For every pair of ``bench_out/correspondence_pairs`` (built by ``bench_correspondence.py``):

- the full default pipeline with ``descriptors="auto"``, ``"hks"`` and ``"wks"`` (mean geodesic
  error × 100 of each; the oracle takes the lower of the last two);
- each candidate initial map (:func:`manifold_nets.tasks.correspondence.initial_fmaps`) refined by
  ZoomOut up to :data:`~manifold_nets.tasks.correspondence.SELECT_AT` (the same sampled steps as
  the pipeline; the last step maps every vertex), and three criteria of that map, none of which
  uses the ground truth:

  * ``energy``: ZoomOut's energy (:func:`manifold_nets.geometry.fmaps.spectral_residual`) on every
    vertex (the pipeline compares it on the samples);
  * ``stretch``: mean over the source's edges of ``|ℓ_t − ℓ_s|``, the 3-D distance between the
    images of an edge's two ends on the target against the edge's length, both on unit-area
    copies, over the mean ``ℓ_s`` (a near-isometric map keeps short distances);
  * ``orthogonality``: ``‖CᵀC − I‖_F`` of that map's functional map (a near-isometry has an
    orthogonal ``C``).

Each rule keeps the candidate with the lower criterion; the summary gives the mean error of the
full pipeline from the kept candidate.  Prints one line per pair and the summary.

    OMP_NUM_THREADS=1 python benchmarks/bench_correspondence_selection.py --groups lion --json sel_lion.json
    OMP_NUM_THREADS=1 python benchmarks/bench_correspondence_selection.py --groups cat --json sel_cat.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RULES = ("energy", "stretch", "orthogonality")


def _edges(F: np.ndarray) -> np.ndarray:
    E = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    return np.unique(E, axis=0)


def criteria(src, tgt, C, *, select_at: int) -> dict:
    """The three criteria of one candidate ``C`` refined to ``select_at`` (see the module text)."""
    from manifold_nets.geometry import fmaps
    from manifold_nets.tasks import correspondence as cm

    p2p, _ = fmaps.zoomout(None, tgt.evecs, src.evecs, src.mass, k_start=C.shape[0], k_end=select_at,
                           step=cm.STEP_DEFAULT, n_samples=cm.N_SAMPLES_DEFAULT, V_a=tgt.V, V_b=src.V,
                           mass_a=tgt.mass, C_init=C)
    Pa, Pb = tgt.evecs[:, :select_at], src.evecs[:, :select_at]
    Cf = fmaps.p2p_to_fmap(p2p, Pa, Pb, src.mass)
    E = _edges(src.F)
    ls = np.linalg.norm(src.V[E[:, 0]] - src.V[E[:, 1]], axis=1)  # spectral shapes have unit area
    lt = np.linalg.norm(tgt.V[p2p[E[:, 0]]] - tgt.V[p2p[E[:, 1]]], axis=1)
    return {"energy": fmaps.spectral_residual(p2p, Pa, Pb, src.mass),
            "stretch": float(np.mean(np.abs(lt - ls)) / np.mean(ls)),
            "orthogonality": float(np.linalg.norm(Cf.T @ Cf - np.eye(Cf.shape[1])))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs-dir", type=Path, default=REPO / "bench_out" / "correspondence_pairs")
    ap.add_argument("--groups", nargs="+", default=None, help="only the pairs of these groups (e.g. lion)")
    ap.add_argument("--max-pairs", type=int, default=None, help="at most this many pairs (spread)")
    ap.add_argument("--json", type=Path, default=None, help="write every number to this file")
    args = ap.parse_args(argv)

    from manifold_nets.data.maps import read_map
    from manifold_nets.data.remeshed_pairs import read_pairs
    from manifold_nets.io import read_triangles
    from manifold_nets.tasks import correspondence as cm

    if not (args.pairs_dir / "pairs.tsv").exists():
        sys.exit(f"bench_correspondence_selection: {args.pairs_dir}: expected the pairs folder "
                 "(got none; run benchmarks/bench_correspondence.py --quick once to build it)")
    pairs = read_pairs(args.pairs_dir)
    if args.groups:
        pairs = [p for p in pairs if p.group in args.groups]
    if args.max_pairs:
        pairs = pairs[::max(1, len(pairs) // args.max_pairs)][:args.max_pairs]
    rows = []
    print(f"{'pair':<32}{'auto':>7}{'hks':>7}{'wks':>7}  kept by " + " ".join(RULES))
    for pr in pairs:
        s, t = read_triangles(pr.source), read_triangles(pr.target)
        gt = read_map(pr.ground_truth, n_source=len(s.V), n_target=len(t.V))
        row = {"source": pr.source.stem, "target": pr.target.stem, "group": pr.group}
        for kind in ("auto", "hks", "wks"):
            p2p, info = cm.correspond(s.V, s.F, t.V, t.F, descriptors=kind, return_info=True)
            row[kind] = float(np.nanmean(cm.geodesic_error(t.V, t.F, p2p, gt)))
            if kind == "auto":
                row["auto_kept"] = info["descriptors"]
        src = cm.spectral_shape(s.V, s.F, name="source")
        tgt = cm.spectral_shape(t.V, t.F, name="target")
        Cs = cm.initial_fmaps(src, tgt)
        crit = {kind: criteria(src, tgt, C, select_at=cm.SELECT_AT) for kind, C in Cs.items()}
        row["criteria"] = crit
        row["kept"] = {r: min(crit, key=lambda kd: crit[kd][r]) for r in RULES}
        rows.append(row)
        print(f"{pr.source.stem + '->' + pr.target.stem:<32}{100 * row['auto']:7.2f}{100 * row['hks']:7.2f}"
              f"{100 * row['wks']:7.2f}  {row['auto_kept']} " + " ".join(row["kept"][r] for r in RULES), flush=True)
    summary = {"pairs": len(rows)}
    for name in ("auto", "hks", "wks"):
        summary[name] = 100 * float(np.mean([r[name] for r in rows]))
    summary["oracle"] = 100 * float(np.mean([min(r["hks"], r["wks"]) for r in rows]))
    for rule in RULES:
        summary[rule] = 100 * float(np.mean([r[r["kept"][rule]] for r in rows]))
    print("mean error x100: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.items() if k != "pairs")
          + f" ({len(rows)} pairs)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"pairs": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
