"""The :func:`configurable` class decorator: modules record their constructor arguments.

A leaf module of :mod:`manifold_nets.nn` (it imports nothing of the package), so that every layer
file can use the decorator and :mod:`manifold_nets.nn.serialization` can rebuild any of them.
"""

from __future__ import annotations

import functools
import inspect

__all__ = ["configurable"]

#: class name -> class, for ``from_config``
_REGISTRY: dict[str, type] = {}
_INIT_ATTR = "_mn_init_args"


def configurable(cls: type) -> type:
    """Record the constructor arguments of every instance of ``cls`` (for :func:`get_config`).

    Wraps ``cls.__init__`` (signature and docstring kept); the arguments of the outermost class
    are kept (a subclass calling ``super().__init__`` records its own).  Registers ``cls`` for
    :func:`from_config`.  Idempotent.
    """
    init = cls.__dict__.get("__init__")
    if init is None or getattr(init, "_mn_recording", False):
        _REGISTRY[cls.__name__] = cls
        return cls
    sig = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self) is cls or not hasattr(self, _INIT_ATTR):
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()  # defaults too: a later change of a default cannot alter a saved model
            rec = {}
            for name, value in list(bound.arguments.items())[1:]:
                kind = sig.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    rec.update(value)
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    if value:
                        rec[f"*{name}"] = value
                else:
                    rec[name] = value
            object.__setattr__(self, _INIT_ATTR, (cls, rec))

    __init__._mn_recording = True
    cls.__init__ = __init__
    _REGISTRY[cls.__name__] = cls
    return cls
