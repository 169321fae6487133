"""A remeshed correspondence benchmark: shapes that share a template, each remeshed on its own,
with ground-truth vertex maps carried over by closest-point projection.

Input: groups of meshes with the same vertex numbering (poses of one template, e.g. the cat and
lion poses of ``datasets/deformation-poses``: identity ground truth).  Every shape is remeshed
independently (:func:`manifold_nets.data.transforms.remesh`, a different seed and a different
vertex count per shape), so no two shapes share a triangulation or a resolution.  Each new vertex
keeps where it lies on its original surface (closest point: face and barycentric coordinates,
:func:`~manifold_nets.data.transforms.closest_points`); for a pair ``(s, t)`` the ground-truth
image of a vertex of ``s`` is that same surface point on the original pose of ``t`` (same face
and barycentric coordinates, since the poses share the template), and then the vertex of the
remeshed ``t`` closest to it.  The error of this ground truth is about half an edge length.

Folder layout written by :func:`build_remeshed_pairs` (and read by :func:`read_pairs`, which
``manifold-nets correspond eval`` uses)::

    PAIRS_DIR/
      meshes/<shape>.ply        the remeshed shapes
      gt/<src>--<tgt>.txt        ground truth: line i = 0-based target vertex of source vertex i
      pairs.tsv                  header "source  target  ground_truth  group", then one line per
                                 ordered pair (paths relative to PAIRS_DIR, tab-separated)

Any folder with a ``pairs.tsv`` of this form (meshes and maps in any format :func:`read_map`
reads: ``.vts`` 1-based, ``.npy``, text) can be evaluated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MeshError, MeshParseError
from .maps import write_map

__all__ = ["RemeshedShape", "remesh_with_reference", "transfer_ground_truth", "build_remeshed_pairs",
           "read_pairs", "Pair"]


@dataclass(frozen=True)
class RemeshedShape:
    """A remeshed shape and where its vertices lie on the original surface.

    ``V (n, 3)``, ``F (m, 3)``; ``face (n,)`` int64 and ``bary (n, 3)`` float64 locate each new
    vertex on the original mesh ``(V0, F0)``.
    """

    name: str
    V: np.ndarray
    F: np.ndarray
    face: np.ndarray
    bary: np.ndarray


def remesh_with_reference(V0, F0, *, target_vertices: int, seed, name: str = "") -> RemeshedShape:
    """Remesh ``(V0, F0)`` to about ``target_vertices`` and locate the new vertices on it."""
    from .dataset import LabeledMesh
    from .transforms import closest_points, remesh

    mesh = LabeledMesh(V0, F0, np.zeros(len(F0), dtype=np.int64), ("surface",), name=name)
    out = remesh(mesh, target_vertices=int(target_vertices), seed=seed)
    face, bary, _ = closest_points(V0, F0, out.V)
    return RemeshedShape(name, np.asarray(out.V), np.asarray(out.F), face, bary)


def transfer_ground_truth(src: RemeshedShape, tgt: RemeshedShape, V0_tgt, F0) -> np.ndarray:
    """Ground-truth map ``(n_src,)`` int64 from remeshed ``src`` to remeshed ``tgt``.

    ``V0_tgt (n0, 3)`` is the original pose of the target and ``F0`` the shared template faces:
    each source vertex's surface point (face, barycentric) is placed on the target pose and sent
    to the nearest vertex of the remeshed target.
    """
    from scipy.spatial import cKDTree

    V0_tgt = np.asarray(V0_tgt, dtype=np.float64)
    F0 = np.asarray(F0, dtype=np.int64)
    P = np.einsum("nk,nkc->nc", src.bary, V0_tgt[F0[src.face]])
    return cKDTree(tgt.V).query(P, k=1)[1].astype(np.int64)


def build_remeshed_pairs(groups: dict, out_dir, *, resolution=(0.55, 0.9), seed: int = 0,
                         max_shapes: int | None = None, progress=None) -> list[dict]:
    """Build the benchmark folder (layout in the module notes).

    Parameters
    ----------
    groups : dict of str to list of path
        Mesh files per group; the files of a group must share their vertex numbering and faces.
        All ordered pairs within each group are written.
    out_dir : path
    resolution : (float, float)
        Each shape is remeshed to a vertex count drawn uniformly in this range times its own.
    seed : int
    max_shapes : int, optional
        Use only the first shapes of each group.
    progress : callable, optional
        ``progress(message)`` after each shape.

    Returns
    -------
    list of dict
        One row per pair: ``source``, ``target``, ``ground_truth``, ``group``.
    """
    from ..files import atomic_write
    from ..io import read_triangles, write_mesh

    out = Path(out_dir)
    (out / "meshes").mkdir(parents=True, exist_ok=True)
    (out / "gt").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for group, paths in groups.items():
        paths = [Path(p) for p in paths][: max_shapes]
        shapes, originals = [], []
        F0 = None
        for p in paths:
            m = read_triangles(p)
            if F0 is None:
                F0 = m.F
            elif m.F.shape != F0.shape or not np.array_equal(m.F, F0):
                raise MeshError(f"{p}: expected the faces of {paths[0].name} (a pose of the same template)")
            frac = rng.uniform(*resolution)
            name = p.name.split(".")[0]
            sh = remesh_with_reference(m.V, m.F, target_vertices=max(4, int(frac * len(m.V))),
                                       seed=int(rng.integers(2**31)), name=name)
            write_mesh(out / "meshes" / f"{name}.ply", sh.V, sh.F)
            shapes.append(sh)
            originals.append(m.V)
            if progress is not None:
                progress(f"{group}/{name}: {len(m.V)} -> {len(sh.V)} vertices")
        for i, j in itertools.permutations(range(len(shapes)), 2):
            gt = transfer_ground_truth(shapes[i], shapes[j], originals[j], F0)
            rel = f"gt/{shapes[i].name}--{shapes[j].name}.txt"
            write_map(out / rel, gt)
            rows.append({"source": f"meshes/{shapes[i].name}.ply", "target": f"meshes/{shapes[j].name}.ply",
                         "ground_truth": rel, "group": group})
    text = "source\ttarget\tground_truth\tgroup\n" + "".join(
        f"{r['source']}\t{r['target']}\t{r['ground_truth']}\t{r['group']}\n" for r in rows)
    atomic_write(out / "pairs.tsv", text.encode())
    return rows


@dataclass(frozen=True)
class Pair:
    """One row of ``pairs.tsv`` with absolute paths."""

    source: Path
    target: Path
    ground_truth: Path
    group: str


def read_pairs(pairs_dir) -> list[Pair]:
    """The pairs of a benchmark folder (its ``pairs.tsv``); errors name the file and line."""
    from .readers_common import read_text, text_lines

    root = Path(pairs_dir)
    tsv = root / "pairs.tsv"
    if root.exists() and not root.is_dir():
        raise MeshError(f"{root}: expected a folder with a pairs.tsv (got a file)")
    if not tsv.is_file():
        from ..errors import MeshFileNotFoundError

        raise MeshFileNotFoundError(f"{tsv}: expected the pairs list of a benchmark folder (got no such file)")
    lines = text_lines(read_text(tsv))
    if not lines or lines[0].split("\t")[:3] != ["source", "target", "ground_truth"]:
        raise MeshParseError(f"{tsv}: line 1: expected the header 'source<TAB>target<TAB>ground_truth[<TAB>group]' "
                             f"(got {lines[0][:60]!r})" if lines else f"{tsv}: expected a header line (got an empty file)")
    out = []
    for i, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        f = line.split("\t")
        if len(f) < 3:
            raise MeshParseError(f"{tsv}: line {i}: expected 3 or 4 tab-separated fields (got {len(f)})")
        out.append(Pair(root / f[0], root / f[1], root / f[2], f[3].strip() if len(f) > 3 else ""))
    return out
