"""One data-set interface for labelled meshes: :class:`LabeledMesh` and :class:`MeshDataset`.

A :class:`LabeledMesh` is plain data: the mesh exactly as read (vertices and faces in file order),
one ``int64`` label per face (``-1`` = unlabelled) and the part names the labels index.  Readers
of every format (:mod:`manifold_nets.data.readers`) and the synthetic generator
(:mod:`manifold_nets.data.synthetic`) return them; the tasks (:mod:`manifold_nets.tasks`) train on
them.

:class:`MeshDataset` follows PyG's ``Dataset``: ``pre_transform`` runs once per mesh (its result is
kept), ``transform`` runs on every access (augmentation).  Operators and features of a mesh are
computed once through the core cache (:meth:`MeshDataset.data`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import MeshError
from .labels import face_areas, face_to_vertex_labels

__all__ = ["LabeledMesh", "MeshDataset"]


@dataclass(frozen=True, eq=False)
class LabeledMesh:
    """A triangle mesh with one part label per face.

    Attributes
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    face_labels : (nF,) int64
        Index into ``part_names``; ``-1`` marks an unlabelled face.
    part_names : tuple of str
        Names of the label indices (the data set's, so a part absent from this mesh is listed).
    name : str
        A short identifier (``"Human/3"``), used in tables and output file names.
    path : Path or None
        The file the mesh was read from.
    meta : dict
        Anything else a reader or generator knows (pose parameters, scale, ...).
    """

    V: np.ndarray
    F: np.ndarray
    face_labels: np.ndarray
    part_names: tuple
    name: str = ""
    path: Path | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        V = np.asarray(self.V, dtype=np.float64)
        F = np.asarray(self.F, dtype=np.int64)
        lab = np.asarray(self.face_labels, dtype=np.int64)
        where = f"{self.name or 'mesh'}: "
        if V.ndim != 2 or V.shape[1] != 3:
            raise MeshError(f"{where}expected V of shape (nV, 3) (got {V.shape})")
        if F.ndim != 2 or F.shape[1] != 3:
            raise MeshError(f"{where}expected F of shape (nF, 3) (got {F.shape})")
        if lab.shape != (len(F),):
            raise MeshError(f"{where}expected one label per face, shape ({len(F)},) (got {lab.shape})")
        K = len(self.part_names)
        bad = np.flatnonzero((lab < -1) | (lab >= K))
        if len(bad):
            raise MeshError(f"{where}expected face labels in [-1, {K}) (got {lab[bad[0]]} on face {bad[0]})")
        for a in (V, F, lab):
            a.setflags(write=False)
        object.__setattr__(self, "V", V)
        object.__setattr__(self, "F", F)
        object.__setattr__(self, "face_labels", lab)
        object.__setattr__(self, "part_names", tuple(str(p) for p in self.part_names))

    @property
    def n_vertices(self) -> int:
        return len(self.V)

    @property
    def n_faces(self) -> int:
        return len(self.F)

    @property
    def face_areas(self) -> np.ndarray:
        """``(nF,)`` float64."""
        return face_areas(self.V, self.F)

    @property
    def vertex_labels(self) -> np.ndarray:
        """``(nV,)`` int64: the area-weighted face-to-vertex rule of :mod:`.labels`."""
        return face_to_vertex_labels(self.F, self.face_labels, len(self.V), areas=self.face_areas)

    def replace(self, **changes) -> LabeledMesh:
        """A copy with some fields changed (``V``, ``F``, ``face_labels``, ``meta``, ...)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        return (f"LabeledMesh({self.name!r}, nV={len(self.V)}, nF={len(self.F)}, "
                f"parts={len(self.part_names)})")


class MeshDataset(Sequence):
    """A list of :class:`LabeledMesh` sharing one list of part names.

    Parameters
    ----------
    meshes : sequence of LabeledMesh
        Every mesh must carry the same ``part_names`` as the data set (readers map them).
    part_names : sequence of str, optional
        Default: those of the first mesh.
    transform : callable, optional
        ``LabeledMesh -> LabeledMesh`` applied on every ``dataset[i]`` (augmentation).
    pre_transform : callable, optional
        ``LabeledMesh -> LabeledMesh`` applied once per mesh, on first access; the result is kept.
    cache_dir : path, optional
        Where :meth:`data` keeps operators and patches (the core learning cache).
    """

    def __init__(self, meshes: Sequence[LabeledMesh], part_names: Sequence[str] | None = None, *,
                 transform: Callable | None = None, pre_transform: Callable | None = None,
                 cache_dir=None, name: str = ""):
        meshes = list(meshes)
        if part_names is None:
            if not meshes:
                raise MeshError("MeshDataset: expected at least one mesh or part_names (got neither)")
            part_names = meshes[0].part_names
        self.part_names = tuple(str(p) for p in part_names)
        for m in meshes:
            if m.part_names != self.part_names:
                raise MeshError(f"{m.name}: expected the data set's part names {list(self.part_names)} "
                                f"(got {list(m.part_names)})")
        self._raw = meshes
        self._pre: list[LabeledMesh | None] = [None] * len(meshes)
        self.transform = transform
        self.pre_transform = pre_transform
        self.cache_dir = cache_dir
        self.name = name
        #: ``(path, message)`` of every item a reader skipped (``skip_bad=True``); empty otherwise.
        self.skipped: list[tuple[str, str]] = []

    def __len__(self) -> int:
        return len(self._raw)

    @property
    def num_classes(self) -> int:
        return len(self.part_names)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._raw]

    def raw(self, i: int) -> LabeledMesh:
        """Mesh ``i`` exactly as read (no transform)."""
        return self._raw[i]

    def processed(self, i: int) -> LabeledMesh:
        """Mesh ``i`` after ``pre_transform`` (computed once), before ``transform``."""
        if self._pre[i] is None:
            m = self._raw[i]
            self._pre[i] = self.pre_transform(m) if self.pre_transform is not None else m
        return self._pre[i]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.subset(range(len(self))[i])
        m = self.processed(int(i))
        return self.transform(m) if self.transform is not None else m

    def subset(self, indices) -> MeshDataset:
        """A data set of the meshes at ``indices`` (same part names, transforms and cache)."""
        idx = [int(i) for i in indices]
        out = MeshDataset([self._raw[i] for i in idx], self.part_names, transform=self.transform,
                          pre_transform=self.pre_transform, cache_dir=self.cache_dir, name=self.name)
        out._pre = [self._pre[i] for i in idx]
        out.skipped = list(self.skipped)
        return out

    def data(self, i: int, **params):
        """Learning data (operators, patches) of mesh ``i`` after ``pre_transform``, via the core cache.

        ``params`` go to :meth:`manifold_nets.nn.MeshData.from_mesh` (``k``, ``patches``, ...).
        Needs torch (``pip install 'manifold-nets[nn]'``).
        """
        from ..nn import MeshData

        m = self.processed(i)
        return MeshData.from_mesh(m.V, m.F, cache_dir=self.cache_dir, name=m.name, **params)

    def label_counts(self) -> np.ndarray:
        """``(num_classes,)`` int64: faces per part over the raw meshes."""
        out = np.zeros(self.num_classes, dtype=np.int64)
        for m in self._raw:
            lab = m.face_labels[m.face_labels >= 0]
            out += np.bincount(lab, minlength=self.num_classes)
        return out

    def __repr__(self) -> str:
        return f"MeshDataset({self.name!r}, {len(self)} meshes, parts={list(self.part_names)})"
