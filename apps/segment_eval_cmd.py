"""``manifold-nets segment eval``: accuracy of a trained model on a labelled data set.

Thin: reads the data (:func:`manifold_nets.data.readers.load_dataset` or the synthetic set),
optionally remeshes / rescales the test meshes, calls
:func:`manifold_nets.tasks.evaluate.evaluate_model` (and :func:`evaluate_boundaries` with
``--seg-dir``), prints text or JSON.
"""

from __future__ import annotations

import sys
from pathlib import Path

from manifold_nets.tasks.smoothing import DEFAULT_SMOOTH, DEFAULT_SMOOTHNESS

from .common import (
    CommandError,
    UsageError,
    check_model_kind,
    check_output_dir,
    check_output_file,
    device_arg,
    non_negative_int,
    positive_float,
    positive_int,
    report_skipped,
    resolve_data_format,
    seed_int,
    smooth_arg,
)

FORMATS = ("labeled-psb", "psb-seg", "maron", "meshcnn", "folder", "synthetic")


def _non_negative_float(text: str) -> float:
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (got {text!r})") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0 (got {v})")
    return v


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a trained segmentation model on labelled meshes",
        description=(
            "Predict every mesh of a labelled data set with a trained model and print the per-mesh "
            "table, the area-weighted accuracy (mean over meshes, as Kalogerakis et al. 2010), the "
            "face accuracy, the IoU per part and the confusion matrix (text, or JSON with --json).  "
            "--remesh-resolution R remeshes every test mesh to R times its vertex count (another "
            "triangulation) and --rescale S multiplies its coordinates by S, to measure robustness.  "
            "--seg-dir adds the Princeton benchmark metrics (1 - Rand index, cut discrepancy, GCE, "
            "LCE) against every human segmentation <id>_<k>.seg of each mesh.  Exit codes: 0 done, "
            "1 the model or the data failed, 2 usage, 3 missing optional dependency, 4 --output "
            "cannot be written."),
    )
    p.add_argument("--model", required=True, metavar="RUN_DIR_OR_CKPT",
                   help="run folder of 'segment train' or a .pt checkpoint")
    p.add_argument("--data", required=True, metavar="DIR", help="data folder, or 'synthetic'")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="data set layout (default labeled-psb; synthetic with --data synthetic)")
    p.add_argument("--category", default=None, metavar="NAME", help="category sub-folder (Labeled PSB: Human, ...)")
    p.add_argument("--labels-on", choices=("auto", "faces", "vertices"), default=None,
                   help="--format folder: whether label arrays are per face or per vertex (default auto: "
                        "by their length; needed when a mesh has as many faces as vertices)")
    p.add_argument("--skip-bad", action="store_true", help="report and skip meshes whose labels are malformed")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--output", default=None, metavar="FILE.json", help="also write the JSON results to this file")
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--smooth", choices=("graphcut", "none"), default=DEFAULT_SMOOTH,
                   help="graph-cut smoothing of the labels, or none (default: %(default)s)")
    p.add_argument("--smoothness", type=_non_negative_float, default=DEFAULT_SMOOTHNESS,
                   help="weight of the graph cut's smoothness term (default: %(default)s)")
    p.add_argument("--max-vertices", type=non_negative_int, default=None, metavar="N",
                   help="simplify meshes above N vertices first (default: as the model was trained; 0: never)")
    p.add_argument("--remesh-resolution", type=positive_float, default=None, metavar="R",
                   help="remesh every test mesh to R x its vertex count first (e.g. 0.5)")
    p.add_argument("--rescale", type=positive_float, default=None, metavar="S",
                   help="multiply every test mesh's coordinates by S first (e.g. 1000)")
    p.add_argument("--seg-dir", default=None, metavar="DIR",
                   help="folder of Princeton .seg human segmentations: adds the boundary metrics")
    p.add_argument("--n-meshes", type=positive_int, default=8, help="synthetic set size (default 8)")
    p.add_argument("--seed", type=seed_int, default=1,
                   help="seed of the synthetic set and of the remeshing, in [0, 2^32-1] (default 1: not the "
                        "training set's 0)")
    p.add_argument("--cache-dir", default=None, metavar="DIR", help="learning cache folder (default: none)")
    p.set_defaults(func=run)


def _load(args, part_names):
    fmt = resolve_data_format(args)
    if fmt == "synthetic":
        from manifold_nets.data.synthetic import make_segmentation_set

        return make_segmentation_set(args.n_meshes, seed=args.seed)
    root = Path(args.data)
    if not root.is_dir():
        from manifold_nets.errors import MeshFileNotFoundError

        why = "a file" if root.exists() else "no such folder"
        raise MeshFileNotFoundError(f"--data {root}: expected a data folder (got {why})")
    from manifold_nets.data.readers import load_dataset

    return load_dataset(root, fmt, category=args.category, skip_bad=args.skip_bad, labels=part_names,
                        labels_on=args.labels_on)


def _perturbed(meshes, args):
    """The test meshes remeshed (``--remesh-resolution``) and rescaled (``--rescale``)."""
    import numpy as np

    if args.remesh_resolution is None and args.rescale is None:
        return meshes
    from manifold_nets.data.transforms import remesh

    out = []
    for i, m in enumerate(meshes):
        if args.remesh_resolution is not None:
            target = max(4, int(round(args.remesh_resolution * m.n_vertices)))
            m = remesh(m, target_vertices=target, seed=np.random.default_rng([int(args.seed) & 0xFFFFFFFF, i]))
        if args.rescale is not None:
            m = m.replace(V=np.asarray(m.V) * args.rescale)
        out.append(m)
    return out


def run(args) -> int:
    from manifold_nets.tasks.evaluate import (
        evaluate_boundaries,
        evaluate_model,
        format_boundaries,
        format_text,
        to_json,
    )
    from manifold_nets.tasks.predict import load_segmentation_model

    if args.seg_dir is not None and args.remesh_resolution is not None:
        raise UsageError("--seg-dir: expected the original meshes (got --remesh-resolution: the .seg files "
                         "label the original faces)")
    if args.seg_dir is not None and not Path(args.seg_dir).is_dir():
        from manifold_nets.errors import MeshFileNotFoundError

        why = "a file" if Path(args.seg_dir).exists() else "no such folder"
        raise MeshFileNotFoundError(f"--seg-dir {args.seg_dir}: expected a folder of .seg files (got {why})")
    if args.output is not None:
        check_output_file(args.output, "--output")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    if args.smooth == "graphcut":
        from manifold_nets.tasks.smoothing import require_pymaxflow

        require_pymaxflow()
    resolve_data_format(args)  # conflicting data options are usage errors, found before any work
    check_model_kind(args.model, "segmentation")
    sm = load_segmentation_model(args.model, device=args.device)
    ds = _load(args, list(sm.part_names))
    skipped = list(getattr(ds, "skipped", []) or [])
    report_skipped(skipped)
    data_names = tuple(getattr(ds, "part_names", None) or sm.part_names)
    if data_names != tuple(sm.part_names):  # the synthetic set has its own parts
        raise CommandError(f"--model {args.model}: expected a model of the parts of --data {args.data} "
                           f"{list(data_names)} (got a model of the parts {list(sm.part_names)})")
    meshes = _perturbed([ds.raw(i) for i in range(len(ds))], args)
    tty = sys.stderr.isatty()

    def progress(i, n, name):
        if tty:
            print(f"\rpredicting {i + 1}/{n} {name}\033[K", end="", file=sys.stderr, flush=True)

    result, preds = evaluate_model(sm, meshes, device=args.device, max_vertices=args.max_vertices,
                                   smooth=smooth_arg(args.smooth), smoothness=args.smoothness, cache_dir=args.cache_dir,
                                   progress=progress)
    if tty:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    result["data"] = {"data": args.data, "format": args.format, "category": args.category,
                      "remesh_resolution": args.remesh_resolution, "rescale": args.rescale,
                      "skipped": [{"path": str(p), "reason": m} for p, m in skipped]}
    report = {"segmentation": result}
    if args.seg_dir is not None:
        report["boundaries"] = evaluate_boundaries(meshes, [p.face_labels for p in preds], args.seg_dir)
    text = to_json(report)
    if args.output is not None:
        from manifold_nets.files import atomic_write

        atomic_write(args.output, (text + "\n").encode())
    if args.json:
        print(text)
    else:
        print(format_text(result))
        if "boundaries" in report:
            print()
            print("Princeton benchmark metrics (mean over the human segmentations of each mesh; lower is better)")
            print(format_boundaries(report["boundaries"]))
    return 0
