"""Readers of the Princeton Segmentation Benchmark family: the Labeled PSB and ``.seg`` files.

* **Labeled PSB** (Kalogerakis et al. 2010): ``<root>/<Category>/<id>.off`` beside
  ``<id>_labels.txt``, pairs of lines: a part name, then the 1-based indices of its faces; every
  face is listed exactly once.  The part names of a category are the sorted union over its
  meshes (a part missing on one mesh is still listed); meshes come in numeric id order.
* **Princeton benchmark** ``.seg`` (Chen et al. 2009): one 0-based segment id per line, one line
  per face; several human segmentations per mesh as ``<id>_<k>.seg`` (two files for one ``k``,
  such as ``1_0.seg`` and ``1_00.seg``, are ambiguous: an error).  Unlabelled segments:
  part names are ``"segment_0", "segment_1", ...``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import MeshError, MeshFileNotFoundError, MeshParseError, MeshTypeError
from .dataset import LabeledMesh
from .readers_common import (
    Skipper,
    check_label_cap,
    check_label_range,
    check_part_names,
    default_names,
    file_stem,
    is_labels_name,
    make_dataset,
    mesh_files,
    numeric_key,
    parse_int_lines,
    parse_int_tokens,
    read_mesh_arrays,
    read_text,
    text_lines,
    warn_sparse_labels,
)

__all__ = ["parse_psb_labels", "map_psb_names", "read_psb_labels", "load_labeled_psb", "psb_categories",
           "read_seg", "read_psb_segmentations", "find_psb_segmentations", "load_psb_seg"]


# ---------------------------------------------------------------------------------------------
# Labeled PSB


def parse_psb_labels(path, n_faces: int, *, text: str | None = None):
    """Parse and check a Labeled PSB ``_labels.txt`` against a mesh of ``n_faces`` faces.

    Returns ``(names, name_lines, face_part)``: the part names in file order (a name listed twice
    is one part), the line of each name, and ``(n_faces,)`` int64 indices into ``names``.

    Raises :class:`~manifold_nets.errors.MeshParseError` naming the file and line for: a name
    line with no index line, an empty part, a non-integer token, an index 0 / negative / above
    ``n_faces``, a face listed twice (both lines), faces not listed (count and first face).
    """
    lines = text_lines(read_text(path) if text is None else text)
    if not lines:
        raise MeshParseError(f"{path}: line 1: expected a part name (got an empty file)")
    names: list[str] = []
    name_lines: list[int] = []
    chunks, chunk_lines, chunk_part = [], [], []
    for k in range(0, len(lines), 2):
        ln = k + 1
        name = lines[k].strip()
        if not name:
            raise MeshParseError(f"{path}: line {ln}: expected a part name (got an empty line)")
        if len(name.split()) != 1:
            raise MeshParseError(f"{path}: line {ln}: expected a part name of one word (got {name[:40]!r}; "
                                 f"is a name line missing above?)")
        if k + 1 >= len(lines):
            raise MeshParseError(f"{path}: line {ln + 1}: expected a line of face indices after part "
                                 f"name {name!r} on line {ln} (got end of file)")
        idx = parse_int_tokens(lines[k + 1], path, ln + 1, what="face index")
        if len(idx) == 0:
            raise MeshParseError(f"{path}: line {ln + 1}: expected the face indices of part {name!r} "
                                 f"(got an empty line: an empty part)")
        low = np.flatnonzero(idx < 1)
        if len(low):
            raise MeshParseError(f"{path}: line {ln + 1}: expected 1-based face indices >= 1 "
                                 f"(got {int(idx[low[0]])})")
        high = np.flatnonzero(idx > n_faces)
        if len(high):
            raise MeshParseError(f"{path}: line {ln + 1}: expected face indices in [1, {n_faces}] "
                                 f"for a mesh of {n_faces} faces (got {int(idx[high[0]])})")
        if name not in names:
            names.append(name)
            name_lines.append(ln)
        chunks.append(idx - 1)
        chunk_lines.append(np.full(len(idx), ln + 1, np.int64))
        chunk_part.append(np.full(len(idx), names.index(name), np.int64))
    faces = np.concatenate(chunks)
    at = np.concatenate(chunk_lines)
    part = np.concatenate(chunk_part)
    order = np.argsort(faces, kind="stable")
    fs = faces[order]
    dup = np.flatnonzero(fs[1:] == fs[:-1])
    if len(dup):
        a, b = order[dup[0]], order[dup[0] + 1]
        raise MeshParseError(f"{path}: line {at[b]}: expected every face listed once (got face {fs[dup[0]] + 1} "
                             f"on line {at[a]} (part {names[part[a]]!r}) and on line {at[b]} "
                             f"(part {names[part[b]]!r}))")
    face_part = np.full(n_faces, -1, np.int64)
    face_part[faces] = part
    missing = np.flatnonzero(face_part < 0)
    if len(missing):
        raise MeshParseError(f"{path}: line {len(lines)} (end of file): expected every face 1..{n_faces} "
                             f"in a part (got {len(missing)} faces not listed; first: face {missing[0] + 1})")
    return names, name_lines, face_part


def map_psb_names(path, names, name_lines, face_part, part_names):
    """Re-index ``face_part`` into ``part_names``; an unknown name is an error naming its line."""
    index = {n: i for i, n in enumerate(part_names)}
    for n, ln in zip(names, name_lines):
        if n not in index:
            raise MeshParseError(f"{path}: line {ln}: expected a part name among {list(part_names)} "
                                 f"(got {n!r})")
    lut = np.array([index[n] for n in names], dtype=np.int64)
    return lut[face_part]


def read_psb_labels(path, n_faces: int, part_names=None) -> tuple[np.ndarray, tuple]:
    """Face labels ``(n_faces,)`` int64 and the part names they index, from a ``_labels.txt``.

    ``part_names`` (e.g. a trained model's): map into this list (an unknown name is an error
    naming the line); default: the file's names, sorted.
    """
    names, name_lines, face_part = parse_psb_labels(path, n_faces)
    pn = tuple(sorted(names)) if part_names is None else tuple(part_names)
    return map_psb_names(path, names, name_lines, face_part, pn), pn


def _label_files(folder: Path) -> list[Path]:
    """The ``<id>_labels.txt`` files of a folder (the suffix in any case, as ``1_LABELS.TXT``)."""
    try:
        return sorted(p for p in folder.iterdir() if is_labels_name(p.name) and p.is_file())
    except OSError:
        return []


def psb_categories(root) -> list[str]:
    """Sub-folders of ``root`` that hold ``*_labels.txt`` files, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise MeshFileNotFoundError(f"{root}: expected a Labeled PSB data folder (got "
                                    f"{'a file' if root.exists() else 'no such folder'})")
    return sorted(d.name for d in root.iterdir() if d.is_dir() and _label_files(d))


def _category_dir(root: Path, category, fmt: str) -> Path:
    if not root.is_dir():
        raise MeshFileNotFoundError(f"{root}: expected a {fmt} data folder (got no such folder)")
    cats = psb_categories(root)
    if category is None:
        if _label_files(root):
            return root
        raise MeshError(f"{root}: expected a category (a data set spans one: part names differ across "
                        f"categories); available: {', '.join(cats) or 'none'}")
    if category in cats:
        return root / category
    folded = [c for c in cats if c.lower() == str(category).lower()]
    if len(folded) == 1:
        return root / folded[0]
    raise MeshError(f"{root}: expected a category among {', '.join(cats) or 'none'} (got {category!r})")


def _psb_item(mesh_path: Path, label_path: Path):
    V, F, _, _ = read_mesh_arrays(mesh_path)
    names, name_lines, face_part = parse_psb_labels(label_path, len(F))
    return V, F, names, name_lines, face_part


def load_labeled_psb(root, *, category=None, skip_bad: bool = False, labels=None, transform=None,
                     pre_transform=None, cache_dir=None):
    """One category of the Labeled PSB as a :class:`~manifold_nets.data.MeshDataset`.

    ``root`` holds ``<Category>/`` folders (or is one); ``labels``: part names to map into (an
    unknown name is an error naming file and line); default: the sorted union of the category's.
    A mesh without a label file, or a label file without a mesh, is an error (skipped with
    ``skip_bad``).
    """
    root = Path(root)
    if labels is not None:
        labels = check_part_names(labels)
    folder = _category_dir(root, category, "Labeled PSB")
    skipper = Skipper(skip_bad)
    by_stem: dict[str, list[Path]] = {}
    for p in mesh_files(folder):
        by_stem.setdefault(file_stem(p), []).append(p)
    meshes = {}
    for stem, ps in by_stem.items():
        if len(ps) > 1:  # which one the labels belong to is ambiguous: neither is read
            names = ", ".join(sorted(q.name for q in ps))
            skipper.run(ps[0], _raise, MeshError(f"{folder}: expected one mesh file for id {stem} (got {names})"))
        else:
            meshes[stem] = ps[0]
    ambiguous = {s for s, ps in by_stem.items() if len(ps) > 1}
    label_files: dict[str, Path] = {}
    for p in _label_files(folder):
        stem = p.name[: -len("_labels.txt")]
        if stem in label_files:  # 1_labels.txt and 1_LABELS.TXT: which one is meant is ambiguous
            skipper.run(p, _raise, MeshError(f"{folder}: expected one label file for id {stem} (got "
                                                f"{label_files[stem].name}, {p.name})"))
            ambiguous.add(stem)
            continue
        label_files[stem] = p
    items = []
    for stem in sorted((set(meshes) | set(label_files)) - ambiguous, key=numeric_key):
        mp, lp = meshes.get(stem), label_files.get(stem)
        if mp is None:
            skipper.run(lp, _raise, MeshFileNotFoundError(
                f"{lp}: expected a mesh {stem}.off beside the label file (got none)"))
            continue
        if lp is None:
            skipper.run(mp, _raise, MeshFileNotFoundError(
                f"{mp}: expected a label file {stem}_labels.txt beside the mesh (got none)"))
            continue
        got = skipper.run(lp, _psb_item, mp, lp)
        if got is not None:
            items.append((stem, mp, lp, got))
    if labels is None:
        part_names = tuple(sorted({n for *_, got in items for n in got[2]}))
    else:
        part_names = labels
    out = []
    for stem, mp, lp, (V, F, names, name_lines, face_part) in items:
        lab = skipper.run(lp, map_psb_names, lp, names, name_lines, face_part, part_names)
        if lab is None:
            continue
        out.append(LabeledMesh(V, F, lab, part_names, name=f"{folder.name}/{stem}", path=mp,
                               meta={"format": "labeled-psb", "label_path": str(lp), "id": stem}))
    return make_dataset(out, part_names, skipper, what=f"{folder}", transform=transform,
                        pre_transform=pre_transform, cache_dir=cache_dir,
                        name=f"labeled-psb/{folder.name}")


def _raise(exc):
    raise exc


# ---------------------------------------------------------------------------------------------
# Princeton benchmark .seg


def read_seg(path, n_faces: int | None = None) -> np.ndarray:
    """One Princeton ``.seg`` file: ``(nF,)`` int64 0-based segment ids.

    ``n_faces``: check the line count ("expected N lines, one per face (got M)").
    """
    seg = parse_int_lines(path, what="segment id")
    if n_faces is not None and len(seg) != n_faces:
        raise MeshParseError(f"{path}: expected {n_faces} lines, one segment id per face of the mesh "
                             f"(got {len(seg)})")
    neg = np.flatnonzero(seg < 0)
    if len(neg):
        raise MeshParseError(f"{path}: line {neg[0] + 1}: expected a 0-based segment id >= 0 (got {seg[neg[0]]})")
    return seg


def find_psb_segmentations(seg_dir, mesh_id) -> list[Path]:
    """The ``.seg`` files of a mesh: ``<id>.seg`` and ``<id>_<k>.seg`` (k in numeric order) in
    ``seg_dir``, ``seg_dir/<id>/`` or ``seg_dir/Benchmark/<id>/`` (the benchmark's layout).

    Two files for one ``k`` (``1_0.seg`` and ``1_00.seg``, or names that differ only in case)
    would make the segmentation index ambiguous: a :class:`~manifold_nets.errors.MeshError`
    naming both."""
    seg_dir = Path(seg_dir)
    mesh_id = str(mesh_id)
    pat = re.compile(rf"{re.escape(mesh_id)}(?:_(\d+))?\.seg", re.IGNORECASE)
    for d in (seg_dir, seg_dir / mesh_id, seg_dir / "Benchmark" / mesh_id):
        if not d.is_dir():
            continue
        found = []
        for p in d.iterdir():
            m = pat.fullmatch(p.name)
            if m and p.is_file():
                found.append((-1 if m.group(1) is None else int(m.group(1)), p))
        if found:
            found.sort()
            for (k, a), (k2, b) in zip(found, found[1:]):
                if k == k2:
                    which = f"{mesh_id}.seg" if k < 0 else f"{mesh_id}_{k}.seg"
                    raise MeshError(f"{d}: expected one segmentation file {which} of mesh {mesh_id} (got {a.name}, "
                                    f"{b.name}, the same segmentation: which one is meant is ambiguous)")
            return [p for _, p in found]
    return []


def read_psb_segmentations(seg_dir, mesh_id, *, n_faces: int | None = None) -> list[np.ndarray]:
    """All human segmentations of a mesh (for the boundary metrics): a list of ``(nF,)`` int64.

    Files as :func:`find_psb_segmentations` finds them; ``n_faces`` checks every line count.
    """
    paths = find_psb_segmentations(seg_dir, mesh_id)
    if not paths:
        raise MeshFileNotFoundError(f"{seg_dir}: expected {mesh_id}_<k>.seg or {mesh_id}.seg files "
                                    f"(here, in {mesh_id}/ or Benchmark/{mesh_id}/) (got none)")
    return [read_seg(p, n_faces) for p in paths]


def _seg_item(mesh_path: Path, seg_dir: Path, stem: str, segmentation: int):
    V, F, _, _ = read_mesh_arrays(mesh_path)
    paths = find_psb_segmentations(seg_dir, stem)
    if not paths:
        raise MeshFileNotFoundError(f"{mesh_path}: expected a segmentation {stem}_<k>.seg in {seg_dir} (got none)")
    if not -len(paths) <= segmentation < len(paths):
        raise MeshError(f"{mesh_path}: expected segmentation index in [0, {len(paths)}) (got {segmentation})")
    p = paths[segmentation]
    seg = read_seg(p, len(F))
    check_label_cap(seg, p)
    return V, F, seg, p, len(paths)


def load_psb_seg(root, *, category=None, skip_bad: bool = False, labels=None, transform=None,
                 pre_transform=None, cache_dir=None, segmentation: int = 0, seg_dir=None):
    """Meshes with Princeton ``.seg`` segmentations as a :class:`~manifold_nets.data.MeshDataset`.

    Meshes: ``root/off/`` if present, else ``root/`` (``root/<category>`` when given).  Seg files:
    ``seg_dir`` (default ``root/seg`` if present, else the mesh folder), found by
    :func:`find_psb_segmentations`; ``segmentation`` picks which human segmentation becomes the
    face labels (index in ``<id>_<k>`` order; two files for one ``k`` are an error naming both,
    skipped with ``skip_bad``).  Part names ``segment_0..`` unless ``labels``.
    """
    root = Path(root) if category is None else Path(root) / str(category)
    if not root.is_dir():
        raise MeshFileNotFoundError(f"{root}: expected a folder of meshes and .seg files (got no such folder)")
    mdir = root / "off" if (root / "off").is_dir() else root
    sdir = Path(seg_dir) if seg_dir is not None else (root / "seg" if (root / "seg").is_dir() else mdir)
    if isinstance(segmentation, (bool, np.bool_)) or not isinstance(segmentation, (int, np.integer)):
        raise MeshTypeError(f"segmentation: expected an integer index of a <id>_<k>.seg file (got {segmentation!r})")
    if labels is not None:
        labels = check_part_names(labels)
    skipper = Skipper(skip_bad)
    items = []
    for mp in mesh_files(mdir):
        got = skipper.run(mp, _seg_item, mp, sdir, file_stem(mp), int(segmentation))
        if got is not None:
            items.append((mp, got))
    K = max((int(g[2].max()) + 1 for _, g in items if len(g[2])), default=0)
    if labels is None:
        warn_sparse_labels([(g[3], g[2]) for _, g in items], K)
    part_names = default_names(K, "segment_") if labels is None else labels
    out = []
    for mp, (V, F, seg, sp, n) in items:
        if not skipper.ok(sp, check_label_range, seg, len(part_names), sp, names_from="labels"):
            continue
        out.append(LabeledMesh(V, F, seg, part_names, name=f"{root.name}/{file_stem(mp)}", path=mp,
                               meta={"format": "psb-seg", "label_path": str(sp), "id": file_stem(mp),
                                     "n_segmentations": n}))
    return make_dataset(out, part_names, skipper, what=str(root), transform=transform,
                        pre_transform=pre_transform, cache_dir=cache_dir, name=f"psb-seg/{root.name}")
