"""``manifold-nets info``: the topology report of each mesh file."""

from __future__ import annotations

import json
import sys

from manifold_nets import MeshError, read_mesh
from manifold_nets.topology import mesh_report

from manifold_nets.files import expand_paths


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="print counts, topology and defects of mesh files",
        description=(
            "Print vertices, faces, edges, boundary loops, components, Euler characteristic, "
            "genus, manifoldness, orientability, degenerate/duplicate faces, unreferenced "
            "vertices, bounding box and area of each mesh.  Folders are searched for mesh files. "
            "A file that cannot be read is reported and the others go on; the exit code is 1 "
            "if any file failed."
        ),
    )
    p.add_argument("meshes", nargs="+", metavar="MESH", help="mesh files, folders or globs")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    p.add_argument("--no-triangulate", action="store_true",
                   help="reject polygon faces instead of triangulating them for the report")
    p.add_argument("--split-seams", action="store_true",
                   help="OBJ: one vertex per (position, uv, normal) corner, as trimesh reads it")
    p.set_defaults(func=run)


def _fmt_report(path, r: dict, n_polygons: int | None) -> str:
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    genus = "-" if r["genus"] is None else str(r["genus"])
    lines = [
        f"{path}",
        f"  vertices {r['n_vertices']}  faces {r['n_faces']}  edges {r['n_edges']}"
        + (f"  (from {n_polygons} polygons)" if n_polygons is not None else ""),
        f"  components {r['components']}  boundary loops {r['boundary_loops']} "
        f"({r['boundary_edges']} edges)  Euler characteristic {r['euler_characteristic']}  genus {genus}",
        f"  closed {yn(r['closed'])}  edge-manifold {yn(r['edge_manifold'])}  "
        f"vertex-manifold {yn(r['vertex_manifold'])}  orientable {yn(r['orientable'])}"
        f"  consistently oriented {yn(r['consistently_oriented'])}",
        f"  non-manifold edges {r['nonmanifold_edges']}  non-manifold vertices {r['nonmanifold_vertices']}  "
        f"degenerate faces {r['degenerate_faces']}  duplicate faces {r['duplicate_faces']}  "
        f"unreferenced vertices {r['unreferenced_vertices']}",
        "  bbox [" + ", ".join(f"{x:.6g}" for x in r["bbox_min"]) + "] – ["
        + ", ".join(f"{x:.6g}" for x in r["bbox_max"]) + f"]  diagonal {r['bbox_diagonal']:.6g}"
        f"  area {r['total_area']:.6g}",
    ]
    return "\n".join(lines)


def run(args) -> int:
    paths = expand_paths(args.meshes)
    if not paths:
        raise MeshError(f"{' '.join(args.meshes)}: expected mesh files or folders with mesh files (got none)")
    results = []
    n_fail = 0
    for path in paths:
        try:
            mesh = read_mesh(path, triangulate=not args.no_triangulate, split_seams=args.split_seams)
            rep = mesh_report(mesh.V, mesh.F)
            poly = mesh.face_data.get("polygon")
            n_polygons = int(poly.max()) + 1 if poly is not None and len(poly) else None
            rep["n_polygons"] = n_polygons
            results.append({"path": str(path), "ok": True, "report": rep})
            if not args.json:
                print(_fmt_report(path, rep, n_polygons), flush=True)
        except MeshError as exc:
            n_fail += 1
            msg = str(exc).splitlines()[0]
            results.append({"path": str(path), "ok": False, "error": type(exc).__name__, "message": msg})
            if not args.json:
                print(f"{path}\n  error: {type(exc).__name__}: {msg}", flush=True)
    summary = {"files": len(paths), "read": len(paths) - n_fail, "failed": n_fail}
    if args.json:
        json.dump({"files": results, "summary": summary}, sys.stdout, indent=1)
        print()
    else:
        print(f"\n{summary['files']} files: {summary['read']} read, {summary['failed']} failed")
    return 1 if n_fail else 0
