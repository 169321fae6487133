"""Learned correspondence descriptors: a :class:`~manifold_nets.nn.FeatureNet` trained with a
functional-map loss, on the shared training loop (:func:`manifold_nets.tasks.training.fit`).

One training item is an ordered pair of meshes ``(source, target)`` (a pairs folder of
:mod:`manifold_nets.data.remeshed_pairs`, or a list of its :class:`Pair` rows).  Per step::

    mesh ──MeshData.from_mesh (normalised, cached)──▶ input_features (wks / hks)
         ──FeatureNet──▶ descriptors (n, d) ──Φᵀ M·──▶ coefficients (k, d)
    (target, source coefficients) ──solve_fmap (differentiable)──▶ C (k, k), functions on the
    target -> functions on the source (the convention of :func:`~manifold_nets.tasks.correspondence.correspond`)

Loss, per pair:

* supervised: ``‖C − C_gt‖²`` with ``C_gt = Φ_sᵀ M_s Φ_t[gt]`` (the pull-back of the target basis
  through the ground-truth map ``gt (n_s,)``, computed by gathering rows: no ``n_s × n_t`` matrix);
* unsupervised: ``w_ortho ‖CᵀC − I‖² + w_bij ‖C_back C − I‖² + w_lap Σ mask ⊙ C²`` with the map
  the other way ``C_back`` solved from the same descriptors and ``mask`` the Laplacian
  commutativity weights (:func:`manifold_nets.nn.fmaps.laplacian_mask`).

Memory is ``O((n_s + n_t) (k + d))``: descriptors are only ever projected on the eigenbases.
The functional-map solve is run in float64 (small ``k × k`` systems).

Run folder (like segmentation's): ``model.pt`` (:func:`manifold_nets.nn.save` with the feature
and operator pipeline; the last epoch's model — there is no validation), ``checkpoint.pt``
(resumable), ``config.json`` (this configuration and the pairs), ``metrics.csv`` /
``metrics.json``.  :func:`learned_descriptors` applies a saved model to a new mesh; pass its
output to :func:`~manifold_nets.tasks.correspondence.correspond` as ``descriptors_src`` /
``descriptors_tgt``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import MeshError
from ..files import atomic_write
from . import distributed as D
from .training import (
    TrainConfig,
    TrainResult,
    claim_run_dir,
    config_from_dict,
    fit,
    read_run_config,
)

__all__ = ["CorrespondenceTrainConfig", "train_correspondence", "learned_descriptors", "CONFIG_NAME"]

CONFIG_NAME = "config.json"


@dataclass
class CorrespondenceTrainConfig:
    """Settings of :func:`train_correspondence`.

    Attributes
    ----------
    family : str
        Convolution family of the :class:`~manifold_nets.nn.FeatureNet`.
    features : {"wks", "hks"}
        Intrinsic input features; ``n_features`` of them.
    out_channels : int
        Descriptor dimension.
    width, n_blocks : int
    k : int
        Eigenpairs computed per mesh (operators of the network).
    k_fmap : int
        Basis size of the functional map in the loss (at most ``k``).
    w_ortho, w_bij, w_lap : float
        Weights of the unsupervised loss.
    fmap_lap : float
        Weight of the Laplacian commutativity term *inside* the functional-map solve (relative to
        descriptor preservation, descriptors scaled to unit size on the source); smaller than the
        axiomatic default so the learned descriptors, not the regulariser, determine the map.
    epochs, lr, weight_decay, batch_size, schedule, grad_clip, seed :
        As :class:`~manifold_nets.tasks.training.TrainConfig`.
    cache_dir : str or None
        Learning cache of the operators (``None``: the default of segmentation, ``""``: none).
    """

    family: str = "diffusion"
    features: str = "wks"
    n_features: int = 32
    out_channels: int = 32
    width: int = 64
    n_blocks: int = 4
    k: int = 64
    k_fmap: int = 30
    w_ortho: float = 1.0
    w_bij: float = 1.0
    w_lap: float = 1e-3
    fmap_lap: float = 1e-3
    epochs: int = 20
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1
    schedule: str = "cosine"
    grad_clip: float | None = None
    seed: int = 0
    cache_dir: str | None = None

    def check(self) -> None:
        """Raise :class:`MeshError` naming the first invalid field."""
        from ..nn import FAMILIES

        def bad(name, expected):
            raise MeshError(f"CorrespondenceTrainConfig.{name}: expected {expected} (got {getattr(self, name)!r})")

        if self.family not in FAMILIES:
            bad("family", f"one of {', '.join(FAMILIES)}")
        if self.features not in ("wks", "hks"):
            bad("features", "'wks' or 'hks'")
        for name in ("n_features", "out_channels", "width", "n_blocks", "k", "k_fmap"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "a positive integer")
        if self.k_fmap > self.k:
            bad("k_fmap", f"at most k = {self.k}")
        for name in ("w_ortho", "w_bij", "w_lap", "fmap_lap"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0):
                bad(name, "a non-negative number")
        self.train_config().check()

    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                           schedule=self.schedule, patience=None, monitor="loss", grad_clip=self.grad_clip,
                           seed=self.seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CorrespondenceTrainConfig:
        return config_from_dict(cls, dict(d))


def _operators(config: CorrespondenceTrainConfig) -> dict:
    patches = config.family in ("gcnn", "acnn", "monet", "gem")
    return {"k": int(config.k), "patches": bool(patches), "curvature": config.family == "acnn",
            "normalize": True, "laplacian": "auto"}


class _Shape:
    """One mesh ready for the model: MeshData, its batch, input features, basis (float64)."""

    def __init__(self, data, config: CorrespondenceTrainConfig, device):
        from ..nn import MeshBatch, input_features

        self.n = data.n_vertices
        self.batch = MeshBatch.from_data([data], dtype=torch.float32, device=device)
        self.x = input_features(self.batch, config.features, config.n_features).detach()
        k = min(int(config.k_fmap), data.evals.shape[0])
        self.evals = torch.as_tensor(data.evals[:k], dtype=torch.float64, device=device)
        self.evecs = torch.as_tensor(data.evecs[:, :k], dtype=torch.float64, device=device)
        self.mass = torch.as_tensor(data.mass, dtype=torch.float64, device=device)


def _as_pairs(pairs):
    from ..data.remeshed_pairs import read_pairs

    if isinstance(pairs, (str, Path)):
        pairs = read_pairs(pairs)
    pairs = list(pairs)
    if not pairs:
        raise MeshError("pairs: expected at least one training pair (got none)")
    return pairs


def _resolve_device(device) -> str:
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise MeshError(f"device: expected an available device (got {device!r}; torch.cuda.is_available() is False)")
    return device


def _coefficients(net, shape: _Shape) -> torch.Tensor:
    """``(k, d)`` float64: the network's descriptors projected on the shape's eigenbasis."""
    from ..nn.fmaps import project

    d = net(shape.batch, shape.x).to(torch.float64)
    return project(shape.evecs, shape.mass, d)


def train_correspondence(pairs, config: CorrespondenceTrainConfig | None, out_dir, *, supervised: bool = True,
                         resume: bool = False, overwrite: bool = False, progress=None, device="cpu",
                         dist_ctx: D.DistContext | None = None) -> TrainResult:
    """Train correspondence descriptors on pairs of meshes, write the run folder.

    Parameters
    ----------
    pairs : path or list of :class:`~manifold_nets.data.remeshed_pairs.Pair`
        A pairs folder (``pairs.tsv``) or its rows; the ground truth is read only when
        ``supervised``.
    config : CorrespondenceTrainConfig or None
        ``None`` with ``resume=True``: the run's own ``config.json``.
    out_dir : path
    supervised : bool
        Ground-truth functional maps (else orthogonality, bijectivity and commutativity).
    resume : bool
        Continue from ``out_dir/checkpoint.pt``.
    overwrite : bool
        Start over in a folder that holds an earlier run; without it (or ``resume``) such a
        folder, or one another process is training into, is a
        :class:`~manifold_nets.errors.RunFolderError`.
    progress : callable, optional
        Events of :func:`~manifold_nets.tasks.training.fit` plus ``{"kind": "prepare", "done", "total"}``.
    device : str
    dist_ctx : DistContext, optional
        Data-parallel training (pairs split over the processes); by default taken from a
        ``torchrun`` environment (:func:`manifold_nets.tasks.distributed.init_from_env`).

    Returns
    -------
    TrainResult
    """
    from .. import __version__
    from ..data.maps import read_map
    from ..io import read_triangles
    from ..nn import FeatureNet, MeshData, save
    from ..nn.fmaps import fmap_loss, laplacian_mask, solve_fmap
    from .segmentation import default_cache_dir

    out_dir = Path(out_dir)
    if config is None:
        if not resume:
            raise MeshError("config: expected a CorrespondenceTrainConfig (got None; None only with resume=True)")
        rec = read_run_config(out_dir, "correspondence", CONFIG_NAME)
        try:
            config = CorrespondenceTrainConfig.from_dict(rec["correspondence"])
            supervised = bool(rec["supervised"])
        except (ValueError, KeyError, TypeError) as exc:
            raise MeshError(f"{out_dir / CONFIG_NAME}: expected the configuration of the run to resume "
                            f"(got {exc})") from None
    config.check()
    device = _resolve_device(device)
    if dist_ctx is None:
        dist_ctx = D.init_from_env(device)
    if dist_ctx is not None:
        device = dist_ctx.device
    main = dist_ctx is None or dist_ctx.is_main
    pairs = _as_pairs(pairs)
    cache_dir = default_cache_dir() if config.cache_dir is None else (config.cache_dir or None)
    ops = _operators(config)
    run_config = {"correspondence": config.to_dict(), "supervised": bool(supervised),
                  "pairs": [[str(p.source), str(p.target)] for p in pairs]}
    record = {**run_config, "operators": ops, "features": {"kind": config.features, "n": config.n_features},
              "model": "model.pt", "library_version": __version__}
    with claim_run_dir(out_dir, resume=resume, overwrite=overwrite, main=main):
        if main and not resume:
            atomic_write(out_dir / CONFIG_NAME, (json.dumps(record, indent=1) + "\n").encode())

        shapes: dict[str, _Shape] = {}
        paths = list(dict.fromkeys(str(p) for pr in pairs for p in (pr.source, pr.target)))
        for i, path in enumerate(paths):
            m = read_triangles(path)
            try:
                data = MeshData.from_mesh(m.V, m.F, cache_dir=cache_dir, name=Path(path).name, **ops)
            except MeshError as exc:
                raise type(exc)(f"{path}: {exc}") from exc
            shapes[path] = _Shape(data, config, device)
            if progress is not None and main:
                progress({"kind": "prepare", "what": "train", "done": i + 1, "total": len(paths)})
        targets = []
        for pr in pairs:
            s, t = shapes[str(pr.source)], shapes[str(pr.target)]
            if not supervised:
                targets.append(None)
                continue
            gt = torch.as_tensor(read_map(pr.ground_truth, n_source=s.n, n_target=t.n), device=device)
            # C_gt = Φ_sᵀ M_s Φ_t[gt]: functions on the target pulled back to the source
            targets.append((s.evecs.T @ (s.mass.unsqueeze(-1) * t.evecs[gt])).detach())

        torch.manual_seed(config.seed)
        model = FeatureNet(config.n_features, config.out_channels, family=config.family, width=config.width,
                           n_blocks=config.n_blocks, normalize=False).to(device)

        def pair_loss(net, i: int):
            pr = pairs[i]
            s, t = shapes[str(pr.source)], shapes[str(pr.target)]
            A, B = _coefficients(net, t), _coefficients(net, s)
            scale = torch.linalg.norm(B).clamp_min(1e-12)
            A, B = A / scale, B / scale
            C = solve_fmap(A, B, t.evals, s.evals, w_lap=config.fmap_lap)  # (k_s, k_t)
            if supervised:
                return fmap_loss(C, targets[i])
            C_back = solve_fmap(B, A, s.evals, t.evals, w_lap=config.fmap_lap)
            lap = (laplacian_mask(t.evals, s.evals) * C ** 2).sum() + (laplacian_mask(s.evals, t.evals) * C_back ** 2).sum()
            return (fmap_loss(C, w_ortho=config.w_ortho, w_bij=config.w_bij, C_back=C_back)
                    + fmap_loss(C_back, w_ortho=config.w_ortho, w_bij=config.w_bij, C_back=C) + config.w_lap * lap)

        def step(net, items: list, epoch: int):
            losses = [pair_loss(net, int(i)) for i in items]
            return torch.stack(losses).mean().to(torch.float32), {}

        def save_best(net, path: Path):
            save(net, path, features={"kind": config.features, "n": config.n_features}, operators=ops)

        return fit(model, len(pairs), step, config=config.train_config(), out_dir=out_dir, save_best=save_best,
                   run_config=run_config, resume=resume, progress=progress if main else None, device=device,
                   dist_ctx=dist_ctx)


def learned_descriptors(model_or_run_dir, V, F, *, cache_dir=None) -> np.ndarray:
    """Per-vertex descriptors of a trained model on a mesh.

    Parameters
    ----------
    model_or_run_dir : torch.nn.Module (with a ``pipeline``, as :func:`manifold_nets.nn.load`
        returns), a run folder (holding ``model.pt``) or a ``model.pt`` path
    V, F : (nV, 3) float64, (nF, 3) int64

    Returns
    -------
    (nV, D) float64
        In the vertex order of ``V``.
    """
    from ..nn import load
    from ..nn.serialization import CheckpointError

    model = model_or_run_dir
    if not isinstance(model, torch.nn.Module):
        p = Path(model)
        model = load(p / "model.pt" if p.is_dir() else p, map_location="cpu")
    pipe = getattr(model, "pipeline", None)
    if pipe is None:
        raise CheckpointError("model: expected a model with its input pipeline (got none; load it with "
                              "manifold_nets.nn.load)")
    dev = next(model.parameters()).device
    batch = pipe.batch([(np.asarray(V, dtype=np.float64), np.asarray(F, dtype=np.int64))], dtype=torch.float32,
                       device=dev, cache_dir=cache_dir)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(batch, pipe.features_of(batch))
    finally:
        model.train(was)
    return out.detach().cpu().numpy().astype(np.float64)
