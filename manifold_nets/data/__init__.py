"""Labelled mesh data sets: the :class:`MeshDataset` interface, readers per format, synthetic shapes.

No torch at import time; :meth:`MeshDataset.data` imports :mod:`manifold_nets.nn` when called.
"""

from __future__ import annotations

from .dataset import LabeledMesh, MeshDataset
from .edges import edge_scores_to_face_labels, edge_to_face_labels, face_to_edge_labels, mesh_edges
from .labels import (
    face_areas,
    face_to_vertex_labels,
    remap_labels,
    vertex_scores_to_faces,
    vertex_to_face_labels,
)
from .readers import (
    FORMATS,
    load_dataset,
    psb_categories,
    read_labeled_mesh,
    read_psb_segmentations,
)
from .synthetic import KINDS, PART_NAMES, make_segmentation_set, synthetic_shape
from .transforms import (
    Compose,
    RandomRemesh,
    RandomRotation,
    RandomScale,
    closest_points,
    remesh,
    simplify,
    transfer_face_labels,
    transfer_vertex_values,
)

__all__ = [
    "LabeledMesh", "MeshDataset",
    "face_areas", "face_to_vertex_labels", "vertex_to_face_labels", "vertex_scores_to_faces", "remap_labels",
    "FORMATS", "load_dataset", "read_labeled_mesh", "read_psb_segmentations", "psb_categories",
    "mesh_edges", "edge_to_face_labels", "edge_scores_to_face_labels", "face_to_edge_labels",
    "KINDS", "PART_NAMES", "make_segmentation_set", "synthetic_shape",
    "Compose", "RandomRotation", "RandomScale", "RandomRemesh", "closest_points", "remesh", "simplify",
    "transfer_face_labels", "transfer_vertex_values",
]
