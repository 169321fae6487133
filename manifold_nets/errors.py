"""Typed errors for bad input.

Every error raised for user input is a :class:`MeshError` (a :class:`ValueError`), and its
message follows the pattern ``"<what>: expected <...> (got <...>)"`` and names the offending
vertex, face or edge where there is one.  Library code never uses ``assert`` on user input.
"""

from __future__ import annotations

__all__ = [
    "MeshError",
    "MeshFileError",
    "MeshFileNotFoundError",
    "UnknownFormatError",
    "MeshParseError",
    "EmptyMeshError",
    "MeshShapeError",
    "NonFiniteError",
    "FaceIndexError",
    "NonTriangleError",
    "DegenerateFaceError",
    "DuplicateFaceError",
    "NonManifoldError",
    "NonOrientableError",
    "BoundaryError",
    "SolverError",
    "MissingDependencyError",
    "optional_import",
]


class MeshError(ValueError):
    """Base class of every error about a mesh given by the user."""


class MeshFileError(MeshError):
    """A mesh file cannot be read."""


class MeshFileNotFoundError(MeshFileError, FileNotFoundError):
    """The mesh file does not exist."""


class UnknownFormatError(MeshFileError):
    """The file extension or content is not a supported mesh format."""


class MeshParseError(MeshFileError):
    """The file exists and has a known format but its content is malformed."""


class EmptyMeshError(MeshError):
    """The mesh has no vertices or no faces where some are required."""


class MeshShapeError(MeshError):
    """An array has the wrong shape or dtype."""


class NonFiniteError(MeshError):
    """A vertex coordinate is NaN or infinite."""


class FaceIndexError(MeshError):
    """A face refers to a vertex index that is negative or out of range."""


class NonTriangleError(MeshError):
    """A face is not a triangle where triangles are required."""


class DegenerateFaceError(MeshError):
    """A face has zero area or repeats a vertex."""


class DuplicateFaceError(MeshError):
    """Two faces use the same three vertices."""


class NonManifoldError(MeshError):
    """An edge has more than two faces, or a vertex has a non-disk neighbourhood."""


class NonOrientableError(MeshError):
    """The faces cannot be oriented consistently."""


class BoundaryError(MeshError):
    """The method needs a closed mesh (or a boundary) and did not get one."""


class SolverError(MeshError):
    """A numerical solve failed on this mesh even after the documented retries."""


class MissingDependencyError(ImportError):
    """An optional dependency is missing; the message says which ``pip install`` fixes it."""


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
