"""Models with an interchangeable convolution family, heads and input features.

``family`` selects the backbone block:

=============  =====================================================================
``diffusion``  :class:`~manifold_nets.nn.DiffusionNetBlock` (spectral or implicit diffusion)
``spectral``   :class:`~manifold_nets.nn.SpectralConv`
``cheb``       :class:`~manifold_nets.nn.ChebConv`
``gcnn``       :class:`~manifold_nets.nn.GCNNConv`
``acnn``       :class:`~manifold_nets.nn.ACNNConv`
``monet``      :class:`~manifold_nets.nn.MoNetConv`
``gem``        :class:`~manifold_nets.nn.GEMConv` on ``Irreps.regular(width, max_order)`` features
=============  =====================================================================

Every model and block has ``get_config()`` / ``from_config()`` (plain JSON of its constructor
arguments) and ``save(path, ...)`` / ``load(path, map_location=...)``; see
:mod:`manifold_nets.nn.serialization`.  The input features live in :mod:`manifold_nets.nn.features`
(re-exported here).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import MeshShapeError, MeshTypeError
from ._checks import check_model_args
from ._config import configurable
from .batch import MeshBatch
from .diffusion import DiffusionNetBlock
from .features import heat_kernel_signature, input_features, wave_kernel_signature  # noqa: F401 (re-exported)
from .gauge import (
    GEMConv,
    InvariantReadout,
    Irreps,
    IrrepsDropout,
    NormNonlinearity,
    RegularNonlinearity,
    TransportSmoothing,
)
from .patch import ACNNConv, GCNNConv, MoNetConv
from .pooling import MeshPool, MeshUnpool
from .serialization import Serializable
from .spectral import ChebConv, SpectralConv

__all__ = ["FAMILIES", "ResidualConvBlock", "GEMBlock", "MeshBackbone", "SegmentationNet", "FeatureNet",
           "input_features", "heat_kernel_signature", "wave_kernel_signature"]

FAMILIES = ("diffusion", "spectral", "cheb", "gcnn", "acnn", "monet", "gem")
#: Chebyshev order of ``family="cheb"`` in the U-Net (``MeshBackbone(levels > 0)``), chosen on a
#: validation mesh (train on one bumpy elongated sphere, validate on another, tests/nn/test_multiscale.py:
#: K = 3 / 6 / 8 gave 0.87 / 0.85 / 0.92; K = 10 0.96 and 0.93 with another seed, K = 16 0.95 and 0.94
#: at 1.7 times the cost).
UNET_CHEB_K = 10
#: Normalisation of ``family="cheb"`` in the U-Net (see :class:`~manifold_nets.nn.ChebConv`), chosen on
#: the same validation meshes and on fits of single meshes (teddy, a bumpy sphere): the mass-normalised
#: operator's spectrum spans thousands of times its low part on real meshes, the degree-normalised one's
#: is bounded by 2.  Checkpoints written before this default record no normalisation and load as "mass".
UNET_CHEB_NORMALIZATION = "degree"
_CONVS = {"spectral": SpectralConv, "cheb": ChebConv, "gcnn": GCNNConv, "acnn": ACNNConv, "monet": MoNetConv}


def check_input(model: nn.Module, batch, x) -> None:
    """Check ``x`` against the batch and the model at the API boundary (one-line typed errors).

    ``x`` must be a ``(batch.num_vertices, model.in_channels)`` tensor of the model's dtype on the
    batch's device.
    """
    if not isinstance(batch, MeshBatch):
        raise MeshTypeError(f"batch: expected a MeshBatch (got {type(batch).__name__}); build one with "
                        f"MeshBatch.from_meshes")
    if not isinstance(x, torch.Tensor):
        raise MeshTypeError(f"x: expected a torch.Tensor (got {type(x).__name__})")
    if x.dim() != 2 or x.shape[0] != batch.num_vertices or x.shape[1] != model.in_channels:
        raise MeshShapeError(f"x: expected shape ({batch.num_vertices}, {model.in_channels}) "
                             f"(one row per vertex of the batch, in_channels={model.in_channels}) "
                             f"(got {tuple(x.shape)})")
    p = next(model.parameters(), None)
    if p is not None and x.dtype != p.dtype:
        raise MeshTypeError(f"x: expected the model's dtype {p.dtype} (got {x.dtype}); convert one of them, "
                        f"e.g. model.to({x.dtype}) or x.to({p.dtype})")
    if p is not None and x.device != p.device:
        raise MeshTypeError(f"x: expected the model's device {p.device} (got {x.device}); move the model "
                        f"and the batch together, e.g. model.to(device), batch.to(device)")
    if x.device != batch.device:
        raise MeshTypeError(f"x: expected the batch's device {batch.device} (got {x.device})")


@configurable
class ResidualConvBlock(nn.Module, Serializable):
    r"""``y = x + Linear(dropout(act(conv(x))))`` for any scalar convolution ``conv(batch, x)``.

    Parameters
    ----------
    in_channels, out_channels : int
        Must be equal (residual).
    conv : str
        One of ``"spectral"``, ``"cheb"``, ``"gcnn"``, ``"acnn"``, ``"monet"``.
    dropout : float
    **conv_kwargs
        Passed to the convolution.

    Shapes
    ------
    x ``(N, C)`` -> ``(N, C)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, conv: str = "spectral", dropout: float = 0.0,
                 **conv_kwargs):
        super().__init__()
        if in_channels != out_channels:
            raise MeshShapeError(f"out_channels: expected {in_channels} for a residual block (got {out_channels})")
        if conv not in _CONVS:
            raise MeshShapeError(f"conv: expected one of {tuple(_CONVS)} (got {conv!r})")
        check_model_args(in_channels=in_channels, dropout=dropout)
        self.in_channels = self.out_channels = in_channels
        self.conv = _CONVS[conv](in_channels, in_channels, **conv_kwargs)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_channels, in_channels)

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        self.linear.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear(self.dropout(torch.relu(self.conv(batch, x))))


@configurable
class GEMBlock(nn.Module, Serializable):
    r"""``y = x + GEMConv(dropout(σ(x)))`` on a fixed irreps type, ``σ`` the norm or regular nonlinearity.

    Parameters
    ----------
    in_channels, out_channels : Irreps
        The same type.
    nonlinearity : {"norm", "regular"}
    n_samples : int
        Samples of the regular nonlinearity.
    transport_pooling : bool
        Follow the convolution by :class:`TransportSmoothing` (transported neighbour mean).
    n_radial : int
    dropout : float
        :class:`~manifold_nets.nn.gauge.IrrepsDropout` (whole fields, gauge equivariant) before the
        convolution; ``0`` (default) is none.

    Shapes
    ------
    x ``(N, irreps.dim)`` -> same.
    """

    def __init__(self, in_channels, out_channels=None, *, nonlinearity: str = "norm", n_samples: int = 16,
                 transport_pooling: bool = False, n_radial: int = 2, dropout: float = 0.0):
        super().__init__()
        irreps = Irreps(in_channels)
        self.in_channels = self.out_channels = irreps
        if nonlinearity == "norm":
            self.nonlin = NormNonlinearity(irreps)
        elif nonlinearity == "regular":
            self.nonlin = RegularNonlinearity(irreps, n_samples=n_samples)
        else:
            raise MeshShapeError(f"nonlinearity: expected 'norm' or 'regular' (got {nonlinearity!r})")
        self.dropout = IrrepsDropout(irreps, dropout)
        self.conv = GEMConv(irreps, irreps, n_radial=n_radial)
        self.pool = TransportSmoothing(irreps) if transport_pooling else None

    def reset_parameters(self) -> None:
        self.nonlin.reset_parameters()
        self.conv.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.in_channels!r}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(batch, self.dropout(self.nonlin(x)))
        if self.pool is not None:
            h = self.pool(batch, h)
        return x + h


@configurable
class MeshBackbone(nn.Module, Serializable):
    r"""Lift ``in_channels -> width``, ``n_blocks`` blocks of one family, per-vertex features out.

    For ``family="gem"`` the lift is a linear map to scalars followed by a GEM convolution to
    ``Irreps.regular(width, max_order)``, and the output is the invariant read-out.

    Parameters
    ----------
    in_channels : int
    out_channels : int
        Width of the output features (default ``width``).
    family : str
        One of :data:`FAMILIES`.
    width, n_blocks : int
    dropout : float
        Dropout in every block (for ``gem`` whole irreps fields,
        :class:`~manifold_nets.nn.gauge.IrrepsDropout`, so gauge equivariance is kept).
    max_order, nonlinearity, n_samples, transport_pooling :
        ``gem`` options.
    levels : int
        U-Net option: ``0`` (default) is the single-level network above.  With ``levels = L > 0``
        the ``n_blocks`` blocks on the input mesh are followed by an encoder — at each coarse
        level ``l = 1 .. L`` of the batch's mesh hierarchy (``MeshBatch.from_meshes(...,
        levels=L)``) a :class:`~manifold_nets.nn.MeshPool` and ``level_blocks`` blocks — and a
        decoder — at each level ``l = L − 1 .. 0`` a :class:`~manifold_nets.nn.MeshUnpool`, the
        skip connection (the encoder's features at that level, added) and ``level_blocks``
        blocks — so the receptive field grows with the coarsening.  Blocks of every level are of
        the same family; for ``gem`` the pooling transports the irreps features between the
        levels' gauges (gauge equivariance is kept exactly).  For ``cheb`` the U-Net's defaults
        are the Chebyshev order :data:`UNET_CHEB_K` and the degree-normalised Laplacian
        (:data:`UNET_CHEB_NORMALIZATION`; ``K`` / ``normalization`` in ``conv_kwargs`` override
        them): the largest eigenvalue of the mass-normalised Laplacian is about 100 times the low
        spectrum's on a regular 2562-vertex mesh (6.4e4 vs 7.6e2 for the 64th) and thousands of
        times on real meshes, so a low-degree polynomial of it barely moves smooth signals and
        the U-Net underfits a wide-view labelling.
    level_blocks : int
        Blocks per level in the encoder and the decoder (``levels > 0``).
    **conv_kwargs
        Options of the family's convolution / block.

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, family: str = "diffusion",
                 width: int = 64, n_blocks: int = 4, dropout: float = 0.0, max_order: int = 2,
                 nonlinearity: str = "norm", n_samples: int = 16, transport_pooling: bool = False,
                 levels: int = 0, level_blocks: int = 1, **conv_kwargs):
        super().__init__()
        if family not in FAMILIES:
            raise MeshShapeError(f"family: expected one of {FAMILIES} (got {family!r})")
        check_model_args(in_channels=in_channels, out_channels=out_channels, width=width, n_blocks=n_blocks,
                          dropout=dropout, max_order=max_order, levels=levels, level_blocks=level_blocks)
        out_channels = width if out_channels is None else out_channels
        self.in_channels, self.out_channels, self.family = in_channels, out_channels, family
        self.width, self.n_blocks = width, n_blocks
        self.levels, self.level_blocks = levels, level_blocks
        if family == "cheb" and levels:
            conv_kwargs.setdefault("K", UNET_CHEB_K)
            conv_kwargs.setdefault("normalization", UNET_CHEB_NORMALIZATION)
        if family == "gem":
            m = max(1, width // (max_order + 1))  # m (L + 1) invariants, about `width`
            self.irreps = Irreps.regular(m, max_order)
            self.lift = nn.Linear(in_channels, m)
            self.lift_conv = GEMConv(Irreps.scalar(m), self.irreps, n_radial=conv_kwargs.get("n_radial", 2))

            def make():
                return GEMBlock(self.irreps, nonlinearity=nonlinearity, n_samples=n_samples,
                                transport_pooling=transport_pooling, dropout=dropout, **conv_kwargs)
            self.blocks = nn.ModuleList([make() for _ in range(n_blocks)])
            self.readout = InvariantReadout(self.irreps, out_channels)
            feature_type = self.irreps
        else:
            self.lift = nn.Linear(in_channels, width)
            if family == "diffusion":
                def make():
                    return DiffusionNetBlock(width, width, dropout=dropout, **conv_kwargs)
            else:
                def make():
                    return ResidualConvBlock(width, width, conv=family, dropout=dropout, **conv_kwargs)
            self.blocks = nn.ModuleList([make() for _ in range(n_blocks)])
            self.out = nn.Identity() if out_channels == width else nn.Linear(width, out_channels)
            feature_type = width
        if levels:
            self.pool = MeshPool(feature_type)
            self.unpool = MeshUnpool(feature_type)
            self.down = nn.ModuleList([nn.ModuleList([make() for _ in range(level_blocks)]) for _ in range(levels)])
            self.up = nn.ModuleList([nn.ModuleList([make() for _ in range(level_blocks)]) for _ in range(levels)])

    def reset_parameters(self) -> None:
        for m in self.children():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        for b in self.blocks:
            b.reset_parameters()
        if self.levels:
            for stage in list(self.down) + list(self.up):
                for b in stage:
                    b.reset_parameters()

    def extra_repr(self) -> str:
        lv = f", levels={self.levels}" if self.levels else ""
        return (f"{self.in_channels}, {self.out_channels}, family={self.family!r}, width={self.width}, "
                f"n_blocks={self.n_blocks}{lv}")

    def _multiscale(self, batch: MeshBatch, h: torch.Tensor) -> torch.Tensor:
        if batch.num_levels < self.levels:
            raise MeshShapeError(f"batch: expected a MeshBatch with at least {self.levels} coarse levels for "
                                 f"MeshBackbone(levels={self.levels}) (got {batch.num_levels}); build it with "
                                 f"MeshBatch.from_meshes(..., levels={self.levels})")
        skips = [h]
        for lev in range(1, self.levels + 1):
            h = self.pool(batch, h, lev - 1)
            sub = batch.level(lev)
            for b in self.down[lev - 1]:
                h = b(sub, h)
            skips.append(h)
        for lev in range(self.levels - 1, -1, -1):
            h = self.unpool(batch, h, lev + 1) + skips[lev]
            sub = batch.level(lev)
            for b in self.up[lev]:
                h = b(sub, h)
        return h

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        check_input(self, batch, x)
        h = self.lift(x)
        if self.family == "gem":
            h = self.lift_conv(batch, h)
        for b in self.blocks:
            h = b(batch, h)
        if self.levels:
            h = self._multiscale(batch, h)
        return self.readout(h) if self.family == "gem" else self.out(h)


@configurable
class SegmentationNet(nn.Module, Serializable):
    r"""Per-vertex, per-face or per-mesh prediction with any convolution family.

    Parameters
    ----------
    in_channels, out_channels : int
    family : str
        One of :data:`FAMILIES`.
    outputs : {"vertices", "faces", "global"}
        ``"faces"`` averages the three corner features before the head; ``"global"`` takes the
        mass-weighted mean per mesh.
    width, n_blocks : int
    dropout : float
    input_norm : bool
        Standardise every input channel, ``(x - input_mean) / input_std``, with statistics held in
        buffers (saved with the model) and set from training data by :meth:`fit_input_norm`; until
        then the identity.  Use it for inputs whose channels live on very different scales (the
        long-time channels of mean-normalised HKS vary by 1e-4..5e-3 around 1).
    **kwargs
        Passed to :class:`MeshBackbone` (family options).

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out)`` / ``(F_total, out)`` / ``(B, out)``.

    Examples
    --------
    >>> net = SegmentationNet(16, 4, family="gem", width=8, n_blocks=1)
    >>> net.family
    'gem'
    """

    def __init__(self, in_channels: int, out_channels: int, *, family: str = "diffusion",
                 outputs: str = "vertices", width: int = 64, n_blocks: int = 4, dropout: float = 0.0,
                 input_norm: bool = False, **kwargs):
        super().__init__()
        if family not in FAMILIES:
            raise MeshShapeError(f"family: expected one of {FAMILIES} (got {family!r})")
        if outputs not in ("vertices", "faces", "global"):
            raise MeshShapeError(f"outputs: expected 'vertices', 'faces' or 'global' (got {outputs!r})")
        check_model_args(in_channels=in_channels, out_channels=out_channels, width=width, n_blocks=n_blocks,
                          dropout=dropout)
        self.in_channels, self.out_channels, self.family, self.outputs = in_channels, out_channels, family, outputs
        self.input_norm = bool(input_norm)
        if self.input_norm:
            self.register_buffer("input_mean", torch.zeros(in_channels))
            self.register_buffer("input_std", torch.ones(in_channels))
        self.backbone = MeshBackbone(in_channels, width, family=family, width=width, n_blocks=n_blocks,
                                     dropout=dropout, **kwargs)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, out_channels))

    def reset_parameters(self) -> None:
        self.backbone.reset_parameters()
        for m in self.head:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, family={self.family!r}, outputs={self.outputs!r}"

    @torch.no_grad()
    def fit_input_norm(self, xs, weights=None) -> None:
        """Set the input standardisation from training inputs (``input_norm=True`` only).

        Parameters
        ----------
        xs : list of Tensor ``(N_i, in_channels)``
            Inputs of the training meshes.
        weights : list of Tensor ``(N_i,)``, optional
            Non-negative weights per row (e.g. vertex areas); every mesh's weights are rescaled
            to sum to one, so each mesh counts once whatever its resolution.  Default: uniform.

        Channels that do not vary get ``input_std`` 1 (they are only shifted).
        """
        if not self.input_norm:
            raise MeshShapeError("fit_input_norm: expected a model built with input_norm=True (got input_norm=False)")
        if len(xs) == 0:
            raise MeshShapeError("fit_input_norm: expected inputs of at least one mesh (got none)")
        X = torch.cat([x.to(torch.float64) for x in xs])
        if X.ndim != 2 or X.shape[1] != self.in_channels:
            raise MeshShapeError(f"fit_input_norm: expected inputs of shape (N, {self.in_channels}) (got {tuple(X.shape)})")
        ws = [torch.ones(len(x), dtype=torch.float64, device=X.device) if weights is None
              else weights[i].to(dtype=torch.float64, device=X.device) for i, x in enumerate(xs)]
        W = torch.cat([w / w.sum() for w in ws]) / len(xs)
        mean = (W[:, None] * X).sum(0)
        std = ((W[:, None] * (X - mean) ** 2).sum(0)).sqrt()
        tiny = std <= 1e-12 * mean.abs().clamp_min(1.0)
        std = torch.where(tiny, torch.ones_like(std), std)
        self.input_mean.copy_(mean.to(self.input_mean))
        self.input_std.copy_(std.to(self.input_std))

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm:
            x = (x - self.input_mean.to(x.dtype)) / self.input_std.to(x.dtype)
        h = self.backbone(batch, x)
        if self.outputs == "faces":
            h = batch.vertex_to_face(h)
        elif self.outputs == "global":
            h = batch.global_mean(h)
        return self.head(h)


@configurable
class FeatureNet(nn.Module, Serializable):
    r"""Per-vertex descriptors (for correspondence / matching) with any convolution family.

    Parameters
    ----------
    in_channels, out_channels : int
        ``out_channels`` is the descriptor dimension.
    family : str
    normalize : bool
        L2-normalise every descriptor.
    width, n_blocks : int
    **kwargs
        Passed to :class:`MeshBackbone`.

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, family: str = "diffusion", normalize: bool = True,
                 width: int = 64, n_blocks: int = 4, **kwargs):
        super().__init__()
        if family not in FAMILIES:
            raise MeshShapeError(f"family: expected one of {FAMILIES} (got {family!r})")
        check_model_args(in_channels=in_channels, out_channels=out_channels, width=width, n_blocks=n_blocks)
        self.in_channels, self.out_channels, self.family, self.normalize = in_channels, out_channels, family, normalize
        self.backbone = MeshBackbone(in_channels, out_channels, family=family, width=width, n_blocks=n_blocks,
                                     **kwargs)

    def reset_parameters(self) -> None:
        self.backbone.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, family={self.family!r}, normalize={self.normalize}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        y = self.backbone(batch, x)
        return torch.nn.functional.normalize(y, dim=-1) if self.normalize else y
