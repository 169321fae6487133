"""Typed errors.

Every error the library raises on purpose is a :class:`ManifoldNetsError`.  Errors about user
input are a :class:`MeshError` (also a :class:`ValueError`); their messages follow the pattern
``"<what>: expected <...> (got <...>)"`` and name the offending file, line, vertex, face or edge
where there is one.  Library code never uses ``assert`` on user input.

The hierarchy (``a < b`` reads "a is a subclass of b")::

    ManifoldNetsError (Exception)
    ├── MeshError (ValueError)                 bad input: a mesh, an array, a parameter
    │   ├── MeshFileError                      a mesh file cannot be read
    │   │   ├── MeshFileNotFoundError (FileNotFoundError)
    │   │   ├── MeshIsADirectoryError (IsADirectoryError)
    │   │   ├── MeshPermissionError (PermissionError)
    │   │   ├── UnknownFormatError
    │   │   ├── MeshFileTooLargeError          not a regular file, or over the size cap
    │   │   └── MeshParseError                 malformed content
    │   │       └── FileFaceIndexError (also FaceIndexError)
    │   ├── EmptyMeshError, MeshShapeError, NonFiniteError, NonTriangleError,
    │   │   DegenerateFaceError, DuplicateFaceError, NonManifoldError, NonOrientableError,
    │   │   BoundaryError
    │   │   └── MeshTypeError (TypeError)      an argument of the wrong type, dtype or device
    │   ├── FaceIndexError                     an index out of range (arrays or files)
    │   └── UnsupportedDataError               a writer's format cannot hold an array
    ├── SolverError (RuntimeError)             a numerical solve failed: not bad input
    ├── RunFolderError                         a training run folder holds an earlier run or is
    │                                          being written by another process
    └── MissingDependencyError (ImportError)   an optional package is missing

    MeshWarning (UserWarning)                  accepted input that is probably not what was meant

:class:`SolverError` is deliberately *not* a :class:`MeshError`/:class:`ValueError`: a failed
factorisation is not proof that the input is wrong; catch :class:`ManifoldNetsError` to catch
both.  The ``manifold-nets`` command maps these to exit codes (see :mod:`manifold_nets_apps.cli`).
"""

from __future__ import annotations

__all__ = [
    "ManifoldNetsError",
    "MeshError",
    "MeshFileError",
    "MeshFileNotFoundError",
    "MeshIsADirectoryError",
    "MeshPermissionError",
    "MeshFileTooLargeError",
    "UnknownFormatError",
    "MeshParseError",
    "FileFaceIndexError",
    "UnsupportedDataError",
    "EmptyMeshError",
    "MeshShapeError",
    "MeshTypeError",
    "NonFiniteError",
    "FaceIndexError",
    "NonTriangleError",
    "DegenerateFaceError",
    "DuplicateFaceError",
    "NonManifoldError",
    "NonOrientableError",
    "BoundaryError",
    "SolverError",
    "RunFolderError",
    "MissingDependencyError",
    "MeshWarning",
    "optional_import",
]


class ManifoldNetsError(Exception):
    """Base class of every error raised on purpose by manifold_nets."""


class MeshError(ManifoldNetsError, ValueError):
    """Base class of every error about a mesh (or a parameter) given by the user."""


class MeshFileError(MeshError):
    """A mesh file cannot be read."""


class MeshFileNotFoundError(MeshFileError, FileNotFoundError):
    """The mesh file does not exist (also a :class:`FileNotFoundError`)."""


class MeshIsADirectoryError(MeshFileError, IsADirectoryError):
    """A mesh file was expected and a directory was given (also an :class:`IsADirectoryError`)."""


class MeshPermissionError(MeshFileError, PermissionError):
    """The mesh file cannot be opened for lack of permission (also a :class:`PermissionError`)."""


class MeshFileTooLargeError(MeshFileError):
    """The path is not a regular file (a device, a FIFO) or is larger than the reading cap."""


class UnknownFormatError(MeshFileError):
    """The file extension or content is not a supported mesh format."""


class MeshParseError(MeshFileError):
    """The file exists and has a known format but its content is malformed."""


class EmptyMeshError(MeshError):
    """The mesh has no vertices or no faces where some are required."""


class MeshShapeError(MeshError):
    """An array has the wrong shape or dtype."""


class MeshTypeError(MeshShapeError, TypeError):
    """An argument of the wrong type, or a tensor of another dtype or device than the model or
    batch it meets (also a :class:`TypeError`, as Python and PyTorch raise for such mistakes)."""


class NonFiniteError(MeshError):
    """A vertex coordinate is NaN, infinite, or so large (above
    :data:`manifold_nets.validation.MAX_ABS_COORDINATE`) that squared lengths would overflow, or
    the vertices so close together (below :data:`manifold_nets.validation.MIN_EXTENT`) that
    areas would underflow."""


class FaceIndexError(MeshError):
    """A face refers to a vertex index that is negative or out of range."""


class FileFaceIndexError(MeshParseError, FaceIndexError):
    """A face in a file refers to a vertex that does not exist: both a :class:`FaceIndexError`
    and (for code written against older versions) a :class:`MeshParseError`."""


class UnsupportedDataError(MeshError):
    """A writer's format cannot hold an array it was given (the message names it and the
    formats or options that can)."""


class NonTriangleError(MeshError):
    """A face is not a triangle where triangles are required."""


class DegenerateFaceError(MeshError):
    """A face has zero area or repeats a vertex, or (exact geodesics) is too thin for the solver."""


class DuplicateFaceError(MeshError):
    """Two faces use the same three vertices."""


class NonManifoldError(MeshError):
    """An edge has more than two faces, or a vertex has a non-disk neighbourhood."""


class NonOrientableError(MeshError):
    """The faces cannot be oriented consistently."""


class BoundaryError(MeshError):
    """The method needs a closed mesh (or a boundary) and did not get one."""


class SolverError(ManifoldNetsError, RuntimeError):
    """A numerical solve failed on this mesh even after the documented retries.

    Not a :class:`MeshError` (not a :class:`ValueError`): catch :class:`ManifoldNetsError` to
    catch both bad input and solver failures."""

class RunFolderError(ManifoldNetsError):
    """A training run folder cannot be used: it holds an earlier run (neither resumed nor
    overwritten), or another process is writing it (its lock file names the process)."""


class MissingDependencyError(ManifoldNetsError, ImportError):
    """An optional dependency is missing; the message says which ``pip install`` fixes it."""


class MeshWarning(UserWarning):
    """The input is accepted, but the result is probably not what was meant (e.g. a triangle
    soup, whose faces share no vertices, given to a method that needs connected surfaces)."""


_EXTRAS = {
    "torch": "nn",
    "pyvista": "viz",
    "vtk": "viz",
    "distributed": "dist",
    "dask": "dist",
    "meshio": "io",
}


def optional_import(module: str, *, extra: str | None = None, purpose: str = ""):
    """Import an optional dependency or raise an actionable :class:`MissingDependencyError`.

    Parameters
    ----------
    module : str
        Module name, e.g. ``"torch"``.
    extra : str, optional
        The ``manifold-nets`` extra that installs it (looked up for known modules).
    purpose : str
        What needs it, for the message.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = extra or _EXTRAS.get(module.split(".")[0])
        fix = f"pip install 'manifold-nets[{extra}]'" if extra else f"pip install {module}"
        what = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"optional dependency '{module}' is needed{what} but is not installed; "
            f"run: {fix}"
        ) from exc
