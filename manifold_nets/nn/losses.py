"""Losses and metrics for mesh models (mass-weighted where the quantity is an integral)."""

from __future__ import annotations

import torch
import torch.nn.functional as Fn

from ..errors import MeshShapeError
from .batch import MeshBatch

__all__ = ["segmentation_loss", "accuracy", "descriptor_loss"]


def segmentation_loss(logits: torch.Tensor, labels: torch.Tensor, batch: MeshBatch | None = None, *,
                      mass_weighted: bool = False, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of per-vertex (or per-face / per-mesh) logits.

    With ``mass_weighted=True`` (per-vertex logits and a ``batch``) every vertex counts with its
    area share of its mesh and every mesh counts equally, so the loss does not depend on the
    resolution of the meshes.

    Shapes: logits ``(n, K)``, labels ``(n,)`` int64 -> scalar.
    """
    if not mass_weighted:
        return Fn.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    if batch is None:
        raise MeshShapeError("mass_weighted=True: expected the MeshBatch of the logits (got None)")
    ce = Fn.cross_entropy(logits, labels, reduction="none", label_smoothing=label_smoothing)
    w = batch.mass.to(ce.dtype)
    area = w.new_zeros(batch.num_meshes).index_add_(0, batch.batch, w)
    return (ce * w / area[batch.batch]).sum() / batch.num_meshes


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return float((logits.argmax(-1) == labels).to(torch.float64).mean())


def descriptor_loss(desc_a: torch.Tensor, desc_b: torch.Tensor, corr: torch.Tensor, *,
                    temperature: float = 0.07) -> torch.Tensor:
    """Soft-correspondence (InfoNCE) loss between the descriptors of two meshes.

    ``corr (n, 2)`` holds matching vertex pairs ``(a, b)``; for each pair the loss is the
    negative log-probability of ``b`` among all vertices of mesh B under
    ``softmax(<d_a, d_b> / temperature)``.

    Shapes: desc_a ``(nA, D)``, desc_b ``(nB, D)`` -> scalar.
    """
    logits = desc_a[corr[:, 0]] @ desc_b.T / temperature
    return Fn.cross_entropy(logits, corr[:, 1])
