"""Readers of per-face label text files: the Maron et al. 2017 human set and a generic folder.

* **Maron et al. 2017** (and its DiffusionNet/HSN copies): meshes (``.off``/``.obj``/``.ply``)
  under ``<root>/meshes/`` (optionally ``train/`` and ``test/``), per-face label text files (one
  integer per line, 1-based in the original release: ``label_base=1``) under ``<root>/segs/`` or
  ``<root>/labels/`` with the mesh's stem, at the same relative path or anywhere below (a unique
  stem).  A label file that no mesh under ``meshes/`` (any split) has the stem of is an error
  (skipped with ``skip_bad``), as a Labeled PSB label file without a mesh is.  ``split`` is the
  name of a folder in ``meshes/``, nothing else.  Part names ``part_1..part_8`` unless a names
  file is given.
* **Generic folder**: each mesh with its labels, found in this order: ``<stem>.labels.txt``,
  ``<stem>_labels.txt`` (one integer per line), ``<stem>.npy`` (a 1-D integer array), then a
  ``label`` array inside the mesh file (PLY ``face_data["label"]`` before ``vertex_data["label"]``,
  as :func:`manifold_nets.io.write_mesh` and ``segment predict`` write it; VTK cell data before
  point data); the suffixes of these side files and of ``<stem>.json`` match in any case (two
  files that differ only in case are an error naming both).  0-based labels, ``-1`` =
  unlabelled; a mesh with no labelled face or vertex is an error (skipped with ``skip_bad``).
  A label count equal to the face count
  labels faces, to the vertex count labels vertices (then faces by
  :func:`~manifold_nets.data.labels.vertex_to_face_labels`); a count equal to both is an error
  unless ``labels_on="faces"|"vertices"`` says which.  Part names: ``labels``, else
  ``<root>/part_names.json``, else the union of the meshes' ``<stem>.json`` names
  (``{"part_names": [...]}`` or ``{"labels": {"0": name}}``, as ``segment predict`` writes) in
  order of appearance, else ``part_0..``.  A mesh with its own ``<stem>.json`` has its labels
  mapped into the data set's names by name (an unknown name is an error naming the JSON).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MeshError, MeshFileNotFoundError, MeshParseError, optional_import
from .dataset import LabeledMesh
from .labels import remap_labels, vertex_to_face_labels
from .readers_common import (
    MAX_PARTS,
    Skipper,
    _integral,
    check_label_base,
    check_label_cap,
    check_label_range,
    check_part_names,
    check_split,
    default_names,
    file_stem,
    load_npy,
    make_dataset,
    mesh_files,
    parse_int_lines,
    read_mesh_arrays,
    read_part_names,
    side_file,
    warn_sparse_labels,
)

__all__ = ["read_label_lines", "read_maron_item", "load_maron", "find_folder_labels",
           "read_folder_item", "load_folder"]

LABEL_SUFFIXES = (".txt", ".seg", ".labels")


def read_label_lines(path, n_faces: int, *, label_base: int = 1) -> np.ndarray:
    """One integer label per face and line -> ``(n_faces,)`` int64 0-based (the file's minus base)."""
    label_base = check_label_base(label_base)
    lab = parse_int_lines(path, what="face label")
    if len(lab) != n_faces:
        raise MeshParseError(f"{path}: expected {n_faces} lines, one label per face of the mesh (got {len(lab)})")
    low = np.flatnonzero(lab < label_base)
    if len(low):
        raise MeshParseError(f"{path}: line {low[0] + 1}: expected a face label >= {label_base} "
                             f"(label_base={label_base}) (got {lab[low[0]]})")
    check_label_cap(lab, path, base=label_base, as_read=True)
    return lab - label_base


# ---------------------------------------------------------------------------------------------
# Maron et al. 2017


def read_maron_item(mesh_path, label_path, *, label_base: int = 1):
    """``(V, F, face_labels, meta)`` of one mesh and its per-face label text file."""
    V, F, _, _ = read_mesh_arrays(mesh_path)
    lab = read_label_lines(label_path, len(F), label_base=label_base)
    return V, F, lab, {"format": "maron", "label_path": str(label_path), "id": file_stem(Path(mesh_path))}


def _label_index(label_dir: Path) -> dict:
    index: dict[str, list[Path]] = {}
    for p in label_dir.rglob("*"):
        if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES:
            index.setdefault(p.stem, []).append(p)
    return index


def _maron_label(mp: Path, mesh_dir: Path, label_dir: Path, index: dict) -> Path:
    rel = mp.relative_to(mesh_dir).parent
    stem = file_stem(mp)
    for suf in LABEL_SUFFIXES:
        p = label_dir / rel / f"{stem}{suf}"
        if p.is_file():
            return p
    cands = sorted(index.get(stem, []))
    if len(cands) == 1:
        return cands[0]
    if not cands:
        raise MeshFileNotFoundError(f"{mp}: expected a label file {stem}.txt under {label_dir} (got none)")
    raise MeshError(f"{mp}: expected one label file named {stem} under {label_dir} "
                    f"(got {len(cands)}: {', '.join(str(c) for c in cands[:3])})")


def _orphan_labels(index: dict, mesh_dir: Path, names_file=None) -> list[Path]:
    """The label files whose stem no mesh under ``mesh_dir`` (every split) has, sorted."""
    stems = {file_stem(p) for p in mesh_files(mesh_dir, recursive=True)}
    skip = Path(names_file).resolve() if names_file is not None else None
    return sorted(p for stem, ps in index.items() if stem not in stems for p in ps
                  if skip is None or p.resolve() != skip)


def _no_mesh(lp: Path, mesh_dir: Path):
    raise MeshFileNotFoundError(f"{lp}: expected a mesh named {lp.stem} (.off, .obj, .ply, ...) under "
                                f"{mesh_dir} for the label file (got none)")


def load_maron(root, *, category=None, skip_bad: bool = False, labels=None, transform=None,
               pre_transform=None, cache_dir=None, split=None, label_base: int = 1, names_file=None):
    """The Maron et al. 2017 human set layout as a :class:`~manifold_nets.data.MeshDataset`.

    ``split``: ``"train"``, ``"test"`` or None (every mesh under ``meshes/``; train first): the
    name of a folder in ``meshes/`` (a path, ``.`` or ``..`` is an error).
    ``labels`` or ``names_file`` (JSON or one name per line): the part names; default
    ``part_1..part_8`` (more if a file holds larger labels).  A label file without a mesh is an
    error (reported and skipped with ``skip_bad``).
    """
    label_base = check_label_base(label_base)  # a bad option is an error, not a reason to skip every mesh
    root = Path(root) if category is None else Path(root) / str(category)
    mesh_dir = root / "meshes"
    if not mesh_dir.is_dir():
        raise MeshFileNotFoundError(f"{mesh_dir}: expected a folder of meshes (Maron et al. layout) (got no such folder)")
    label_dir = next((root / d for d in ("segs", "labels") if (root / d).is_dir()), None)
    if label_dir is None:
        raise MeshFileNotFoundError(f"{root}: expected a segs/ or labels/ folder of label files (got neither)")
    if labels is not None:
        labels = check_part_names(labels)
    if split is not None:
        split = check_split(split, mesh_dir)
        if not (mesh_dir / split).is_dir():
            raise MeshFileNotFoundError(f"{mesh_dir / split}: expected a split folder (got no such folder)")
        paths = mesh_files(mesh_dir / split, recursive=True)
    else:
        paths = mesh_files(mesh_dir, recursive=True)
        first = {"train": 0, "test": 1}
        paths.sort(key=lambda p: first.get(p.relative_to(mesh_dir).parts[0], 2))  # stable: keeps the rest
    index = _label_index(label_dir)
    skipper = Skipper(skip_bad)
    for lp in _orphan_labels(index, mesh_dir, names_file):
        skipper.run(lp, _no_mesh, lp, mesh_dir)
    items = []
    for mp in paths:
        lp = skipper.run(mp, _maron_label, mp, mesh_dir, label_dir, index)
        if lp is None:
            continue
        got = skipper.run(lp, read_maron_item, mp, lp, label_base=label_base)
        if got is not None:
            items.append((mp, lp, got))
    if labels is not None:
        part_names, src = labels, "labels"
    elif names_file is not None:
        part_names, src = tuple(read_part_names(names_file)), str(names_file)
    else:
        K = max([8] + [int(g[2].max()) + 1 for *_, g in items if len(g[2])])
        part_names, src = default_names(K, "part_", 1), ""
        warn_sparse_labels([(lp, g[2]) for _, lp, g in items], K, base=label_base)
    out = []
    for mp, lp, (V, F, lab, meta) in items:
        if not skipper.ok(lp, check_label_range, lab, len(part_names), lp, base=label_base, names_from=src):
            continue
        rel = mp.relative_to(mesh_dir)
        out.append(LabeledMesh(V, F, lab, part_names, name=str(rel.with_suffix("")), path=mp, meta=meta))
    return make_dataset(out, part_names, skipper, what=str(root), transform=transform,
                        pre_transform=pre_transform, cache_dir=cache_dir, name=f"maron/{root.name}")


# ---------------------------------------------------------------------------------------------
# generic folder


def find_folder_labels(mesh_path, *, listing: dict | None = None) -> Path | None:
    """The sidecar label file of a mesh (``<stem>.labels.txt``, ``<stem>_labels.txt``, ``<stem>.npy``,
    the suffix in any case); two that differ only in case are an error naming both
    (:func:`~manifold_nets.data.readers_common.side_file`; ``listing``: its folder-listing cache)."""
    mp = Path(mesh_path)
    stem = file_stem(mp)
    for suffix in (".labels.txt", "_labels.txt", ".npy"):
        p = side_file(mp.parent, stem, suffix, listing=listing)
        if p is not None:
            return p
    return None


def _names_json(mp: Path, listing: dict | None = None) -> Path | None:
    """A mesh's ``<stem>.json`` part names (the suffix in any case), or None."""
    return side_file(mp.parent, file_stem(mp), ".json", what="part-names file", listing=listing)


def _npy_labels(path: Path) -> np.ndarray:
    return _as_int_labels(load_npy(path, "a .npy label array"), path)


def _as_int_labels(a, path) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise MeshParseError(f"{path}: expected a 1-D label array (got shape {a.shape})")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:  # would wrap to negative
        bad = int(np.flatnonzero(a > np.iinfo(np.int64).max)[0])
        raise MeshParseError(f"{path}: entry {bad}: expected a label in [0, {MAX_PARTS - 1}] (at most "
                             f"{MAX_PARTS} parts) (got {a[bad]})")
    if a.dtype.kind in "iub":
        return a.astype(np.int64)
    if a.dtype.kind == "f":
        out = _integral(a.astype(np.float64))
        if out is not None:
            return out
        f = a.astype(np.float64)
        bad = int(np.flatnonzero(~np.isfinite(f) | (f != np.round(f)) | (np.abs(f) > 2**62))[0])
        raise MeshParseError(f"{path}: entry {bad}: expected an integer label (got {a[bad]})")
    raise MeshParseError(f"{path}: expected integer labels (got dtype {a.dtype})")


def _vtk_cell_labels(mesh_path: Path):
    meshio = optional_import("meshio", purpose=f"reading labels from {mesh_path.suffix} files")
    try:
        m = meshio.read(str(mesh_path))
    except Exception as exc:  # meshio raises many types
        raise MeshParseError(f"{mesh_path}: expected a file meshio can read (got {type(exc).__name__}: {exc})") from None
    for key in ("label", "labels"):
        data = (m.cell_data or {}).get(key)
        if data is None:
            continue
        keep = [np.asarray(d).reshape(len(b.data), -1)[:, 0] for b, d in zip(m.cells, data)
                if b.type in ("triangle", "quad", "polygon") or b.type.startswith("polygon")]
        if keep:
            return np.concatenate(keep)
    return None


def _embedded(mesh_path: Path, vdata: dict, fdata: dict):
    """``(labels, where, on)`` from a ``label`` array inside the mesh file, or None."""
    if "label" in fdata:
        return fdata["label"], f"{mesh_path} face_data['label']", "faces"
    if mesh_path.suffix.lower() in (".vtk", ".vtu", ".vtp"):
        cells = _vtk_cell_labels(mesh_path)
        if cells is not None:
            return cells, f"{mesh_path} cell data 'label'", "faces"
    for key in ("label", "labels"):
        if key in vdata:
            return vdata[key], f"{mesh_path} vertex_data[{key!r}]", "vertices"
    return None


def _on(n: int, nF: int, nV: int, labels_on: str, where) -> str:
    if labels_on not in ("auto", "faces", "vertices"):
        raise MeshError(f"labels_on: expected 'auto', 'faces' or 'vertices' (got {labels_on!r})")
    want = {"faces": nF, "vertices": nV}
    if labels_on != "auto":
        if n != want[labels_on]:
            raise MeshParseError(f"{where}: expected {want[labels_on]} labels, one per "
                                 f"{labels_on[:-1]} (labels_on={labels_on!r}) (got {n})")
        return labels_on
    if n == nF and n == nV:
        raise MeshParseError(f"{where}: expected labels on faces or vertices, but {n} matches both the "
                             f"face and the vertex count; say which with labels_on='faces'|'vertices' "
                             f"(manifold-nets segment: --labels-on faces|vertices)")
    if n == nF:
        return "faces"
    if n == nV:
        return "vertices"
    raise MeshParseError(f"{where}: expected {nF} labels (one per face) or {nV} (one per vertex) (got {n})")


def read_folder_item(mesh_path, label_path=None, *, labels_on: str = "auto", part_names=None,
                     listing: dict | None = None):
    """``(V, F, face_labels, meta)`` of one mesh of a generic folder (see the module docstring).

    ``part_names``: the names the returned labels index; when the mesh has a ``<stem>.json``
    its labels index the JSON's names and are mapped into ``part_names`` by name (a name not in
    ``part_names`` is an error naming the JSON).  ``meta``: ``labels_on`` (where the file's
    labels were), ``vertex_labels`` (mapped) for per-vertex files, ``part_names`` (the JSON's).
    ``listing``: a folder-listing cache shared by the calls of one reader.
    """
    mp = Path(mesh_path)
    V, F, vdata, fdata = read_mesh_arrays(mp)
    lp = Path(label_path) if label_path is not None else find_folder_labels(mp, listing=listing)
    lines = False
    if lp is not None:
        if lp.suffix.lower() == ".npy":
            lab, where = _npy_labels(lp), str(lp)
        else:
            lab, where, lines = parse_int_lines(lp, what="label"), str(lp), True
        on = _on(len(lab), len(F), len(V), labels_on, where)
    else:
        emb = _embedded(mp, vdata, fdata)
        if emb is None:
            raise MeshFileNotFoundError(f"{mp}: expected labels in {file_stem(mp)}.labels.txt, {file_stem(mp)}_labels.txt, "
                                        f"{file_stem(mp)}.npy or a 'label' array in the mesh file (got none)")
        raw, where, on = emb
        lab = _as_int_labels(raw, where)
        if labels_on not in ("auto", on):
            raise MeshError(f"{where}: expected labels on {labels_on} (got a per-{on[:-1]} array)")
    low = np.flatnonzero(lab < -1)
    if len(low):
        at = f"line {low[0] + 1}" if lines else f"entry {low[0]}"
        raise MeshParseError(f"{where}: {at}: expected a 0-based label >= 0 or -1 for unlabelled (got {lab[low[0]]})")
    check_label_cap(lab, where, lines=lines)
    meta = {"format": "folder", "label_path": where, "labels_on": on, "id": file_stem(mp)}
    j = _names_json(mp, listing)
    own = tuple(read_part_names(j)) if j is not None else None
    if own is not None:
        meta["part_names"] = own
        check_label_range(lab, len(own), where, names_from=str(j), lines=lines)
        if part_names is not None and own != tuple(part_names):
            lab = _remap(lab, own, tuple(part_names), j)
    elif part_names is not None:
        check_label_range(lab, len(part_names), where, names_from="part names", lines=lines)
    if on == "vertices":
        meta["vertex_labels"] = lab
        lab = vertex_to_face_labels(F, lab)
    return V, F, lab, meta


def _remap(lab: np.ndarray, own: tuple, names: tuple, json_path) -> np.ndarray:
    index = set(names)
    for u in np.unique(lab[lab >= 0]):
        if own[u] not in index:
            raise MeshParseError(f"{json_path}: expected part names among {list(names)} (got {own[u]!r}, "
                                 f"label {u} of this mesh)")
    return remap_labels(lab, own, names)


def _some_labelled(item) -> None:
    """Refuse a mesh whose labels (as read: per face or per vertex) are all ``-1``."""
    _, _, lab, meta = item
    raw = meta.get("vertex_labels", lab)
    if not (np.asarray(raw) >= 0).any():
        on = "vertex" if meta.get("labels_on") == "vertices" else "face"
        raise MeshParseError(f"{meta['label_path']}: expected at least one labelled {on} (got all -1)")


def _json_names(mesh_paths, listing: dict | None = None) -> tuple | None:
    """Union of the meshes' ``<stem>.json`` part names in order of appearance (None if none)."""
    names: list[str] = []
    found = False
    for mp in mesh_paths:
        try:
            j = _names_json(mp, listing)
            if j is None:
                continue
            own = read_part_names(j)
        except MeshError:
            continue  # reported with its mesh by read_folder_item
        found = True
        names += [n for n in own if n not in names]
    return tuple(names) if found else None


def load_folder(root, *, category=None, skip_bad: bool = False, labels=None, transform=None,
                pre_transform=None, cache_dir=None, labels_on: str = "auto", recursive: bool = False):
    """A folder of meshes with sidecar or embedded labels as a :class:`~manifold_nets.data.MeshDataset`.

    ``root`` (``root/<category>`` when given): the mesh files in it (``recursive``: below it too),
    in numeric-stem order.  Part names: ``labels``, else ``<root>/part_names.json``, else the
    union of the meshes' ``<stem>.json`` names (each mesh's labels are mapped by name), else
    ``part_0..part_<max label>``.  A mesh whose labels are all ``-1`` (nothing labelled) is an
    error naming its label file (skipped with ``skip_bad``).
    """
    root = Path(root) if category is None else Path(root) / str(category)
    if not root.is_dir():
        raise MeshFileNotFoundError(f"{root}: expected a folder of labelled meshes (got no such folder)")
    paths = mesh_files(root, recursive=recursive)
    skipper = Skipper(skip_bad)
    listing: dict = {}
    if labels is not None:
        part_names = check_part_names(labels)
    elif (root / "part_names.json").is_file():
        part_names = tuple(read_part_names(root / "part_names.json"))
    else:
        part_names = _json_names(paths, listing)
    items = []
    for mp in paths:
        got = skipper.run(mp, read_folder_item, mp, labels_on=labels_on, part_names=part_names, listing=listing)
        if got is not None and skipper.ok(mp, _some_labelled, got):
            items.append((mp, got))
    if part_names is None:
        K = max((int(g[3].get("vertex_labels", g[2]).max()) + 1 for _, g in items), default=0)
        part_names = default_names(K, "part_")
        warn_sparse_labels([(g[3]["label_path"], g[3].get("vertex_labels", g[2])) for _, g in items], K)
    out = []
    for mp, (V, F, lab, meta) in items:
        name = (mp.relative_to(root).parent / file_stem(mp)).as_posix()
        out.append(LabeledMesh(V, F, lab, part_names, name=name, path=mp, meta=meta))
    return make_dataset(out, part_names, skipper, what=str(root), transform=transform,
                        pre_transform=pre_transform, cache_dir=cache_dir, name=f"folder/{root.name}")
