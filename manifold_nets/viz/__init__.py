"""Look at meshes and everything the library computes on them (pyvista + matplotlib).

Needs the ``viz`` extra (``pip install 'manifold-nets[viz]'``): importing this package without
pyvista raises a :class:`~manifold_nets.errors.MissingDependencyError` (an :class:`ImportError`)
that names the fix.  Every ``show_*`` / ``plot_*`` function in :mod:`.views` adds to a
``pyvista.Plotter`` (or makes one) and returns it, so the caller can add more, show it in a window
or take an off-screen screenshot (:func:`screenshot`).

Modules, one concept each:

* :mod:`.convert`     Mesh / (V, F) -> ``pyvista.PolyData`` without reordering anything;
* :mod:`.colors`      a stable colour per part (part ``i`` has the same colour in every picture);
* :mod:`.inputs`      label, scalar, map and vector-field files, checked against a mesh;
* :mod:`.views`       scalar, label, vector/frame, geodesic, eigenfunction, log-map patch and
  correspondence views;
* :mod:`.interactive` the desktop viewer behind ``manifold-nets view`` (picking, keys, help);
* :mod:`.plots`       matplotlib figures: training curves, correspondence error curves,
  per-category bars (behind ``manifold-nets plot``).
"""

from __future__ import annotations

from ..errors import optional_import

optional_import("pyvista", extra="viz", purpose="manifold_nets.viz")

from .colors import UNLABELLED_COLOR, label_colors, labels_to_rgb  # noqa: E402
from .convert import to_polydata  # noqa: E402
from .inputs import (  # noqa: E402
    LabelData,
    read_field,
    read_labels,
    read_map,
    read_scalars,
)
from .views import (  # noqa: E402
    has_display,
    new_plotter,
    screenshot,
    show_correspondence,
    show_eigenfunctions,
    show_frames,
    show_geodesic,
    show_labels,
    show_logmap_patch,
    show_mesh,
    show_scalars,
    show_vectors,
)

__all__ = [
    "UNLABELLED_COLOR",
    "LabelData",
    "has_display",
    "label_colors",
    "labels_to_rgb",
    "new_plotter",
    "read_field",
    "read_labels",
    "read_map",
    "read_scalars",
    "screenshot",
    "show_correspondence",
    "show_eigenfunctions",
    "show_frames",
    "show_geodesic",
    "show_labels",
    "show_logmap_patch",
    "show_mesh",
    "show_scalars",
    "show_vectors",
    "to_polydata",
]
