"""Save and load models: configuration, weights and the input pipeline, in one checkpoint file.

Configuration
-------------
Every module class of :mod:`manifold_nets.nn` is decorated with :func:`configurable`, which records
the arguments of its constructor when an instance is built (nothing else changes), so
:func:`get_config` can rebuild any of them — the models (``SegmentationNet``, ``FeatureNet``,
``MeshBackbone``), the blocks and every convolution layer — with :func:`from_config`.  A config
is plain JSON::

    {"class": "SegmentationNet", "kwargs": {"in_channels": 16, "out_channels": 8, "family": "gem", ...}}

(``Irreps`` are written as ``{"__irreps__": [[mult, order], ...]}``).  An argument that is not
plain data (a function, a tensor) cannot be saved and raises :class:`CheckpointError` naming it.

Checkpoints
-----------
:func:`save` writes, atomically, one ``torch.save`` file holding a dict::

    format            "manifold_nets.checkpoint"
    format_version    CHECKPOINT_VERSION (an integer; another value is refused)
    config_schema     CONFIG_SCHEMA: which defaults a config leaves implicit (older configs are
                      upgraded on load so that they rebuild the model that was saved)
    library_version   manifold_nets.__version__ of the writer
    model             JSON config
    state_dict        the weights (on the CPU)
    checksum          SHA-256 of the weights (corruption is detected, not silently loaded)
    pipeline          JSON :class:`Pipeline`: input features, operator parameters, label names

:func:`load` (``map_location`` as in :func:`torch.load`; only tensors and plain data are
unpickled, ``weights_only=True``) rebuilds the model, loads the weights and attaches the
:class:`Pipeline` as ``model.pipeline``, so prediction repeats the front half of training::

    net = load("seg.pt")
    batch = net.pipeline.batch(["new.obj"])          # same k, Laplacian, normalisation, patches
    logits = net(batch, net.pipeline.features_of(batch))
    names = [net.pipeline.labels[i] for i in logits.argmax(-1)]
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field

import torch

from ..errors import MeshFileError
from ._config import _INIT_ATTR, _REGISTRY, configurable

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CONFIG_SCHEMA", "CheckpointError", "Pipeline", "Serializable",
           "configurable", "get_config", "from_config", "upgrade_config", "save", "load"]

CHECKPOINT_FORMAT = "manifold_nets.checkpoint"
#: Bump (refusing older files) when the checkpoint layout changes incompatibly.
CHECKPOINT_VERSION = 1
#: Version of the implicit defaults of the model configs.  2: a ``cheb`` U-Net (``levels > 0``) without
#: an explicit ``normalization`` uses the degree-normalised Laplacian; checkpoints without the field
#: (schema 1) were written when it used the mass-normalised one, and load as such.
CONFIG_SCHEMA = 2
_BACKBONE_CLASSES = ("SegmentationNet", "FeatureNet", "MeshBackbone")


class CheckpointError(MeshFileError):
    """A checkpoint cannot be written or read (corrupt file, other format version, unknown class,
    weights that do not fit the configuration, a constructor argument that is not plain data)."""


# ----------------------------------------------------------------------------------- configs
def _encode(value, where: str):
    from .gauge import Irreps

    if isinstance(value, Irreps):
        return {"__irreps__": [[int(m), int(n)] for m, n in value]}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 and not isinstance(value, torch.Tensor):
        return value.item()  # numpy scalar
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _encode(v, f"{where}.{k}") for k, v in value.items()}
    raise CheckpointError(f"{where}: expected plain data (numbers, strings, lists, Irreps) to record the "
                          f"configuration (got {type(value).__name__})")


def _decode(value):
    from .gauge import Irreps

    if isinstance(value, dict):
        if set(value) == {"__irreps__"}:
            return Irreps([tuple(b) for b in value["__irreps__"]])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def get_config(module: torch.nn.Module) -> dict:
    """``{"class": name, "kwargs": {...}}``: the constructor arguments of a module (JSON-able).

    Raises
    ------
    CheckpointError
        The module's class is not a :mod:`manifold_nets.nn` module, or an argument is not plain data.
    """
    rec = getattr(module, _INIT_ATTR, None)
    if rec is None or rec[0] is not type(module):
        raise CheckpointError(f"module: expected a manifold_nets.nn module whose constructor arguments were "
                              f"recorded (got {type(module).__name__})")
    cls, kwargs = rec
    if any(k.startswith("*") for k in kwargs):
        raise CheckpointError(f"{cls.__name__}: expected keyword constructor arguments (got extra positional ones)")
    return {"class": cls.__name__, "kwargs": {k: _encode(v, f"{cls.__name__}.{k}") for k, v in kwargs.items()}}


def from_config(config: dict) -> torch.nn.Module:
    """Build a module from :func:`get_config`'s dict (fresh weights)."""
    if not isinstance(config, dict) or "class" not in config or not isinstance(config.get("kwargs", {}), dict):
        raise CheckpointError(f"config: expected a dict with 'class' and 'kwargs' (got {config!r:.80})")
    cls = _REGISTRY.get(config["class"])
    if cls is None:
        raise CheckpointError(f"config: expected one of the manifold_nets.nn classes {sorted(_REGISTRY)} "
                              f"(got {config['class']!r})")
    try:
        return cls(**_decode(config.get("kwargs", {})))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"config of {config['class']}: the constructor refused it ({exc})") from exc


def upgrade_config(config: dict, schema: int) -> dict:
    """A config written under ``schema`` (see :data:`CONFIG_SCHEMA`) with the defaults of that time
    made explicit, so that today's :func:`from_config` rebuilds the same model (a new dict)."""
    if not isinstance(config, dict) or schema >= CONFIG_SCHEMA:
        return config
    config = json.loads(json.dumps(config))
    kw = config.get("kwargs")
    if (schema < 2 and config.get("class") in _BACKBONE_CLASSES and isinstance(kw, dict)
            and kw.get("family") == "cheb" and kw.get("levels") and "normalization" not in kw):
        kw["normalization"] = "mass"
    return config


class Serializable:
    """Mixin of the models: ``get_config`` / ``from_config`` / ``save`` / ``load`` methods."""

    def get_config(self) -> dict:
        """``{"class": ..., "kwargs": ...}``: rebuild with :meth:`from_config`."""
        return get_config(self)

    @classmethod
    def from_config(cls, config: dict):
        """A new instance (fresh weights) from :meth:`get_config`'s dict."""
        if config.get("class") != cls.__name__:
            raise CheckpointError(f"config: expected a {cls.__name__} config (got {config.get('class')!r})")
        return from_config(config)

    def save(self, path, *, features=None, operators=None, labels=None):
        """Write a checkpoint (see :func:`save`)."""
        return save(self, path, features=features, operators=operators, labels=labels)

    @classmethod
    def load(cls, path, map_location=None):
        """Read a checkpoint of this class (see :func:`load`)."""
        model = load(path, map_location=map_location)
        if not isinstance(model, cls):
            raise CheckpointError(f"{path}: expected a {cls.__name__} checkpoint (got {type(model).__name__})")
        return model


# ----------------------------------------------------------------------------------- pipeline
#: The operator parameters recorded when ``save`` is not told otherwise (MeshBatch.from_meshes defaults).
DEFAULT_OPERATORS = {"k": 128, "patch_radius": None, "patches": True, "curvature": True, "normalize": True,
                     "laplacian": "auto"}


@dataclass(frozen=True)
class Pipeline:
    """What must be repeated on a new mesh before the model sees it.

    Attributes
    ----------
    features : dict or None
        ``{"kind": "hks" | "wks" | "xyz", "n": int, "normalize": bool}`` — arguments of
        :func:`manifold_nets.nn.input_features` (``None``: not recorded).
    operators : dict
        Keyword arguments of :meth:`MeshBatch.from_meshes` (``k``, ``patch_radius``, ``normalize``,
        ``laplacian``, ...) plus ``one_ring_radius_factor``, the one-ring patch rule.
    labels : tuple of str or None
        Class names, ``labels[i]`` for output ``i``.
    library_version : str
        ``manifold_nets.__version__`` of the writer.
    """

    features: dict | None = None
    operators: dict = field(default_factory=dict)
    labels: tuple | None = None
    library_version: str = ""

    @classmethod
    def make(cls, *, features=None, operators=None, labels=None) -> Pipeline:
        from .. import __version__
        from .batch import ONE_RING_RADIUS_FACTOR
        from .features import FEATURE_KINDS

        if features is not None:
            if isinstance(features, str):
                features = {"kind": features}
            if not isinstance(features, dict) or features.get("kind") not in FEATURE_KINDS:
                raise CheckpointError(f"features: expected {{'kind': one of {FEATURE_KINDS}, 'n': int}} "
                                      f"(got {features!r})")
            features = {"n": 16, "normalize": True, **features}
        ops = {**DEFAULT_OPERATORS, **(operators or {}), "one_ring_radius_factor": ONE_RING_RADIUS_FACTOR}
        if labels is not None:
            labels = tuple(str(x) for x in labels)
        _encode(ops, "operators")
        _encode(features, "features")
        return cls(features=features, operators=ops, labels=labels, library_version=__version__)

    def to_dict(self) -> dict:
        return {"features": self.features, "operators": self.operators,
                "labels": None if self.labels is None else list(self.labels), "library_version": self.library_version}

    @classmethod
    def from_dict(cls, d: dict) -> Pipeline:
        return cls(features=d.get("features"), operators=dict(d.get("operators") or {}),
                   labels=None if d.get("labels") is None else tuple(d["labels"]),
                   library_version=str(d.get("library_version", "")))

    def batch(self, meshes, **kwargs):
        """:meth:`MeshBatch.from_meshes` with the recorded operator parameters (``kwargs`` add
        ``dtype``, ``device``, ``cache_dir``)."""
        from .batch import ONE_RING_RADIUS_FACTOR, MeshBatch

        ops = dict(self.operators)
        rule = ops.pop("one_ring_radius_factor", ONE_RING_RADIUS_FACTOR)
        if ops.get("patch_radius") is None and ops.get("patches", True) and rule != ONE_RING_RADIUS_FACTOR:
            raise CheckpointError(f"operators: expected one-ring patches normalised by {ONE_RING_RADIUS_FACTOR} x the "
                                  f"mean edge length as this library computes them (got {rule} in the checkpoint)")
        return MeshBatch.from_meshes(meshes, **{**ops, **kwargs})

    def features_of(self, batch, values=None) -> torch.Tensor:
        """The recorded input features of ``batch`` (:func:`manifold_nets.nn.input_features`)."""
        from .features import input_features

        if self.features is None:
            raise CheckpointError("features: the checkpoint records no input-feature pipeline (got None)")
        f = self.features
        return input_features(batch, f["kind"], int(f.get("n", 16)), values=values,
                              normalize=bool(f.get("normalize", True)))


# ----------------------------------------------------------------------------------- files
def _checksum(state: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                 if t.numel() else b"")
    return h.hexdigest()


def save(model: torch.nn.Module, path, *, features=None, operators=None, labels=None):
    """Write ``model`` (config, weights) and its input pipeline to ``path``, atomically.

    Parameters
    ----------
    model : a manifold_nets.nn module
    path : path-like
    features : dict or str, optional
        ``{"kind": "hks", "n": 16}`` (or just ``"hks"``); default: ``model.pipeline``'s, if any.
    operators : dict, optional
        Operator parameters (keyword arguments of :meth:`MeshBatch.from_meshes`: ``k``,
        ``patch_radius``, ``normalize``, ``laplacian``, ...), over :data:`DEFAULT_OPERATORS`.
    labels : sequence of str, optional
        Class names.

    Returns
    -------
    Path
    """
    from ..files import atomic_write

    config = get_config(model)
    old = getattr(model, "pipeline", None)
    if isinstance(old, Pipeline):
        features = old.features if features is None else features
        labels = old.labels if labels is None else labels
        if operators is None:
            operators = {k: v for k, v in old.operators.items() if k != "one_ring_radius_factor"}
    pipe = Pipeline.make(features=features, operators=operators, labels=labels)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "config_schema": CONFIG_SCHEMA,
        "library_version": pipe.library_version,
        "torch_version": str(torch.__version__),
        "model": json.dumps(config, sort_keys=True),
        "state_dict": state,
        "checksum": _checksum(state),
        "pipeline": json.dumps(pipe.to_dict(), sort_keys=True),
    }
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return atomic_write(path, buf.getvalue())


def load(path, map_location=None) -> torch.nn.Module:
    """Read a checkpoint written by :func:`save`: the rebuilt model, weights loaded, in eval mode,
    with ``model.pipeline`` (:class:`Pipeline`).

    Parameters
    ----------
    path : path-like
    map_location : as in :func:`torch.load` (``"cpu"``, ``"cuda:0"``, a device, a dict or a function)

    Raises
    ------
    CheckpointError
        Unreadable or corrupt file, another format or format version, unknown class, weights
        that do not match the configuration.
    manifold_nets.errors.MeshFileNotFoundError
        No file at ``path``.
    """
    from pathlib import Path

    from ..errors import MeshFileNotFoundError

    p = Path(path)
    if not p.is_file():
        raise MeshFileNotFoundError(f"{p}: expected a checkpoint file (got no such file)")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (zip), EOFError, ...
        raise CheckpointError(f"{p}: expected a manifold_nets checkpoint (got an unreadable file: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p}: expected a manifold_nets checkpoint (got "
                              f"{ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__!r})")
    ver = ckpt.get("format_version")
    if ver != CHECKPOINT_VERSION:
        raise CheckpointError(f"{p}: expected checkpoint format version {CHECKPOINT_VERSION} (got {ver!r}, written "
                              f"by manifold_nets {ckpt.get('library_version', '?')}); re-save it with a "
                              f"compatible version")
    try:
        config = json.loads(ckpt["model"])
        pipe = Pipeline.from_dict(json.loads(ckpt["pipeline"]))
        state = ckpt["state_dict"]
        checksum = ckpt["checksum"]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{p}: expected a complete checkpoint (got {type(exc).__name__}: {exc})") from exc
    if _checksum(state) != checksum:
        raise CheckpointError(f"{p}: expected weights matching the stored checksum (got a mismatch: corrupt file)")
    model = from_config(upgrade_config(config, ckpt.get("config_schema", 1)))
    floats = [t.dtype for t in state.values() if t.is_floating_point()]
    if floats:
        model = model.to(dtype=floats[0])  # load_state_dict keeps the parameters' dtype: match the file's
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{p}: expected weights that fit the {config['class']} configuration "
                              f"(got {str(exc).splitlines()[0]})") from exc
    dev = next((t.device for t in state.values()), None)
    if dev is not None:
        model = model.to(dev)
    model.pipeline = pipe
    return model.eval()
