"""Generate the sample meshes in this folder (synthetic; made by this project, free to use).

Run ``python meshes/generate.py`` to rewrite them; the output is deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from manifold_nets import shapes, write_mesh

HERE = Path(__file__).resolve().parent


def main() -> None:
    V, F = shapes.icosphere(3)
    write_mesh(HERE / "icosphere3.ply", V, F)
    V, F = shapes.torus(32, 16)
    write_mesh(HERE / "torus.obj", V, F)
    V, F = shapes.grid(16, 16)
    z = 0.15 * np.sin(3 * V[:, 0]) * np.cos(3 * V[:, 1])
    write_mesh(HERE / "wavy_grid.off", np.c_[V[:, :2], z], F)
    # a mesh with typical defects, for `manifold-nets info` and the repair tools:
    # an unreferenced vertex, a duplicated face, a degenerate face, a non-manifold fin
    V, F = shapes.icosphere(1)
    extra_v = np.array([[5.0, 5.0, 5.0], [0.0, 0.0, 2.0]])
    fin = np.array([[F[0, 0], F[0, 1], len(V) + 1]])
    degenerate = np.array([[F[1, 0], F[1, 0], F[1, 1]]])
    Vd = np.vstack([V, extra_v])
    Fd = np.vstack([F, F[:1], fin, degenerate])
    write_mesh(HERE / "defects.ply", Vd, Fd, binary=False)


if __name__ == "__main__":
    main()
