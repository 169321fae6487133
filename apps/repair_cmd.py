"""``manifold-nets repair``: explicit fixes, written to a new file with the index maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from manifold_nets import read_mesh
from manifold_nets import repair as R
from manifold_nets.errors import NonTriangleError, UnknownFormatError, UnsupportedDataError
from manifold_nets.files import atomic_write
from manifold_nets.io import check_writable

from .common import OutputError, UsageError, check_output_file, one_line

STEPS = R.STEPS


def register(sub) -> None:
    p = sub.add_parser(
        "repair",
        help="apply explicit repairs and write the mesh plus old->new index maps",
        description=(
            "Apply the named repairs in order and write OUTPUT (.ply/.obj/.off) and, beside it, "
            "OUTPUT.maps.npz with vertex_map/face_map (old->new, -1 dropped) and "
            "vertex_source/face_source (new->old), so labels can follow.  The output name and "
            "whether its format can hold the mesh's vertex/face arrays are checked before any "
            "work.  Exit codes: 0 written, 1 the input cannot be read or repaired, 2 usage error "
            "(unknown step, output extension), 4 the output cannot be written.  With --triangulate "
            "the polygon of each triangle is kept: as face data in .ply, as face_polygon in the maps "
            "file for .obj/.off.  Steps: "
            + ", ".join(STEPS)
        ),
    )
    p.add_argument("mesh", metavar="MESH")
    p.add_argument("output", metavar="OUTPUT")
    p.add_argument("--steps", default=",".join(R.DEFAULT_STEPS),
                   help="comma-separated repair steps (default: %(default)s)")
    p.add_argument("--triangulate", action="store_true", help="triangulate polygon faces when reading")
    p.add_argument("--drop-data", action="store_true",
                   help="leave out (and list) the vertex/face arrays OUTPUT's format cannot hold "
                        "instead of stopping; .ply holds them all")
    p.set_defaults(func=run)


def _droppable(out: Path, mesh) -> list[tuple[str, str]]:
    """(kind, name) of every array the output format cannot hold."""
    bad = []
    for kind, data in (("vertex_data", mesh.vertex_data), ("face_data", mesh.face_data)):
        for k, v in data.items():
            try:
                check_writable(out, **{kind: {k: v}})
            except UnsupportedDataError:
                bad.append((kind, k))
    return bad


def run(args) -> int:
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise UsageError(f"--steps: expected names from {', '.join(STEPS)} (got {', '.join(unknown) or 'none'})")
    out = Path(args.output)
    check_output_file(out, "OUTPUT")
    try:
        check_writable(out)
    except UnknownFormatError as exc:
        raise UsageError(f"OUTPUT {one_line(exc)}") from None
    maps = out.with_name(out.name + ".maps.npz")
    check_output_file(maps, "OUTPUT")
    hint = "triangulate with --triangulate"
    try:
        mesh = read_mesh(args.mesh, triangulate=args.triangulate)
    except NonTriangleError as exc:
        raise NonTriangleError(one_line(exc).replace("pass triangulate=True to triangulate", hint)) from None
    # The polygon of each triangle is this command's own data, not the file's: where OUTPUT's
    # format cannot hold it, it goes to the maps file (face_polygon) instead.
    polygon = None
    if args.triangulate and "polygon" in mesh.face_data:
        try:
            check_writable(out, face_data={"polygon": mesh.face_data["polygon"]})
        except UnsupportedDataError:
            polygon = mesh.face_data["polygon"]
            fd = {k: v for k, v in mesh.face_data.items() if k != "polygon"}
            mesh = type(mesh)(mesh.V, mesh.F, name=mesh.name, vertex_data=mesh.vertex_data, face_data=fd)
    try:
        check_writable(out, mesh.vertex_data, mesh.face_data)
    except UnsupportedDataError as exc:
        if not args.drop_data:
            raise UnsupportedDataError(
                f"{one_line(exc).split('; write .ply')[0]}; write .ply or pass --drop-data"
            ) from None
        bad = _droppable(out, mesh)
        for kind, k in bad:
            print(f"dropping {kind}[{k!r}]: {out.suffix} cannot hold it (--drop-data)")
        vd = {k: v for k, v in mesh.vertex_data.items() if ("vertex_data", k) not in bad}
        fd = {k: v for k, v in mesh.face_data.items() if ("face_data", k) not in bad}
        mesh = type(mesh)(mesh.V, mesh.F, name=mesh.name, vertex_data=vd, face_data=fd)
        check_writable(out, mesh.vertex_data, mesh.face_data)
    n_v, n_f = mesh.n_vertices, mesh.n_faces
    mesh, index_maps, counts = R.apply_repairs(mesh, steps)
    for s, nv, nf in counts:
        print(f"{s}: vertices {n_v} -> {nv}, faces {n_f} -> {nf}")
        n_v, n_f = nv, nf
    if polygon is not None:
        index_maps = dict(index_maps, face_polygon=polygon[index_maps["face_source"]])
        print(f"face_polygon (the input polygon of each output triangle) goes to {maps.name}: "
              f"{out.suffix} cannot hold it as face data")
    try:
        mesh.to_file(out)
        atomic_write(maps, lambda fh: np.savez(fh, **index_maps))
    except OSError as exc:
        raise OutputError(f"OUTPUT {out}: expected a writable file (got {one_line(exc)})") from None
    print(f"wrote {out} and {maps}")
    return 0
