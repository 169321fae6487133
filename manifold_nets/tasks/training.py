"""A generic training loop: epochs, validation, early stopping, checkpoints, resume, metrics files.

Nothing here knows about segmentation: :func:`fit` takes a model, the number of training items,
a *step* function (the loss of a list of items) and optionally an *evaluate* function (validation
metrics); the tasks (:mod:`manifold_nets.tasks.segmentation`, correspondence) supply those.

Files written into ``out_dir`` (rank 0 only, each atomically):

``checkpoint.pt``
    The resumable state after every epoch: model, optimizer, scheduler, epoch, best score and
    epoch, early-stopping counter, history, RNG states of python / numpy / torch, the run's
    configuration.  Read back with ``torch.load(weights_only=True)`` (plain data and tensors).
``metrics.csv`` / ``metrics.json``
    One row per epoch: ``epoch, train_loss, train_<stat>..., val_<metric>..., lr, seconds``.
``model.pt`` (through the ``save_best`` callback)
    The best model by the monitored validation metric (the last one without validation).

Determinism: every random choice of an epoch derives from ``(seed, epoch)`` — the item order
(:func:`epoch_order`), and the torch generator reseeded at the start of every epoch (dropout) —
so the same seed gives the same metrics on CPU (except the ``seconds`` column), and a run
resumed from the checkpoint of epoch ``e`` continues exactly as the uninterrupted run would.

Data parallel (:mod:`manifold_nets.tasks.distributed`): with a ``dist_ctx`` every global batch of
``batch_size`` items is split over the processes (``items[rank::world_size]``), each process's loss
is weighted by its share, and DistributedDataParallel averages the gradients, so the update
equals the single-process update on the same global batch.  ``batch_size`` must be at least the
number of processes; a last global batch with fewer items than processes is skipped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from ..errors import MeshError, RunFolderError
from ..files import atomic_write
from . import distributed as D

__all__ = ["TrainConfig", "TrainResult", "fit", "read_run_config", "epoch_order", "epoch_seed", "load_checkpoint", "config_from_dict",
           "CHECKPOINT_NAME", "METRICS_CSV", "METRICS_JSON", "claim_run_dir", "lock_holder", "earlier_run_files", "RUN_FILES", "LOCK_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
CHECKPOINT_FORMAT = "manifold_nets.training_state"
CHECKPOINT_VERSION = 1



#: The files of a run folder: a folder holding any of them holds an earlier run.
RUN_FILES = ("config.json", CHECKPOINT_NAME, METRICS_CSV, METRICS_JSON, "model.pt")
#: The lock file a training process holds in its run folder: ``"<pid> <host>"``.
LOCK_NAME = ".manifold_nets.lock"


@contextlib.contextmanager
def claim_run_dir(out_dir, *, resume: bool, overwrite: bool = False, main: bool = True):
    """Hold ``out_dir`` for one training run (a context manager; rank 0 only, ``main``).

    * The folder is created and locked: ``LOCK_NAME`` is created exclusively and names this
      process; another process's live lock is a :class:`RunFolderError` (one left by a process
      that is gone, on this host, is taken over), so two runs never write one folder.
    * Without ``resume``, a folder holding an earlier run (any of :data:`RUN_FILES`) is a
      :class:`RunFolderError` unless ``overwrite``, which deletes those files first, so that no
      file of the earlier run stays beside the new ones.
    * Temporary files of interrupted atomic writes (``.<name>.<random>.tmp``, left by a killed
      run) are removed: while the lock is held nothing else writes them.
    """
    if not main:
        yield
        return
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = out_dir / LOCK_NAME
    _take_lock(lock)
    try:
        if not resume:
            found = earlier_run_files(out_dir)
            if found and not overwrite:
                raise RunFolderError(
                    f"{out_dir}: expected a folder without an earlier run (got {', '.join(found)}); resume it "
                    "(resume=True, --resume) or start over (overwrite=True, --overwrite)")
            for n in found:
                (out_dir / n).unlink()
        for tmp in out_dir.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()


def lock_holder(out_dir) -> str | None:
    """``"process <pid> on <host>"`` of the live training process that holds ``out_dir``'s
    lock, or ``None`` (no lock, or one left by a process of this host that is gone)."""
    lock = Path(out_dir) / LOCK_NAME
    try:
        pid_s, _, host = lock.read_text().strip().partition(" ")
    except FileNotFoundError:
        return None
    except OSError:
        pid_s, host = "?", "?"
    try:
        pid = int(pid_s)
    except ValueError:
        pid = None
    if pid is not None and host == socket.gethostname() and not _alive(pid):
        return None
    return f"process {pid if pid is not None else '?'} on {host or '?'}"


def earlier_run_files(out_dir) -> list[str]:
    """The :data:`RUN_FILES` present in ``out_dir`` (an earlier run's)."""
    return [n for n in RUN_FILES if (Path(out_dir) / n).exists()]


def _take_lock(lock: Path) -> None:
    host = socket.gethostname()
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = lock_holder(lock.parent)
            if holder is None:
                with contextlib.suppress(OSError):
                    lock.unlink()  # left by a process that was killed: take it over
                continue
            raise RunFolderError(
                f"{lock.parent}: expected a run folder no other process is writing (got {lock.name}, held by "
                f"{holder}); wait for that run, or delete {lock} if it is gone") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {host}\n")
        return
    raise RunFolderError(f"{lock.parent}: expected to lock the run folder (got {lock} re-created by another process)")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_run_config(out_dir, key: str, name: str = "config.json") -> dict:
    """The ``config.json`` of a run folder to resume, checked to hold ``key``.

    Raises
    ------
    MeshError
        No such file, not JSON, or no ``key`` in it (the message names the file).
    """
    p = Path(out_dir) / name
    if not p.is_file():
        raise MeshError(f"{p}: expected the configuration of the run to resume (got no such file)")
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise MeshError(f"{p}: expected the configuration of the run to resume (got {exc})") from None
    if not isinstance(rec, dict) or key not in rec:
        raise MeshError(f"{p}: expected a {key} run configuration (got no {key!r} entry)")
    return rec

@dataclass
class TrainConfig:
    """Optimisation settings of :func:`fit`.

    Attributes
    ----------
    epochs : int
        Maximum number of passes over the training items.
    lr, weight_decay : float
        AdamW settings.
    batch_size : int
        Items per optimiser step (the *global* batch, split over the processes under DDP).
    schedule : {"cosine", "constant"}
        Learning rate over the epochs: cosine annealing to ``lr * lr_min_factor``, or constant.
    lr_min_factor : float
    patience : int or None
        Stop after this many evaluated epochs without an improvement of the monitored metric by
        more than ``min_delta`` (``None``: never stop early).  Needs an ``evaluate`` function.
    min_delta : float
    monitor : str
        Key of the ``evaluate`` result that selects the best model (larger is better).
    grad_clip : float or None
        Clip the gradient norm to this value.
    seed : int
    """

    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1
    schedule: str = "cosine"
    lr_min_factor: float = 0.01
    patience: int | None = 30
    min_delta: float = 0.0
    monitor: str = "accuracy"
    grad_clip: float | None = None
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`MeshError` naming the first invalid field."""
        def bad(name, expected):
            raise MeshError(f"TrainConfig.{name}: expected {expected} (got {getattr(self, name)!r})")

        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                bad(name, "a positive integer")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", "a positive number")
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            bad("weight_decay", "a non-negative number")
        if self.schedule not in ("cosine", "constant"):
            bad("schedule", "'cosine' or 'constant'")
        if self.patience is not None and (isinstance(self.patience, bool) or not isinstance(self.patience, int)
                                          or self.patience < 1):
            bad("patience", "a positive integer or None")
        if self.grad_clip is not None and not self.grad_clip > 0:
            bad("grad_clip", "a positive number or None")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            bad("seed", "an integer")


@dataclass
class TrainResult:
    """What :func:`fit` did.

    Attributes
    ----------
    out_dir : Path
    best_epoch : int
        1-based epoch of the best model (the last epoch without validation); 0 if none ran.
    best_score : float or None
        The monitored validation metric at ``best_epoch``.
    epochs_run : int
        Epochs completed (including those before a resume).
    stopped_early : bool
    history : list of dict
        The rows of ``metrics.json``.
    resumed_from : int or None
        The epoch the run was resumed after.
    seconds : float
        Wall time of this call.
    """

    out_dir: Path
    best_epoch: int = 0
    best_score: float | None = None
    epochs_run: int = 0
    stopped_early: bool = False
    history: list = field(default_factory=list)
    resumed_from: int | None = None
    seconds: float = 0.0

    @property
    def model_path(self) -> Path:
        return Path(self.out_dir) / "model.pt"

    @property
    def final(self) -> dict:
        """The last row of the history (empty dict if none)."""
        return self.history[-1] if self.history else {}


def epoch_seed(seed: int, epoch: int, *extra: int) -> int:
    """A 63-bit seed derived from ``(seed, epoch, *extra)`` (stable across runs and platforms)."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), *(int(e) for e in extra)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def epoch_order(n_items: int, seed: int, epoch: int) -> np.ndarray:
    """``(n_items,)`` int64: the shuffled item order of ``epoch`` (1-based), from ``(seed, epoch)``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 0x5EED]).permutation(n_items).astype(np.int64)


# --------------------------------------------------------------------------------- RNG state
def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "python": list(random.getstate()[1]) + [random.getstate()[0]],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((int(py[-1]), tuple(int(v) for v in py[:-1]), None))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


# --------------------------------------------------------------------------------- files
def _write_metrics(out_dir: Path, history: list[dict]) -> None:
    keys: list[str] = []
    for row in history:
        for k in row:
            if k not in keys:
                keys.append(k)
    head = ["epoch", "train_loss"]
    order = head + [k for k in keys if k.startswith("train_") and k not in head] \
        + [k for k in keys if k.startswith("val_")] + [k for k in keys if k in ("lr", "seconds")]
    order += [k for k in keys if k not in order]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(order)
    for row in history:
        w.writerow(["" if row.get(k) is None else (repr(row[k]) if isinstance(row[k], float) else row[k])
                    for k in order])
    atomic_write(out_dir / METRICS_CSV, buf.getvalue().encode())
    atomic_write(out_dir / METRICS_JSON, (json.dumps(history, indent=1) + "\n").encode())


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a training checkpoint written by :func:`fit` (typed one-line errors)."""
    from ..errors import MeshFileNotFoundError
    from ..nn.serialization import CheckpointError

    p = Path(path)
    if not p.is_file():
        raise MeshFileNotFoundError(f"{p}: expected a training checkpoint to resume from (got no such file)")
    try:
        state = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{p}: expected a training checkpoint (got an unreadable file: "
                              f"{type(exc).__name__})") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{p}: expected a manifold_nets training checkpoint (got another file)")
    if state.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{p}: expected training checkpoint version {CHECKPOINT_VERSION} "
                              f"(got {state.get('format_version')!r})")
    return state


def _save_checkpoint(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write(path, buf.getvalue())


def _make_scheduler(opt, config: TrainConfig):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs,
                                                          eta_min=config.lr * config.lr_min_factor)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)


def _leaves(d, prefix: str = "") -> dict:
    """``{"a.b.c": value}`` of nested dicts (the values as JSON text, for comparison)."""
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: json.dumps(d, sort_keys=True, default=str)}


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _check_resume_config(stored, given, where: Path) -> None:
    if given is None or stored is None:
        return
    if json.dumps(stored, sort_keys=True, default=str) != json.dumps(given, sort_keys=True, default=str):
        a, b = _leaves(stored), _leaves(given)
        diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        what = ", ".join(f"{k}={_short(b.get(k, 'missing'))} (was {_short(a.get(k, 'missing'))})" for k in diff[:3])
        if len(diff) > 3:
            what += f", and {len(diff) - 3} more"
        raise MeshError(f"{where}: expected the configuration of the interrupted run to resume it "
                        f"(got {what or 'another configuration'})")


# --------------------------------------------------------------------------------- the loop
StepFn = Callable[[torch.nn.Module, list, int], tuple]


def fit(model: torch.nn.Module, n_items: int, step: StepFn, *, config: TrainConfig, out_dir,
        evaluate: Callable[[torch.nn.Module], dict] | None = None,
        save_best: Callable[[torch.nn.Module, Path], object] | None = None,
        run_config: dict | None = None, resume: bool = False,
        progress: Callable[[dict], object] | None = None, device="cpu",
        dist_ctx: D.DistContext | None = None, find_unused_parameters: bool = False) -> TrainResult:
    """Train ``model`` for up to ``config.epochs`` epochs over ``n_items`` training items.

    Parameters
    ----------
    model : torch.nn.Module
        Already on ``device``; trained in place (it ends with the weights of the last epoch; the
        best weights are what ``save_best`` wrote).
    n_items : int
        Number of training items; items are referred to by index ``0 .. n_items - 1``.
    step : callable
        ``step(model, items, epoch) -> (loss, stats)``: the *mean* loss (a scalar tensor with a
        graph) over the item indices ``items`` and a dict of float statistics, also means over the
        items (e.g. ``{"accuracy": 0.9}``).  ``model`` may be a DDP wrapper: call it, do not
        inspect it.  Randomness inside (augmentation) should derive from
        :func:`epoch_seed` ``(seed, epoch, item)`` so runs are repeatable and resumable.
    config : TrainConfig
    out_dir : path
        Run folder (created).
    evaluate : callable, optional
        ``evaluate(model) -> dict`` of validation metrics (larger is better for
        ``config.monitor``); called once per epoch, on rank 0, with the plain model in eval mode.
    save_best : callable, optional
        ``save_best(model, path)`` writes the best model to ``out_dir / "model.pt"`` (rank 0).
    run_config : dict, optional
        JSON-able description stored in the checkpoint; ``resume`` refuses another one.
    resume : bool
        Continue from ``out_dir / "checkpoint.pt"`` (a finished run returns at once).
    progress : callable, optional
        ``progress(event)`` on rank 0 with ``event["kind"]`` ``"step"`` (epoch, step, n_steps,
        n_epochs, loss) or ``"epoch"`` (the metrics row, plus ``best_epoch``, ``best_score``).  An exception
        raised from it stops training (the last epoch's checkpoint is on disk).
    device : str or torch.device
    dist_ctx : DistContext, optional
        Data-parallel training (:mod:`manifold_nets.tasks.distributed`).
    find_unused_parameters : bool
        Passed to DistributedDataParallel.

    Returns
    -------
    TrainResult
    """
    t_start = time.perf_counter()
    config.check()
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 1:
        raise MeshError(f"n_items: expected at least one training item (got {n_items!r})")
    out_dir = Path(out_dir)
    main = dist_ctx is None or dist_ctx.is_main
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT_NAME

    world = 1 if dist_ctx is None else dist_ctx.world_size
    if config.batch_size < world:
        raise MeshError(f"batch_size: expected a global batch of at least one item per process, "
                        f">= {world} (got {config.batch_size}); e.g. --batch-size {world}")
    net = D.wrap_model(model, dist_ctx, find_unused_parameters=find_unused_parameters)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = _make_scheduler(opt, config)

    start_epoch, best_score, best_epoch, bad_epochs, stopped = 0, None, 0, 0, False
    history: list[dict] = []
    resumed_from = None
    if resume:
        state = load_checkpoint(ckpt_path, map_location="cpu")
        _check_resume_config(state.get("run_config"), run_config, ckpt_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        start_epoch = int(state["epoch"])
        best_score = state["best_score"]
        best_epoch = int(state["best_epoch"])
        bad_epochs = int(state["bad_epochs"])
        stopped = bool(state["stopped"])
        history = json.loads(state["history"])
        resumed_from = start_epoch

    epoch = start_epoch
    for epoch in range(start_epoch + 1, config.epochs + 1):
        if stopped:
            break
        t0 = time.perf_counter()
        rank = 0 if dist_ctx is None else dist_ctx.rank
        torch.manual_seed(epoch_seed(config.seed, epoch, 1 + rank))  # dropout and other torch randomness
        order = epoch_order(n_items, config.seed, epoch).tolist()
        batches = [order[i:i + config.batch_size] for i in range(0, n_items, config.batch_size)]
        if world > 1:  # every process needs a share of every global batch
            batches = [b for b in batches if len(b) >= world]
        net.train()
        sums: dict[str, float] = {}
        n_seen = 0
        for s, items in enumerate(batches):
            mine = D.shard(items, dist_ctx)
            loss, stats = step(net, mine, epoch)
            if not torch.isfinite(loss.detach()):
                raise MeshError(f"epoch {epoch}: expected a finite training loss (got {float(loss.detach())}); "
                                f"lower the learning rate")
            opt.zero_grad(set_to_none=True)
            # DDP averages gradients over the processes: weight each share so the result is the
            # gradient of the mean over the global batch
            (loss * (len(mine) * world / len(items))).backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            local = {"loss": float(loss.detach()) * len(mine),
                     **{k: float(v) * len(mine) for k, v in sorted(stats.items())}}
            keys = sorted(local)
            reduced = D.all_reduce_sum([local[k] for k in keys] + [len(mine)], dist_ctx)
            for k, v in zip(keys, reduced[:-1]):
                sums[k] = sums.get(k, 0.0) + v
            n_seen += int(round(reduced[-1]))
            if main and progress is not None:
                progress({"kind": "step", "epoch": epoch, "step": s + 1, "n_steps": len(batches),
                          "n_epochs": config.epochs,
                          "loss": reduced[keys.index("loss")] / max(reduced[-1], 1)})
        lr = float(opt.param_groups[0]["lr"])
        sched.step()
        row = {"epoch": epoch, "train_loss": sums.get("loss", float("nan")) / max(n_seen, 1)}
        for k in sorted(sums):
            if k != "loss":
                row[f"train_{k}"] = sums[k] / max(n_seen, 1)
        improved = False
        if evaluate is not None:
            metrics = None
            if main:
                model.eval()
                with torch.no_grad():
                    metrics = {k: float(v) for k, v in evaluate(model).items()}
            metrics = D.broadcast_object(metrics, dist_ctx)
            if config.monitor not in metrics:
                raise MeshError(f"evaluate: expected a {config.monitor!r} metric (got {sorted(metrics)})")
            for k, v in metrics.items():
                row[f"val_{k}"] = v
            score = metrics[config.monitor]
            if best_score is None or score > best_score + config.min_delta:
                best_score, best_epoch, bad_epochs, improved = score, epoch, 0, True
            else:
                bad_epochs += 1
                if config.patience is not None and bad_epochs >= config.patience:
                    stopped = True
        else:
            best_epoch, improved = epoch, True
        row["lr"] = lr
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if main:
            if improved and save_best is not None:
                save_best(model, out_dir / "model.pt")
            _write_metrics(out_dir, history)
            _save_checkpoint(ckpt_path, {
                "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "epoch": epoch, "best_score": best_score, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
                "stopped": stopped, "history": json.dumps(history), "rng": _rng_state(),
                "run_config": run_config, "train_config": asdict(config),
            })
        D.barrier(dist_ctx)
        if main and progress is not None:
            progress({"kind": "epoch", **row, "best_epoch": best_epoch, "best_score": best_score,
                      "n_epochs": config.epochs})
        if stopped:
            break
    return TrainResult(out_dir=out_dir, best_epoch=best_epoch, best_score=best_score,
                       epochs_run=len(history), stopped_early=stopped, history=history,
                       resumed_from=resumed_from, seconds=time.perf_counter() - t_start)


def config_from_dict(cls, d: dict):
    """A dataclass ``cls`` from a dict, refusing unknown keys (one-line :class:`MeshError`)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise MeshError(f"{cls.__name__}: expected fields among {sorted(names)} (got {unknown[0]!r})")
    return cls(**d)
