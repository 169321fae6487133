"""``manifold-nets segment train|eval|predict``: segmentation of meshes into named parts.

Thin: each action lives in its own module (``segment_train_cmd``, ``segment_eval_cmd``,
``segment_predict_cmd``) that adds its parser with ``register(subparsers)``; the work is done by
:mod:`manifold_nets.tasks.segmentation`.
"""

from __future__ import annotations

import importlib

ACTIONS = ("segment_train_cmd", "segment_eval_cmd", "segment_predict_cmd")


def register(subparsers) -> None:
    p = subparsers.add_parser("segment", help="train, evaluate and apply mesh segmentation models",
                              description="Segment meshes into named parts: train a model on labelled "
                                          "meshes, evaluate it, label new meshes.")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    for name in ACTIONS:
        importlib.import_module(f"manifold_nets_apps.{name}").register(sub)
