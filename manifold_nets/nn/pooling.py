r"""Pooling and unpooling between the levels of a mesh hierarchy (multiscale / U-Net models).

A batch built with ``MeshBatch.from_meshes(..., levels=L)`` carries ``L`` coarse levels
(:meth:`~manifold_nets.nn.MeshBatch.level`) made by quadric decimation of each normalised mesh
(:func:`manifold_nets.geometry.mesh_hierarchy`) and block-diagonal maps between consecutive
levels:

* :class:`MeshPool` (level ``l`` -> ``l + 1``): the mass-weighted mean of the fine vertices
  assigned to each coarse vertex (nearest coarse vertex; every coarse vertex also takes its
  nearest fine vertex);
* :class:`MeshUnpool` (level ``l`` -> ``l − 1``): inverse-distance interpolation from the three
  nearest coarse vertices.

For gauge (irreps) features every value is first carried to the target vertex's gauge: the
source tangent plane turned onto the target's by the smallest rotation between their normals
gives an angle ``α`` (:func:`~manifold_nets.geometry.level_transport`) and each
order-``n`` block is rotated by ``n α`` (:func:`~manifold_nets.nn.rotate_irreps`).  Under gauge
changes ``g`` (fine) and ``h`` (coarse), ``α ← α − g_target + h_source``, so pooling and
unpooling are exactly gauge-equivariant (to rounding), as the GEM convolutions are.  Scalar
channels (``in_channels`` an int) are pooled without rotation.

>>> from manifold_nets.nn import MeshBatch, MeshPool, MeshUnpool            # doctest: +SKIP
>>> batch = MeshBatch.from_meshes([(V, F)], levels=2)                     # doctest: +SKIP
>>> h1 = MeshPool(16)(batch, x, level=0)      # (N_0, 16) -> (N_1, 16)     # doctest: +SKIP
>>> x0 = MeshUnpool(16)(batch, h1, level=1)   # (N_1, 16) -> (N_0, 16)     # doctest: +SKIP
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import MeshShapeError
from ._config import configurable
from .batch import MeshBatch
from .gauge import Irreps

__all__ = ["MeshPool", "MeshUnpool"]


def _irreps_of(in_channels, out_channels, who: str) -> Irreps:
    irreps = Irreps(in_channels)
    if out_channels is not None and Irreps(out_channels) != irreps:
        raise MeshShapeError(f"{who}: expected out_channels equal to in_channels {irreps!r} (got {Irreps(out_channels)!r})")
    return irreps


class _LevelMap(nn.Module):
    """Shared anatomy of :class:`MeshPool` and :class:`MeshUnpool` (no parameters)."""

    def __init__(self, in_channels, out_channels=None):
        super().__init__()
        self.irreps = _irreps_of(in_channels, out_channels, type(self).__name__)
        self.in_channels = self.out_channels = self.irreps

    def reset_parameters(self) -> None:  # no parameters
        return None

    def extra_repr(self) -> str:
        return f"{self.irreps!r}"


@configurable
class MeshPool(_LevelMap):
    r"""Level ``l`` -> ``l + 1`` of a mesh hierarchy (mass-weighted mean, transported for irreps).

    Parameters
    ----------
    in_channels, out_channels : int or Irreps
        The same type; an int means that many scalar channels (no transport).

    Shapes
    ------
    x ``(N_l, C)`` -> ``(N_{l+1}, C)`` with ``N_l`` the vertices of ``batch.level(l)``.
    """

    def __init__(self, in_channels, out_channels=None):
        super().__init__(in_channels, out_channels)

    def forward(self, batch: MeshBatch, x: torch.Tensor, level: int = 0) -> torch.Tensor:
        return batch.pool(x, level, self.irreps)


@configurable
class MeshUnpool(_LevelMap):
    r"""Level ``l`` -> ``l − 1`` of a mesh hierarchy (interpolation, transported for irreps).

    Parameters
    ----------
    in_channels, out_channels : int or Irreps
        The same type; an int means that many scalar channels (no transport).

    Shapes
    ------
    x ``(N_l, C)`` -> ``(N_{l−1}, C)``.
    """

    def __init__(self, in_channels, out_channels=None):
        super().__init__(in_channels, out_channels)

    def forward(self, batch: MeshBatch, x: torch.Tensor, level: int = 1) -> torch.Tensor:
        return batch.unpool(x, level, self.irreps)
