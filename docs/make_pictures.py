"""Render the README pictures to ``docs/images/*.png`` (small PNGs; off-screen, no display needed).

    python docs/make_pictures.py            # all pictures
    python docs/make_pictures.py labels     # one of: labels geodesic frames logmap eigen correspondence
    python docs/make_pictures.py --out DIR  # somewhere else (the tests do this)

Every picture is made from generated meshes by the library's own functions, so the pictures show
what the code does today:

* ``labels.png``          a synthetic figure from :func:`manifold_nets.data.synthetic.synthetic_shape`
                          (the generator of the synthetic segmentation set) with its part labels;
* ``geodesic.png``        heat-method geodesic distance from one vertex of a synthetic creature,
                          with isolines;
* ``frames.png``          the library's tangent frames (x red, y green) on a torus;
* ``logmap.png``          the log map around a vertex of the creature as a geodesic polar grid;
* ``eigen.png``           a Laplace–Beltrami eigenfunction of the creature with isolines;
* ``correspondence.png``  a figure and a bent, twisted copy of it, coloured through the exact vertex
                          map (the identity: the copy has the same vertices), as correspondence papers
                          show maps.

The same views come from the command line, e.g.
``manifold-nets view shape.ply --geodesic 0 --screenshot geodesic.png --size 400 300``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "images"
SIZE = (400, 300)


def _figure(seed=3, n=3000, pose="random"):
    from manifold_nets.data.synthetic import synthetic_shape

    return synthetic_shape("figure", seed=seed, n_vertices=n, pose=pose)


def _creature(seed=2, n=3000):
    from manifold_nets.data.synthetic import synthetic_shape

    return synthetic_shape("creature", seed=seed, n_vertices=n)


def _front(p, azimuth=25.0, elevation=10.0, zoom=1.0):
    """Look at a z-up shape from the front (-y), turned a little."""
    p.view_xz()
    p.camera.up = (0, 0, 1)
    p.camera.azimuth = azimuth
    p.camera.elevation = elevation
    p.reset_camera()
    p.camera.zoom(zoom)


def _save(p, name):
    from manifold_nets.viz import screenshot

    out = screenshot(p, OUT / name, size=SIZE)
    p.close()
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


def labels():
    from manifold_nets.viz import new_plotter, show_labels

    m = _figure()
    p = show_labels(m, plotter=new_plotter(off_screen=True, window_size=SIZE))
    _front(p, azimuth=20, zoom=1.1)
    _save(p, "labels.png")


def geodesic():
    from manifold_nets.viz import new_plotter, show_geodesic

    m = _creature()
    tail = int(np.argmin(m.V[:, 0]))          # the tip of the tail (the creature faces +x)
    p = show_geodesic((m.V, m.F), tail, plotter=new_plotter(off_screen=True, window_size=SIZE))
    _front(p, azimuth=-25, elevation=20, zoom=1.3)
    _save(p, "geodesic.png")


def frames():
    from manifold_nets.shapes import torus
    from manifold_nets.viz import new_plotter, show_frames

    V, F = torus(40, 20, r=0.4)
    p = show_frames((V, F), n_arrows=220, plotter=new_plotter(off_screen=True, window_size=SIZE))
    p.camera_position = "xy"
    p.camera.elevation = -50
    p.reset_camera()
    p.camera.zoom(1.3)
    _save(p, "frames.png")


def logmap():
    from manifold_nets.viz import new_plotter, show_logmap_patch

    m = _creature()
    # a point on the side of the body: the vertex nearest the body's centre line, outside
    c = m.V.mean(axis=0)
    side = int(np.argmin(np.linalg.norm(m.V - (c + [0, -1.0, 0.1]), axis=1)))
    p = show_logmap_patch((m.V, m.F), side, plotter=new_plotter(off_screen=True, window_size=SIZE))
    _front(p, azimuth=0, elevation=15, zoom=1.0)
    # look at the patch: the camera moves towards the source vertex
    cam = p.camera
    shift = m.V[side] - np.asarray(cam.focal_point)
    cam.focal_point = tuple(np.asarray(cam.focal_point) + shift)
    cam.position = tuple(np.asarray(cam.position) + shift)
    cam.zoom(2.2)
    _save(p, "logmap.png")


def eigen():
    from manifold_nets.viz import new_plotter, show_eigenfunctions
    from manifold_nets.viz.views import eigenfunctions

    m = _creature()
    basis = eigenfunctions((m.V, m.F), 5)
    p = show_eigenfunctions((m.V, m.F), 5, basis=basis, isolines=4,
                            plotter=new_plotter(off_screen=True, window_size=SIZE))
    _front(p, azimuth=-25, elevation=20, zoom=1.3)
    _save(p, "eigen.png")


def _bend(V):
    """A smooth non-rigid deformation (a twist about the vertical axis and a lean sideways)."""
    z = (V[:, 2] - V[:, 2].min()) / np.ptp(V[:, 2])
    a = 1.6 * (z - 0.5)
    c, s = np.cos(a), np.sin(a)
    x = c * V[:, 0] - s * V[:, 1]
    y = s * V[:, 0] + c * V[:, 1]
    x = x + 0.45 * np.ptp(V[:, 2]) * z ** 2     # lean to the right
    return np.column_stack([x, y, V[:, 2]])


def correspondence():
    from manifold_nets.viz import new_plotter, show_correspondence

    m = _figure(seed=5)
    target = _bend(m.V)
    p = show_correspondence((m.V, m.F), (target, m.F), np.arange(len(m.V)), n_lines=10,
                            plotter=new_plotter(off_screen=True, window_size=SIZE))
    p.view_xz()
    p.camera.up = (0, 0, 1)
    p.reset_camera()
    p.camera.zoom(1.35)
    _save(p, "correspondence.png")


PICTURES = {f.__name__: f for f in (labels, geodesic, frames, logmap, eigen, correspondence)}


def main(names) -> int:
    global OUT
    names = list(names)
    if "--out" in names:
        i = names.index("--out")
        if i + 1 >= len(names):
            print("make_pictures.py: --out needs a folder", file=sys.stderr)
            return 2
        OUT = Path(names[i + 1])
        del names[i:i + 2]
    OUT.mkdir(parents=True, exist_ok=True)
    unknown = [n for n in names if n not in PICTURES]
    if unknown:
        print(f"make_pictures.py: unknown picture {unknown[0]!r}; expected one of "
              f"{', '.join(PICTURES)}", file=sys.stderr)
        return 2
    for name in names or PICTURES:
        PICTURES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
