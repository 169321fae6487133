"""The manifest of a batch run: one JSON object per line, appended as work finishes.

File: ``<out_dir>/manifest.jsonl``.  Every line is a record of one (input file, task)::

    {"key": "operators:sub/a.off", "task": "operators", "rel": "sub/a.off", "input": "/abs/in/sub/a.off",
     "input_sha256": "...", "fingerprint": "...", "status": "ok" | "failed",
     "outputs": [{"path": "sub/a.off.operators.npz", "sha256": "...", "bytes": 123}],
     "seconds": 0.42, "cpu_seconds": 0.41, "result": {...} | "error": "MeshParseError", "message": "...",
     "warnings": [...], "worker": "host:pid", "finished": "2026-11-29T21:03:04Z"}

Lines are written with one ``write`` each and flushed to disk, so a run killed at any moment
leaves complete lines plus at most one partial last line, which :func:`read_manifest` ignores.
A key can appear several times (a resumed run appends); the **final view** is the last record
of each key, and :meth:`Manifest.compact` rewrites the file atomically as that view at the end
of a run.

A record counts as done (:func:`is_done`) when it is ``ok``, was made from an input with the
same content hash by a task with the same fingerprint (name, parameters, library and algorithm
versions), and each of its outputs exists with the recorded size and SHA-256.  Anything else
(failed, missing, truncated or rewritten output, changed input, changed parameters) is redone.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..files import atomic_write
from .tasks import file_sha256

__all__ = ["MANIFEST_NAME", "Manifest", "read_manifest", "final_view", "is_done", "why_not_done"]

MANIFEST_NAME = "manifest.jsonl"


def read_manifest(path) -> list[dict]:
    """The records of a manifest file in order (a partial or unreadable line is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    with open(p, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break  # the partial last line of a killed run
            try:
                rec = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str):
                out.append(rec)
    return out


def final_view(records: list[dict]) -> dict[str, dict]:
    """The last record of each key (insertion order of first appearance)."""
    view: dict[str, dict] = {}
    for r in records:
        view[r["key"]] = r
    return view


def why_not_done(rec: dict | None, out_dir, *, input_sha256: str | None, fingerprint: str) -> str | None:
    """``None`` when ``rec`` is finished work that can be kept, else why it must be redone."""
    if rec is None:
        return "not done"
    if rec.get("status") != "ok":
        return "failed before"
    if rec.get("fingerprint") != fingerprint:
        return "other parameters or library version"
    if input_sha256 is None or rec.get("input_sha256") != input_sha256:
        return "input changed"
    outs = rec.get("outputs")
    if not outs:
        return "no outputs recorded"
    for o in outs:
        p = Path(out_dir) / o["path"]
        try:
            size = p.stat().st_size
        except OSError:
            return f"output {o['path']} missing"
        if size != o.get("bytes"):
            return f"output {o['path']} has {size} bytes instead of {o.get('bytes')}"
        if file_sha256(p) != o.get("sha256"):
            return f"output {o['path']} has another content hash"
    return None


def is_done(rec: dict | None, out_dir, *, input_sha256: str | None, fingerprint: str) -> bool:
    """Whether ``rec`` is finished work whose outputs are intact (see :func:`why_not_done`)."""
    return why_not_done(rec, out_dir, input_sha256=input_sha256, fingerprint=fingerprint) is None


class Manifest:
    """An append-only JSON-lines manifest in ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
    resume : bool
        Keep the existing records (``False``: start a new, empty manifest).
    fsync : bool
        Flush every line to disk (survives a machine crash, not only a killed process).
    """

    def __init__(self, out_dir, *, resume: bool = False, fsync: bool = True):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.fsync = fsync
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.previous = final_view(read_manifest(self.path)) if resume else {}
        if resume and self.path.exists():
            self._drop_partial_line()
        else:
            atomic_write(self.path, b"", fsync=fsync)
        self._fh = open(self.path, "ab")

    def _drop_partial_line(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)

    def append(self, rec: dict) -> None:
        """Append one record (one ``write`` of one line, then flush)."""
        rec = dict(rec)
        rec.setdefault("finished", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        line = (json.dumps(rec, sort_keys=True, default=str) + "\n").encode()
        self._fh.write(line)
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def records(self) -> list[dict]:
        return read_manifest(self.path)

    def compact(self, keys=None) -> dict[str, dict]:
        """Rewrite the file atomically as its final view (one line per key; only ``keys`` when
        given, in that order); returns the view."""
        view = final_view(self.records())
        if keys is not None:
            view = {k: view[k] for k in keys if k in view}
        self._fh.close()
        blob = b"".join((json.dumps(r, sort_keys=True, default=str) + "\n").encode() for r in view.values())
        atomic_write(self.path, blob, fsync=self.fsync)
        self._fh = open(self.path, "ab")
        return view

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
