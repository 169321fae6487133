"""Readers of labelled mesh data sets: one entry point, :func:`load_dataset`, over five formats.

========================  ==================================================================
``FORMATS`` name           layout (details in the module of each reader)
========================  ==================================================================
``"labeled-psb"``         ``<root>/<Category>/<id>.off`` + ``<id>_labels.txt`` (Kalogerakis et
                          al. 2010; part-name lines, each followed by 1-based face indices)
                          — :mod:`.readers_psb`
``"psb-seg"``             meshes + Princeton benchmark ``.seg`` files (one 0-based segment id
                          per face; ``<id>_<k>.seg`` per human) — :mod:`.readers_psb`
``"maron"``               ``meshes/[train|test/]...`` + ``segs/`` or ``labels/`` per-face text
                          (Maron et al. 2017; 1-based) — :mod:`.readers_folder`
``"meshcnn"``             ``train/ test/ seg/*.eseg sseg/*.seseg`` (edge labels, MeshCNN's edge
                          order) — :mod:`.readers_meshcnn`
``"folder"``              meshes with ``<stem>.labels.txt`` / ``_labels.txt`` / ``.npy`` or a
                          ``label`` array inside PLY/VTK — :mod:`.readers_folder`
========================  ==================================================================

Every reader returns a :class:`~manifold_nets.data.MeshDataset` of
:class:`~manifold_nets.data.LabeledMesh` (meshes exactly as in the files, face labels 0-based,
``-1`` unlabelled).  A malformed label file is a :class:`~manifold_nets.errors.MeshError` naming
the file and line; with ``skip_bad=True`` it is recorded in the data set's ``skipped`` list of
``(path, message)`` and the other meshes are read (the list is always there, empty if nothing was
skipped).  ``path`` is the item's label file (``folder``: its mesh file; a mesh with no label file:
the mesh), ``message`` the error's one line, which names the file at fault.  Nothing is silently mislabelled: counts are checked against the mesh.

Label files are UTF-8 text: another byte, or a control character (NUL, ...; tabs and line ends
are fine), is an error naming the file and line.  A label index may address at most
:data:`MAX_PARTS` (1000) parts: a larger one is an error naming the file and line, not that many
part names.  Where the part names are made from the largest label (``part_0..``,
``segment_0..``), a :class:`~manifold_nets.errors.MeshWarning` names the file and label when
fewer than half of the indices up to it are used (a stray large label).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MeshError
from .dataset import LabeledMesh, MeshDataset
from .readers_common import (
    MAX_PARTS,
    check_label_base,
    check_label_cap,
    check_label_range,
    check_part_names,
    default_names,
    file_stem,
    read_mesh_arrays,
    read_part_names,
)
from .readers_folder import load_folder, load_maron, read_folder_item, read_maron_item
from .readers_meshcnn import load_meshcnn, read_meshcnn_item
from .readers_psb import (
    load_labeled_psb,
    load_psb_seg,
    map_psb_names,
    parse_psb_labels,
    psb_categories,
    read_psb_segmentations,
    read_seg,
)

__all__ = ["FORMATS", "MAX_PARTS", "load_dataset", "read_labeled_mesh", "read_psb_segmentations",
           "psb_categories", "read_part_names"]

#: Format name -> reader ``(root, *, category, skip_bad, labels, transform, pre_transform,
#: cache_dir, **options) -> MeshDataset``.
FORMATS = {
    "labeled-psb": load_labeled_psb,
    "psb-seg": load_psb_seg,
    "maron": load_maron,
    "meshcnn": load_meshcnn,
    "folder": load_folder,
}

#: Reader-specific options :func:`load_dataset` passes on.
OPTIONS = {
    "labeled-psb": (),
    "psb-seg": ("segmentation", "seg_dir"),
    "maron": ("split", "label_base", "names_file"),
    "meshcnn": ("split", "soft", "label_base"),
    "folder": ("labels_on", "recursive"),
}


def load_dataset(root, format: str, *, category=None, skip_bad: bool = False, labels=None,
                 transform=None, pre_transform=None, cache_dir=None, **options) -> MeshDataset:
    """Read a labelled data set in one of :data:`FORMATS`.

    Parameters
    ----------
    root : path
        The data set's folder (layout per format, see the module docstring).
    format : str
        A key of :data:`FORMATS`.
    category : str, optional
        ``labeled-psb``: the category folder (required when ``root`` holds several: a data set
        spans one category; the error lists them; matched case-insensitively).  Other formats: a
        sub-folder of ``root`` to read.
    skip_bad : bool
        Record malformed items in ``dataset.skipped`` (``[(path, message)]``) instead of raising.
    labels : sequence of str, optional
        Part names to use (e.g. a trained model's): ``labeled-psb`` maps its names into them (an
        unknown name is an error naming file and line); index formats name their labels with
        them (a label beyond the list is an error).  An empty list, an empty or blank name and a
        name given twice are errors naming ``labels`` (and the entry).
    transform, pre_transform, cache_dir
        Passed to :class:`~manifold_nets.data.MeshDataset`.
    **options
        Per format (:data:`OPTIONS`): ``psb-seg``: ``segmentation`` (which ``<id>_<k>.seg``,
        default 0), ``seg_dir``; ``maron``: ``split``, ``label_base`` (1), ``names_file``;
        ``meshcnn``: ``split``, ``soft`` (read ``.seseg``), ``label_base`` (1); ``folder``:
        ``labels_on`` (``"auto"|"faces"|"vertices"``), ``recursive``.  An option given as
        ``None`` is ignored (a command can pass all its flags); any other unknown option is an
        error.

    Returns
    -------
    MeshDataset
        With a ``skipped`` attribute.
    """
    if format not in FORMATS:
        raise MeshError(f"format: expected one of {', '.join(FORMATS)} (got {format!r})")
    options = {k: v for k, v in options.items() if v is not None}  # a command may pass every flag
    unknown = sorted(set(options) - set(OPTIONS[format]))
    if unknown:
        allowed = ", ".join(OPTIONS[format]) or "none"
        raise MeshError(f"format {format!r}: expected options among {allowed} (got {', '.join(unknown)})")
    if labels is not None:
        labels = _names(labels)
    return FORMATS[format](Path(root), category=category, skip_bad=skip_bad, labels=labels,
                           transform=transform, pre_transform=pre_transform, cache_dir=cache_dir,
                           **options)


def _names(labels, what: str = "labels") -> tuple:
    """At least one part name, none empty or blank, no two alike (:func:`check_part_names`)."""
    return check_part_names(labels, what)


def _guess_format(label_path) -> str:
    if label_path is None:
        return "folder"
    name = Path(label_path).name.lower()
    if name.endswith("_labels.txt") and not name.endswith(".labels.txt"):
        return "labeled-psb"
    if name.endswith(".seg"):
        return "psb-seg"
    if name.endswith((".eseg", ".seseg")):
        return "meshcnn"
    return "folder"


def read_labeled_mesh(mesh_path, label_path=None, *, format: str = "auto", part_names=None,
                      **options) -> LabeledMesh:
    """One labelled mesh.

    ``format="auto"`` guesses from ``label_path``: ``*_labels.txt`` -> ``labeled-psb``, ``.seg``
    -> ``psb-seg``, ``.eseg``/``.seseg`` -> ``meshcnn``, anything else or none -> ``folder``
    (sidecar files or labels inside the mesh file).  ``maron`` must be asked for (its labels are
    1-based).  ``part_names``: the names the labels index (``labeled-psb``: the list to map into;
    an unknown name is an error naming the line); default: the file's names (sorted) or
    generated ones (``segment_<i>``, ``part_<i>`` from ``label_base``).  ``options``:
    ``label_base`` (``maron``, ``meshcnn``), ``labels_on`` (``folder``).
    """
    fmt = _guess_format(label_path) if format == "auto" else format
    if fmt not in FORMATS:
        raise MeshError(f"format: expected 'auto' or one of {', '.join(FORMATS)} (got {format!r})")
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - {"label_base", "labels_on"})
    if unknown:
        raise MeshError(f"read_labeled_mesh: expected options among label_base, labels_on (got {', '.join(unknown)})")
    mp = Path(mesh_path)
    if fmt != "folder" and label_path is None:
        raise MeshError(f"{mp}: expected a label file for format {fmt!r} (got none)")
    names = None if part_names is None else _names(part_names, "part_names")
    base = check_label_base(options.get("label_base", 1))
    if fmt == "labeled-psb":
        V, F, _, _ = read_mesh_arrays(mp)
        found, lines, face_part = parse_psb_labels(label_path, len(F))
        names = tuple(sorted(found)) if names is None else names
        lab = map_psb_names(label_path, found, lines, face_part, names)
        meta = {"format": fmt, "label_path": str(label_path), "id": file_stem(mp)}
    elif fmt == "psb-seg":
        V, F, _, _ = read_mesh_arrays(mp)
        lab = read_seg(label_path, len(F))
        check_label_cap(lab, label_path)
        meta = {"format": fmt, "label_path": str(label_path), "id": file_stem(mp)}
        names = names or default_names(int(lab.max()) + 1 if len(lab) else 0, "segment_")
    elif fmt == "maron":
        V, F, lab, meta = read_maron_item(mp, label_path, label_base=base)
        names = names or default_names(max(8, int(lab.max()) + 1 if len(lab) else 0), "part_", base)
    elif fmt == "meshcnn":
        V, F, lab, meta = read_meshcnn_item(mp, label_path, label_base=base)
        K = meta["edge_scores"].shape[1] if "edge_scores" in meta else int(meta["edge_labels"].max()) + 1
        names = names or default_names(K, "part_", base)
    else:
        V, F, lab, meta = read_folder_item(mp, label_path, labels_on=options.get("labels_on", "auto"),
                                           part_names=names)
        if names is None:
            K = int(meta.get("vertex_labels", lab).max()) + 1
            names = meta.get("part_names") or default_names(K, "part_")
        return LabeledMesh(V, F, lab, names, name=file_stem(mp), path=mp, meta=meta)
    _check_names(lab, meta, names, fmt, base)
    return LabeledMesh(V, F, lab, names, name=file_stem(mp), path=mp, meta=meta)


def _check_names(lab, meta, names, fmt, base):
    where = meta.get("label_path", "")
    if fmt == "meshcnn" and "edge_labels" in meta:
        check_label_range(meta["edge_labels"], len(names), where, base=base, names_from="part_names")
    elif fmt in ("maron", "psb-seg"):
        check_label_range(lab, len(names), where, base=base if fmt == "maron" else 0, names_from="part_names")
    elif fmt == "meshcnn" and meta["edge_scores"].shape[1] > len(names):
        raise MeshError(f"{where}: expected at most {len(names)} columns, one per part name "
                        f"(got {meta['edge_scores'].shape[1]})")
