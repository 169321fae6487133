"""Training-step throughput of the neural families on CPU (or another torch device).

Measures, for every family of :class:`manifold_nets.nn.SegmentationNet`:

* a batch of 8 meshes of 1k–5k vertices (clean meshes from ``$MANIFOLD_NETS_DATA/meshes/clean``,
  or bumpy synthetic tori when the data folder is missing) and a single ~50k-vertex mesh;
* milliseconds per training step (forward + backward + Adam step), vertices per second, and the
  peak resident memory added by training (each configuration runs in its own process);
* DiffusionNet batched (one :class:`MeshBatch`) vs the same model run mesh by mesh in a loop,
  with gradients accumulated and one optimiser step (what DiffusionNet's own training does);
* :class:`MoNetConv` vs ``torch_geometric.nn.GMMConv`` on the same graph and pseudo-coordinates,
  when PyG is installed.

Usage::

    python benchmarks/bench_nn.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_nn.py --quick    # fewer steps, no 50k mesh
    python benchmarks/bench_nn.py --threads 2 --device cuda

Prints markdown tables.  Operators are cached in ``bench_out/cache``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))
CACHE = REPO / "bench_out" / "cache"
SMALL = ["bunny_small.ply", "bumpy.off", "teddy.obj", "cow.obj", "screwdriver.off", "bunny.off", "3holes.off",
         "fertility.off"]
LARGE = "horse.ply"
FAMILIES = ("diffusion", "spectral", "cheb", "gcnn", "acnn", "monet", "gem")


def _synthetic(n_vertices: int, seed: int):
    from manifold_nets.shapes import torus

    n = int(round(np.sqrt(2 * n_vertices)))
    m = max(6, n_vertices // n)
    V, F = torus(n, m)
    rng = np.random.default_rng(seed)
    return V * (1 + 0.02 * rng.standard_normal((len(V), 1))), F


def load_meshes(which: str):
    from manifold_nets import read_mesh

    if which == "tiny":
        return [(f"torus{i}", *_synthetic(n, i)) for i, n in enumerate(np.linspace(300, 800, 8).astype(int))]
    if which == "small":
        paths = [DATA / "meshes" / "clean" / p for p in SMALL]
        if all(p.exists() for p in paths):
            return [(p.name, *_vf(read_mesh(p))) for p in paths]
        return [(f"torus{i}", *_synthetic(n, i)) for i, n in enumerate(np.linspace(1000, 5000, 8).astype(int))]
    p = DATA / "meshes" / "clean" / LARGE
    if p.exists():
        return [(p.name, *_vf(read_mesh(p)))]
    return [("torus50k", *_synthetic(50000, 0))]


def _vf(m):
    return np.asarray(m.V), np.asarray(m.F)


def build_data(which: str, k: int = 128):
    from manifold_nets.nn import MeshData

    out, t = [], time.perf_counter()
    for _name, V, F in load_meshes(which):
        out.append(MeshData.from_mesh(V, F, k=k, cache_dir=CACHE))
    return out, time.perf_counter() - t


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(cfg: dict) -> dict:
    """Run one configuration in this process; returns timings and memory."""
    import torch

    from manifold_nets.nn import MeshBatch, SegmentationNet, input_features

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    data, _ = build_data(cfg["which"])
    dev = torch.device(cfg["device"])
    batch = MeshBatch.from_data(data, device=dev)
    rss0 = _maxrss_mb()  # after loading the operators, before the model and training
    x = input_features(batch, "hks", 16)
    y = (torch.arange(batch.num_vertices, device=dev) % 8)
    net = SegmentationNet(16, 8, family=cfg["family"], width=cfg["width"], n_blocks=cfg["blocks"]).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    singles = None
    if cfg["mode"] == "loop":
        singles = [MeshBatch.from_data([d], device=dev) for d in data]
        xs, ys = batch.split(x), batch.split(y)

    def step():
        opt.zero_grad()
        if cfg["mode"] == "loop":
            for b1, x1, y1 in zip(singles, xs, ys):
                loss = torch.nn.functional.cross_entropy(net(b1, x1), y1) / len(singles)
                loss.backward()
        else:
            loss = torch.nn.functional.cross_entropy(net(batch, x), y)
            loss.backward()
        opt.step()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    step()  # warm-up (patch operators are built and cached on the batch here)
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(cfg["steps"]):
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    peak = (torch.cuda.max_memory_allocated() / 2**20) if dev.type == "cuda" else _maxrss_mb() - rss0
    return {"ms": 1000 * float(np.median(times)), "vps": batch.num_vertices / float(np.median(times)),
            "peak_mb": peak, "rss_mb": _maxrss_mb(), "nv": batch.num_vertices}


def worker_pyg(cfg: dict) -> dict:
    """MoNetConv vs torch_geometric GMMConv, one layer, forward + backward."""
    import torch

    from manifold_nets.nn import MeshBatch, MoNetConv, patch_coordinates

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    data, _ = build_data(cfg["which"])
    dev = torch.device(cfg["device"])
    batch = MeshBatch.from_data(data, device=dev)
    C = cfg["width"]
    x = torch.randn(batch.num_vertices, C, device=dev, requires_grad=True)
    ours = MoNetConv(C, C, n_kernels=8).to(dev)
    out = {"nv": batch.num_vertices, "edges": int(batch.edges.shape[0])}

    def timeit(fn):
        fn()
        ts = []
        for _ in range(cfg["steps"]):
            t = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            ts.append(time.perf_counter() - t)
        return 1000 * float(np.median(ts))

    def run_ours():
        ours(batch, x).square().sum().backward()

    out["ours_ms"] = timeit(run_ours)
    try:
        from torch_geometric.nn import GMMConv
    except ImportError:
        out["pyg_ms"] = None
        return out
    rho, theta = patch_coordinates(batch)
    pseudo = torch.stack([rho, theta / (2 * np.pi)], -1).float()
    # PyG's edge_index is (source j, target i); messages flow j -> i as in ours
    ei = torch.stack([batch.edges[:, 1], batch.edges[:, 0]])
    pyg = GMMConv(C, C, dim=2, kernel_size=8, separate_gaussians=False, aggr="mean", root_weight=True).to(dev)

    def run_pyg():
        pyg(x, ei, pseudo).square().sum().backward()

    out["pyg_ms"] = timeit(run_pyg)
    return out


def spawn(cfg: dict, fn: str = "worker") -> dict:
    r = subprocess.run([sys.executable, __file__, "--_worker", fn, json.dumps(cfg)], capture_output=True,
                       text=True, cwd=REPO)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 timed steps, no 50k-vertex mesh")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._worker:
        fn, cfg = a._worker
        res = (worker if fn == "worker" else worker_pyg)(json.loads(cfg))
        sys.stdout.write(json.dumps(res) + "\n")
        return
    import torch

    steps = 2 if a.quick else 5
    fams = [f for f in a.families.split(",") if f]
    base = dict(threads=a.threads, device=a.device, width=a.width, blocks=a.blocks, steps=steps)
    settings = ["small"] if a.quick else ["small", "large"]
    info = {}
    for which in settings + ["tiny"]:
        data, t = build_data(which)
        info[which] = (len(data), sum(d.n_vertices for d in data), t)
    sys.stdout.write(f"torch {torch.__version__}, device {a.device}, {a.threads} thread(s), width {a.width}, "
                     f"{a.blocks} blocks, median of {steps} steps\n\n")
    for which, (n, nv, t) in info.items():
        sys.stdout.write(f"- {which}: {n} mesh(es), {nv} vertices; operators (k=128, cached after the first run) "
                         f"+ patches + curvature: {t:.1f} s\n")
    sys.stdout.write("\n| family | setting | vertices | ms / step | vertices / s | peak RSS added by training, MB |\n"
                     "|---|---|---:|---:|---:|---:|\n")
    for fam in fams:
        for which in settings:
            r = spawn({**base, "family": fam, "which": which, "mode": "batched"})
            if "error" in r:
                sys.stdout.write(f"| {fam} | {which} | | error: {r['error']} | | |\n")
                continue
            sys.stdout.write(f"| {fam} | {which} | {r['nv']} | {r['ms']:.0f} | {r['vps']:.0f} | {r['peak_mb']:.0f} |\n")
            sys.stdout.flush()
    sys.stdout.write("\n| DiffusionNet, 8 meshes | vertices | batched ms / step | per-mesh loop ms / step | "
                     "batched speed-up |\n|---|---:|---:|---:|---:|\n")
    for which in ("small", "tiny"):
        rb = spawn({**base, "family": "diffusion", "which": which, "mode": "batched"})
        rl = spawn({**base, "family": "diffusion", "which": which, "mode": "loop"})
        if "error" not in rb and "error" not in rl:
            sys.stdout.write(f"| {which} | {rb['nv']} | {rb['ms']:.0f} | {rl['ms']:.0f} | {rl['ms'] / rb['ms']:.2f}x |\n")
        else:
            sys.stdout.write(f"| {which} | | error: {rb.get('error', '')} {rl.get('error', '')} | | |\n")
        sys.stdout.flush()
    sys.stdout.write("\n| MoNet layer (fwd+bwd), width "
                     f"{a.width} | vertices | edges | manifold_nets MoNetConv ms | PyG GMMConv ms |\n"
                     "|---|---:|---:|---:|---:|\n")
    for which in settings:
        r = spawn({**base, "which": which}, fn="pyg")
        if "error" in r:
            sys.stdout.write(f"| {which} | | | error: {r['error']} | |\n")
            continue
        pyg = "not installed" if r["pyg_ms"] is None else f"{r['pyg_ms']:.0f}"
        sys.stdout.write(f"| {which} | {r['nv']} | {r['edges']} | {r['ours_ms']:.0f} | {pyg} |\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
