"""``manifold-nets operators``: precompute the operator bundle of mesh files into a folder."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

from manifold_nets import read_mesh
from manifold_nets.errors import ManifoldNetsError, NonTriangleError
from manifold_nets.geometry import operators, save_operators

from .common import (
    OutputError,
    check_output_dir,
    gather_inputs,
    make_output_dir,
    no_inputs_error,
    non_negative_int,
    one_line,
    skipped_summary,
)


def register(sub) -> None:
    p = sub.add_parser(
        "operators",
        help="precompute Laplacian, mass, eigenbasis, gradients and frames of mesh files",
        description=(
            "Compute the operator bundle of each mesh (manifold_nets.geometry.operators) and write "
            "it to OUT/<file name>.npz (read it back with manifold_nets.geometry.load_operators). "
            "Folders are searched for mesh files.  A file that fails is reported and the others go "
            "on.  Exit codes: 0 all done, 1 a file failed or no mesh file was found, 2 usage "
            "error, 4 the output folder cannot be created or written."
        ),
    )
    p.add_argument("meshes", nargs="+", metavar="MESH", help="mesh files, folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--k", type=non_negative_int, default=128,
                   help="number of eigenpairs (default 128; 0: none).  Where it exceeds the "
                        "mesh's referenced vertices, a warning is printed and all of them are "
                        "computed (a dense solve)")
    p.add_argument(
        "--laplacian", choices=("auto", "cotan", "robust"), default="auto",
        help="cotan, robust (intrinsic Delaunay, any mesh), or auto: robust when the mesh is "
             "non-manifold or has degenerate faces, cotan otherwise (default)",
    )
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="content-hash cache folder shared between runs (optional)")
    p.add_argument("--no-triangulate", action="store_true",
                   help="reject polygon faces instead of triangulating them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _out_name(path: Path, used: set[str]) -> str:
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    base, i = f"{name}.npz", 1
    while base in used:
        i += 1
        base = f"{name}.{i}.npz"
    used.add(base)
    return base


def _error(exc: BaseException) -> str:
    msg = one_line(exc)
    if isinstance(exc, NonTriangleError):
        msg = msg.replace("pass triangulate=True to triangulate", "drop --no-triangulate to triangulate")
    return msg


def run(args) -> int:
    from tqdm.auto import tqdm

    out = check_output_dir(args.output, "-o/--output")
    cache = check_output_dir(args.cache_dir, "--cache-dir") if args.cache_dir is not None else None
    paths, skipped = gather_inputs(args.meshes)
    if not paths:
        raise no_inputs_error(args.meshes, skipped)
    make_output_dir(out, "-o/--output")
    if cache is not None:
        make_output_dir(cache, "--cache-dir")
    used: set[str] = set()
    n_fail = 0
    bar = tqdm(paths, unit="mesh", disable=args.quiet, file=sys.stderr, desc="operators")
    for path in bar:
        bar.set_postfix_str(path.name, refresh=False)
        try:
            mesh = read_mesh(path, triangulate=not args.no_triangulate)
            n_ref = int(np.unique(mesh.F).size)
            if args.k > n_ref:
                tqdm.write(f"{path}: warning: --k {args.k} exceeds the {n_ref} referenced vertices; "
                           f"computing all {n_ref} eigenpairs (a dense solve)", file=sys.stdout)
            with warnings.catch_warnings():
                # the line above already told the user, in one line; the library says it again
                warnings.filterwarnings("ignore", message="operators: k reduced")
                ops = operators(mesh.V, mesh.F, k=args.k, laplacian=args.laplacian, cache_dir=cache)
            lap = ops.params["laplacian"]
        except (ManifoldNetsError, OSError, MemoryError) as exc:
            n_fail += 1
            tqdm.write(f"{path}: error: {type(exc).__name__}: {_error(exc)}", file=sys.stdout)
            continue
        try:
            target = save_operators(ops, out / _out_name(path, used))
        except OSError as exc:  # the folder was checked: a full disk, a folder removed meanwhile
            bar.close()
            raise OutputError(f"-o/--output {out}: expected to write {path.name}.npz (got {one_line(exc)})") from None
        tqdm.write(
            f"{path}: {len(mesh.V)} vertices, k={ops.k}, {lap} Laplacian"
            f"{' (cached)' if ops.from_cache else ''} -> {target}",
            file=sys.stdout,
        )
    bar.close()
    print(f"{len(paths)} files: {len(paths) - n_fail} done, {n_fail} failed" + skipped_summary(skipped),
          flush=True)
    return 1 if n_fail else 0
