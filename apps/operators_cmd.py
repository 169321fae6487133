"""``manifold-nets operators``: precompute the operator bundle of mesh files into a folder."""

from __future__ import annotations

import sys
from pathlib import Path

from manifold_nets import MeshError, read_mesh
from manifold_nets.geometry import operators, save_operators

from manifold_nets.files import expand_paths


def register(sub) -> None:
    p = sub.add_parser(
        "operators",
        help="precompute Laplacian, mass, eigenbasis, gradients and frames of mesh files",
        description=(
            "Compute the operator bundle of each mesh (manifold_nets.geometry.operators) and write "
            "it to OUT/<file name>.npz (read it back with manifold_nets.geometry.load_operators). "
            "Folders are searched for mesh files.  A file that fails is reported and the others go "
            "on; the exit code is 1 if any file failed."
        ),
    )
    p.add_argument("meshes", nargs="+", metavar="MESH", help="mesh files, folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--k", type=int, default=128, help="number of eigenpairs (default 128)")
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


def run(args) -> int:
    from tqdm.auto import tqdm

    if args.k < 0:
        raise MeshError(f"--k: expected a non-negative integer (got {args.k})")
    paths = expand_paths(args.meshes)
    if not paths:
        raise MeshError(f"{' '.join(args.meshes)}: expected mesh files or folders with mesh files (got none)")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    n_fail = 0
    bar = tqdm(paths, unit="mesh", disable=args.quiet, file=sys.stderr, desc="operators")
    for path in bar:
        bar.set_postfix_str(path.name, refresh=False)
        try:
            mesh = read_mesh(path, triangulate=not args.no_triangulate)
            ops = operators(mesh.V, mesh.F, k=args.k, laplacian=args.laplacian, cache_dir=args.cache_dir)
            lap = ops.params["laplacian"]
            target = save_operators(ops, out / _out_name(path, used))
            tqdm.write(
                f"{path}: {len(mesh.V)} vertices, k={ops.k}, {lap} Laplacian"
                f"{' (cached)' if ops.from_cache else ''} -> {target}",
                file=sys.stdout,
            )
        except MeshError as exc:
            n_fail += 1
            msg = str(exc).splitlines()[0] if str(exc) else ""
            tqdm.write(f"{path}: error: {type(exc).__name__}: {msg}", file=sys.stdout)
    bar.close()
    print(f"{len(paths)} files: {len(paths) - n_fail} done, {n_fail} failed", flush=True)
    return 1 if n_fail else 0
