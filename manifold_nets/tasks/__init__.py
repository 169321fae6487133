"""Learning tasks on meshes: a generic training loop, segmentation and correspondence.

========================  ===============================================================
:mod:`.training`          :func:`fit` — epochs, validation, early stopping, atomic
                          checkpoints, exact resume, metrics CSV/JSON, seeds, DDP (generic)
:mod:`.distributed`       ``torchrun`` / DistributedDataParallel helpers (gloo / NCCL)
:mod:`.segmentation`      :class:`SegmentationConfig`, :func:`train_segmentation`
:mod:`.predict`           labels for any mesh from a run folder
:mod:`.metrics`           area-weighted accuracy, IoU, confusion, boundary metrics
:mod:`.evaluate`          per-mesh tables of a model on a data set
:mod:`.correspondence`    functional-map correspondence, geodesic error, mirror check
:mod:`.correspondence_train`  learned descriptors trained with a functional-map loss
========================  ===============================================================

Importing this package does not import torch; the names below are loaded on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "TrainConfig": "training", "TrainResult": "training", "fit": "training",
    "SegmentationConfig": "segmentation", "train_segmentation": "segmentation",
    "split_train_val": "segmentation",
    "DistContext": "distributed",
    "correspond": "correspondence", "geodesic_error": "correspondence",
    "CorrespondenceTrainConfig": "correspondence_train", "train_correspondence": "correspondence_train",
    "learned_descriptors": "correspondence_train",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'manifold_nets.tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
