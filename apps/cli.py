"""Entry point of the ``manifold-nets`` command.

Each subcommand lives in its own module listed in :data:`SUBCOMMANDS`; the module defines
``register(subparsers)``, which adds a parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit code.  Every user-caused failure (bad arguments, missing or
unreadable files, a file where a folder is expected, permissions, bad formats, files too large,
a missing optional dependency) prints one line ``manifold-nets: error: ...`` and exits with the
documented code of :mod:`manifold_nets_apps.common` (0 ok, 1 input failed, 2 usage,
3 missing dependency, 4 output cannot be written, 130 interrupted, 141 closed pipe), without
a traceback; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from manifold_nets import __version__
from manifold_nets.errors import ManifoldNetsError, MissingDependencyError

from .common import (  # noqa: F401  (re-exported exit codes)
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MISSING_DEPENDENCY,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_USAGE,
    CommandError,
    one_line,
)

#: Modules of ``manifold_nets_apps`` that provide subcommands, in help order.
SUBCOMMANDS = ("info_cmd", "repair_cmd", "operators_cmd", "segment_cmd", "batch_cmd", "view_cmd", "plot_cmd", "correspond_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manifold-nets",
        description="Geometry processing and geometric deep learning on meshes.",
        epilog="exit codes: 0 ok, 1 an input failed, 2 usage error, 3 missing optional dependency, "
               "4 output cannot be written, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"manifold-nets {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        mod = importlib.import_module(f"manifold_nets_apps.{name}")
        mod.register(sub)
    return parser


def _fail(args, exc: BaseException, code: int, message: str | None = None) -> int:
    if getattr(args, "debug", False):
        raise exc
    print(f"manifold-nets: error: {message or one_line(exc)}", file=sys.stderr)
    return code


_OOM = re.compile(r"can't allocate memory|not enough memory|out of memory", re.IGNORECASE)
_OOM_BYTES = re.compile(r"allocate (\d+) bytes")
_OOM_SIZE = re.compile(r"allocate (\d+(?:\.\d+)?) ?([KMGT]i?B)", re.IGNORECASE)


def out_of_memory_line(exc: BaseException) -> str | None:
    """The one line for torch's allocation failure (a ``RuntimeError`` such as
    ``DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes`` or
    ``torch.cuda.OutOfMemoryError``), None for any other error."""
    text = str(exc)
    if not isinstance(exc, RuntimeError) or not _OOM.search(text):
        return None
    where = "GPU " if "CUDA" in text or type(exc).__name__ == "OutOfMemoryError" else ""
    m = _OOM_BYTES.search(text)
    if m:
        size = f"{int(m.group(1)) / 1e9:.3g} GB"
    else:
        m = _OOM_SIZE.search(text)
        size = f"{m.group(1)} {m.group(2)}" if m else None
    what = f"a refused allocation of {size}" if size else "a refused allocation"
    return (f"memory: expected the data and model to fit in {where}memory (got {what}); "
            f"use fewer or smaller meshes or a smaller model")


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` while a command runs: ``manifold-nets: warning: <first line of the
    message>`` (``--debug`` keeps Python's form, with the file and line)."""
    text = str(message).strip().splitlines()
    print(f"manifold-nets: warning: {text[0] if text else category.__name__}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports the subcommands (torch among them): Ctrl-C may land here
    except KeyboardInterrupt:
        print("manifold-nets: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    import warnings

    shown = warnings.showwarning
    if not getattr(args, "debug", False):
        warnings.showwarning = _one_line_warning
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        return _fail(args, exc, exc.code)
    except MissingDependencyError as exc:
        return _fail(args, exc, EXIT_MISSING_DEPENDENCY)
    except (ManifoldNetsError, MemoryError) as exc:
        return _fail(args, exc, EXIT_FAILED)
    except BrokenPipeError:  # e.g. `manifold-nets info DIR | head`
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # inputs are read through the library (typed errors): an OSError here
        return _fail(args, exc, EXIT_OUTPUT)  # comes from writing an output
    except RuntimeError as exc:  # torch's allocation failures are RuntimeErrors, not MemoryError
        line = out_of_memory_line(exc)
        if line is None:
            raise
        return _fail(args, exc, EXIT_FAILED, line)
    except KeyboardInterrupt:
        print("manifold-nets: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
