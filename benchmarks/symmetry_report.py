"""How much each family's output changes under face reordering, uniform scaling and a gauge change.

Runs on any commit of the library (it uses only the API that every version has:
``MeshBatch.from_meshes``, ``SegmentationNet``, ``input_features``), so the figures before and
after a change come from one script::

    python benchmarks/symmetry_report.py                       # this working tree
    git archive 0bcca2c | tar -x -C /tmp/old                   # an older commit ...
    PYTHONPATH=/tmp/old python benchmarks/symmetry_report.py   # ... measured the same way

The mesh is a Labeled PSB shape that no default was tuned on (``$MANIFOLD_NETS_DATA``, default
``../shared``).
Each number is ``max |y' − y| / max |y|`` over the per-vertex outputs of a float64
``SegmentationNet`` (width 16, 2 blocks, seed 0) with HKS inputs (16 times):

* ``faces``: faces shuffled and each face's corners rotated cyclically;
* ``scale``: the same reordering and every coordinate multiplied by 1000;
* ``gauge``: every vertex frame rotated by its own random angle (``MeshBatch.gauge_changed``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from manifold_nets import read_mesh
from manifold_nets.nn import FAMILIES, MeshBatch, SegmentationNet, input_features


def _reorder(V, F, seed=0):
    rng = np.random.default_rng(seed)
    F2 = F[rng.permutation(len(F))]
    shift = rng.integers(0, 3, len(F2))
    idx = (np.arange(3)[None, :] + shift[:, None]) % 3
    return V, np.take_along_axis(F2, idx, axis=1)


def _run(family, V, F, k, gauge=None):
    b = MeshBatch.from_meshes([(V, F)], k=k, dtype=torch.float64)
    if gauge is not None:
        b = b.gauge_changed(gauge)
    x = input_features(b, "hks", 16)
    torch.manual_seed(0)
    net = SegmentationNet(16, 4, family=family, width=16, n_blocks=2).double().eval()
    with torch.no_grad():
        return net(b, x).numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mesh", default="datasets/labeled-psb/Teddy/161.off",
                    help="path inside $MANIFOLD_NETS_DATA (default: %(default)s)")
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = Path(os.environ.get("MANIFOLD_NETS_DATA", Path(__file__).resolve().parents[2] / "shared"))
    mesh = read_mesh(data / args.mesh)
    V, F = np.asarray(mesh.V, np.float64), np.asarray(mesh.F, np.int64)
    V2, F2 = _reorder(V, F)
    g = np.random.default_rng(1).uniform(0, 2 * np.pi, len(V))
    print(f"mesh {args.mesh}: {len(V)} vertices; relative change of the output (max |Δy| / max |y|)")
    print(f"{'family':10s} {'faces':>10s} {'scale':>10s} {'gauge':>10s}")
    for fam in args.families.split(","):
        y = _run(fam, V, F, args.k)
        s = float(np.abs(y).max()) or 1.0
        d_faces = float(np.abs(_run(fam, V2, F2, args.k) - y).max()) / s
        d_scale = float(np.abs(_run(fam, V2 * 1000.0, F2, args.k) - y).max()) / s
        d_gauge = float(np.abs(_run(fam, V, F, args.k, gauge=g) - y).max()) / s
        print(f"{fam:10s} {d_faces:10.2e} {d_scale:10.2e} {d_gauge:10.2e}", flush=True)


if __name__ == "__main__":
    main()
