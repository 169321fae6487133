"""Views of a mesh and what the library computes on it; each returns a ``pyvista.Plotter``.

Every ``show_*`` function takes ``plotter=None`` (a new one is made by :func:`new_plotter`:
off-screen when there is no display) and returns the plotter it drew into, so views can be
combined and the caller decides between ``plotter.show()`` and :func:`screenshot`.  Meshes go
through :func:`~manifold_nets.viz.convert.to_polydata`, so vertex ``i`` and face ``f`` of the
picture are vertex ``i`` and face ``f`` of the mesh.

Shapes: a mesh is a :class:`~manifold_nets.Mesh` or a pair ``(V (nV, 3) float64, F (nF, 3)
int64)``; per-vertex values are ``(nV,)``, per-face values ``(nF,)`` (``where`` says which when
``nV == nF``; per face by default).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..errors import FaceIndexError, MeshShapeError, MeshTypeError, UnknownFormatError
from .colors import colors_of, labels_to_rgb
from .convert import _polydata, mesh_arrays

__all__ = ["BACKGROUND", "DRAWN_EXTENT", "drawing_scale", "eigenfunctions", "has_display",
           "legend_entries", "new_plotter", "screenshot",
           "show_correspondence", "show_eigenfunctions", "show_frames", "show_geodesic",
           "show_labels", "show_logmap_patch", "show_mesh", "show_scalars", "show_vectors"]

#: Background of every picture.
BACKGROUND = "white"
#: Colour of a mesh without data.
MESH_COLOR = (0.85, 0.85, 0.82)
#: Bounding-box diagonals drawn in their own coordinates.  OpenGL computes in float32: near 1e20
#: the lighting overflows (a black surface) and near 1e-30 nothing is drawn at all, so a mesh
#: outside this range is drawn scaled by a power of two (:func:`drawing_scale`), which changes
#: no value shown (colour bars, read-outs and picking stay in the mesh's units).
DRAWN_EXTENT = (2.0**-30, 2.0**30)


def has_display() -> bool:
    """Whether a desktop window can be opened: always on Windows and macOS; elsewhere when the X
    server named by ``DISPLAY`` accepts a connection (VTK's windows are X windows; under Wayland
    through XWayland)."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    name = os.environ.get("DISPLAY")
    if not name:
        return False
    if name in _DISPLAY_OK:
        return _DISPLAY_OK[name]
    try:
        import ctypes
        import ctypes.util

        x11 = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        x11.XOpenDisplay.restype = ctypes.c_void_p
        x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        d = x11.XOpenDisplay(name.encode())
        ok = bool(d)
        if ok:
            x11.XCloseDisplay(d)
    except OSError:  # no libX11: VTK cannot open a window either
        ok = False
    _DISPLAY_OK[name] = ok
    return ok


_DISPLAY_OK: dict = {}


def new_plotter(*, off_screen: bool | None = None, window_size=(1024, 768), shape=(1, 1)):
    """A ``pyvista.Plotter`` with a white background; off-screen when ``off_screen`` is True or
    (``None``) when :func:`has_display` is False."""
    import pyvista as pv

    window_size = _check_size(window_size, "window_size")
    if off_screen is None:
        off_screen = not has_display()
    with _quiet_vtk(off_screen and not has_display()):
        p = pv.Plotter(off_screen=off_screen, window_size=list(window_size), shape=shape)
        p.set_background(BACKGROUND)
        p.ren_win  # noqa: B018  (creates the render window now, inside the quiet block)
    return p


class _quiet_vtk:
    """Silence VTK's warning that no X server is found while it falls back to EGL/OSMesa
    off-screen rendering (errors still show)."""

    def __init__(self, active: bool):
        self.active = active

    def __enter__(self):
        if self.active:
            from vtkmodules.vtkCommonCore import vtkLogger

            self.old = vtkLogger.GetCurrentVerbosityCutoff()
            vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)
        return self

    def __exit__(self, *exc):
        if self.active:
            from vtkmodules.vtkCommonCore import vtkLogger

            vtkLogger.SetStderrVerbosity(self.old)


def _check_size(size, what: str) -> tuple[int, int]:
    """``(width, height)`` as two integers >= 1 (VTK draws a 300 x 300 image for 0 and a
    corrupt one for negative sizes)."""
    try:
        w, h = size
        ok = all(float(x) == int(x) and int(x) >= 1 for x in (w, h))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise MeshShapeError(f"{what}: expected (width, height) in pixels, two integers >= 1 (got {size!r})")
    return int(w), int(h)


def screenshot(plotter, path, *, size=None) -> Path:
    """Render ``plotter`` to a PNG at ``path`` (written atomically); ``size`` ``(width, height)``.

    Returns the path.  The image has exactly ``size`` pixels when given.  A ``path`` that does
    not end in ``.png`` raises :class:`~manifold_nets.errors.UnknownFormatError` (the file would
    hold a PNG whatever its name).
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData
    from vtkmodules.vtkIOImage import vtkPNGWriter

    from ..files import atomic_write

    if not str(path).lower().endswith(".png"):
        raise UnknownFormatError(f"screenshot {path}: expected a file name ending in .png (got "
                                 f"{Path(path).suffix or 'no extension'})")
    if size is not None:
        plotter.window_size = list(_check_size(size, "size"))
    with _quiet_vtk(plotter.off_screen and not has_display()):
        img = np.asarray(plotter.screenshot(None, return_img=True))
    h, w = img.shape[:2]
    data = vtkImageData()
    data.SetDimensions(w, h, 1)
    arr = numpy_to_vtk(np.ascontiguousarray(img[::-1]).reshape(-1, img.shape[2]), deep=True)
    data.GetPointData().SetScalars(arr)
    writer = vtkPNGWriter()
    writer.SetInputData(data)
    writer.WriteToMemoryOn()
    writer.Write()
    from vtkmodules.util.numpy_support import vtk_to_numpy

    png = vtk_to_numpy(writer.GetResult()).tobytes()
    atomic_write(path, png)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# helpers


def _where(values: np.ndarray, V, F, where: str | None, what: str) -> str:
    n = len(values)
    if where is not None:
        want = len(F) if where == "face" else len(V)
        if where not in ("face", "vertex") or n != want:
            raise MeshShapeError(f"{what}: expected {want} {where} values (got {n})")
        return where
    if n == len(F):
        return "face"
    if n == len(V):
        return "vertex"
    raise MeshShapeError(f"{what}: expected {len(F)} face or {len(V)} vertex values (got {n})")


def drawing_scale(plotter, V) -> float:
    """The factor by which ``plotter`` draws coordinates: 1 unless the first mesh drawn into it
    has a bounding-box diagonal outside :data:`DRAWN_EXTENT`, then the power of two that brings it
    near 1 (exact in floating point; every later view into the same plotter uses it too)."""
    s = getattr(plotter, "_manifold_nets_scale", None)
    if s is None:
        d = _scale(V)
        s = 1.0 if DRAWN_EXTENT[0] <= d <= DRAWN_EXTENT[1] else float(2.0 ** -round(np.log2(d)))
        plotter._manifold_nets_scale = s
    return s


def _real(values, what: str) -> np.ndarray:
    """``values`` as float64, or a typed error (strings, objects, complex numbers)."""
    a = np.asarray(values)
    if np.iscomplexobj(a) or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise MeshTypeError(f"{what}: expected real numbers (got dtype {a.dtype})")
    return a.astype(np.float64)


def _scale(V) -> float:
    """Diagonal of the bounding box (1 for a single point)."""
    d = float(np.linalg.norm(V.max(axis=0) - V.min(axis=0))) if len(V) else 1.0
    return d if d > 0 else 1.0


def _mean_edge(V, F) -> float:
    e = np.linalg.norm(V[F[:, [1, 2, 0]]] - V[F], axis=2)
    return float(e.mean()) if e.size else 1.0


def _check_vertex(i, nV: int, what: str = "vertex") -> int:
    if not (isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= int(i) < nV):
        raise FaceIndexError(f"{what}: expected a vertex index in [0, {nV - 1}] (got {i})")
    return int(i)


def _bar_fonts(width: int) -> dict:
    """Colour-bar font sizes that suit a window ``width`` pixels wide."""
    f = int(max(10, min(18, round(width / 55))))
    return {"title_font_size": f + 1, "label_font_size": f}


def _plotter(plotter):
    return plotter if plotter is not None else new_plotter()


def _marker(plotter, point, V, color="black", name=None):
    import pyvista as pv

    k = drawing_scale(plotter, V)
    r = 0.012 * _scale(V) * k
    plotter.add_mesh(pv.Sphere(radius=r, center=np.asarray(point) * k), color=color, name=name,
                     pickable=False)


def _isolines(pd, name: str, values, n: int):
    """Contour lines of the point array ``name`` at ``n`` levels strictly inside its range, or at
    the given ``values`` (a list)."""
    a = np.asarray(pd.point_data[name])
    a = a[np.isfinite(a)]
    if isinstance(n, (list, tuple, np.ndarray)):
        levels = list(n)
    else:
        if a.size == 0 or n <= 0 or a.max() <= a.min():
            return None
        t = np.linspace(0.0, 1.0, n + 2)[1:-1]
        levels = list(a.min() * (1 - t) + a.max() * t)  # max - min may overflow
    if not levels:
        return None
    lines = pd.contour(isosurfaces=levels, scalars=name)
    return lines if lines.n_points else None


# ---------------------------------------------------------------------------------------------
# views


def show_mesh(mesh, *, plotter=None, color=MESH_COLOR, show_edges: bool = False, name="mesh", **kwargs):
    """The bare surface (optionally with its edges)."""
    V, F = mesh_arrays(mesh)
    p = _plotter(plotter)
    p.add_mesh(_polydata(V * drawing_scale(p, V), F), color=color, show_edges=show_edges, edge_color=(0.3, 0.3, 0.3),
               smooth_shading=False, name=name, **kwargs)
    return p


def show_scalars(mesh, values, *, where: str | None = None, title: str = "value", cmap="viridis",
                 clim=None, symmetric: bool = False, isolines=0, plotter=None, name="mesh",
                 scalar_bar: bool = True, **kwargs):
    """A scalar field on vertices (smoothly interpolated) or faces (flat), with a colour bar.

    Parameters
    ----------
    values : (nV,) or (nF,) float
        NaN and infinite values are drawn grey.
    symmetric : bool
        Colour range symmetric around 0 (for signed fields such as eigenfunctions).
    isolines : int or list of float
        Number of evenly spaced contour lines (vertex fields only), or their values.
    """
    V, F = mesh_arrays(mesh)
    v = _real(values, title).ravel()
    w = _where(v, V, F, where, title)
    v = np.where(np.isfinite(v), v, np.nan)  # infinite (unreachable) values are drawn grey too
    if clim is not None:
        clim = [float(c) for c in _real(clim, f"{title}: clim")]
        if len(clim) != 2 or not (np.isfinite(clim).all() and clim[0] <= clim[1]):
            raise MeshShapeError(f"{title}: expected clim = [low, high] with finite low <= high (got {clim})")
    p = _plotter(plotter)
    pd = _polydata(V * drawing_scale(p, V), F)
    (pd.point_data if w == "vertex" else pd.cell_data)[title] = v
    fin = v[np.isfinite(v)]
    if clim is None and fin.size:
        clim = [float(fin.min()), float(fin.max())]
        if symmetric:
            m = max(abs(clim[0]), abs(clim[1])) or 1.0
            clim = [-m, m]
        if clim[0] == clim[1]:
            clim = [clim[0] - 0.5, clim[1] + 0.5]
    bar = dict(title=title, color="black", vertical=False, position_x=0.25, position_y=0.03,
               width=0.5, height=0.06, fmt="%.3g", n_labels=3,
               **_bar_fonts(p.window_size[0])) if scalar_bar else None
    p.add_mesh(pd, scalars=title, preference="point" if w == "vertex" else "cell", cmap=cmap,
               clim=clim, nan_color=(0.6, 0.6, 0.6), show_scalar_bar=scalar_bar,
               scalar_bar_args=bar, name=name, **kwargs)
    if w == "vertex" and (np.size(isolines) > 1 or (np.size(isolines) == 1 and np.ravel(isolines)[0])):
        lines = _isolines(pd, title, isolines, isolines if np.ndim(isolines) == 0 else 0)
        if lines is not None:
            p.add_mesh(lines, color="black", line_width=1.5, name=f"{name}-isolines",
                       show_scalar_bar=False, pickable=False)
    return p


def show_labels(mesh, labels=None, part_names=None, *, where: str | None = None, legend: bool = True,
                plotter=None, name="mesh", show_edges: bool = False, **kwargs):
    """Categorical labels, one stable colour per part (:func:`~manifold_nets.viz.label_colors`),
    with a legend of part names.

    Parameters
    ----------
    mesh : Mesh, (V, F) or LabeledMesh
        A :class:`~manifold_nets.data.LabeledMesh` brings its own face labels and part names.
    labels : (nF,) or (nV,) int
        Part index per face (flat) or vertex (coloured per vertex, blended across faces);
        ``-1`` = unlabelled (light grey); a label below -1 is refused
        (:class:`~manifold_nets.errors.MeshShapeError` naming the index).
    part_names : list of str, optional
        Legend entries; parts without a name are called ``part i``.  The legend lists the parts
        that occur (and every named part).
    **kwargs
        Passed to ``Plotter.add_mesh`` (e.g. ``lighting=False`` for unshaded colours).
    """
    V, F = mesh_arrays(mesh)
    if labels is None:
        if not hasattr(mesh, "face_labels"):
            raise MeshShapeError("labels: expected labels or a LabeledMesh (got neither)")
        labels, where = mesh.face_labels, "face"
        part_names = part_names if part_names is not None else list(mesh.part_names)
    from .inputs import _as_int64

    lab = _as_int64(np.asarray(labels).ravel(), "labels", "values")
    w = _where(lab, V, F, where, "labels")
    if lab.size and lab.min() < -1:  # as read_labels: only -1 means unlabelled
        i = int(np.argmin(lab))
        raise MeshShapeError(f"labels: expected labels >= -1 (-1: unlabelled) (got {lab[i]} at {w} {i})")
    names = list(part_names or [])
    n_parts = max(len(names), int(lab.max()) + 1 if lab.size else 0)
    rgb = labels_to_rgb(lab, n_parts)
    p = _plotter(plotter)
    pd = _polydata(V * drawing_scale(p, V), F)
    (pd.point_data if w == "vertex" else pd.cell_data)["rgb"] = rgb
    p.add_mesh(pd, scalars="rgb", rgb=True, preference="point" if w == "vertex" else "cell",
               show_edges=show_edges, edge_color=(0.3, 0.3, 0.3), name=name, **kwargs)
    if legend and n_parts:
        entries = legend_entries(lab, names)
        if len(entries) <= 24:
            h = min(0.05 * len(entries), 0.9)
            p.add_legend(entries, bcolor="white", border=False, size=(0.2, h), loc="upper right",
                         face="rectangle", name=f"{name}-legend")
    return p


def legend_entries(labels, part_names) -> list:
    """``[[name, (r, g, b) in 0..1], ...]``: every part that occurs in ``labels`` or has a name, in
    index order, then ``unlabelled`` when some label is -1 (as many entries as distinct parts,
    however large the indices)."""
    lab = np.asarray(labels, dtype=np.int64)
    names = list(part_names or [])
    parts = np.union1d(np.unique(lab[lab >= 0]), np.arange(len(names))).astype(np.int64)
    cols = colors_of(parts) / 255.0
    entries = [[names[i] if i < len(names) and names[i] else f"part {i}", c.tolist()]
               for i, c in zip(parts.tolist(), cols)]
    if (lab < 0).any():
        entries.append(["unlabelled", [220 / 255] * 3])
    return entries


def _world_vectors(V, F, vectors, where):
    vec = np.asarray(vectors)
    if np.iscomplexobj(vec):
        from ..geometry import tangent_frames, tangent_to_world

        if vec.shape != (len(V),):
            raise MeshShapeError(f"vectors: expected {len(V)} complex tangent vectors (got shape {vec.shape})")
        _, x, y = tangent_frames(V, F)
        return tangent_to_world(vec, x, y), "vertex"
    vec = _real(vec, "vectors")
    if vec.ndim != 2 or vec.shape[1] != 3:
        raise MeshShapeError(f"vectors: expected (n, 3) world vectors or (nV,) complex (got shape {vec.shape})")
    return vec, _where(vec, V, F, where, "vectors")


def _spread(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of about ``k`` points spread over the surface (a voxel-grid subsample, in
    increasing order; deterministic)."""
    n = len(points)
    if n <= k:
        return np.arange(n)
    lo, hi = points.min(axis=0), points.max(axis=0)
    ext = np.maximum(hi - lo, 1e-12)
    # voxel size giving roughly k occupied cells on a surface (area ~ side^2)
    cell = np.sqrt((ext[0] * ext[1] + ext[1] * ext[2] + ext[0] * ext[2]) * 2 / k)
    for _ in range(8):
        key = np.floor((points - lo) / cell).astype(np.int64)
        _, first = np.unique(key, axis=0, return_index=True)
        if len(first) > 1.5 * k:
            cell *= 1.25
        elif len(first) < 0.6 * k:
            cell /= 1.25
        else:
            break
    return np.sort(first)


def show_vectors(mesh, vectors, *, where: str | None = None, plotter=None, n_arrows: int = 800,
                 length: float | None = None, color="black", name="vectors", normalize=False):
    """Arrows of a vector field: world ``(nV|nF, 3)`` vectors or a complex ``(nV,)`` tangent field
    in the vertex gauge (frames, transported vectors, gradients).

    At most about ``n_arrows`` arrows, spread over the surface; the longest is ``length``
    (default 1.5 mean edge lengths, at least 2 % of the size), unless ``normalize``, where every
    arrow has that length.
    """
    import pyvista as pv

    V, F = mesh_arrays(mesh)
    vec, w = _world_vectors(V, F, vectors, where)
    if int(n_arrows) < 1:
        raise MeshShapeError(f"n_arrows: expected a positive number of arrows (got {n_arrows})")
    base = V if w == "vertex" else V[F].mean(axis=1)
    idx = _spread(base, int(n_arrows))
    pts, vv = base[idx], vec[idx]
    fin = np.isfinite(vv).all(axis=1)
    pts, vv = pts[fin], vv[fin]
    # lengths relative to the longest component: |v| of 1e300 (or 1e-300) vectors would
    # overflow (underflow) and every arrow would vanish
    top = float(np.abs(vv).max()) if vv.size else 0.0
    vv = vv / top if top > 0 else vv
    norms = np.linalg.norm(vv, axis=1)
    ok = norms > 0
    pts, vv, norms = pts[ok], vv[ok], norms[ok]
    p = _plotter(plotter)
    if not len(pts):
        return p
    spacing = np.sqrt(max(_scale(V) ** 2 / 3, 1e-300) / max(len(idx), 1))
    L = length if length is not None else max(1.5 * spacing, 0.02 * _scale(V))
    vv = vv / norms[:, None] * L if normalize else vv / norms.max() * L
    k = drawing_scale(p, V)
    pts, vv = pts * k, vv * k
    src = pv.PolyData(pts)
    src["vectors"] = vv
    arrows = src.glyph(orient="vectors", scale="vectors", factor=1.0,
                       geom=pv.Arrow(tip_length=0.3, tip_radius=0.12, shaft_radius=0.04))
    p.add_mesh(arrows, color=color, name=name, pickable=False, show_scalar_bar=False)
    return p


def show_frames(mesh, *, plotter=None, n_arrows: int = 600, gauge=None, surface: bool = True,
                name="frames"):
    """The tangent frames of :func:`manifold_nets.geometry.tangent_frames`: x axes red, y axes
    green (right-handed about the outward normal), on about ``n_arrows`` vertices."""
    from ..geometry import tangent_frames

    V, F = mesh_arrays(mesh)
    p = _plotter(plotter)
    if surface:
        show_mesh((V, F), plotter=p)
    _, x, y = tangent_frames(V, F, gauge=gauge)
    show_vectors((V, F), x, where="vertex", plotter=p, n_arrows=n_arrows, normalize=True,
                 color=(0.85, 0.1, 0.1), name=f"{name}-x")
    show_vectors((V, F), y, where="vertex", plotter=p, n_arrows=n_arrows, normalize=True,
                 color=(0.1, 0.6, 0.1), name=f"{name}-y")
    return p


def show_geodesic(mesh, source, *, distances=None, isolines: int = 15, cmap="magma_r",
                  plotter=None, name="mesh", solver=None):
    """Geodesic distance from vertex ``source`` with evenly spaced isolines and a marker.

    ``distances`` ``(nV,)`` is computed with :func:`manifold_nets.geometry.geodesic_distance`
    (heat method; or ``solver.distances`` of a prefactored
    :class:`~manifold_nets.geometry.HeatGeodesicSolver`) when not given.
    """
    V, F = mesh_arrays(mesh)
    s = _check_vertex(source, len(V), "geodesic source")
    if distances is None:
        if solver is not None:
            distances = np.asarray(solver.distances(s)).ravel()
        else:
            from ..geometry import geodesic_distance

            distances = geodesic_distance(V, F, s)
    d = _real(distances, "geodesic distance").ravel()
    p = show_scalars((V, F), d, where="vertex", title="geodesic distance", cmap=cmap,
                     isolines=isolines, plotter=plotter, name=name)
    _marker(p, V[s], V, color=(0.1, 0.4, 1.0), name=f"{name}-source")
    return p


def eigenfunctions(mesh, k: int):
    """The ``k + 1`` lowest Laplace–Beltrami eigenpairs ``(evals (k+1,), evecs (nV, k+1))``
    (cotan or robust Laplacian as :func:`~manifold_nets.geometry.choose_laplacian` decides)."""
    from .. import geometry as g

    V, F = mesh_arrays(mesh)
    kind = g.choose_laplacian(V, F)
    if kind == "robust":
        L, M = g.robust_laplacian(V, F)
    else:
        L, M = g.cotan_laplacian(V, F), g.mass_matrix(V, F)
    return g.eigenbasis(L, M, min(int(k) + 1, len(V)))


def show_eigenfunctions(mesh, index: int = 1, *, basis=None, plotter=None, isolines: int = 0,
                        cmap="RdBu_r", name="mesh"):
    """Eigenfunction ``index`` (0 = constant) with a colour range symmetric around 0 (up to the
    98th percentile of ``|φ|``: eigenfunctions peak at thin extremities, which would wash out the
    rest) and its nodal line (the zero isoline) plus ``isolines`` more.

    ``basis`` = ``(evals, evecs)`` as :func:`eigenfunctions` returns (computed when None).
    """
    V, F = mesh_arrays(mesh)
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        raise MeshShapeError(f"eigenfunction: expected an index >= 0 (got {index!r})")
    evals, evecs = basis if basis is not None else eigenfunctions((V, F), index)
    if not 0 <= index < evecs.shape[1]:
        raise MeshShapeError(f"eigenfunction: expected an index in [0, {evecs.shape[1] - 1}] (got {index})")
    phi = np.asarray(evecs[:, index], dtype=np.float64)
    title = f"eigenfunction {index}"
    m = float(np.quantile(np.abs(phi), 0.98)) or float(np.abs(phi).max()) or 1.0
    p = show_scalars((V, F), phi, where="vertex", title=title, cmap=cmap, clim=[-m, m],
                     isolines=0, plotter=plotter, name=name)
    pd = _polydata(V * drawing_scale(p, V), F)
    pd.point_data["phi"] = phi
    levels = [0.0]
    if isolines:
        m = float(np.abs(phi).max())
        levels += [x for x in np.linspace(-m, m, isolines + 2)[1:-1] if abs(x) > 1e-12 * m]
    if np.ptp(phi) > 0:
        lines = pd.contour(isosurfaces=levels, scalars="phi")
        if lines.n_points:
            p.add_mesh(lines, color="black", line_width=1.5, name=f"{name}-isolines", pickable=False)
    return p


def show_logmap_patch(mesh, source, *, radius: float | None = None, n_rings: int = 5,
                      n_spokes: int = 12, log=None, plotter=None, name="mesh"):
    """The logarithmic map around ``source`` as a geodesic polar grid.

    Inside geodesic radius ``radius`` (default 30 % of the largest distance) the surface is
    coloured by the polar angle θ (cyclic colours, θ = 0 along the source's gauge x axis, drawn
    as a black arrow) with black rings at ``n_rings`` evenly spaced radii and ``n_spokes``
    spokes; the rest is grey.  Needs matplotlib (its cyclic ``hsv`` colour map).
    ``log`` = ``(r, theta)`` ``(nV,)`` each (default: :func:`manifold_nets.geometry.log_map`).
    """
    V, F = mesh_arrays(mesh)
    s = _check_vertex(source, len(V), "log map source")
    if log is None:
        from ..geometry import log_map

        log = log_map(V, F, s)
    r, theta = (np.asarray(a, dtype=np.float64).ravel() for a in log)
    fin = np.isfinite(r)
    R = float(radius) if radius is not None else 0.3 * float(r[fin].max() if fin.any() else 1.0)
    inside = fin & (r <= R)
    # colours computed per vertex from the angle, then interpolated as RGB: the cyclic colour map
    # has the same colour at -pi and pi, so faces across the angle's cut stay one colour
    from matplotlib import colormaps

    rgb = np.tile(np.asarray(MESH_COLOR), (len(V), 1))
    hue = (np.where(inside, theta, 0.0) + np.pi) / (2 * np.pi)
    rgb[inside] = 0.8 * colormaps["hsv"](hue[inside])[:, :3] + 0.2
    p = _plotter(plotter)
    ks = drawing_scale(p, V)
    pd = _polydata(V * ks, F)
    pd.point_data["rgb"] = (rgb * 255).round().astype(np.uint8)
    p.add_mesh(pd, scalars="rgb", rgb=True, name=name)
    pd.point_data["r"] = np.where(fin, r, 10 * R)
    rings = [R * (i + 1) / n_rings for i in range(n_rings)]
    parts = []
    ring_lines = pd.contour(isosurfaces=rings, scalars="r")
    if ring_lines.n_points:
        parts.append(ring_lines)
    for k in range(max(n_spokes // 2, 1)):
        phi = k * 2 * np.pi / max(n_spokes, 1)
        pd.point_data["s"] = np.sin(theta - phi)
        pd.point_data["c"] = np.cos(theta - phi)
        lines = pd.contour(isosurfaces=[0.0], scalars="s")
        if not lines.n_points:
            continue
        lines = lines.clip_scalar(scalars="r", value=R, invert=True)
        if lines.n_points:
            parts.append(lines)
    for i, lines in enumerate(parts):
        p.add_mesh(lines, color="black", line_width=1.5, name=f"{name}-grid{i}", pickable=False,
                   show_scalar_bar=False)
    _marker(p, V[s], V, color="black", name=f"{name}-source")
    # the gauge direction (theta = 0) at the source
    from ..geometry import tangent_frames

    _, x, _ = tangent_frames(V, F)
    import pyvista as pv

    arrow = pv.Arrow(start=V[s] * ks, direction=x[s], scale=0.5 * R * ks, tip_length=0.25,
                     tip_radius=0.08, shaft_radius=0.03)
    p.add_mesh(arrow, color="black", name=f"{name}-gauge", pickable=False)
    return p


def correspondence_colors(V) -> np.ndarray:
    """Smooth colours of a target mesh's vertices from their normalised coordinates:
    ``(nV, 3)`` float in [0.15, 1] (red grows with x, green with z, blue falls with y), so
    neighbouring points have similar colours and distant points different ones."""
    V = np.asarray(V, dtype=np.float64)
    lo, hi = V.min(axis=0), V.max(axis=0)
    t = (V - lo) / np.where(hi > lo, hi - lo, 1.0)
    return 0.15 + 0.85 * np.column_stack([t[:, 0], t[:, 2], 1.0 - t[:, 1]])


def show_correspondence(source, target, vertex_map, *, n_lines: int = 0, gap: float = 0.3,
                        plotter=None, name="corr"):
    """A map from ``source`` vertices to ``target`` vertices, side by side by colour transfer.

    The target is coloured smoothly by position; source vertex ``i`` takes the colour of target
    vertex ``vertex_map[i]``, so a good map shows the same colour pattern on both.  The target is
    placed to the right (+x) of the source with a gap of ``gap`` times the larger width, and
    ``n_lines`` lines join well spread source vertices to their images.

    Parameters
    ----------
    vertex_map : (nV_source,) int
        0-based target vertex of each source vertex.
    """
    import pyvista as pv

    Vs, Fs = mesh_arrays(source)
    Vt, Ft = mesh_arrays(target)
    from .inputs import _as_int64

    m = np.asarray(vertex_map)
    if m.shape != (len(Vs),):
        raise MeshShapeError(f"map: expected {len(Vs)} target indices, one per source vertex (got shape {m.shape})")
    m = _as_int64(m, "map", "target vertex indices")  # 0.5 must not silently become 0
    bad = np.flatnonzero((m < 0) | (m >= len(Vt)))
    if bad.size:
        raise FaceIndexError(f"map: expected target vertex indices in [0, {len(Vt) - 1}] "
                             f"(got {m[bad[0]]} for source vertex {bad[0]})")
    col_t = correspondence_colors(Vt)
    col_s = col_t[m]
    ws = Vs.max(axis=0) - Vs.min(axis=0)
    wt = Vt.max(axis=0) - Vt.min(axis=0)
    shift = np.zeros(3)
    shift[0] = Vs.max(axis=0)[0] - Vt.min(axis=0)[0] + gap * max(ws[0], wt[0], 1e-12)
    cs, ct = (Vs.max(axis=0) + Vs.min(axis=0)) / 2, (Vt.max(axis=0) + Vt.min(axis=0)) / 2
    shift[1:] = cs[1:] - ct[1:]
    Vt2 = Vt + shift
    p = _plotter(plotter)
    k = drawing_scale(p, np.vstack([Vs, Vt2]))
    Vs, Vt2 = Vs * k, Vt2 * k
    a = _polydata(Vs, Fs)
    a.point_data["rgb"] = (col_s * 255).astype(np.uint8)
    b = _polydata(Vt2, Ft)
    b.point_data["rgb"] = (col_t * 255).astype(np.uint8)
    p.add_mesh(a, scalars="rgb", rgb=True, name=f"{name}-source", ambient=0.3, diffuse=0.75)
    p.add_mesh(b, scalars="rgb", rgb=True, name=f"{name}-target", pickable=False, ambient=0.3,
               diffuse=0.75)
    if int(n_lines) < 0:
        raise MeshShapeError(f"n_lines: expected a number of lines >= 0 (got {n_lines})")
    if n_lines:
        idx = _spread(Vs, int(n_lines))
        pts = np.vstack([Vs[idx], Vt2[m[idx]]])
        k = len(idx)
        cells = np.column_stack([np.full(k, 2), np.arange(k), np.arange(k) + k]).ravel()
        lines = pv.PolyData(pts, lines=cells)
        lines.cell_data["rgb"] = (col_s[idx] * 255).astype(np.uint8)
        p.add_mesh(lines, scalars="rgb", rgb=True, line_width=2, name=f"{name}-lines", pickable=False)
    p.camera_position = "xy"
    p.reset_camera()
    return p
