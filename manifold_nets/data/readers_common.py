"""Shared pieces of the label-file readers: text parsing with line numbers, mesh reading, skipping.

Every parser here raises :class:`~manifold_nets.errors.MeshParseError` (a
:class:`~manifold_nets.errors.MeshError`) whose message starts with the file and the 1-based line:
``"<file>: line <n>: expected ... (got ...)"``.  Parsing is vectorised (numpy converts the tokens);
the line of a bad token is only searched for once numpy has refused the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import (
    MeshError,
    MeshFileNotFoundError,
    MeshIsADirectoryError,
    MeshParseError,
    MeshPermissionError,
)
from ..files import is_mesh_file
from ..io import read_triangles
from .dataset import LabeledMesh, MeshDataset

__all__ = ["read_text", "text_lines", "file_stem", "parse_int_lines", "parse_int_tokens", "parse_float_rows",
           "read_mesh_arrays", "read_part_names", "numeric_key", "mesh_files", "Skipper",
           "make_dataset", "default_names", "check_label_range", "check_label_cap",
           "warn_sparse_labels", "MAX_PARTS"]


#: Characters refused in label and names files: C0/C1 controls other than tab and the line ends,
#: DEL, and the Unicode line separators (``str.splitlines`` would split a line there, so a part
#: name or a line number would come out wrong).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_EOL = re.compile("\r\n|\r|\n")


def _line_at(text: str, pos: int) -> int:
    return len(_EOL.findall(text, 0, pos)) + 1


def read_text(path) -> str:
    """The text of a label file (UTF-8, BOM dropped); missing/unreadable files raise typed errors.

    Bytes that are not UTF-8 and control characters (NUL, ...; tab and line ends are fine) are
    refused with a :class:`~manifold_nets.errors.MeshParseError` naming the file and line: read
    with replacement characters they would become new, bogus part names."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise MeshFileNotFoundError(f"{p}: expected a label file (got no such file)") from None
    except IsADirectoryError:
        raise MeshIsADirectoryError(f"{p}: expected a label file (got a directory)") from None
    except PermissionError:
        raise MeshPermissionError(f"{p}: expected a readable label file (got permission denied)") from None
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
    raise MeshParseError(f"{path}: expected integer {what}s (got values out of the int64 range)")


def parse_int_tokens(line: str, path, lineno: int, *, what: str = "index") -> np.ndarray:
    """Whitespace-separated integers of one line -> int64 array (a bad token names the line)."""
    toks = line.split()
    out = _to_int(toks) if toks else np.zeros(0, np.int64)
    if out is not None:
        return out
    for t in toks:
        if _bad_int_token(t):
            raise MeshParseError(f"{path}: line {lineno}: expected an integer {what} (got {t[:40]!r})")
    raise MeshParseError(f"{path}: line {lineno}: expected integer {what}s (got values out of the int64 range)")


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
    try:
        A = np.asarray(rows, dtype=str).astype(np.float64)
    except ValueError:
        for i, r in enumerate(rows, 1):
            for t in r:
                try:
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

    A plain text file (not ``.json``) gives one name per non-empty line.
    """
    p = Path(path)
    text = read_text(p)
    if p.suffix.lower() != ".json":
        return [s.strip() for s in text_lines(text) if s.strip()]
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MeshParseError(f"{p}: line {exc.lineno}: expected JSON (got {exc.msg})") from None
    if isinstance(obj, dict) and "part_names" in obj:
        obj = obj["part_names"]
    elif isinstance(obj, dict) and isinstance(obj.get("labels"), dict):
        lab = obj["labels"]
        try:
            idx = sorted(int(k) for k in lab)
        except ValueError:
            raise MeshParseError(f"{p}: expected integer keys in 'labels' (got {list(lab)[:5]})") from None
        if idx != list(range(len(idx))):
            raise MeshParseError(f"{p}: expected 'labels' keys 0..{len(idx) - 1} (got {idx[:10]})")
        obj = [lab[str(i)] if str(i) in lab else lab[i] for i in idx]
    if not isinstance(obj, list) or not all(isinstance(s, str) for s in obj):
        raise MeshParseError(f"{p}: expected a list of part names, {{\"part_names\": [...]}} or "
                             f"{{\"labels\": {{\"0\": name}}}} (got {type(obj).__name__})")
    if len(set(obj)) != len(obj):
        dup = next(s for s in obj if obj.count(s) > 1)
        raise MeshParseError(f"{p}: expected distinct part names (got {dup!r} twice)")
    bad = next((s for s in obj if _CONTROL.search(s) or s != s.strip() or not s), None)
    if bad is not None:
        raise MeshParseError(f"{p}: expected part names of printable characters, without leading or trailing "
                             f"blanks (got {bad!r})")
    return list(obj)


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


def check_label_cap(labels: np.ndarray, path, *, base: int = 0, lines: bool = True) -> None:
    """Refuse 0-based labels ``>= MAX_PARTS`` (as read: ``base + MAX_PARTS`` and above), naming the line."""
    bad = np.flatnonzero(np.asarray(labels) >= MAX_PARTS)
    if len(bad):
        i = int(bad[0])
        where = f"line {i + 1}: " if lines else f"entry {i}: "
        raise MeshParseError(f"{path}: {where}expected a label in [{base}, {base + MAX_PARTS - 1}] (at most "
                             f"{MAX_PARTS} parts) (got {int(labels[i]) + base})")


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
