"""Matplotlib figures of what people look at: training curves, correspondence error curves,
per-category (or per-part) bars.

Inputs (plain files, as the tasks write them):

* a run folder's ``metrics.csv`` (or ``metrics.json``, a list of the same rows): one row per
  epoch with ``epoch``, ``train_loss``, ``train_<stat>``..., ``val_<metric>``..., ``lr``,
  ``seconds`` (:mod:`manifold_nets.tasks.training`);
* an evaluation JSON (``segment eval --json``/``--output``: ``{"segmentation": {...}}``):
  ``per_part_iou`` ``{part: IoU}`` and ``per_mesh`` rows, or any ``{"per_category": {name: value}}``;
* correspondence errors: geodesic error of each source vertex's image, normalised by the
  square root of the target's area (text with one number per line, ``.npy``, or a JSON
  ``{"errors": [...]}`` / ``{"errors": {"method": [...], ...}}``).

Every function draws into an ``ax`` (a new figure when None) and returns the axes;
:func:`plot_run` makes the whole figure of a run folder and writes it atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from ..errors import (
    MeshError,
    MeshFileNotFoundError,
    MeshParseError,
    MeshShapeError,
    MeshTypeError,
    optional_import,
)

__all__ = ["error_curve", "find_run_files", "plot_bars", "plot_error_curves", "plot_run",
           "plot_training", "read_errors", "read_evaluation", "read_metrics"]


def _figure(figsize):
    """A new matplotlib ``Figure`` (no pyplot, so no GUI backend is needed or changed)."""
    optional_import("matplotlib", extra="viz", purpose="plots")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


# ---------------------------------------------------------------------------------- reading


def read_metrics(path) -> dict[str, np.ndarray]:
    """Columns of a metrics file: ``{name: (n_epochs,) float64}`` (empty cells -> NaN).

    ``path``: ``metrics.csv``, ``metrics.json`` or a run folder holding one of them.
    """
    p = Path(path)
    if p.is_dir():
        for name in ("metrics.csv", "metrics.json"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise MeshFileNotFoundError(f"{path}: expected a run folder with metrics.csv or "
                                        f"metrics.json (got neither)")
    if not p.is_file():
        raise MeshFileNotFoundError(f"{p}: expected an existing metrics file (got no such file)")
    text = p.read_text(encoding="utf-8", errors="replace")
    if p.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except ValueError as exc:
            raise MeshParseError(f"{p}: expected a JSON list of rows (got {exc})") from None
        if isinstance(rows, dict) and isinstance(rows.get("history"), list):
            rows = rows["history"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise MeshParseError(f"{p}: expected a JSON list of rows (got {type(rows).__name__})")
        names = list(dict.fromkeys(k for r in rows for k in r))
        table = [[r.get(k) for k in names] for r in rows]
        start = 1
    else:
        reader = list(csv.reader(io.StringIO(text)))
        reader = [r for r in reader if any(c.strip() for c in r)]
        if not reader:
            raise MeshParseError(f"{p}: expected a header line and rows (got an empty file)")
        names = [c.strip() for c in reader[0]]
        table = reader[1:]
        start = 2
    cols: dict[str, list] = {k: [] for k in names}
    for i, row in enumerate(table):
        if len(row) != len(names):
            raise MeshParseError(f"{p}: line {i + start}: expected {len(names)} values (got {len(row)})")
        for k, v in zip(names, row):
            cols[k].append(_num(v, p, i + start, k))
    if "epoch" not in cols:
        raise MeshParseError(f"{p}: expected an 'epoch' column (got {', '.join(names) or 'none'})")
    if not table:
        raise MeshParseError(f"{p}: expected at least one row of values after the header (got none)")
    out = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
    if not any(np.isfinite(v).any() for k, v in out.items() if k not in ("epoch", "lr", "seconds")):
        raise MeshParseError(f"{p}: expected a finite value in some column besides epoch, lr and seconds "
                             f"(got only empty or NaN cells in {len(table)} rows)")
    return out


def _floats(values, what: str) -> np.ndarray:
    """``values`` as float64, or a :class:`~manifold_nets.errors.MeshTypeError` naming ``what``."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise MeshTypeError(f"{what}: expected numbers (got {str(values)[:60]})") from None


def _num(v, p, line, col) -> float:
    """A number of a metrics file (``line`` > 0) or of an evaluation JSON (``line`` 0: no line)."""
    if v is None or (isinstance(v, str) and v.strip() in ("", "nan", "NaN", "null", "None")):
        return math.nan
    if isinstance(v, bool):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        where = f"line {line}: " if line else ""
        raise MeshParseError(f"{p}: {where}expected a number in {'column' if line else 'entry'} {col!r} "
                             f"(got {v!r})") from None


_BOUNDARY_METRICS = (("rand_index_error", "1 - Rand index"), ("cut_discrepancy", "cut discrepancy"),
                     ("gce", "GCE"), ("lce", "LCE"))


def read_evaluation(path) -> dict[str, dict[str, float]]:
    """Bar data of an evaluation JSON: ``{"title": {name: value}}`` for ``per_category``,
    ``per_part_iou`` (and per-mesh accuracy when it has at most 40 meshes).

    The JSON of ``segment eval --json``/``--output`` (``{"segmentation": {...}, "boundaries":
    {...}}``) is read through its ``segmentation`` object, plus the mean Princeton metrics of
    ``boundaries`` when present."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MeshFileNotFoundError(f"{p}: expected an existing file (got no such file)") from None
    except ValueError as exc:
        raise MeshParseError(f"{p}: expected JSON (got {exc})") from None
    out, extra = {}, {}
    if isinstance(doc, dict) and isinstance(doc.get("segmentation"), dict):  # segment eval --json
        bounds = doc.get("boundaries")
        doc = doc["segmentation"]
        if isinstance(bounds, dict):
            means = {label: bounds.get(key) for key, label in _BOUNDARY_METRICS}
            if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in means.values()):
                extra["Princeton metrics (mean; lower is better)"] = {
                    k: _num(v, p, 0, k) for k, v in means.items()}
    if isinstance(doc, dict):
        if isinstance(doc.get("per_category"), dict) and doc["per_category"]:
            out["per-category accuracy"] = {str(k): _num(v, p, 0, k) for k, v in doc["per_category"].items()}
        if isinstance(doc.get("per_part_iou"), dict) and doc["per_part_iou"]:
            out["per-part IoU"] = {str(k): _num(v, p, 0, k) for k, v in doc["per_part_iou"].items()}
        rows = doc.get("per_mesh")
        if isinstance(rows, list) and 0 < len(rows) <= 40 and all(isinstance(r, dict) for r in rows):
            key = "area_weighted_accuracy" if "area_weighted_accuracy" in rows[0] else "face_accuracy"
            if key in rows[0]:
                out[f"per-mesh {key.replace('_', ' ')}"] = {
                    str(r.get("name", i)): _num(r.get(key), p, 0, key) for i, r in enumerate(rows)}
    if not out:
        raise MeshParseError(f"{p}: expected per_category, per_part_iou or per_mesh entries (got none)")
    out.update(extra)
    return out


def read_errors(path) -> dict[str, np.ndarray]:
    """Correspondence errors: ``{name: (n,) float64}`` from text/``.npy`` (one curve named after
    the file) or JSON ``{"errors": [...] | {name: [...]}}``."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MeshFileNotFoundError(f"{p}: expected an existing file (got no such file)") from None
        except ValueError as exc:
            raise MeshParseError(f"{p}: expected JSON (got {exc})") from None
        e = doc.get("errors") if isinstance(doc, dict) else doc
        curves = e if isinstance(e, dict) else {p.stem: e}
        if not curves:
            raise MeshParseError(f"{p}: expected at least one curve under \"errors\" (got {{}})")
        bad = [k for k, v in curves.items() if not isinstance(v, list)]
        if bad:  # null or a lone number would be a curve of one NaN or one point
            v = curves[bad[0]]
            raise MeshParseError(f"{p}: expected lists of numbers under \"errors\" (got "
                                 f"{type(v).__name__ if v is not None else 'null'}"
                                 + (f" for {bad[0]!r})" if isinstance(e, dict) else ")"))
        try:
            out = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in curves.items()}
        except (TypeError, ValueError):
            raise MeshParseError(f"{p}: expected lists of numbers under \"errors\"") from None
    else:
        from .inputs import read_table

        a = np.asarray(read_table(p), dtype=np.float64)
        out = {p.stem: a.ravel()} if a.ndim == 1 else {f"{p.stem}[{j}]": a[:, j] for j in range(a.shape[1])}
    for k, v in out.items():
        if v.size == 0 or (v[np.isfinite(v)] < 0).any():
            raise MeshParseError(f"{p}: expected non-negative errors in {k!r} (got "
                                 + ("none" if v.size == 0 else f"{v[np.isfinite(v)].min():g}") + ")")
        if not np.isfinite(v).any():
            raise MeshParseError(f"{p}: expected at least one finite error in {k!r} (got {v.size} "
                                 f"non-finite values)")
    return out


def find_run_files(run_dir) -> dict[str, list[Path]]:
    """What :func:`plot_run` plots in a folder: ``{"metrics": [...], "evaluation": [...],
    "errors": [...]}`` (evaluation: JSON files with per-part or per-category figures; errors:
    files whose name contains ``error``)."""
    d = Path(run_dir)
    found: dict[str, list[Path]] = {"metrics": [], "evaluation": [], "errors": []}
    for name in ("metrics.csv", "metrics.json"):
        if (d / name).is_file():
            found["metrics"].append(d / name)
            break
    for q in sorted(d.iterdir()):
        if not q.is_file() or q.name.startswith("metrics."):
            continue
        low = q.name.lower()
        if "error" in low and low.endswith((".txt", ".npy", ".json", ".csv")):
            found["errors"].append(q)
        elif low.endswith(".json"):
            try:
                read_evaluation(q)
            except (MeshError, OSError, UnicodeDecodeError):
                continue
            found["evaluation"].append(q)
    return found


# ---------------------------------------------------------------------------------- drawing


def plot_training(metrics, ax=None):
    """Training curves: losses on the left axis, accuracies and other validation metrics on the
    right axis (0..1 when they are fractions), against the epoch.

    ``metrics``: a dict of columns (:func:`read_metrics`), a metrics file or a run folder.
    Returns the left axes.
    """
    cols = metrics if isinstance(metrics, dict) else read_metrics(metrics)
    cols = {k: _floats(v, f"metrics[{k!r}]").ravel() for k, v in cols.items()}
    if "epoch" not in cols:
        raise MeshShapeError(f"metrics: expected an 'epoch' column (got {', '.join(cols) or 'none'})")
    bad = [k for k, v in cols.items() if len(v) != len(cols["epoch"])]
    if bad:
        raise MeshShapeError(f"metrics[{bad[0]!r}]: expected {len(cols['epoch'])} values, one per epoch "
                             f"(got {len(cols[bad[0]])})")
    if ax is None:
        ax = _figure((6, 4)).add_subplot()
    ep = cols["epoch"]
    losses = [k for k in cols if "loss" in k]
    others = [k for k in cols if k not in losses and k not in ("epoch", "lr", "seconds")
              and np.isfinite(cols[k]).any()]
    for k in losses:
        ok = np.isfinite(cols[k])
        ax.plot(ep[ok], cols[k][ok], marker="o" if ok.sum() < 30 else None, ms=3, label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if others:
        ax2 = ax.twinx()
        styles = iter(["--", "-.", ":", (0, (5, 1))] * 10)
        for k in others:
            ok = np.isfinite(cols[k])
            ax2.plot(ep[ok], cols[k][ok], linestyle=next(styles), marker="s" if ok.sum() < 30 else None,
                     ms=3, label=k, color=None)
        vals = np.concatenate([cols[k][np.isfinite(cols[k])] for k in others])
        if vals.size and vals.min() >= 0 and vals.max() <= 1:
            ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("metric")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        # keep colours distinct from the loss curves
        for i, line in enumerate(ax2.get_lines()):
            line.set_color(f"C{len(losses) + i}")
        handles = ax.get_lines() + ax2.get_lines()
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="best")
    ax.set_title("training")
    return ax


def error_curve(errors, thresholds=None) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of correspondences with error <= each threshold (Kim et al. 2011):
    ``(thresholds (t,), fraction (t,))``; default thresholds ``0 .. 0.25`` in 101 steps.
    Non-finite errors are left out, as in
    :func:`manifold_nets.tasks.correspondence.error_curve`.

    >>> t, f = error_curve([0.0, 0.1, 0.3], [0.0, 0.1, 0.2])
    >>> f.round(3).tolist()
    [0.333, 0.667, 0.667]
    """
    e = np.asarray(errors, dtype=np.float64).ravel()
    e = e[np.isfinite(e)]
    t = np.linspace(0, 0.25, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if e.size == 0:
        return t, np.zeros_like(t)
    return t, np.searchsorted(np.sort(e), t, side="right") / e.size


def plot_error_curves(curves, ax=None, *, max_error: float = 0.25):
    """Correspondence error curves: ``curves`` ``{name: (n,) errors}`` (or one array) ->
    fraction of points within each geodesic error threshold."""
    if not isinstance(curves, dict):
        curves = {"errors": curves}
    if ax is None:
        ax = _figure((6, 4)).add_subplot()
    t = np.linspace(0, max_error, 101)
    for name, e in curves.items():
        e = _floats(e, f"errors[{name!r}]")
        _, f = error_curve(e, t)
        fin = e[np.isfinite(e)]
        mean = float(fin.mean()) if fin.size else float("nan")
        ax.plot(t, f, label=f"{name} (mean {mean:.3g})")
    ax.set_xlabel("geodesic error (normalised)")
    ax.set_ylabel("fraction of correspondences")
    ax.set_xlim(0, max_error)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("correspondence error")
    return ax


def plot_bars(values: dict, ax=None, *, title: str = "per category", percent: bool | None = None):
    """Horizontal bars ``{name: value}`` in the given order, the value written at each bar
    (as a percentage when every value is in 0..1 and ``percent`` is not False)."""
    names = list(values)
    v = _floats([values[k] for k in names], title).reshape(-1)
    if len(v) != len(names):
        raise MeshShapeError(f"{title}: expected one number per name (got {len(v)} for {len(names)} names)")
    if ax is None:
        ax = _figure((6, 0.6 + 0.3 * len(names))).add_subplot()
    fin = v[np.isfinite(v)]
    pct = percent if percent is not None else bool(fin.size and fin.min() >= 0 and fin.max() <= 1)
    y = np.arange(len(names))
    from .colors import label_colors

    shown = np.where(np.isfinite(v), v, 0.0)  # NaN and inf: no bar (nan_to_num made inf 1.8e308)
    ax.barh(y, shown, color=label_colors(len(names)) / 255.0)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    for yi, vi, xi in zip(y, v, shown):
        txt = "n/a" if not np.isfinite(vi) else (f"{100 * vi:.1f}%" if pct else f"{vi:.3g}")
        ax.text(xi, yi, " " + txt, va="center", fontsize=8)
    if pct:
        ax.set_xlim(0, 1.15)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_run(inputs, out, *, dpi: int = 100):
    """One PNG (or PDF/SVG, by the extension of ``out``) with a panel per thing found: training
    curves, evaluation bars, correspondence error curves.

    ``inputs``: a run folder, or a list of folders and files (metrics, evaluation JSON, error
    files).  Returns the list of panel titles.  Raises :class:`~manifold_nets.errors.MeshError`
    when nothing plottable is found.
    """
    from ..files import atomic_write

    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    panels = []  # (kind, payload, title)
    for item in items:
        p = Path(item)
        if not p.exists():
            raise MeshFileNotFoundError(f"{p}: expected a run folder or a metrics, evaluation or "
                                        f"errors file (got no such file)")
        if p.is_dir():
            found = find_run_files(p)
            if not any(found.values()):
                raise MeshFileNotFoundError(f"{p}: expected metrics.csv, metrics.json, an evaluation "
                                            f"JSON or an errors file in the folder (got none)")
            for q in found["metrics"]:
                panels.append(("training", read_metrics(q), f"training ({p.name})"))
            for q in found["evaluation"]:
                for title, vals in read_evaluation(q).items():
                    panels.append(("bars", vals, f"{title} ({q.stem})"))
            errs = {}
            for q in found["errors"]:
                errs.update(read_errors(q))
            if errs:
                panels.append(("errors", errs, "correspondence error"))
        else:
            name = p.name.lower()
            if name.startswith("metrics.") and name.endswith((".csv", ".json")):
                panels.append(("training", read_metrics(p), f"training ({p.parent.name or p.stem})"))
            elif "error" in name:
                panels.append(("errors", read_errors(p), "correspondence error"))
            elif name.endswith(".json"):
                for title, vals in read_evaluation(p).items():
                    panels.append(("bars", vals, f"{title} ({p.stem})"))
            else:
                raise MeshParseError(f"{p}: expected metrics.csv/json, an evaluation .json or a "
                                     f"file with 'error' in its name (got {p.name})")
    n = len(panels)
    if n == 0:
        raise MeshError("inputs: expected a run folder or files to plot (got none)")
    heights = [max(1.8, 0.35 * len(pl[1]) + 1.0) if pl[0] == "bars" else 3.6 for pl in panels]
    fig = _figure((7, sum(heights)))
    axes = fig.subplots(n, 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, (kind, payload, title) in zip(axes[:, 0], panels):
        if kind == "training":
            plot_training(payload, ax=ax)
        elif kind == "bars":
            plot_bars(payload, ax=ax)
        else:
            plot_error_curves(payload, ax=ax)
        ax.set_title(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fmt = Path(out).suffix.lower().lstrip(".") or "png"
    fig.savefig(buf, format=fmt, dpi=dpi)
    atomic_write(out, buf.getvalue())
    return [pl[2] for pl in panels]
