"""The desktop viewer behind ``manifold-nets view``: layers, picking, keys and a help overlay.

A :class:`Viewer` holds one mesh and a list of *layers* (labels, scalar fields, eigenfunctions,
geodesic distances; or a correspondence), shows one layer at a time and steps through them with
keys.  The same scene renders off-screen (:meth:`Viewer.screenshot`) for machines without a
display and for tests.

Keys (also in the help overlay, :data:`KEYS`):

=============  ==================================================================
right-click    pick a vertex: its index, label and the geodesic distance from it
               (a new layer)
n, Right       next layer (labels, scalar columns, eigenfunctions, picked distances)
N, Left        previous layer
a              show or hide the vector field arrows
g              show or hide the mesh edges
s              save a screenshot (``view-<n>.png`` in the current folder)
h              show or hide this help
r              reset the camera (VTK's own key, like w / s for wireframe / surface)
q              quit
=============  ==================================================================

(VTK's own ``e`` also quits and its ``p`` outlines the picked object in red, so they are not used.)

Large meshes stay interactive: nothing is computed per frame; isolines are computed once per
layer; the heat-method geodesic solver is factorised once, at the first pick, and above
:data:`LARGE_MESH` vertices a pick gives the shortest edge-path distance instead (Dijkstra on a
graph built once; seconds instead of minutes of factorisation on 500k vertices), which the layer
title says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FaceIndexError
from .colors import labels_to_rgb
from .convert import _polydata, mesh_arrays
from .views import (
    MESH_COLOR,
    _bar_fonts,
    drawing_scale,
    eigenfunctions,
    legend_entries,
    new_plotter,
    screenshot,
    show_correspondence,
    show_vectors,
)

__all__ = ["KEYS", "LARGE_MESH", "Layer", "Viewer"]

#: Above this many vertices a pick shows the edge-path (Dijkstra) distance, not the heat method's.
LARGE_MESH = 200_000

log = logging.getLogger(__name__)

#: Key bindings shown by the help overlay.
KEYS = (
    ("right-click", "pick a vertex: index, label, distances from it"),
    ("n / Right", "next layer"),
    ("N / Left", "previous layer"),
    ("a", "show / hide the vector field"),
    ("g", "show / hide edges"),
    ("s", "save a screenshot (view-<n>.png)"),
    ("h", "show / hide this help"),
    ("r", "reset the camera"),
    ("q", "quit"),
)


@dataclass
class Layer:
    """One thing to colour the mesh by.

    ``kind`` is ``"labels"`` (``values`` int per face/vertex, ``part_names``), ``"scalars"``
    (``values`` float; ``cmap``, ``symmetric``, ``isolines``) or ``"plain"``.
    """

    title: str
    kind: str
    values: np.ndarray | None = None
    where: str = "vertex"
    cmap: str = "viridis"
    symmetric: bool = False
    isolines: int = 0
    part_names: tuple = ()
    marker: int | None = None
    bar: str | None = None  # the colour bar's title (default: the title without its details)
    lines: object = None  # the isolines, computed once


class Viewer:
    """A mesh with layers to step through.

    Parameters
    ----------
    mesh : Mesh or (V, F)
    layers : list of Layer
        Shown in order; the first (or ``start``) is shown first.  Empty: the plain surface.
    vectors : (nV|nF, 3) float, optional
        A world-space vector field drawn as arrows over every layer (``where`` in ``vectors_where``).
    labels : LabelData, optional
        Used for the picking read-out (the label of the picked vertex).
    correspondence : tuple (target mesh, vertex map (nV,) int), optional
        Show the mesh and ``target`` side by side by colour transfer instead of layers.
    eigen : int
        Add eigenfunctions ``1 .. eigen`` as layers (computed once, when the viewer is built).
    n_lines : int
        Lines joining source and target points in a correspondence view.
    """

    def __init__(self, mesh, layers=None, *, vectors=None, vectors_where=None, labels=None,
                 correspondence=None, eigen: int = 0, start: int = 0, show_edges: bool = False,
                 n_lines: int = 12, screenshot_dir: str | Path = "."):
        self.V, self.F = mesh_arrays(mesh)
        self.layers: list[Layer] = list(layers or [])
        self.vectors = vectors
        self.vectors_where = vectors_where
        self.labels = labels
        self.correspondence = correspondence
        self.show_edges = show_edges
        self.n_lines = n_lines
        self.screenshot_dir = Path(screenshot_dir)
        self._solver = None
        self._tree = None
        self._shots = 0
        self.plotter = None
        self.picked: list[int] = []
        if eigen:
            evals, evecs = eigenfunctions((self.V, self.F), eigen)
            for i in range(1, evecs.shape[1]):
                self.layers.append(Layer(f"eigenfunction {i} (eigenvalue {evals[i]:.4g})", "scalars",
                                         evecs[:, i], "vertex", cmap="RdBu_r", symmetric=True,
                                         isolines=-1))
        if not self.layers:
            self.layers.append(Layer("surface", "plain"))
        if not 0 <= start < len(self.layers):
            raise FaceIndexError(f"layer: expected an index in [0, {len(self.layers) - 1}] (got {start})")
        self.current = start

    # -- scene ----------------------------------------------------------------------------
    def build(self, *, off_screen: bool | None = None, window_size=(1024, 768)):
        """Make the plotter with the current layer, overlays and (on screen) interaction."""
        p = new_plotter(off_screen=off_screen, window_size=window_size)
        self.plotter = p
        self._height = int(window_size[1])
        self._font = int(max(7, min(12, round(window_size[0] / 85))))
        if self.correspondence is not None:
            target, vmap = self.correspondence
            show_correspondence((self.V, self.F), target, vmap, n_lines=self.n_lines, plotter=p)
            p.camera.zoom(1.3)
            self._title(f"correspondence: source (left, {len(self.V)} vertices) -> target "
                        f"(right, {len(mesh_arrays(target)[0])} vertices)")
        else:
            self.pd = _polydata(self.V * drawing_scale(p, self.V), self.F)
            self._show_layer()
            if self.vectors is not None:
                show_vectors((self.V, self.F), self.vectors, where=self.vectors_where,
                             plotter=p, name="field")
            p.reset_camera()
            p.camera.zoom(1.15)
        if not p.off_screen:
            self._interaction()
        return p

    def _title(self, text: str):
        self._text(text, (0.01, self._row(1)), "title", self._font)

    def _row(self, k: int) -> float:
        """Window fraction of the ``k``-th text line from the top."""
        line = 2.2 * getattr(self, "_font", 10) + 4
        return max(0.0, 1.0 - (line * k + 6.0) / max(self._height, 1))

    def _text(self, text: str, where, name: str, size: int, color="black"):
        """Text at a fixed font size at ``where`` (fractions of the window from the lower left)."""
        return self.plotter.add_text(text, position=where, viewport=True, font_size=size,
                                     color=color, name=name, render=False)

    def _show_layer(self):
        p, layer = self.plotter, self.layers[self.current]
        for nm in ("main-isolines", "main-source"):
            p.remove_actor(nm, render=False)
        p.remove_scalar_bar() if p.scalar_bars else None
        n = len(self.layers)
        suffix = f"   [{self.current + 1}/{n}]" if n > 1 else ""
        self._title(layer.title + suffix)
        kw = dict(name="main", show_edges=self.show_edges, edge_color=(0.3, 0.3, 0.3), reset_camera=False)
        pd = self.pd
        if layer.kind == "plain":
            p.add_mesh(pd, color=MESH_COLOR, **kw)
            return
        pref = "point" if layer.where == "vertex" else "cell"
        data = pd.point_data if layer.where == "vertex" else pd.cell_data
        if layer.kind == "labels":
            data["rgb"] = labels_to_rgb(layer.values, len(layer.part_names))
            p.add_mesh(pd, scalars="rgb", rgb=True, preference=pref, **kw)
            self._legend(layer)
            return
        p.remove_legend(render=False) if p.legend else None
        v = np.asarray(layer.values, dtype=np.float64)
        v = np.where(np.isfinite(v), v, np.nan)  # unreachable (inf) and missing values: grey
        data["value"] = v
        fin = v[np.isfinite(v)]
        lo, hi = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
        if layer.symmetric:  # eigenfunctions: up to the 98th percentile of |value|
            m = float(np.quantile(np.abs(fin), 0.98)) if fin.size else 0.0
            m = m or max(abs(lo), abs(hi)) or 1.0
            lo, hi = -m, m
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        bar = dict(title=layer.bar or layer.title.split(" (")[0], color="black", vertical=False,
                   position_x=0.25, position_y=0.03, width=0.5, height=0.06, fmt="%.3g", n_labels=3,
                   **_bar_fonts(self.plotter.window_size[0]))
        p.add_mesh(pd, scalars="value", preference=pref, cmap=layer.cmap, clim=[lo, hi],
                   nan_color=(0.6, 0.6, 0.6), scalar_bar_args=bar, **kw)
        if layer.where == "vertex" and layer.isolines and fin.size and np.ptp(fin) > 0:
            if layer.lines is None:
                t = np.linspace(0.0, 1.0, max(layer.isolines, 0) + 2)[1:-1]
                levels = [0.0] if layer.isolines < 0 else list(lo * (1 - t) + hi * t)  # hi - lo may overflow
                layer.lines = pd.contour(isosurfaces=levels, scalars="value")
            lines = layer.lines
            if lines.n_points:
                p.add_mesh(lines, color="black", line_width=1.5, name="main-isolines",
                           pickable=False, reset_camera=False)
        if layer.marker is not None:
            import pyvista as pv

            k = drawing_scale(p, self.V)
            r = 0.012 * float(np.linalg.norm(np.ptp(self.V, axis=0)) or 1.0) * k
            p.add_mesh(pv.Sphere(radius=r, center=self.V[layer.marker] * k), color=(0.1, 0.4, 1.0),
                       name="main-source", pickable=False, reset_camera=False)

    def _legend(self, layer: Layer):
        entries = legend_entries(layer.values, layer.part_names)
        if entries and len(entries) <= 24:
            self.plotter.add_legend(entries, bcolor="white", border=False,
                                    size=(0.22, min(0.05 * len(entries), 0.9)), loc="upper right",
                                    face="rectangle", name="legend")

    def step(self, delta: int) -> None:
        """Show the layer ``delta`` places further (cyclically)."""
        if self.correspondence is not None:
            return
        self.current = (self.current + delta) % len(self.layers)
        self._show_layer()
        self.plotter.render()

    # -- picking --------------------------------------------------------------------------
    def nearest_vertex(self, point) -> int:
        """Index of the vertex closest to a 3D point."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.V)
        # a picked point is in drawing coordinates (see views.drawing_scale)
        k = getattr(self.plotter, "_manifold_nets_scale", None) or 1.0
        return int(self._tree.query(np.asarray(point, dtype=np.float64) / k)[1])

    def pick(self, vertex: int) -> str:
        """Geodesic distance from ``vertex`` as a new layer (shown), and a one-line read-out
        (index, label, position) that is also returned."""
        vertex = int(vertex)
        if not 0 <= vertex < len(self.V):
            raise FaceIndexError(f"pick: expected a vertex index in [0, {len(self.V) - 1}] (got {vertex})")
        d, what = self._distances(vertex)
        self.picked.append(vertex)
        text = f"vertex {vertex}"
        if self.labels is not None:
            lab = self.labels.values
            if self.labels.where == "vertex":
                li = int(lab[vertex])
            else:  # the label covering most faces around the vertex
                faces = np.flatnonzero((self.F == vertex).any(axis=1))
                li = int(np.bincount(lab[faces] + 1).argmax() - 1) if faces.size else -1
            names = self.labels.part_names
            text += f", label {li}" + (f" ({names[li]})" if 0 <= li < len(names) else "")
        x, y, z = self.V[vertex]
        text += f", at ({x:.4g}, {y:.4g}, {z:.4g})"
        layer = Layer(f"{what} from vertex {vertex}", "scalars", d, "vertex",
                      cmap="magma_r", isolines=15, marker=vertex, bar=what)
        self.layers.append(layer)
        self.current = len(self.layers) - 1
        if self.plotter is not None:
            self._show_layer()
            self._text(text, (0.01, self._row(2)), "readout", max(self._font - 1, 7))
        return text

    def _distances(self, vertex: int):
        """``(distances (nV,), what they are)`` from ``vertex``."""
        if len(self.V) > LARGE_MESH:
            if self._solver is None:
                import scipy.sparse as sp

                e = np.concatenate([self.F[:, [0, 1]], self.F[:, [1, 2]], self.F[:, [2, 0]]])
                w = np.linalg.norm(self.V[e[:, 0]] - self.V[e[:, 1]], axis=1)
                n = len(self.V)
                self._solver = sp.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
            from scipy.sparse.csgraph import dijkstra

            d = dijkstra(self._solver, directed=False, indices=vertex)
            return np.asarray(d).ravel(), "edge-path distance"
        if self._solver is None:
            from ..geometry import HeatGeodesicSolver

            self._solver = HeatGeodesicSolver(self.V, self.F)
        return np.asarray(self._solver.distances(vertex)).ravel(), "geodesic distance"

    # -- interaction ----------------------------------------------------------------------
    def _interaction(self):
        p = self.plotter
        help_text = "keys\n" + "\n".join(f"{k:>12}  {v}" for k, v in KEYS)
        self._help = self._text(help_text, (0.01, 0.35), "help", 8)
        self._help.prop.font_family = "courier"
        self._help.prop.background_color = "white"
        self._help.prop.background_opacity = 0.85
        self._help.SetVisibility(False)
        self._hint = self._text("h: help", (0.01, 0.01), "hint", 8, color=(0.4, 0.4, 0.4))
        for key in ("n", "Right"):
            p.add_key_event(key, lambda: self.step(1))
        for key in ("N", "Left"):
            p.add_key_event(key, lambda: self.step(-1))
        p.add_key_event("h", self._toggle_help)
        p.add_key_event("s", self._save)
        p.add_key_event("a", self._toggle_field)
        p.add_key_event("g", self._toggle_edges)
        if self.correspondence is None:
            # a cell picker finds the first surface hit along the ray (a point picker may pick a
            # vertex on the far side); the nearest vertex to the hit point is the one picked
            p.enable_point_picking(callback=self._on_pick, show_message=False, use_picker=True,
                                   left_clicking=False, show_point=False, pickable_window=False,
                                   picker="cell")

    def _on_pick(self, point, *args):
        try:
            self.pick(self.nearest_vertex(point))
        except Exception as exc:  # a callback must never take the window down
            log.warning("picking failed: %s", exc)
        self.plotter.render()

    def _toggle_help(self):
        on = not self._help.GetVisibility()
        self._help.SetVisibility(on)
        self._hint.SetVisibility(not on)
        self.plotter.render()

    def _toggle_field(self):
        actor = self.plotter.actors.get("field")
        if actor is not None:
            actor.SetVisibility(not actor.GetVisibility())
            self.plotter.render()

    def _toggle_edges(self):
        self.show_edges = not self.show_edges
        self._show_layer()
        self.plotter.render()

    def _save(self):
        while True:
            self._shots += 1
            path = self.screenshot_dir / f"view-{self._shots}.png"
            if not path.exists():
                break
        try:
            screenshot(self.plotter, path)
            msg = f"saved {path}"
        except OSError as exc:
            msg = f"could not save {path}: {exc.strerror or exc}"
        self._text(msg, (0.01, self._row(2)), "readout", max(self._font - 1, 7))
        self.plotter.render()

    # -- output ---------------------------------------------------------------------------
    def screenshot(self, path, size=(1024, 768)) -> Path:
        """Render the current view off-screen to a PNG of ``size`` pixels."""
        p = self.build(off_screen=True, window_size=size)
        try:
            return screenshot(p, path, size=size)
        finally:
            p.close()

    def show(self, window_size=(1024, 768)) -> None:
        """Open the desktop window (blocks until it is closed)."""
        p = self.build(off_screen=False, window_size=window_size)
        p.show()
