"""Entry point of the ``manifold-nets`` command.

Each subcommand lives in its own module listed in :data:`SUBCOMMANDS`; the module defines
``register(subparsers)``, which adds a parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit code.  User errors (:class:`~manifold_nets.errors.MeshError`,
a missing optional dependency, a missing file) print one line and exit non-zero, without a
traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from manifold_nets import __version__
from manifold_nets.errors import MeshError, MissingDependencyError

#: Modules of ``manifold_nets_apps`` that provide subcommands, in help order.
SUBCOMMANDS = ("info_cmd", "repair_cmd", "operators_cmd")

EXIT_OK = 0
EXIT_FAILED = 1  # some inputs failed (batch commands), or a user error
EXIT_USAGE = 2  # argparse errors
EXIT_MISSING_DEPENDENCY = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manifold-nets",
        description="Geometry processing and geometric deep learning on meshes.",
    )
    parser.add_argument("--version", action="version", version=f"manifold-nets {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        mod = importlib.import_module(f"manifold_nets_apps.{name}")
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MissingDependencyError as exc:
        if args.debug:
            raise
        print(f"manifold-nets: error: {exc}", file=sys.stderr)
        return EXIT_MISSING_DEPENDENCY
    except (MeshError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        if args.debug:
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"manifold-nets: error: {msg}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `manifold-nets info DIR | head`
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("manifold-nets: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
