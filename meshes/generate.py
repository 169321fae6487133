"""Generate the sample meshes in this folder (synthetic; made by this project, free to use).

Run ``python meshes/generate.py`` to rewrite them; the output is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from manifold_nets import shapes, write_mesh
from manifold_nets.files import atomic_write

HERE = Path(__file__).resolve().parent


def segmentation_samples(folder: Path = HERE / "segmentation", n: int = 6, *, kind: str = "figure",
                         seed: int = 2026, resolution=(900, 1100)) -> list[Path]:
    """Labelled synthetic shapes (:func:`manifold_nets.data.synthetic.make_segmentation_set`) as
    binary PLY with ``face_data={"label": (nF,) int32}``, plus ``part_names.json``
    (``{"part_names": [...]}``), the layout the generic folder reader takes."""
    from manifold_nets.data.synthetic import make_segmentation_set

    folder.mkdir(parents=True, exist_ok=True)
    ds = make_segmentation_set(n, kind=kind, seed=seed, resolution=resolution)
    paths = []
    for i in range(len(ds)):
        m = ds.raw(i)
        p = folder / f"{m.name}.ply"
        write_mesh(p, m.V, m.F, face_data={"label": m.face_labels.astype(np.int32)})
        paths.append(p)
    names = json.dumps({"part_names": list(ds.part_names)}, indent=1) + "\n"
    atomic_write(folder / "part_names.json", names.encode())
    return paths


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
    segmentation_samples()


if __name__ == "__main__":
    main()
