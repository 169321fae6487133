"""Reader of MeshCNN's segmentation sets: ``.eseg`` hard and ``.seseg`` soft edge labels.

Layout (MeshCNN's ``human_seg``, ``coseg_*``)::

    <root>/train/<name>.obj   <root>/test/<name>.obj
    <root>/seg/<name>.eseg    one integer label per edge (1-based in MeshCNN's releases)
    <root>/sseg/<name>.seseg  one row per edge, one column per class (MeshCNN counts a value > 0 as 1)

Edges are numbered in MeshCNN's order (:func:`manifold_nets.data.edges.mesh_edges`).  MeshCNN
numbers the edges after dropping zero-area faces and faces that repeat a directed edge of an
earlier face (duplicates, inconsistently oriented neighbours); we assume a clean mesh and refuse
a label file whose row count differs from our edge count (the message says so) rather than guess.
Edge labels become face labels by the rules of :mod:`manifold_nets.data.edges`; the edge labels
themselves are kept in ``meta["edge_labels"]`` (0-based) or ``meta["edge_scores"]``.  The
``.eseg``/``.seseg`` suffix matches in any case (``g.ESEG``); two files that differ only in case
are an error naming both (skipped with ``skip_bad``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MeshError, MeshFileNotFoundError, MeshParseError
from .dataset import LabeledMesh
from .edges import edge_scores_to_face_labels, edge_to_face_labels, mesh_edges, meshcnn_dropped_face
from .readers_common import (
    Skipper,
    check_label_base,
    check_label_cap,
    check_label_range,
    check_part_names,
    check_split,
    default_names,
    file_stem,
    make_dataset,
    mesh_files,
    parse_float_rows,
    parse_int_lines,
    read_mesh_arrays,
    side_file,
    warn_sparse_labels,
)

__all__ = ["read_eseg", "read_seseg", "read_meshcnn_item", "load_meshcnn"]

_CLEAN = ("edges are numbered as MeshCNN does, faces in file order, corner pairs (0,1),(1,2),(2,0); "
          "MeshCNN first drops zero-area faces and faces repeating a directed edge; this reader "
          "assumes a clean mesh")


def read_eseg(path, n_edges: int | None = None, *, label_base: int = 1) -> np.ndarray:
    """``.eseg``: ``(nE,)`` int64 0-based edge labels (the file's minus ``label_base``)."""
    label_base = check_label_base(label_base)
    lab = parse_int_lines(path, what="edge label")
    if n_edges is not None and len(lab) != n_edges:
        raise MeshParseError(f"{path}: expected {n_edges} lines, one label per edge (got {len(lab)}); {_CLEAN}")
    low = np.flatnonzero(lab < label_base)
    if len(low):
        raise MeshParseError(f"{path}: line {low[0] + 1}: expected an edge label >= {label_base} "
                             f"(label_base={label_base}) (got {lab[low[0]]})")
    check_label_cap(lab, path, base=label_base, as_read=True)
    return lab - label_base


def read_seseg(path, n_edges: int | None = None) -> np.ndarray:
    """``.seseg``: ``(nE, K)`` float64 soft edge labels (finite, >= 0)."""
    S = parse_float_rows(path, what="soft label")
    if n_edges is not None and len(S) != n_edges:
        raise MeshParseError(f"{path}: expected {n_edges} lines, one row per edge (got {len(S)}); {_CLEAN}")
    neg = np.flatnonzero((S < 0).any(axis=1)) if S.size else []
    if len(neg):
        raise MeshParseError(f"{path}: line {neg[0] + 1}: expected soft labels >= 0 (got a negative value)")
    return S


def read_meshcnn_item(mesh_path, label_path, *, label_base: int = 1):
    """``(V, F, face_labels, meta)`` of one mesh and its ``.eseg`` (or ``.seseg``) file."""
    V, F, _, _ = read_mesh_arrays(mesh_path)
    bad = meshcnn_dropped_face(V, F)
    if bad is not None:
        raise MeshError(f"{mesh_path}: face {bad[0]}: expected a clean mesh for MeshCNN edge labels (got a face "
                        f"that {bad[1]}: MeshCNN drops such faces before numbering edges, so its edge order "
                        f"cannot be reproduced)")
    E, FE = mesh_edges(F)
    lp = Path(label_path)
    if lp.suffix.lower() == ".seseg":
        S = read_seseg(lp, len(E))
        lab = edge_scores_to_face_labels(F, S > 0, face_edges=FE)
        meta = {"edge_scores": S}
    else:
        e = read_eseg(lp, len(E), label_base=label_base)
        lab = edge_to_face_labels(F, e, face_edges=FE)
        meta = {"edge_labels": e}
    meta.update(format="meshcnn", label_path=str(lp), id=file_stem(Path(mesh_path)))
    return V, F, lab, meta


def _splits(root: Path, split) -> list[str]:
    if split is not None:
        split = check_split(split, root)
        if not (root / split).is_dir():
            raise MeshFileNotFoundError(f"{root / split}: expected a MeshCNN split folder (got no such folder)")
        return [split]
    found = [s for s in ("train", "test") if (root / s).is_dir()]
    if not found:
        raise MeshFileNotFoundError(f"{root}: expected train/ and/or test/ folders of meshes (MeshCNN layout) (got neither)")
    return found


def load_meshcnn(root, *, category=None, skip_bad: bool = False, labels=None, transform=None,
                 pre_transform=None, cache_dir=None, split=None, soft: bool = False,
                 label_base: int = 1):
    """A MeshCNN segmentation set as a :class:`~manifold_nets.data.MeshDataset`.

    ``root`` (``root/<category>`` when given) holds ``train/``, ``test/``, ``seg/``, ``sseg/``;
    ``split``: ``"train"``, ``"test"`` or None (both, train first; ``meta["split"]`` says which;
    the name of a folder in ``root``, not a path);
    ``soft``: read ``sseg/*.seseg`` instead of ``seg/*.eseg``; ``label_base``: the ``.eseg``
    value of the first class.  Part names ``part_<label_base>...`` unless ``labels`` is given.
    """
    label_base = check_label_base(label_base)  # a bad option is an error, not a reason to skip every mesh
    root = Path(root) if category is None else Path(root) / str(category)
    if not root.is_dir():
        raise MeshFileNotFoundError(f"{root}: expected a MeshCNN data folder (got no such folder)")
    sub, ext = ("sseg", ".seseg") if soft else ("seg", ".eseg")
    if labels is not None:
        labels = check_part_names(labels)
    skipper = Skipper(skip_bad)
    listing: dict = {}
    items = []
    for s in _splits(root, split):
        for mp in mesh_files(root / s):
            lp = skipper.run(mp, _label_file, mp, root / sub, ext, listing)
            if lp is None:
                continue
            got = skipper.run(lp, read_meshcnn_item, mp, lp, label_base=label_base)
            if got is not None:
                got[3]["split"] = s
                items.append((mp, lp, got))
    if soft:
        widths = {g[3]["edge_scores"].shape[1] for *_, g in items}
        if len(widths) > 1:
            raise MeshError(f"{root}: expected one number of classes (columns) in every .seseg file (got {sorted(widths)})")
        K = widths.pop() if widths else 0
    else:
        K = max((int(g[2].max()) + 1 for *_, g in items if len(g[2])), default=0)
        if labels is None:
            warn_sparse_labels([(lp, g[3]["edge_labels"]) for _, lp, g in items], K, base=label_base)
    part_names = default_names(K, "part_", label_base) if labels is None else tuple(labels)
    out = []
    for mp, lp, (V, F, lab, meta) in items:
        raw = meta.get("edge_labels")
        if raw is not None and not skipper.ok(lp, check_label_range, raw, len(part_names), lp,
                                              base=label_base, names_from="labels"):
            continue
        if raw is None and meta["edge_scores"].shape[1] > len(part_names):
            skipper.ok(lp, _raise, MeshParseError(
                f"{lp}: expected at most {len(part_names)} columns, one per part name (got "
                f"{meta['edge_scores'].shape[1]})"))
            continue
        out.append(LabeledMesh(V, F, lab, part_names, name=f"{meta['split']}/{file_stem(mp)}", path=mp, meta=meta))
    return make_dataset(out, part_names, skipper, what=str(root), transform=transform,
                        pre_transform=pre_transform, cache_dir=cache_dir, name=f"meshcnn/{root.name}")


def _label_file(mp: Path, folder: Path, ext: str, listing: dict) -> Path:
    """``<folder>/<stem><ext>`` of a mesh, the suffix in any case (two that differ only in case
    are ambiguous: an error naming both); none is an error naming the file expected."""
    stem = file_stem(mp)
    lp = side_file(folder, stem, ext, what="edge label file", listing=listing)
    if lp is None:
        raise MeshFileNotFoundError(f"{mp}: expected its edge labels in {folder / (stem + ext)} (got no such file)")
    return lp


def _raise(exc):
    raise exc
