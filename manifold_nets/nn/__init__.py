"""Neural layer (PyTorch): spectral, geodesic-patch and gauge-equivariant mesh convolutions.

This is the only subpackage that imports torch.  Install it with ``pip install 'manifold-nets[nn]'``.

>>> from manifold_nets.nn import MeshBatch, SegmentationNet      # doctest: +SKIP
>>> batch = MeshBatch.from_meshes([(V1, F1), (V2, F2)], k=128)  # doctest: +SKIP
>>> net = SegmentationNet(in_channels=16, out_channels=4, family="gem")  # doctest: +SKIP
>>> y = net(batch, x)                                            # doctest: +SKIP
>>> net.save("seg.pt", features={"kind": "hks", "n": 16}, operators={"k": 128},
...          labels=["head", "body"])                            # doctest: +SKIP
>>> net = load("seg.pt", map_location="cpu")                     # doctest: +SKIP
>>> b = net.pipeline.batch(["new.obj"]); y = net(b, net.pipeline.features_of(b))  # doctest: +SKIP

Multiscale (U-Net) models: ``MeshBatch.from_meshes(meshes, levels=2)`` adds a mesh hierarchy
(quadric decimation, :func:`manifold_nets.geometry.mesh_hierarchy`; ``batch.level(l)``,
``batch.pool`` / ``batch.unpool``, :class:`MeshPool` / :class:`MeshUnpool`) and
``SegmentationNet(..., levels=2)`` pools down and unpools up with skip connections, for every
family (gauge features are transported between the levels' gauges).

Meshes are normalised for learning by default (centred, unit area; the factor is kept in
``batch.normalization`` / ``batch.scale``), so every tensor of a batch is scale-invariant.
"""

from __future__ import annotations

from ..errors import optional_import

optional_import("torch", purpose="manifold_nets.nn")

from ._sparse import SparseOperator  # noqa: E402
from .batch import MeshBatch, MeshData, collate, estimate_lambda_max  # noqa: E402
from .diffusion import (  # noqa: E402
    DiffusionNet,
    DiffusionNetBlock,
    LearnedDiffusion,
    SpatialGradientFeatures,
    cg_solve,
)
from .features import heat_kernel_signature, input_features, wave_kernel_signature  # noqa: E402
from .fmaps import fmap_loss, solve_fmap  # noqa: E402
from .gauge import (  # noqa: E402
    GEMConv,
    InvariantReadout,
    Irreps,
    NormNonlinearity,
    RegularNonlinearity,
    TransportSmoothing,
    rotate_irreps,
)
from .losses import accuracy, descriptor_loss, segmentation_loss  # noqa: E402
from .models import (  # noqa: E402
    FAMILIES,
    FeatureNet,
    GEMBlock,
    MeshBackbone,
    ResidualConvBlock,
    SegmentationNet,
)
from .patch import ACNNConv, GCNNConv, MoNetConv, patch_coordinates  # noqa: E402
from .pooling import MeshPool, MeshUnpool  # noqa: E402
from .serialization import (  # noqa: E402
    CheckpointError,
    Pipeline,
    from_config,
    get_config,
    load,
    save,
)
from .spectral import ChebConv, SpectralConv, from_spectral, to_spectral  # noqa: E402
from .symmetries import FAMILY_SYMMETRIES, symmetry_table  # noqa: E402

__all__ = [
    "MeshBatch", "MeshData", "collate", "estimate_lambda_max", "SparseOperator",
    "SpectralConv", "ChebConv", "to_spectral", "from_spectral",
    "LearnedDiffusion", "SpatialGradientFeatures", "DiffusionNetBlock", "DiffusionNet", "cg_solve",
    "GCNNConv", "ACNNConv", "MoNetConv", "patch_coordinates",
    "Irreps", "rotate_irreps", "GEMConv", "NormNonlinearity", "RegularNonlinearity", "InvariantReadout",
    "TransportSmoothing", "MeshPool", "MeshUnpool",
    "FAMILIES", "ResidualConvBlock", "GEMBlock", "MeshBackbone", "SegmentationNet", "FeatureNet",
    "input_features", "heat_kernel_signature", "wave_kernel_signature",
    "segmentation_loss", "accuracy", "descriptor_loss", "solve_fmap", "fmap_loss",
    "FAMILY_SYMMETRIES", "symmetry_table",
    "save", "load", "get_config", "from_config", "Pipeline", "CheckpointError",
]
