"""``manifold-nets plot``: training curves, evaluation bars and correspondence error curves of a
run folder (or of given files) in one image."""

from __future__ import annotations

from .common import UsageError, check_output_file

_FORMATS = (".png", ".pdf", ".svg")


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="plot a run's training curves, evaluation bars and error curves to an image",
        description=(
            "Make one figure with a panel for each thing found: training curves from a run "
            "folder's metrics.csv (or metrics.json); per-part IoU, per-category and per-mesh "
            "accuracy bars from an evaluation JSON (segment eval --json); correspondence error "
            "curves (fraction of points within each geodesic error) from files with 'error' in "
            "their name (one number per line, .npy, or JSON {\"errors\": ...}).  Exit codes: "
            "0 ok, 1 nothing plottable or a file cannot be read, 2 usage error, 3 matplotlib "
            "missing, 4 the output cannot be written."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="RUN_DIR|FILE",
                   help="run folders, metrics files, evaluation JSON or error files")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png",
                   help="output image (.png, .pdf or .svg)")
    p.add_argument("--dpi", type=int, default=100, help="resolution of a PNG (default 100)")
    p.set_defaults(func=run)


def run(args) -> int:
    from manifold_nets.errors import optional_import

    if not args.output.lower().endswith(_FORMATS):
        raise UsageError(f"--output {args.output}: expected a file name ending in "
                         f"{', '.join(_FORMATS)}")
    if not 10 <= args.dpi <= 1200:
        raise UsageError(f"--dpi {args.dpi}: expected a value in [10, 1200]")
    check_output_file(args.output, "--output")
    optional_import("matplotlib", extra="viz", purpose="manifold-nets plot")
    from manifold_nets.viz.plots import plot_run

    panels = plot_run(args.inputs, args.output, dpi=args.dpi)
    print(f"wrote {args.output}: " + "; ".join(panels))
    return 0
