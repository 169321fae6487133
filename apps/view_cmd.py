"""``manifold-nets view``: look at a mesh with labels, scalars, eigenfunctions, geodesic
distances, a vector field or a correspondence, in a window or as an off-screen screenshot."""

from __future__ import annotations

from .common import CommandError, UsageError, check_output_file, non_negative_int, positive_int

#: Smallest --size side: below a few pixels VTK logs texture errors and the picture shows nothing.
MIN_SIZE = 16


def register(sub) -> None:
    p = sub.add_parser(
        "view",
        help="show a mesh and what was computed on it (window or --screenshot)",
        description=(
            "Show MESH in a window with whatever is passed: labels (a label file or a labelled "
            "PLY; a mesh with its own 'label' property shows it), scalar fields, eigenfunctions, "
            "the geodesic distance from a vertex, a vector field, or a correspondence to a "
            "target mesh side by side by colour transfer.  Keys: right-click picks a vertex "
            "(index, label, geodesic distance from it), n/N (or the arrow keys) step through the "
            "layers, a toggles the arrows, g the edges, s saves a screenshot, h shows the help, "
            "q quits.  "
            "--screenshot renders the same view off-screen to a PNG and exits (no display "
            "needed).  Exit codes: 0 ok, 1 an input cannot be read or does not fit the mesh, "
            "2 usage error (also: no display and no --screenshot), 3 pyvista missing, "
            "4 the screenshot cannot be written."
        ),
    )
    p.add_argument("mesh", metavar="MESH", help="mesh file (.obj .off .ply .stl, optionally .gz)")
    p.add_argument("--labels", metavar="FILE",
                   help="labels: a labelled PLY, or a text/.npy file with one integer per face or "
                        "vertex (part names from FILE's .json or part_names.json beside it)")
    p.add_argument("--scalars", metavar="FILE|NAME", action="append", default=[],
                   help="scalar field(s): a text/.npy file with one row per vertex or face (each "
                        "column is a layer), a property of the mesh, or one of x, y, z, "
                        "gaussian_curvature, mean_curvature, vertex_area, face_area; repeatable")
    p.add_argument("--map", metavar="MAP",
                   help="a vertex map to --target: one 0-based target vertex index per vertex of MESH")
    p.add_argument("--target", metavar="MESH", help="the target mesh of --map")
    p.add_argument("--lines", metavar="N", type=non_negative_int, default=12,
                   help="correspondence: lines joining N source points to their images (default 12)")
    p.add_argument("--eigen", metavar="K", type=positive_int,
                   help="Laplace-Beltrami eigenfunctions 1..K as layers")
    p.add_argument("--geodesic", metavar="VERTEX", type=non_negative_int,
                   help="geodesic distance from this vertex, with isolines")
    p.add_argument("--field", metavar="FILE",
                   help="vector field drawn as arrows: rows of 3 world coordinates per vertex or face, "
                        "or 2 tangent coordinates per vertex (text or .npy)")
    p.add_argument("--layer", metavar="I", type=non_negative_int, default=0,
                   help="the layer shown first (0-based, in the order labels, scalars, geodesic, "
                        "eigenfunctions)")
    p.add_argument("--edges", action="store_true", help="draw the mesh edges")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render off-screen to this PNG and exit (works without a display)")
    p.add_argument("--size", metavar=("W", "H"), nargs=2, type=positive_int, default=None,
                   help="window / screenshot size in pixels, 16 to 8192 a side (default 1024 768)")
    p.set_defaults(func=run)


def run(args) -> int:
    from manifold_nets.errors import optional_import

    if args.screenshot is not None:
        if not args.screenshot.lower().endswith(".png"):
            raise UsageError(f"--screenshot {args.screenshot}: expected a .png file name")
        check_output_file(args.screenshot, "--screenshot")
    if args.size and max(args.size) > 8192:
        raise UsageError(f"--size {args.size[0]} {args.size[1]}: expected at most 8192 pixels a side")
    if args.size and min(args.size) < MIN_SIZE:  # VTK cannot draw the title text into 1 pixel
        raise UsageError(f"--size {args.size[0]} {args.size[1]}: expected at least {MIN_SIZE} pixels a side")
    if (args.map is None) != (args.target is None):
        raise UsageError("--map and --target: expected both or neither (got only "
                         + ("--map" if args.map else "--target") + ")")
    if args.map is not None and (args.labels or args.scalars or args.eigen or args.geodesic is not None
                                 or args.field):
        raise UsageError("--map/--target: expected no other layers with a correspondence "
                         "(got --labels, --scalars, --eigen, --geodesic or --field too)")
    optional_import("pyvista", extra="viz", purpose="manifold-nets view")
    from manifold_nets.viz import has_display

    if args.screenshot is None and not has_display():
        import os

        why = (f"cannot connect to DISPLAY={os.environ['DISPLAY']}" if os.environ.get("DISPLAY")
               else "DISPLAY is not set")
        raise UsageError(f"no display to open a window on ({why}): pass --screenshot OUT.png "
                         "to render off-screen, or run under xvfb-run")

    from manifold_nets import read_mesh
    from manifold_nets.errors import FaceIndexError
    from manifold_nets.viz import inputs
    from manifold_nets.viz.interactive import Layer, Viewer

    mesh = read_mesh(args.mesh, triangulate=True)
    nV = len(mesh.V)
    layers, labels = [], None
    if args.labels:
        labels = inputs.read_labels(args.labels, mesh)
    elif "label" in mesh.face_data or "label" in mesh.vertex_data:
        labels = inputs.read_labels(args.mesh, mesh)
    if labels is not None:
        import numpy as np

        # parts that occur or have a name (max(label) + 1 would say 10**12 parts for one label 10**12)
        n_parts = len(np.union1d(np.unique(labels.values[labels.values >= 0]), np.arange(len(labels.part_names))))
        layers.append(Layer(f"labels ({n_parts} parts, per {labels.where})", "labels",
                            labels.values, labels.where, part_names=tuple(labels.part_names)))
    for spec in args.scalars:
        sd = inputs.read_scalars(spec, mesh)
        for j, name in enumerate(sd.names):
            layers.append(Layer(name, "scalars", sd.values[:, j], sd.where))
    if args.geodesic is not None:
        if args.geodesic >= nV:
            raise FaceIndexError(f"--geodesic {args.geodesic}: expected a vertex index in "
                                 f"[0, {nV - 1}] (got {args.geodesic})")
        from manifold_nets.geometry import geodesic_distance

        d = geodesic_distance(mesh.V, mesh.F, args.geodesic)
        layers.append(Layer(f"geodesic distance from vertex {args.geodesic}", "scalars", d,
                            "vertex", cmap="magma_r", isolines=15, marker=args.geodesic,
                            bar="geodesic distance"))
    vectors = where = None
    if args.field:
        vectors, where = inputs.read_field(args.field, mesh)
    corr = None
    if args.map is not None:
        target = read_mesh(args.target, triangulate=True)
        corr = (target, inputs.read_map(args.map, nV, len(target.V)))
    n_eigen = min(args.eigen or 0, max(nV - 1, 0))  # a mesh has nV - 1 non-constant eigenfunctions
    n_layers = len(layers) + n_eigen
    if args.layer and args.layer >= max(n_layers, 1):
        raise UsageError(f"--layer {args.layer}: expected an index in [0, {max(n_layers, 1) - 1}]")
    viewer = Viewer(mesh, layers, vectors=vectors, vectors_where=where, labels=labels,
                    correspondence=corr, eigen=args.eigen or 0, start=args.layer,
                    show_edges=args.edges, n_lines=args.lines)
    size = tuple(args.size) if args.size else (1024, 768)
    if args.screenshot is not None:
        out = viewer.screenshot(args.screenshot, size=size)
        print(f"wrote {out} ({size[0]}x{size[1]})")
        return 0
    try:
        viewer.show(window_size=size)
    except RuntimeError as exc:  # e.g. the X server went away
        raise CommandError(f"cannot open a window: {exc}") from None
    return 0
