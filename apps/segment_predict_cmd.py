"""``manifold-nets segment predict``: label meshes with a trained model, one PLY + one JSON each.

Thin: reads each mesh, calls :func:`manifold_nets.tasks.predict.predict`, writes the results.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from manifold_nets.tasks.smoothing import DEFAULT_SMOOTH, DEFAULT_SMOOTHNESS

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    OutputError,
    UsageError,
    check_output_dir,
    device_arg,
    gather_inputs,
    make_output_dir,
    no_inputs_error,
    non_negative_int,
    one_line,
    skipped_summary,
    smooth_arg,
)

FORMATS = ("ply",)


def _smoothness(text: str) -> float:
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (got {text!r})") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0 (got {v})")
    return v


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="label meshes with a trained segmentation model (PLY + JSON per mesh)",
        description=(
            "Label every input mesh (files, folders, globs) with a trained model and write, per "
            "input, OUT_DIR/<name>.ply (the input's vertices and faces in their original order with "
            "an integer 'label' on every face and every vertex) and OUT_DIR/<name>.json (part names, "
            "label index -> name, area per part, source, model).  Meshes of any resolution, unit, "
            "with boundaries, several components or non-manifold parts are accepted; when the model "
            "was trained on simplified meshes the input is simplified the same way and the labels "
            "are carried back to its own faces.  A file that cannot be read or labelled is reported "
            "and the others go on.  Exit codes: 0 all labelled, 1 an input or the model failed, "
            "2 usage, 3 missing optional dependency (PyMaxflow for --smooth graphcut), "
            "4 output cannot be written."),
    )
    p.add_argument("meshes", nargs="+", metavar="MESH", help="mesh files, folders or globs")
    p.add_argument("--model", required=True, metavar="RUN_DIR_OR_CKPT",
                   help="run folder of 'segment train' (model.pt + config.json) or a .pt checkpoint")
    p.add_argument("-o", "--out", required=True, metavar="OUT_DIR", help="output folder")
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--smooth", choices=("graphcut", "none"), default=DEFAULT_SMOOTH,
                   help="smooth the labels along the surface with a graph cut (needs PyMaxflow), or not "
                        "(default: %(default)s)")
    p.add_argument("--smoothness", type=_smoothness, default=DEFAULT_SMOOTHNESS,
                   help="weight of the graph cut's smoothness term (default: %(default)s)")
    p.add_argument("--max-vertices", type=non_negative_int, default=None, metavar="N",
                   help="simplify inputs above N vertices first (default: as the model was trained; 0: never)")
    p.add_argument("--format", choices=FORMATS, default="ply",
                   help="output mesh format (PLY: the format that holds integer labels; default ply)")
    p.add_argument("--triangulate", action="store_true",
                   help="triangulate polygon faces when reading (the PLY then holds the triangles)")
    p.add_argument("--cache-dir", default=None, help="learning cache for the operators (default: none)")
    p.set_defaults(func=run)


def _output_names(paths: list[Path], out_dir: Path, ext: str) -> list[str]:
    """``<stem>`` per input; two inputs giving one name, or an output that would replace an
    input, are a usage error (exit 2), found before any work."""
    from manifold_nets.data.readers_common import file_stem

    seen: dict[str, Path] = {}
    names = []
    inputs = {os.path.realpath(p) for p in paths}
    for p in paths:
        stem = file_stem(p)
        prev = seen.get(stem)
        if prev is not None and os.path.realpath(prev) != os.path.realpath(p):
            raise UsageError(f"-o {out_dir}: inputs {prev} and {p} would both be written as {stem}{ext}; "
                             f"label them into separate folders")
        seen[stem] = p
        for out in (out_dir / f"{stem}{ext}", out_dir / f"{stem}.json"):
            if os.path.realpath(out) in inputs:
                raise UsageError(f"-o {out_dir}: writing {out} would replace the input {out}; choose another folder")
        names.append(stem)
    return names


def _summary_json(pred, mesh, source: Path, model_path) -> dict:
    import numpy as np

    from manifold_nets.data.labels import face_areas

    names = list(pred.part_names)
    areas = face_areas(mesh.V, mesh.F)
    per = np.bincount(pred.face_labels, weights=areas, minlength=len(names))
    count = np.bincount(pred.face_labels, minlength=len(names))
    return {
        "part_names": names,
        "labels": {str(i): n for i, n in enumerate(names)},
        "part_area": {n: float(a) for n, a in zip(names, per)},
        "part_faces": {n: int(c) for n, c in zip(names, count)},
        "n_vertices": int(len(mesh.V)),
        "n_faces": int(len(mesh.F)),
        "source": str(source),
        "model": str(model_path),
        "simplified_to": pred.info["n_vertices_model"] if pred.info.get("simplified") else None,
        "smooth": pred.info.get("smooth"),
    }


def run(args) -> int:
    from manifold_nets import read_mesh
    from manifold_nets.errors import ManifoldNetsError, MissingDependencyError
    from manifold_nets.files import atomic_write
    from manifold_nets.io import write_mesh
    from manifold_nets.tasks.predict import load_segmentation_model, predict

    paths, skipped = gather_inputs(args.meshes)
    if not paths:
        raise no_inputs_error(args.meshes, skipped)
    out_dir = check_output_dir(args.out, "-o")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    ext = "." + args.format
    names = _output_names(paths, out_dir, ext)
    if args.smooth == "graphcut":
        from manifold_nets.tasks.smoothing import require_pymaxflow

        require_pymaxflow()  # a missing PyMaxflow is reported once, before any work (exit 3)
    sm = load_segmentation_model(args.model, device=args.device)
    make_output_dir(out_dir, "-o")
    failed = 0
    for p, stem in zip(paths, names):
        try:
            mesh = read_mesh(p, triangulate=args.triangulate)
            pred = predict(sm, mesh.V, mesh.F, device=args.device, max_vertices=args.max_vertices,
                           smooth=smooth_arg(args.smooth), smoothness=args.smoothness, cache_dir=args.cache_dir,
                           name=str(p))
        except MissingDependencyError:
            raise
        except (ManifoldNetsError, MemoryError, ValueError, RuntimeError) as exc:
            # ValueError / RuntimeError: raised below the library's typed errors (numerics, torch);
            # reported with their type and the batch goes on
            failed += 1
            msg = one_line(exc).replace("pass triangulate=True to triangulate", "label it with --triangulate")
            if not isinstance(exc, (ManifoldNetsError, MemoryError)):
                msg = f"{type(exc).__name__}: {msg}"
            print(f"manifold-nets: error: {msg if msg.startswith(str(p)) else f'{p}: {msg}'}", file=sys.stderr)
            continue
        out = out_dir / f"{stem}{ext}"
        js = out_dir / f"{stem}.json"
        summary = _summary_json(pred, mesh, p, sm.path if sm.path is not None else args.model)
        try:
            write_mesh(out, mesh.V, mesh.F, face_data={"label": pred.face_labels},
                       vertex_data={"label": pred.vertex_labels})
            atomic_write(js, (json.dumps(summary, indent=1) + "\n").encode())
        except OSError as exc:
            raise OutputError(f"-o {out_dir}: expected a writable folder (got {one_line(exc)})") from None
        total = sum(summary["part_area"].values()) or 1.0
        parts = ", ".join(f"{n} {100 * a / total:.1f}%" for n, a in summary["part_area"].items() if a > 0)
        print(f"{p} -> {out} ({len(mesh.F)} faces, {pred.info['seconds']['total']:.2f} s: {parts})")
    n_ok = len(paths) - failed
    print(f"labelled {n_ok} of {len(paths)} meshes into {out_dir}" + skipped_summary(skipped))
    if failed:
        raise CommandError(f"{failed} of {len(paths)} meshes could not be labelled (see above)", EXIT_FAILED)
    return EXIT_OK
