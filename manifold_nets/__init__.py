"""manifold_nets: geometry processing and geometric deep learning on meshes and manifolds.

Importing this package is light: it never imports torch, pyvista or dask.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import MeshError
from .io import write_mesh
from .mesh import Mesh, read_mesh

__all__ = ["__version__", "Mesh", "MeshError", "read_mesh", "write_mesh"]
