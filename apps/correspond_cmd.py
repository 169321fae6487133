"""``manifold-nets correspond``: dense vertex maps between two meshes, and their evaluation.

Two forms (thin: the work is :func:`manifold_nets.tasks.correspondence.correspond` and
:func:`~manifold_nets.tasks.correspondence.evaluate_pairs`):

* ``manifold-nets correspond SRC TGT -o MAP [--refine zoomout|icp|none] [--k K] [--colors PREFIX]``
  writes one line per source vertex with the 0-based index of its target vertex (``.npy`` when
  MAP ends so), in the vertex order of the files as given;
* ``manifold-nets correspond eval PAIRS_DIR [--json] [--sample N]`` maps and scores every pair
  of a benchmark folder (layout: :mod:`manifold_nets.data.remeshed_pairs` — ``pairs.tsv`` with
  ``source``, ``target``, ``ground_truth`` columns) and prints the table and summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import UsageError, check_output_file, non_negative_int


def _positive_int(text: str) -> int:
    v = non_negative_int(text)
    if v == 0:
        raise argparse.ArgumentTypeError("expected a positive integer (got 0)")
    return v


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "correspond",
        help="map every vertex of one mesh to a vertex of another (functional maps); evaluate maps",
        usage="manifold-nets correspond SRC TGT -o MAP [options]\n"
              "       manifold-nets correspond eval PAIRS_DIR [--json] [options]",
        description=(
            "SRC TGT -o MAP: compute a dense vertex map from SRC to TGT (axiomatic functional maps "
            "from WKS descriptors with an orientation-preserving term, refined by ZoomOut) and write "
            "it as text (one 0-based target vertex index per source vertex, in the file's vertex "
            "order) or .npy.  eval PAIRS_DIR: map every pair listed in PAIRS_DIR/pairs.tsv "
            "(columns source, target, ground_truth[, group]; paths relative to PAIRS_DIR; ground "
            "truth as .vts (1-based), .npy or text) and print the mean geodesic error (x100, "
            "normalised by the square root of the target's area), the time and whether the map "
            "lands on the mirror image, per pair and overall.  Exit codes: 0 done, 1 an input "
            "failed, 2 usage, 4 the output cannot be written."),
    )
    p.add_argument("inputs", nargs="+", metavar="SRC TGT | eval PAIRS_DIR")
    p.add_argument("-o", "--output", default=None, metavar="MAP",
                   help="map file (SRC TGT form; .npy or text), or JSON results file (eval)")
    p.add_argument("--refine", choices=("zoomout", "icp", "none"), default="zoomout",
                   help="refinement of the initial functional map (default zoomout)")
    p.add_argument("--k", type=_positive_int, default=None, metavar="K",
                   help="final basis size (default 120)")
    p.add_argument("--k-init", type=_positive_int, default=None, metavar="K0",
                   help="basis size of the initial functional map (default 30)")
    p.add_argument("--descriptors", choices=("wks", "hks"), default="wks", help="descriptors (default wks)")
    p.add_argument("--no-orientation", action="store_true", help="leave out the orientation-preserving term")
    p.add_argument("--colors", default=None, metavar="PREFIX",
                   help="also write PREFIX_target.ply (coloured by position) and PREFIX_source.ply "
                        "(colours carried by the map) for viewing")
    p.add_argument("--json", action="store_true", help="eval: print the results as JSON")
    p.add_argument("--sample", type=_positive_int, default=None, metavar="N",
                   help="eval: score N random source vertices per pair (default all)")
    p.add_argument("--exact", action="store_true", help="eval: exact geodesic distances (default heat method)")
    p.set_defaults(func=run)


def _options(args) -> dict:
    from manifold_nets.tasks.correspondence import K_DEFAULT, K_INIT_DEFAULT

    k = args.k if args.k is not None else K_DEFAULT
    k0 = args.k_init if args.k_init is not None else min(K_INIT_DEFAULT, k)
    if k0 > k:
        raise UsageError(f"--k-init {k0}: expected at most --k {k}")
    return {"k": k, "k_init": k0, "refine": args.refine, "descriptors": args.descriptors,
            "orientation": not args.no_orientation}


def run(args) -> int:
    if args.inputs[0] == "eval" and not Path("eval").exists():
        return _run_eval(args)
    return _run_map(args)


def _run_map(args) -> int:
    from manifold_nets.data.maps import write_colored_pair, write_map
    from manifold_nets.io import read_triangles
    from manifold_nets.tasks.correspondence import correspond

    if len(args.inputs) != 2:
        raise UsageError(f"expected SRC TGT (two mesh files) or 'eval PAIRS_DIR' (got {len(args.inputs)} "
                         f"arguments: {' '.join(args.inputs)[:80]})")
    if args.output is None:
        raise UsageError("correspond SRC TGT: expected -o MAP, the output map file")
    for opt, val in (("--json", args.json), ("--sample", args.sample), ("--exact", args.exact)):
        if val:
            raise UsageError(f"{opt}: only for 'correspond eval'")
    opts = _options(args)
    out = check_output_file(args.output, "-o")
    if args.colors:
        check_output_file(args.colors + "_source.ply", "--colors")
    s = read_triangles(args.inputs[0])
    t = read_triangles(args.inputs[1])
    p2p, info = correspond(s.V, s.F, t.V, t.F, return_info=True, **opts)
    write_map(out, p2p)
    if args.colors:
        write_colored_pair(args.colors + "_source.ply", args.colors + "_target.ply", s.V, s.F, t.V, t.F, p2p)
    print(f"{args.inputs[0]} -> {args.inputs[1]}: {len(p2p)} source vertices mapped onto "
          f"{len(t.V)} target vertices in {info['seconds']:.1f} s; wrote {out}")
    return 0


def _run_eval(args) -> int:
    from manifold_nets.data.remeshed_pairs import read_pairs
    from manifold_nets.tasks.correspondence import evaluate_pairs

    if len(args.inputs) != 2:
        raise UsageError(f"correspond eval: expected one PAIRS_DIR (got {len(args.inputs) - 1})")
    if args.colors:
        raise UsageError("--colors: only for 'correspond SRC TGT'")
    opts = _options(args)
    out = check_output_file(args.output, "-o") if args.output else None
    pairs = read_pairs(args.inputs[1])
    if not pairs:
        raise UsageError(f"{args.inputs[1]}/pairs.tsv: expected at least one pair (got none)")

    def show(row):
        if not args.json:
            print(f"{Path(row['source']).stem:>20} -> {Path(row['target']).stem:<20} "
                  f"{100 * row['mean_error']:8.2f} {row['seconds']:7.1f}  "
                  f"{'mirrored' if row['mirrored'] else '':8}", flush=True)

    if not args.json:
        print(f"{'source':>20}    {'target':<20}{'err x100':>8} {'time s':>7}  mirror")
    res = evaluate_pairs(pairs, sample=args.sample, exact=args.exact, progress=show, **opts)
    sm = res["summary"]
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        print()
    else:
        print(f"{sm['n_pairs']} pairs: mean error x100 {100 * sm['mean_error']:.2f}, mean time "
              f"{sm['mean_seconds']:.1f} s, {sm['n_mirrored']} mapped onto the mirror image")
    if out is not None:
        from manifold_nets.files import atomic_write

        atomic_write(out, (json.dumps(res, indent=1) + "\n").encode())
    return 0
