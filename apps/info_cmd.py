"""``manifold-nets info``: the topology report of each mesh file."""

from __future__ import annotations

import json
import sys

from manifold_nets import read_mesh
from manifold_nets.errors import ManifoldNetsError, NonTriangleError
from manifold_nets.topology import mesh_report

from .common import gather_inputs, no_inputs_error, one_line, skipped_summary


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="print counts, topology and defects of mesh files",
        description=(
            "Print vertices, faces, edges, boundary loops, components, Euler characteristic, "
            "genus, manifoldness, orientability, degenerate/duplicate faces, unreferenced "
            "vertices, bounding box and area of each mesh.  Folders are searched for mesh files. "
            "A file that cannot be read is reported and the others go on; folders and globs that "
            "give no mesh file are reported too.  'closed' means no boundary edge and no face "
            "that repeats a vertex; the surface counts (edges, boundary, Euler characteristic, "
            "genus = (2 - chi - boundary loops)/2) leave such faces out.  Exit codes: 0 all read, "
            "1 a file failed or no mesh file was found, 2 usage error."
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
    if r["closed"]:
        closed = "yes" + (f" (with {r['degenerate_faces']} zero-area faces)" if r["degenerate_faces"] else "")
    else:
        closed = f"no ({r['closed_reason']})"
    lines = [
        f"{path}",
        f"  vertices {r['n_vertices']}  faces {r['n_faces']}  edges {r['n_edges']}"
        + (f"  (from {n_polygons} polygons)" if n_polygons is not None else ""),
        f"  components {r['components']}  boundary loops {r['boundary_loops']} "
        f"({r['boundary_edges']} edges)  Euler characteristic {r['euler_characteristic']}  genus {genus}",
        f"  closed {closed}  edge-manifold {yn(r['edge_manifold'])}  "
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


def _read_error(exc: BaseException) -> str:
    msg = one_line(exc)
    if isinstance(exc, NonTriangleError):
        msg = msg.replace("pass triangulate=True to triangulate", "drop --no-triangulate to triangulate")
    return msg


def run(args) -> int:
    paths, skipped = gather_inputs(args.meshes)
    if not paths:
        err = no_inputs_error(args.meshes, skipped)
        if args.json:  # still one valid JSON document on stdout
            summary = {"files": 0, "read": 0, "failed": 0, "skipped": len(skipped)}
            json.dump({"files": [], "skipped": skipped, "summary": summary}, sys.stdout, indent=1)
            print()
        raise err
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
        except (ManifoldNetsError, OSError, MemoryError) as exc:
            n_fail += 1
            msg = _read_error(exc)
            results.append({"path": str(path), "ok": False, "error": type(exc).__name__, "message": msg})
            if not args.json:
                print(f"{path}\n  error: {type(exc).__name__}: {msg}", flush=True)
    summary = {"files": len(paths), "read": len(paths) - n_fail, "failed": n_fail, "skipped": len(skipped)}
    if args.json:
        json.dump({"files": results, "skipped": skipped, "summary": summary}, sys.stdout, indent=1)
        print()
    else:
        print(f"\n{summary['files']} files: {summary['read']} read, {summary['failed']} failed"
              + skipped_summary(skipped))
    return 1 if n_fail else 0
