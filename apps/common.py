"""Exit codes, command-line errors and the checks every subcommand shares.

Exit codes of ``manifold-nets`` (also in the README's error section):

====  ====================================================================================
code  meaning
====  ====================================================================================
0     success
1     an input failed: a mesh file could not be read or processed (batch commands go on
      with the other files and report every failure), or no input was found
2     usage: an invalid command line (unknown option, bad value, output extension that
      cannot be written, unknown repair step)
3     a missing optional dependency (the message says which ``pip install`` fixes it)
4     an output cannot be written: the output path is a file where a folder is expected,
      lies under a file, is a folder where a file is expected, or is not writable
      (permission, disk full)
130   interrupted (Ctrl-C)
141   the output pipe was closed (``manifold-nets info DIR | head``)
====  ====================================================================================
"""

from __future__ import annotations

import os
from pathlib import Path

from manifold_nets.errors import ManifoldNetsError, MeshError
from manifold_nets.files import expand_inputs

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_MISSING_DEPENDENCY = 3
EXIT_OUTPUT = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class CommandError(Exception):
    """A user error found by a command; ``code`` is its exit code."""

    code = EXIT_FAILED

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CommandError):
    """An invalid command line (exit code 2)."""

    code = EXIT_USAGE


class OutputError(CommandError):
    """An output that cannot be written (exit code 4)."""

    code = EXIT_OUTPUT


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    if isinstance(exc, OSError) and not isinstance(exc, ManifoldNetsError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    if isinstance(exc, MemoryError):
        return "not enough memory (MemoryError)"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _first_existing(p: Path) -> Path:
    q = p
    while not os.path.lexists(q) and q != q.parent:
        q = q.parent
    return q


def _check_creatable(p: Path, missing: Path, expected: str) -> None:
    """``missing`` does not exist yet: its first existing ancestor must be a writable folder."""
    anc = _first_existing(missing)
    if not anc.is_dir():
        raise OutputError(f"{expected} (got a path under the file {anc})")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{expected.rsplit(': ', 1)[0]}: expected a folder that can be created "
                          f"(got permission denied in {anc})")


def check_output_dir(path: str | os.PathLike, option: str) -> Path:
    """Check (creating nothing) that ``path`` is or can become a writable folder."""
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise OutputError(f"{option} {p}: expected a folder (got an existing file)")
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError(f"{option} {p}: expected a writable folder (got permission denied)")
        return p
    if os.path.islink(p):
        raise OutputError(f"{option} {p}: expected a folder (got a broken symbolic link)")
    _check_creatable(p, p, f"{option} {p}: expected a folder")
    return p


def make_output_dir(path: Path, option: str) -> Path:
    """Create the folder checked by :func:`check_output_dir`; OS errors become :class:`OutputError`."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {path}: expected a folder that can be created (got {exc.strerror or exc})") from None
    return path


def _probe_folder(folder: Path, expected: str) -> None:
    """Create and remove a temporary file in ``folder``: ``os.access`` says yes to root on a
    read-only file system or under /proc, where the real write would fail after the work."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".manifold-nets-probe.", dir=folder)
    except OSError as exc:
        raise OutputError(f"{expected} (got '{exc.strerror or exc}' when creating a file in {folder})") from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass


def check_output_file(path: str | os.PathLike, what: str = "OUTPUT") -> Path:
    """Check that a file can be written at ``path`` (leaving nothing behind: an existing folder
    is probed with a temporary file that is removed at once)."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"{what} {p}: expected a file name (got an existing folder)")
    if p.exists() and not os.access(p, os.W_OK) and not os.access(p.parent, os.W_OK):
        raise OutputError(f"{what} {p}: expected a writable file (got permission denied)")
    parent = p.parent
    if parent.exists():
        if not parent.is_dir():
            raise OutputError(f"{what} {p}: expected a file in a folder (got a path under the file {parent})")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"{what} {p}: expected a writable folder (got permission denied in {parent})")
        _probe_folder(parent, f"{what} {p}: expected a writable folder")
        return p
    _check_creatable(p, parent, f"{what} {p}: expected a file in a folder")
    return p


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a bad value is a usage error, exit code 2)."""
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer (got {text!r})") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer (got {v})")
    return v


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a bad value is a usage error, exit code 2)."""
    import argparse

    v = non_negative_int(text)
    if v == 0:
        raise argparse.ArgumentTypeError("expected a positive integer (got 0)")
    return v


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a bad value is a usage error, exit code 2)."""
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number (got {text!r})") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a finite positive number (got {text})")
    return v


def smooth_arg(value: str):
    """``--smooth`` as the library takes it: ``"none"`` -> ``None``."""
    return None if value in (None, "none") else value


def gather_inputs(items: list[str]):
    """Expand files, folders and globs; returns ``(paths, skipped)`` where ``skipped`` lists
    ``{"path", "reason"}`` for every argument or folder entry that gave no mesh file."""
    try:
        return expand_inputs(items)
    except OSError as exc:  # e.g. a folder that cannot be listed: an input problem, not output
        raise CommandError(f"{exc.filename or ' '.join(items)}: expected readable inputs "
                           f"(got {exc.strerror or exc})", EXIT_FAILED) from None


def no_inputs_error(items: list[str], skipped: list[dict]) -> MeshError:
    why = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:3])
    return MeshError(
        f"{' '.join(items)}: expected mesh files or folders with mesh files (got none"
        + (f": {why}" if why else "") + ")"
    )


def skipped_summary(skipped: list[dict]) -> str:
    if not skipped:
        return ""
    return f"; {len(skipped)} skipped (" + "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:5]) + (
        ", ..." if len(skipped) > 5 else "") + ")"
