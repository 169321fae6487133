"""Shared pieces of the label-file readers: text parsing with line numbers, mesh reading, skipping.

Every parser here raises :class:`~manifold_nets.errors.MeshParseError` (a
:class:`~manifold_nets.errors.MeshError`) whose message starts with the file and the 1-based line:
``"<file>: line <n>: expected ... (got ...)"``.  Parsing is vectorised (numpy converts the tokens);
the line of a bad token is only searched for once numpy has refused the file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PureWindowsPath

import numpy as np

from ..errors import (
    MeshError,
    MeshFileError,
    MeshFileTooLargeError,
    MeshParseError,
    MeshTypeError,
)
from ..files import is_mesh_file
from ..io import read_triangles
from .dataset import LabeledMesh, MeshDataset

__all__ = ["read_text", "text_lines", "file_stem", "parse_int_lines", "parse_int_tokens", "parse_float_rows",
           "read_mesh_arrays", "read_part_names", "numeric_key", "mesh_files", "Skipper",
           "make_dataset", "default_names", "check_label_range", "check_label_cap",
           "warn_sparse_labels", "MAX_PARTS", "read_bytes", "load_npy", "check_label_base", "is_labels_name",
           "LABELS_SUFFIX", "check_part_names", "check_split", "side_file"]


#: Characters refused in label and names files: C0/C1 controls other than tab and the line ends,
#: DEL, and the Unicode line separators (``str.splitlines`` would split a line there, so a part
#: name or a line number would come out wrong).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_EOL = re.compile("\r\n|\r|\n")


def _line_at(text: str, pos: int) -> int:
    return len(_EOL.findall(text, 0, pos)) + 1


def _open_regular(p: Path, what: str):
    """``(file object, size)`` of a regular file; a missing, unreadable or special file (a FIFO, a
    device: opening or reading it would block or never end) or one over the reading cap is a
    typed error (the mesh reader's checks, :func:`manifold_nets.io._stat_input`)."""
    from ..io import MAX_READ_BYTES, _os_error, _stat_input

    kind = what.removeprefix("an ").removeprefix("a ")  # "a label file" -> "label file"
    st = _stat_input(p, kind)
    if st.st_size > MAX_READ_BYTES:
        raise MeshFileTooLargeError(f"{p}: expected a {kind} of at most {MAX_READ_BYTES} bytes (got "
                                    f"{st.st_size} bytes); set MANIFOLD_NETS_MAX_READ_BYTES to read larger files")
    try:
        fh = open(p, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError as exc:
        raise _os_error(p, exc, f"a readable {kind}", kind) from None
    return fh, st.st_size


def read_bytes(path, what: str = "a label file") -> bytes:
    """The bytes of a regular file; every failure (missing, a directory, a FIFO or device, over
    :data:`manifold_nets.io.MAX_READ_BYTES`) is a typed :class:`~manifold_nets.errors.MeshFileError`."""
    p = Path(path)
    fh, size = _open_regular(p, what)
    with fh:
        try:
            return fh.read(size + 1)
        except OSError as exc:
            raise MeshFileError(f"{p}: expected {what} (got {exc.strerror or type(exc).__name__})") from None
        except MemoryError:
            raise MeshFileTooLargeError(f"{p}: expected {what} that fits in memory (got {size} bytes)") from None


def load_npy(path, what: str = "a .npy array") -> np.ndarray:
    """A ``.npy`` array, never unpickled: object arrays, a malformed or truncated file, and a header
    announcing more data than the file holds (which would allocate that much) are a
    :class:`~manifold_nets.errors.MeshParseError` naming the file."""
    p = Path(path)
    fh, size = _open_regular(p, what)
    fmt = np.lib.format
    with fh:
        try:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(fh)
            else:  # version 3.0 (a UTF-8 header): numpy's private reader (its module moved in NumPy 2)
                try:
                    from numpy.lib._format_impl import _read_array_header
                except ImportError:
                    from numpy.lib.format import _read_array_header

                shape, _, dtype = _read_array_header(fh, version)
            header_end = fh.tell()
        except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
            msg = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
            raise MeshParseError(f"{p}: expected {what} in NumPy .npy format (got {msg})") from None
        if dtype.hasobject:
            raise MeshParseError(f"{p}: expected {what} of numbers (got an object array, dtype {dtype}; "
                                 f"pickled .npy files are not loaded)")
        n = int(np.prod(shape, dtype=object))
        if n * dtype.itemsize > size - header_end:
            raise MeshParseError(f"{p}: expected {n} values of {dtype} as its header says, shape {shape} "
                                 f"(got {size - header_end} bytes of data: a truncated file?)")
        fh.seek(0)
        try:
            return np.load(fh, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            msg = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
            raise MeshParseError(f"{p}: expected {what} in NumPy .npy format (got {msg})") from None


def read_text(path) -> str:
    """The text of a label file (UTF-8, BOM dropped); missing/unreadable files raise typed errors.

    Bytes that are not UTF-8 and control characters (NUL, ...; tab and line ends are fine) are
    refused with a :class:`~manifold_nets.errors.MeshParseError` naming the file and line: read
    with replacement characters they would become new, bogus part names.  A FIFO or device is
    refused (:class:`~manifold_nets.errors.MeshFileTooLargeError`) rather than read forever."""
    p = Path(path)
    data = read_bytes(p, "a label file")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_at(data[:exc.start].decode("utf-8", errors="replace"), exc.start)
        raise MeshParseError(f"{p}: line {line}: expected UTF-8 text (got byte 0x{data[exc.start]:02x})") from None
    bad = _CONTROL.search(text)
    if bad is not None:
        raise MeshParseError(f"{p}: line {_line_at(text, bad.start())}: expected text without control "
                             f"characters (got {bad.group()!r})")
    return text


def text_lines(text: str) -> list[str]:
    """Lines without their end-of-line characters and without trailing blank lines."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _integral(values: np.ndarray) -> np.ndarray | None:
    """Float tokens that are all whole numbers (``"2.0"``) as int64, else None."""
    if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        return None
    if np.any(np.abs(values) > 2**62):
        return None
    return values.astype(np.int64)


def _to_int(tokens) -> np.ndarray | None:
    if any("_" in t for t in tokens):  # Python (and numpy) read "1_0" as 10: refused as a typo
        return None
    arr = np.asarray(tokens, dtype=str)
    try:
        return arr.astype(np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return _integral(arr.astype(np.float64))
    except (ValueError, OverflowError):
        return None


def _bad_int_token(tok: str) -> bool:
    if "_" in tok:
        return True
    try:
        int(tok)
        return False
    except ValueError:
        try:
            f = float(tok)
        except ValueError:
            return True
        return not (np.isfinite(f) and f == round(f))


def parse_int_lines(path, *, what: str = "label", text: str | None = None) -> np.ndarray:
    """One integer per line (trailing blank lines allowed) -> ``(n_lines,)`` int64.

    Whole-number floats (``"3.0"``) are accepted; anything else names its line.
    """
    lines = text_lines(read_text(path) if text is None else text)
    toks = [s.strip() for s in lines]
    out = _to_int(toks)
    if out is not None:
        return out
    for i, t in enumerate(toks, 1):
        if not t:
            raise MeshParseError(f"{path}: line {i}: expected one integer {what} (got an empty line)")
        if len(t.split()) != 1:
            raise MeshParseError(f"{path}: line {i}: expected one integer {what} per line "
                                 f"(got {len(t.split())} tokens: {t[:40]!r})")
        if _bad_int_token(t):
            raise MeshParseError(f"{path}: line {i}: expected an integer {what} (got {t[:40]!r})")
    bad = next((i for i, t in enumerate(toks, 1) if abs(float(t)) > 2**62), 1)
    raise MeshParseError(f"{path}: line {bad}: expected an integer {what} (got {toks[bad - 1][:40]!r}, "
                         f"out of range)")


def parse_int_tokens(line: str, path, lineno: int, *, what: str = "index") -> np.ndarray:
    """Whitespace-separated integers of one line -> int64 array (a bad token names the line)."""
    toks = line.split()
    out = _to_int(toks) if toks else np.zeros(0, np.int64)
    if out is not None:
        return out
    for t in toks:
        if _bad_int_token(t):
            raise MeshParseError(f"{path}: line {lineno}: expected an integer {what} (got {t[:40]!r})")
    bad = next((t for t in toks if abs(float(t)) > 2**62), toks[0])
    raise MeshParseError(f"{path}: line {lineno}: expected an integer {what} (got {bad[:40]!r}, out of range)")


def parse_float_rows(path, *, what: str = "value") -> np.ndarray:
    """Rows of whitespace-separated numbers, all of one length -> ``(n_lines, K)`` float64."""
    lines = text_lines(read_text(path))
    if not lines:
        return np.zeros((0, 0))
    rows = [s.split() for s in lines]
    K = len(rows[0])
    for i, r in enumerate(rows, 1):
        if len(r) != K or not r:
            raise MeshParseError(f"{path}: line {i}: expected {K} {what}s as on line 1 (got {len(r)})")
    if K > MAX_PARTS:
        raise MeshParseError(f"{path}: line 1: expected at most {MAX_PARTS} {what}s per line, one per part "
                             f"(got {K})")
    try:
        if any("_" in t for r in rows for t in r):  # "1_0" would read as 10
            raise ValueError
        A = np.asarray(rows, dtype=str).astype(np.float64)
    except ValueError:
        for i, r in enumerate(rows, 1):
            for t in r:
                try:
                    if "_" in t:
                        raise ValueError
                    float(t)
                except ValueError:
                    raise MeshParseError(f"{path}: line {i}: expected a number (got {t[:40]!r})") from None
        raise
    bad = np.flatnonzero(~np.isfinite(A).all(axis=1))
    if len(bad):
        raise MeshParseError(f"{path}: line {bad[0] + 1}: expected finite {what}s (got {lines[bad[0]].strip()[:60]!r})")
    return A


def read_mesh_arrays(path):
    """``(V, F, vertex_data, face_data)`` of a mesh file, in file order (:func:`manifold_nets.io.read_triangles`).

    Warns (:class:`~manifold_nets.errors.MeshWarning`) when the mesh is a triangle soup
    (:func:`manifold_nets.topology.soup_message`): a model learns nothing across its faces."""
    from ..geometry._checked import warn_if_soup

    t = read_triangles(path)
    warn_if_soup(t.F, len(t.V), str(path))
    return t.V, t.F, t.vertex_data, t.face_data


def read_part_names(path) -> list[str]:
    """Part names from JSON: ``{"part_names": [...]}``, ``{"labels": {"0": "head", ...}}`` or a list.

    A plain text file (not ``.json``) gives one name per non-empty line.  No names at all (an
    empty file, ``[]``, ``{"labels": {}}``) and an empty or blank name are errors naming the file
    (and the entry).
    """
    p = Path(path)
    text = read_text(p)
    if p.suffix.lower() != ".json":
        names = [s.strip() for s in text_lines(text) if s.strip()]
        if not names:
            got = "an empty file" if not text else "only blank lines"
            raise MeshParseError(f"{p}: line 1: expected at least one part name, one per line (got {got})")
        seen: dict[str, int] = {}
        for i, s in enumerate(text_lines(text), 1):
            s = s.strip()
            if s in seen:
                raise MeshParseError(f"{p}: line {i}: expected distinct part names (got {s!r}, "
                                     f"also on line {seen[s]})")
            if s:
                seen[s] = i
        return names
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MeshParseError(f"{p}: line {exc.lineno}: expected JSON (got {exc.msg})") from None
    except RecursionError:
        raise MeshParseError(f"{p}: expected JSON part names (got arrays or objects nested too deeply)") from None
    empty = "an empty list"
    if isinstance(obj, dict) and "part_names" in obj:
        obj, empty = obj["part_names"], "an empty 'part_names' list"
    elif isinstance(obj, dict) and isinstance(obj.get("labels"), dict):
        empty = "an empty 'labels' object"
        lab = obj["labels"]
        odd = [k for k in lab if not re.fullmatch(r"0|[1-9][0-9]*", k)]  # " 0", "-0", "01", "1_0", "２"
        if odd:
            raise MeshParseError(f"{p}: expected integer keys in 'labels', written 0, 1, 2, ... (got {odd[:5]})")
        idx = sorted(int(k) for k in lab)
        if idx != list(range(len(idx))):
            raise MeshParseError(f"{p}: expected 'labels' keys 0..{len(idx) - 1} (got {idx[:10]})")
        obj = [lab[str(i)] for i in idx]
    if not isinstance(obj, list) or not all(isinstance(s, str) for s in obj):
        raise MeshParseError(f"{p}: expected a list of part names, {{\"part_names\": [...]}} or "
                             f"{{\"labels\": {{\"0\": name}}}} (got {type(obj).__name__})")
    if not obj:
        raise MeshParseError(f"{p}: expected at least one part name (got {empty})")
    for i, s in enumerate(obj):
        if not s.strip():
            raise MeshParseError(f"{p}: entry {i}: expected a non-empty part name (got {s!r})")
        if _CONTROL.search(s) or s != s.strip():
            raise MeshParseError(f"{p}: entry {i}: expected part names of printable characters, without leading "
                                 f"or trailing blanks (got {s!r})")
    if len(set(obj)) != len(obj):
        dup = next(s for s in obj if obj.count(s) > 1)
        raise MeshParseError(f"{p}: expected distinct part names (got {dup!r} twice)")
    return list(obj)


def check_part_names(names, what: str = "labels") -> tuple:
    """Part names given as an argument (``labels=``) as a tuple of str: at least one, none empty
    or blank, no two alike; anything else is a :class:`~manifold_nets.errors.MeshError` naming
    ``what`` and the entry."""
    names = tuple(str(s) for s in names)
    if not names:
        raise MeshError(f"{what}: expected at least one part name (got an empty list)")
    for i, s in enumerate(names):
        if not s.strip():
            raise MeshError(f"{what}: entry {i}: expected a non-empty part name (got {s!r})")
    if len(set(names)) != len(names):
        dup = next(s for s in names if names.count(s) > 1)
        raise MeshError(f"{what}: expected distinct part names (got {dup!r} twice)")
    return names


def check_split(split, parent: Path) -> str:
    """``split`` as the name of a folder right under ``parent`` (``"train"``, ``"test"``): a
    path separator, ``.``, ``..``, an absolute path or a drive would reach another folder (even
    outside the data set), and is a :class:`~manifold_nets.errors.MeshError`."""
    if isinstance(split, os.PathLike):
        split = os.fspath(split)
    if not isinstance(split, str):
        raise MeshTypeError(f"split: expected a folder name such as 'train' or 'test' (got {split!r})")
    if (not split.strip() or split in (".", "..") or "/" in split or "\\" in split or "\x00" in split
            or PureWindowsPath(split).anchor or (os.altsep and os.altsep in split)):
        raise MeshError(f"split: expected the name of a folder in {parent}, such as 'train' or 'test', without "
                        f"a path separator, '.' or '..' (got {split!r})")
    return split


def _listing(folder: Path, cache: dict | None) -> dict:
    """``{lower-case name: [names]}`` of a folder's entries (empty if it cannot be listed)."""
    if cache is not None and folder in cache:
        return cache[folder]
    index: dict[str, list[str]] = {}
    try:
        for n in os.listdir(folder):
            index.setdefault(n.lower(), []).append(n)
    except OSError:
        pass
    if cache is not None:
        cache[folder] = index
    return index


def side_file(folder, stem: str, suffix: str, *, what: str = "label file", listing: dict | None = None):
    """The regular file ``<stem><suffix>`` in ``folder``, the suffix in any case (``a.LABELS.TXT``,
    ``g.ESEG``; the stem exactly, as for mesh extensions and :func:`is_labels_name`), or None.

    Two such files (names that differ only in case) are ambiguous: a
    :class:`~manifold_nets.errors.MeshError` naming both.  ``listing``: a dict the calls of one
    reader share, so that each folder is listed once."""
    folder = Path(folder)
    names = _listing(folder, listing).get((stem + suffix).lower(), [])
    found = sorted(n for n in names if n.startswith(stem) and len(n) == len(stem) + len(suffix)
                   and (folder / n).is_file())
    if len(found) > 1:
        raise MeshError(f"{folder}: expected one {what} {stem}{suffix} (got {', '.join(found)}, which differ only "
                        f"in case: which one is meant is ambiguous)")
    return folder / found[0] if found else None


def numeric_key(stem: str):
    """Sort key: integer stems in numeric order first, then the others by name (``2 < 10 < a``)."""
    m = re.fullmatch(r"\d+", stem)
    return (0, int(stem), "") if m else (1, 0, stem)


def mesh_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """Mesh files in a folder, sorted by :func:`numeric_key` of their path (relative, stem last)."""
    it = folder.rglob("*") if recursive else folder.iterdir()
    found = [p for p in it if p.is_file() and is_mesh_file(p)]

    def key(p: Path):
        rel = p.relative_to(folder)
        return (tuple(rel.parts[:-1]), numeric_key(file_stem(p)))

    return sorted(found, key=key)


def file_stem(p: Path) -> str:
    name = p.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


class Skipper:
    """Runs per-item readers; with ``skip_bad`` a :class:`MeshError` is recorded instead of raised."""

    def __init__(self, skip_bad: bool):
        self.skip_bad = skip_bad
        self.skipped: list[tuple[str, str]] = []

    def run(self, path, fn: Callable, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MeshError as exc:
            if not self.skip_bad:
                raise
            self.skipped.append((str(path), str(exc)))
            return None

    def ok(self, path, fn: Callable, *args, **kwargs) -> bool:
        """Run a check; ``True`` when it passed, ``False`` when it failed and was recorded."""
        try:
            fn(*args, **kwargs)
            return True
        except MeshError as exc:
            if not self.skip_bad:
                raise
            self.skipped.append((str(path), str(exc)))
            return False


def default_names(n: int, prefix: str, base: int = 0) -> tuple[str, ...]:
    """``("part_1", ..., "part_n")`` style names."""
    return tuple(f"{prefix}{i + base}" for i in range(n))


def check_label_range(labels: np.ndarray, n_names: int, path, *, base: int = 0, names_from: str = "",
                      lines: bool = True) -> None:
    """Refuse labels outside ``[-1, n_names)`` (as read: ``[base, base + n_names)``), naming the line."""
    bad = np.flatnonzero((labels < -1) | (labels >= n_names))
    if len(bad):
        i = int(bad[0])
        where = f"line {i + 1}: " if lines else f"entry {i}: "
        src = f" ({names_from})" if names_from else ""
        raise MeshParseError(f"{path}: {where}expected a label in [{base}, {base + n_names - 1}] for "
                             f"{n_names} part names{src} (got {int(labels[i]) + base})")


#: Most parts a label index may address: a larger label is refused (naming the file and line)
#: rather than turned into that many part names, output channels and score columns.
MAX_PARTS = 1000


def check_label_cap(labels: np.ndarray, path, *, base: int = 0, lines: bool = True, as_read: bool = False) -> None:
    """Refuse 0-based labels ``>= MAX_PARTS`` (as read: ``base + MAX_PARTS`` and above), naming the line.

    ``as_read``: ``labels`` are the file's values (not yet minus ``base``), so a huge value cannot
    wrap around in the subtraction (``base`` from :func:`check_label_base`)."""
    labels = np.asarray(labels)
    shift = base if as_read else 0
    bad = np.flatnonzero(labels >= MAX_PARTS + shift)
    if len(bad):
        i = int(bad[0])
        where = f"line {i + 1}: " if lines else f"entry {i}: "
        raise MeshParseError(f"{path}: {where}expected a label in [{base}, {base + MAX_PARTS - 1}] (at most "
                             f"{MAX_PARTS} parts) (got {int(labels[i]) + base - shift})")


#: Largest ``label_base`` magnitude accepted (real files use 0 or 1).
MAX_LABEL_BASE = 2**31


def check_label_base(label_base) -> int:
    """``label_base`` as an int: an integer (not a bool, a float or a string) in ``[-2**31, 2**31]``."""
    if isinstance(label_base, (bool, np.bool_)) or not isinstance(label_base, (int, np.integer)):
        raise MeshTypeError(f"label_base: expected an integer such as 0 or 1 (got {label_base!r})")
    if abs(int(label_base)) > MAX_LABEL_BASE:
        raise MeshError(f"label_base: expected an integer in [{-MAX_LABEL_BASE}, {MAX_LABEL_BASE}] (got {label_base})")
    return int(label_base)


#: Suffix of a Labeled PSB label file (matched case-insensitively, as mesh extensions are).
LABELS_SUFFIX = "_labels.txt"


def is_labels_name(name: str) -> bool:
    """Whether a file name is a Labeled PSB label file name (``<id>_labels.txt``, any case)."""
    return len(name) > len(LABELS_SUFFIX) and name.lower().endswith(LABELS_SUFFIX)


def warn_sparse_labels(found, n_parts: int, *, base: int = 0, min_parts: int = 8) -> None:
    """Warn (:class:`~manifold_nets.errors.MeshWarning`) when part names were made for every index
    up to the largest label but most of them label nothing (a stray large label, e.g. a typo);
    ``found``: ``[(path, labels)]`` of the data set, 0-based.  The warning names the file holding
    the largest label and that label (as read, ``+ base``)."""
    import warnings

    from ..errors import MeshWarning

    if n_parts <= min_parts:
        return
    used: set = set()
    top = None
    for path, lab in found:
        lab = np.asarray(lab)
        lab = lab[lab >= 0]
        if not len(lab):
            continue
        used.update(np.unique(lab).tolist())
        m = int(lab.max())
        if top is None or m > top[1]:
            top = (path, m)
    if top is None or 2 * len(used) >= n_parts:
        return
    path, m = top
    warnings.warn(MeshWarning(
        f"{path}: expected labels that use most part indices {base}..{base + n_parts - 1} (got label {m + base}, "
        f"which makes {n_parts} parts of which only {len(used)} are used; is it a typo?)"), stacklevel=3)


def make_dataset(meshes: Sequence[LabeledMesh], part_names, skipper: Skipper, *, what: str,
                 transform=None, pre_transform=None, cache_dir=None, name: str = "") -> MeshDataset:
    """A :class:`MeshDataset` with ``skipped`` set; an error if nothing could be read."""
    meshes = list(meshes)
    if not meshes:
        if skipper.skipped:
            path, msg = skipper.skipped[0]
            raise MeshError(f"{what}: expected at least one readable labelled mesh (got "
                            f"{len(skipper.skipped)} skipped; first: {msg})")
        raise MeshError(f"{what}: expected at least one labelled mesh (got none)")
    ds = MeshDataset(meshes, part_names, transform=transform, pre_transform=pre_transform,
                     cache_dir=cache_dir, name=name)
    ds.skipped = list(skipper.skipped)
    return ds
