"""Argument checks shared by the models and layers: one-line :class:`~manifold_nets.errors.MeshShapeError`
naming the argument (a leaf module: it imports nothing of :mod:`manifold_nets.nn`)."""

from __future__ import annotations

import numbers

from ..errors import MeshShapeError

__all__ = ["check_int", "check_dropout", "check_model_args"]


def check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int if it is an integer ``>= minimum``, else a :class:`MeshShapeError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise MeshShapeError(f"{name}: expected {what} (got {value!r})")
    return int(value)


def check_dropout(value) -> float:
    """``value`` as a float if it is a dropout probability in ``[0, 1)``, else a :class:`MeshShapeError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise MeshShapeError(f"dropout: expected a probability in [0, 1) (got {value!r})")
    return float(value)


def check_model_args(**args) -> None:
    """The size and dropout arguments shared by the models (one-line :class:`MeshShapeError`)."""
    for name in ("in_channels", "out_channels", "width"):
        if name in args and not (name == "out_channels" and args[name] is None):
            check_int(name, args[name], 1)
    for name in ("n_blocks", "max_order", "levels", "level_blocks"):
        if name in args:
            check_int(name, args[name], 0)
    if "dropout" in args:
        check_dropout(args["dropout"])
