"""How much the learning cache saves: ``MeshBatch.from_meshes`` over shared meshes, cold then warm.

The first call computes everything a mesh needs for learning (normalisation, Laplacian, mass,
eigenpairs, gradients, frames, one-ring patches, principal directions, ``λ_max``) and writes one
cache entry per mesh; the second call reads the same files from disk again, hashes them, and loads
the entries.  Both include reading the mesh files and building the batch.

Usage::

    python benchmarks/bench_cache.py                 # 20 smallest labelled-PSB meshes, k = 64
    python benchmarks/bench_cache.py --n 10 --k 32 --cache /tmp/mn_cache

Prints one markdown table and the speed-up.  The cache folder is a fresh temporary folder unless
``--cache`` is given (then it is emptied first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))


def _n_vertices(path: Path) -> int:
    with open(path) as fh:
        fh.readline()
        return int(fh.readline().split()[0])


def pick_meshes(n: int) -> list[Path]:
    """The ``n`` smallest OFF meshes of ``datasets/labeled-psb`` (by vertex count)."""
    files = sorted((DATA / "datasets" / "labeled-psb").glob("*/*.off"))
    if not files:
        raise SystemExit(f"no meshes under {DATA / 'datasets' / 'labeled-psb'} (set MANIFOLD_NETS_DATA)")
    return sorted(files, key=lambda p: (_n_vertices(p), str(p)))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="number of meshes")
    ap.add_argument("--k", type=int, default=64, help="eigenpairs per mesh")
    ap.add_argument("--repeat", type=int, default=3, help="warm calls (the first and the median are shown)")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (emptied first)")
    args = ap.parse_args()

    import torch

    from manifold_nets.nn import MeshBatch

    files = pick_meshes(args.n)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="mn_bench_cache_"))
    if cache.exists():
        shutil.rmtree(cache)
    try:
        t0 = time.perf_counter()
        b1 = MeshBatch.from_meshes(files, k=args.k, cache_dir=cache, dtype=torch.float32)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            b2 = MeshBatch.from_meshes(files, k=args.k, cache_dir=cache, dtype=torch.float32)
            warm.append(time.perf_counter() - t0)
        assert all(d.from_cache for d in b2.data) and not any(d.from_cache for d in b1.data)
        assert torch.equal(b1.evecs, b2.evecs) and torch.equal(b1.pair_r, b2.pair_r)
        size = sum(p.stat().st_size for p in cache.iterdir()) / 2**20
    finally:
        if args.cache is None:
            shutil.rmtree(cache, ignore_errors=True)
    nv = [d.n_vertices for d in b1.data]
    med = sorted(warm)[len(warm) // 2]
    print("| meshes | vertices (min–max, total) | k | first call (compute) | second call (cache) | "
          "speed-up | median of warm calls | speed-up | cache size |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {len(files)} | {min(nv)}–{max(nv)}, {sum(nv)} | {args.k} | {cold:.2f} s | {warm[0]:.3f} s | "
          f"{cold / warm[0]:.0f}x | {med:.3f} s | {cold / med:.0f}x | {size:.1f} MiB |")


if __name__ == "__main__":
    main()
