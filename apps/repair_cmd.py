"""``manifold-nets repair``: explicit fixes, written to a new file with the index maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from manifold_nets import MeshError, read_mesh
from manifold_nets import repair as R
from manifold_nets.files import atomic_write

STEPS = {
    "merge-vertices": R.merge_duplicate_vertices,
    "drop-unreferenced": R.remove_unreferenced_vertices,
    "drop-degenerate": R.remove_degenerate_faces,
    "drop-duplicate-faces": R.remove_duplicate_faces,
    "split-nonmanifold": R.split_nonmanifold,
    "largest-component": R.keep_largest_component,
    "orient": R.orient_faces,
}


def register(sub) -> None:
    p = sub.add_parser(
        "repair",
        help="apply explicit repairs and write the mesh plus old->new index maps",
        description=(
            "Apply the named repairs in order and write OUTPUT (.ply/.obj/.off) and, beside it, "
            "OUTPUT.maps.npz with vertex_map/face_map (old->new, -1 dropped) and "
            "vertex_source/face_source (new->old), so labels can follow.  Steps: "
            + ", ".join(STEPS)
        ),
    )
    p.add_argument("mesh", metavar="MESH")
    p.add_argument("output", metavar="OUTPUT")
    p.add_argument("--steps", default="merge-vertices,drop-degenerate,drop-duplicate-faces,drop-unreferenced",
                   help="comma-separated repair steps (default: %(default)s)")
    p.add_argument("--triangulate", action="store_true", help="triangulate polygon faces when reading")
    p.set_defaults(func=run)


def run(args) -> int:
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise MeshError(f"--steps: expected names from {', '.join(STEPS)} (got {', '.join(unknown)})")
    mesh = read_mesh(args.mesh, triangulate=args.triangulate)
    vsrc = np.arange(mesh.n_vertices)
    fsrc = np.arange(mesh.n_faces)
    n0v, n0f = mesh.n_vertices, mesh.n_faces
    for s in steps:
        res = STEPS[s](mesh)
        vsrc, fsrc = vsrc[res.vertex_source], fsrc[res.face_source]
        print(f"{s}: vertices {mesh.n_vertices} -> {res.mesh.n_vertices}, faces {mesh.n_faces} -> {res.mesh.n_faces}")
        mesh = res.mesh
    out = Path(args.output)
    mesh.to_file(out)
    vmap = np.full(n0v, -1, np.int64)
    vmap[vsrc[::-1]] = np.arange(len(vsrc))[::-1]
    fmap = np.full(n0f, -1, np.int64)
    fmap[fsrc[::-1]] = np.arange(len(fsrc))[::-1]
    maps = out.with_name(out.name + ".maps.npz")
    atomic_write(maps, lambda fh: np.savez(fh, vertex_map=vmap, face_map=fmap, vertex_source=vsrc,
                                           face_source=fsrc))
    print(f"wrote {out} and {maps}")
    return 0
