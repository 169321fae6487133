"""``manifold-nets correspond``: dense vertex maps between two meshes, and their evaluation.

Two forms (thin: the work is :func:`manifold_nets.tasks.correspondence.correspond` and
:func:`~manifold_nets.tasks.correspondence.evaluate_pairs`):

* ``manifold-nets correspond SRC TGT -o MAP [--refine zoomout|icp|none] [--k K] [--colors PREFIX]``
  writes one line per source vertex with the 0-based index of its target vertex (``.txt`` or no
  extension; 1-based with ``.vts``; ``.npy`` int64), in the vertex order of the files as given;
  any other extension of MAP is a usage error, found before any work;
* ``manifold-nets correspond eval PAIRS_DIR [--json] [--sample N] [-o RESULTS.json]`` maps and
  scores every pair of a benchmark folder (layout: :mod:`manifold_nets.data.remeshed_pairs` —
  ``pairs.tsv`` with ``source``, ``target``, ``ground_truth`` columns) and prints the table and
  summary; a pair that fails (or a malformed ``pairs.tsv`` line) is reported with its
  ``pairs.tsv`` line and file, the other pairs go on, and the exit code is 1;
* ``--triangulate`` (map and eval forms) triangulates polygon faces when reading the meshes;
* ``manifold-nets correspond train PAIRS_DIR --out RUN_DIR [--unsupervised] [--epochs N]
  [--family F]`` trains learned descriptors
  (:func:`manifold_nets.tasks.correspondence_train.train_correspondence`); ``--model RUN_DIR``
  makes the map and eval forms use them instead of HKS (or WKS).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from manifold_nets.errors import NonTriangleError, RunFolderError
from manifold_nets.tasks.correspondence import DESCRIPTOR_CHOICES, DESCRIPTORS_DEFAULT

from .common import (
    OutputError,
    UsageError,
    check_model_kind,
    check_new_run,
    check_output_dir,
    check_output_file,
    make_output_dir,
    one_line,
    positive_int,
)

#: Extensions of the map file of ``correspond SRC TGT -o MAP`` (``""``: none, text).
MAP_EXTENSIONS = ("", ".txt", ".vts", ".npy")
_LIB_HINT = "pass triangulate=True to triangulate"
_CLI_HINT = "triangulate with --triangulate"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "correspond",
        help="map every vertex of one mesh to a vertex of another (functional maps); evaluate maps",
        usage="manifold-nets correspond SRC TGT -o MAP [--model RUN_DIR] [options]\n"
              "       manifold-nets correspond eval PAIRS_DIR [--json] [--model RUN_DIR] [options]\n"
              "       manifold-nets correspond train PAIRS_DIR --out RUN_DIR [--unsupervised] [--epochs N] "
              "[--family F]",
        description=(
            "SRC TGT -o MAP: compute a dense vertex map from SRC to TGT (axiomatic functional maps "
            "from HKS and from WKS descriptors, keeping the one with the lower ZoomOut energy, or one kind "
            "with --descriptors hks|wks, and an orientation-preserving term, refined by ZoomOut) and write it as text (MAP "
            "ending .txt or without extension: one 0-based target vertex index per source vertex, in the file's vertex "
            "order; .vts: the same, 1-based) or .npy (int64, 0-based); another extension is a usage error, "
            "found before any work.  A map that sends the source onto very few target vertices (a symmetric "
            "shape) is written with a warning.  eval PAIRS_DIR: map every pair listed in PAIRS_DIR/pairs.tsv "
            "(columns source, target, ground_truth[, group]; paths relative to PAIRS_DIR; ground "
            "truth as .vts (1-based), .npy or text) and print the mean geodesic error (x100, "
            "normalised by the square root of the target's area), the time and whether the map "
            "lands on the mirror image, per pair and overall; -o writes the results as .json.  A pair "
            "that fails (or a malformed pairs.tsv line) is reported with its pairs.tsv line and file, "
            "the other pairs go on, and all failures are listed at the end (exit code 1).  "
            "--triangulate triangulates polygon faces when reading the meshes.  train PAIRS_DIR --out RUN_DIR: train "
            "learned descriptors (a FeatureNet with a functional-map loss, supervised by the ground "
            "truth or, with --unsupervised, by orthogonality, bijectivity and commutativity) and "
            "write the run folder; --model RUN_DIR then uses them.  Exit codes: 0 done, 1 an input "
            "failed, 2 usage, 4 the output cannot be written."),
    )
    p.add_argument("inputs", nargs="+", metavar="SRC TGT | eval PAIRS_DIR | train PAIRS_DIR")
    p.add_argument("-o", "--output", default=None, metavar="MAP",
                   help="SRC TGT form: the map file, .txt or no extension (0-based text), .vts (1-based "
                        "text) or .npy; eval: the JSON results file (.json)")
    p.add_argument("--triangulate", action="store_true",
                   help="triangulate polygon faces when reading the meshes (SRC TGT and eval forms)")
    p.add_argument("--refine", choices=("zoomout", "icp", "none"), default="zoomout",
                   help="refinement of the initial functional map (default zoomout)")
    p.add_argument("--k", type=positive_int, default=None, metavar="K",
                   help="final basis size (default 160)")
    p.add_argument("--k-init", type=positive_int, default=None, metavar="K0",
                   help="basis size of the initial functional map (default 30)")
    p.add_argument("--descriptors", choices=DESCRIPTOR_CHOICES, default=DESCRIPTORS_DEFAULT,
                   help=f"descriptors; auto: an initial map from each of HKS and WKS, the one with the "
                        f"lower ZoomOut energy goes on (default {DESCRIPTORS_DEFAULT})")
    p.add_argument("--no-orientation", action="store_true", help="leave out the orientation-preserving term")
    p.add_argument("--colors", default=None, metavar="PREFIX",
                   help="also write PREFIX_target.ply (coloured by position) and PREFIX_source.ply "
                        "(colours carried by the map) for viewing")
    p.add_argument("--json", action="store_true", help="eval: print the results as JSON")
    p.add_argument("--sample", type=positive_int, default=None, metavar="N",
                   help="eval: score N random source vertices per pair (default all)")
    p.add_argument("--exact", action="store_true", help="eval: exact geodesic distances (default heat method)")
    p.add_argument("--model", default=None, metavar="RUN_DIR",
                   help="learned descriptors: a 'correspond train' run folder (or its model.pt)")
    p.add_argument("--out", default=None, metavar="RUN_DIR", help="train: the run folder to write")
    p.add_argument("--unsupervised", action="store_true",
                   help="train: orthogonality / bijectivity / commutativity loss (no ground truth)")
    p.add_argument("--epochs", type=positive_int, default=None, metavar="N", help="train: epochs (default 20)")
    p.add_argument("--family", default=None, choices=("diffusion", "spectral", "cheb", "gcnn", "acnn", "monet", "gem"),
                   help="train: convolution family (default diffusion)")
    p.add_argument("--resume", action="store_true", help="train: continue an interrupted run")
    p.add_argument("--overwrite", action="store_true",
                   help="train: start over in a RUN_DIR that holds an earlier run (its files are deleted)")
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
        _no_train_options(args)
        return _run_eval(args)
    if args.inputs[0] == "train" and not Path("train").exists():
        return _run_train(args)
    _no_train_options(args)
    return _run_map(args)


def _no_train_options(args) -> None:
    for opt, val in (("--out", args.out), ("--unsupervised", args.unsupervised), ("--epochs", args.epochs),
                     ("--family", args.family), ("--resume", args.resume), ("--overwrite", args.overwrite)):
        if val:
            raise UsageError(f"{opt}: only for 'correspond train'")


def _learned(args):
    """``None``, or a function ``(V, F) -> descriptors`` of the ``--model`` run."""
    if args.model is None:
        return None
    from manifold_nets.nn import load
    from manifold_nets.tasks.correspondence_train import learned_descriptors

    p = Path(args.model)
    model = load(p / "model.pt" if p.is_dir() else p, map_location="cpu")
    check_model_kind(p, "correspondence", model=model)
    return lambda V, F: learned_descriptors(model, V, F)


def _run_train(args) -> int:
    from manifold_nets.data.remeshed_pairs import read_pairs
    from manifold_nets.tasks.correspondence_train import (
        CorrespondenceTrainConfig,
        train_correspondence,
    )

    if len(args.inputs) != 2:
        raise UsageError(f"correspond train: expected one PAIRS_DIR (got {len(args.inputs) - 1})")
    if args.out is None:
        raise UsageError("correspond train: expected --out RUN_DIR, the run folder to write")
    for opt, val in (("-o", args.output), ("--model", args.model), ("--colors", args.colors), ("--json", args.json),
                     ("--sample", args.sample), ("--exact", args.exact), ("--triangulate", args.triangulate)):
        if val:
            raise UsageError(f"{opt}: not for 'correspond train'")
    out = check_output_dir(args.out, "--out")
    if args.resume and not (out / "checkpoint.pt").is_file():
        raise UsageError(f"--resume: expected an interrupted run in {out} (got no checkpoint.pt there)")
    check_new_run(out, resume=args.resume, overwrite=args.overwrite)
    config = None
    if not args.resume:
        kw = {}
        if args.epochs is not None:
            kw["epochs"] = args.epochs
        if args.family is not None:
            kw["family"] = args.family
        config = CorrespondenceTrainConfig(**kw)
        config.check()
    elif args.epochs is not None or args.family is not None or args.unsupervised:
        raise UsageError("--resume: continues the run with its own configuration (leave out --epochs, "
                         "--family, --unsupervised)")
    pairs = read_pairs(args.inputs[1])
    if not pairs:
        raise UsageError(f"{args.inputs[1]}/pairs.tsv: expected at least one pair (got none)")

    def show(ev):
        if ev.get("kind") == "epoch":
            print(f"epoch {ev['epoch']}: loss {ev['train_loss']:.4g} ({ev['seconds']:.1f} s)", flush=True)

    make_output_dir(out, "--out")
    try:
        res = train_correspondence(pairs, config, out, supervised=not args.unsupervised, resume=args.resume,
                                   overwrite=args.overwrite, progress=show)
    except RunFolderError as exc:  # another process took the folder meanwhile
        raise OutputError(f"--out {one_line(exc)}") from None
    print(f"trained on {len(pairs)} pairs for {res.epochs_run} epochs in {res.seconds:.1f} s; "
          f"wrote {res.model_path}")
    return 0


def _read_mesh(path, triangulate: bool):
    """The triangles of a mesh file; a polygon's hint names ``--triangulate``."""
    from manifold_nets.io import read_triangles

    try:
        return read_triangles(path, triangulate=triangulate)
    except NonTriangleError as exc:
        raise NonTriangleError(_cli_hint(one_line(exc))) from None


def _cli_hint(message: str) -> str:
    return message.replace(_LIB_HINT, _CLI_HINT)


def _check_extension(path: str, allowed: tuple[str, ...], expected: str) -> None:
    ext = Path(path).suffix.lower()
    if ext not in allowed:
        raise UsageError(f"-o {path}: expected {expected} (got {ext or 'no extension'})")


def _run_map(args) -> int:
    from manifold_nets.data.maps import write_colored_pair, write_map
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
    _check_extension(args.output, MAP_EXTENSIONS,
                     "a map file ending .txt or without extension (0-based text), .vts (1-based text) or .npy")
    out = check_output_file(args.output, "-o")
    if args.colors:
        check_output_file(args.colors + "_source.ply", "--colors")
    s = _read_mesh(args.inputs[0], args.triangulate)
    t = _read_mesh(args.inputs[1], args.triangulate)
    learned = _learned(args)
    if learned is not None:
        opts["descriptors_src"], opts["descriptors_tgt"] = learned(s.V, s.F), learned(t.V, t.F)
    p2p, info = correspond(s.V, s.F, t.V, t.F, return_info=True, **opts)
    write_map(out, p2p)
    if args.colors:
        write_colored_pair(args.colors + "_source.ply", args.colors + "_target.ply", s.V, s.F, t.V, t.F, p2p)
    print(f"{args.inputs[0]} -> {args.inputs[1]}: {len(p2p)} source vertices mapped onto "
          f"{len(set(p2p.tolist()))} of the {len(t.V)} target vertices in {info['seconds']:.1f} s; wrote {out}")
    return 0


def _read_pairs_by_line(pairs_dir):
    """``(tsv, [(line, Pair)], [failure])``: the pairs of ``PAIRS_DIR/pairs.tsv`` with their
    1-based lines, and a failure record per malformed line (wrong number of fields, empty field).
    A missing folder, file or header raises as :func:`~manifold_nets.data.remeshed_pairs.read_pairs`."""
    from manifold_nets.data.readers_common import read_text, text_lines
    from manifold_nets.data.remeshed_pairs import Pair, read_pairs

    root = Path(pairs_dir)
    tsv = root / "pairs.tsv"
    lines = text_lines(read_text(tsv)) if tsv.is_file() else []
    if not root.is_dir() or not lines or lines[0].split("\t")[:3] != ["source", "target", "ground_truth"]:
        read_pairs(root)  # raises its typed error (no folder, no pairs.tsv, no header)
    pairs, bad = [], []
    for i, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        f = line.split("\t")
        why = None
        if len(f) not in (3, 4):
            why = f"expected 3 or 4 tab-separated fields: source, target, ground_truth[, group] (got {len(f)})"
        else:
            empty = [name for name, x in zip(("source", "target", "ground_truth"), f) if not x.strip()]
            if empty:
                why = f"expected a file name in every column (got an empty {', '.join(empty)})"
        if why is not None:
            bad.append({"line": i, "source": None, "target": None, "ground_truth": None, "group": None,
                        "file": str(tsv), "error": "MeshParseError", "message": f"{tsv} line {i}: {why}"})
            continue
        pairs.append((i, Pair(root / f[0], root / f[1], root / f[2], f[3].strip() if len(f) > 3 else "")))
    return tsv, pairs, bad


def _run_eval(args) -> int:
    from manifold_nets.tasks.correspondence import evaluate_pairs

    if len(args.inputs) != 2:
        raise UsageError(f"correspond eval: expected one PAIRS_DIR (got {len(args.inputs) - 1})")
    if args.colors:
        raise UsageError("--colors: only for 'correspond SRC TGT'")
    opts = _options(args)
    out = None
    if args.output:
        _check_extension(args.output, (".json",), "a JSON results file ending .json")
        out = check_output_file(args.output, "-o")
    tsv, numbered, bad = _read_pairs_by_line(args.inputs[1])
    if not numbered and not bad:
        raise UsageError(f"{tsv}: expected at least one pair (got none)")
    lines = [i for i, _ in numbered]
    pairs = [pr for _, pr in numbered]

    def show(row):
        if not args.json:
            print(f"{Path(row['source']).stem:>20} -> {Path(row['target']).stem:<20} "
                  f"{100 * row['mean_error']:8.2f} {row['seconds']:7.1f}  "
                  f"{'mirrored' if row['mirrored'] else '':8} {row['descriptors'] or 'given'}", flush=True)

    if not args.json:
        print(f"{'source':>20}    {'target':<20}{'err x100':>8} {'time s':>7}  mirror   descriptors")
    learned = _learned(args)
    method = None
    if learned is not None:
        from manifold_nets.tasks.correspondence import correspond

        def method(Vs, Fs, Vt, Ft):
            return correspond(Vs, Fs, Vt, Ft, descriptors_src=learned(Vs, Fs), descriptors_tgt=learned(Vt, Ft), **opts)
    res = evaluate_pairs(pairs, sample=args.sample, exact=args.exact, progress=show, method=method,
                         triangulate=args.triangulate, skip_failed=True, **opts)
    failures = list(bad)
    for f in res["failures"]:
        i = lines[f.pop("index")]
        failures.append({"line": i, **f, "message": f"{tsv} line {i}: {_cli_hint(f['message'])}"})
    failures.sort(key=lambda f: f["line"])
    res["failures"] = failures
    sm = res["summary"]
    sm["n_failed"] = len(failures)
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        print()
    else:
        scored = (f"{sm['n_pairs']} pairs: mean error x100 {100 * sm['mean_error']:.2f}, mean time "
                  f"{sm['mean_seconds']:.1f} s, {sm['n_mirrored']} mapped onto the mirror image"
                  if sm["n_pairs"] else "0 pairs scored")
        print(scored + (f"; {len(failures)} failed" if failures else ""), flush=True)
    if out is not None:
        from manifold_nets.files import atomic_write

        atomic_write(out, (json.dumps(res, indent=1) + "\n").encode())
    for f in failures:
        print(f"manifold-nets: error: {f['message']}", file=sys.stderr)
    return 1 if failures else 0
