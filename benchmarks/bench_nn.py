"""Training-step throughput of the neural families on CPU (or another torch device).

Measures, for every family of :class:`manifold_nets.nn.SegmentationNet`:

* a batch of 8 meshes of 1k–5k vertices (clean meshes from ``$MANIFOLD_NETS_DATA/meshes/clean``,
  or bumpy synthetic tori when the data folder is missing) and a single ~50k-vertex mesh;
* milliseconds per training step, vertices per second, and the peak resident memory added by
  training (each configuration runs in its own process).  A step models real training, where
  every step sees a new batch: it assembles the :class:`MeshBatch` from the per-mesh cached
  :class:`MeshData` (as a data loader's collate does), computes the input features, and runs
  forward + backward + Adam, so the per-batch operators that the layers build lazily on first
  use (patch bins, anisotropic / polar operators, ...) are built inside every timed step.  The
  assembly part is also reported on its own.  ``--fixed-batch`` reuses one batch instead (the
  per-batch operators are then built once, in the warm-up step, and never timed), for
  comparison only;
* DiffusionNet batched (one :class:`MeshBatch`) vs the same model run mesh by mesh in a loop,
  with gradients accumulated and one optimiser step (what DiffusionNet's own training does);
* :class:`MoNetConv` vs ``torch_geometric.nn.GMMConv`` on the same graph and pseudo-coordinates,
  when PyG is installed.

Usage::

    python benchmarks/bench_nn.py            # full run (a few minutes on 2 cores)
    python benchmarks/bench_nn.py --quick    # fewer steps, no 50k mesh
    python benchmarks/bench_nn.py --threads 2 --device cuda
    python benchmarks/bench_nn.py --quick --settings tiny --families diffusion --no-loop --no-pyg
                                             # a smoke test: seconds
    mkdir -p /tmp/old_tree && git archive 0bcca2c | tar -x -C /tmp/old_tree
    python benchmarks/bench_nn.py --settings small --families gcnn,monet,gem,acnn --no-loop --no-pyg \
        --trees old=/tmp/old_tree,new=. --repeats 3
                                             # two source trees side by side, interleaved

Trees: ``--trees LABEL=PATH,...`` runs every measurement once per tree, each in its own
subprocess with ``PYTHONPATH=PATH`` (``.`` is this checkout), so this same script times another
commit's library (extracted with ``git archive``) under the same load.  Measurements are
interleaved (tree by tree within each family, ``--repeats`` rounds); the table gives, per tree,
the median and the minimum over the rounds of each process's median step, and the median
process CPU time per step (with one thread, close to the work done, so less sensitive than wall
time to other jobs on a shared machine).  Each tree gets its own operator cache
(``bench_out/cache-LABEL``) since the cache format may differ between commits.

Threads: every measurement runs with ``--threads`` threads (default 1) on both sides of every
comparison: ``torch.set_num_threads`` in the worker and ``OMP_NUM_THREADS`` /
``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` in its environment (set before numpy or torch
load); the header says so.  Prints markdown tables.  Operators are cached in ``bench_out/cache``.
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

BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS")


def _threads_from_argv(argv: list[str]) -> int:
    """``--threads N`` from the command line, read before numpy loads (its BLAS reads the
    environment once, at import)."""
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


THREADS = _threads_from_argv(sys.argv[1:])
if THREADS > 0 and "--_worker" not in sys.argv:  # a worker gets its environment from spawn()
    for _var in BLAS_VARS:
        os.environ[_var] = str(THREADS)

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MANIFOLD_NETS_DATA", REPO.parent / "shared"))
CACHE = Path(os.environ.get("MANIFOLD_NETS_BENCH_CACHE", REPO / "bench_out" / "cache"))
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

    if cfg["threads"] > 0:
        torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    data, _ = build_data(cfg["which"])
    dev = torch.device(cfg["device"])
    rss0 = _maxrss_mb()  # after loading the operators, before the model and training
    n_vertices = sum(d.n_vertices for d in data)
    net = SegmentationNet(16, 8, family=cfg["family"], width=cfg["width"], n_blocks=cfg["blocks"]).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    fixed = None
    if cfg.get("fixed_batch"):
        fixed = _assemble(data, cfg["mode"], dev, MeshBatch, input_features)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step():
        """One training step; returns the seconds spent assembling the batch."""
        t = time.perf_counter()
        parts = fixed if fixed is not None else _assemble(data, cfg["mode"], dev, MeshBatch, input_features)
        sync()
        t_assemble = time.perf_counter() - t
        opt.zero_grad()
        for b, x, y in parts:  # one batch, or one per mesh (gradients accumulated)
            loss = torch.nn.functional.cross_entropy(net(b, x), y) / len(parts)
            loss.backward()
        opt.step()
        return t_assemble

    step()  # warm-up: first-call costs (allocator, kernels); with --fixed-batch also its operators
    sync()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, assemble, cpu = [], [], []
    for _ in range(cfg["steps"]):
        t, c = time.perf_counter(), time.process_time()
        assemble.append(step())
        sync()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    peak = (torch.cuda.max_memory_allocated() / 2**20) if dev.type == "cuda" else _maxrss_mb() - rss0
    ms = float(np.median(times))
    return {"ms": 1000 * ms, "assemble_ms": 1000 * float(np.median(assemble)), "vps": n_vertices / ms,
            "peak_mb": peak, "rss_mb": _maxrss_mb(), "nv": n_vertices, "torch_threads": torch.get_num_threads(),
            "steps_ms": [1000 * t for t in times], "cpu_ms": 1000 * float(np.median(cpu))}


def _assemble(data, mode, dev, MeshBatch, input_features):
    """What a data loader hands to each step: ``[(batch, x, y)]``, one batch of all meshes
    (``mode="batched"``) or one per mesh (``"loop"``), each a NEW :class:`MeshBatch`, so nothing
    the layers cache on a batch survives from the previous step."""
    import torch

    groups = [data] if mode == "batched" else [[d] for d in data]
    out = []
    for g in groups:
        b = MeshBatch.from_data(g, device=dev)
        x = input_features(b, "hks", 16)
        y = torch.arange(b.num_vertices, device=dev) % 8
        out.append((b, x, y))
    return out


def worker_pyg(cfg: dict) -> dict:
    """MoNetConv vs torch_geometric GMMConv, one layer, forward + backward."""
    import torch

    from manifold_nets.nn import MeshBatch, MoNetConv, patch_coordinates

    if cfg["threads"] > 0:
        torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    data, _ = build_data(cfg["which"])
    dev = torch.device(cfg["device"])
    batch = MeshBatch.from_data(data, device=dev)
    C = cfg["width"]
    x = torch.randn(batch.num_vertices, C, device=dev, requires_grad=True)
    ours = MoNetConv(C, C, n_kernels=8).to(dev)
    out = {"nv": batch.num_vertices, "pairs": int(batch.patch_pairs.shape[0])}

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
    ei = torch.stack([batch.patch_pairs[:, 1], batch.patch_pairs[:, 0]])
    pyg = GMMConv(C, C, dim=2, kernel_size=8, separate_gaussians=False, aggr="mean", root_weight=True).to(dev)

    def run_pyg():
        pyg(x, ei, pseudo).square().sum().backward()

    out["pyg_ms"] = timeit(run_pyg)
    return out


def _parse_trees(spec: str | None) -> list[tuple[str, str | None]]:
    """``"old=/tmp/old_tree,new=."`` -> ``[("old", "/tmp/old_tree"), ("new", None)]`` (``.``: this checkout)."""
    if not spec:
        return [("", None)]
    out = []
    for part in spec.split(","):
        label, sep, path = part.partition("=")
        if not sep or not label or not path:
            raise SystemExit(f"--trees: expected LABEL=PATH[,LABEL=PATH...] (got {part!r})")
        if path == ".":
            out.append((label, None))
            continue
        p = Path(path).resolve()
        if not (p / "manifold_nets" / "__init__.py").exists():
            raise SystemExit(f"--trees: expected a source tree with manifold_nets/__init__.py (got {path!r})")
        out.append((label, str(p)))
    return out


def spawn(cfg: dict, fn: str = "worker", tree: tuple[str, str | None] = ("", None)) -> dict:
    env = dict(os.environ)
    if cfg["threads"] > 0:
        env.update({v: str(cfg["threads"]) for v in BLAS_VARS})
    label, path = tree
    if path is not None:  # import that tree's library instead of this checkout's
        env["PYTHONPATH"] = path + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if label:
        env["MANIFOLD_NETS_BENCH_CACHE"] = str(REPO / "bench_out" / f"cache-{label}")
    r = subprocess.run([sys.executable, __file__, "--_worker", fn, json.dumps(cfg)], capture_output=True,
                       text=True, cwd=REPO, env=env)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _tree_table(a, base, settings, fams, trees) -> None:
    """Every (family, setting) once per tree per round, interleaved; median and min over rounds."""
    labels = [t[0] for t in trees]
    res = {}
    for rnd in range(a.repeats):
        for fam in fams:
            for which in settings:
                order = trees if rnd % 2 == 0 else trees[::-1]  # alternate which tree goes first
                for tree in order:
                    r = spawn({**base, "family": fam, "which": which, "mode": "batched"}, tree=tree)
                    res.setdefault((fam, which, tree[0]), []).append(r)
                    msg = r.get("error") or (f"{r['ms']:.0f} ms, CPU {r['cpu_ms']:.0f} ms "
                                             f"(steps {', '.join(f'{t:.0f}' for t in r['steps_ms'])})")
                    sys.stderr.write(f"round {rnd + 1}: {fam} {which} {tree[0]}: {msg}\n")
    head = " | ".join(f"{lb} ms / step median (min)" for lb in labels)
    cpu_head = " | ".join(f"{lb} CPU ms / step" for lb in labels)
    ratio_head = " | ".join(f"{lb} / {labels[-1]} (CPU)" for lb in labels[:-1])
    sys.stdout.write(f"\n{a.repeats} interleaved round(s); per round each process's median of {base['steps']} steps; "
                     "CPU = process CPU time per step (less sensitive to other load on the machine)\n\n"
                     f"| family | setting | vertices | {head} | {cpu_head} | {ratio_head} |\n")
    sys.stdout.write("|---|---|---:|" + "---:|" * (3 * len(labels) - 1) + "\n")
    for fam in fams:
        for which in settings:
            cells, cpu_cells, meds, cmeds, nv = [], [], [], [], ""
            for lb in labels:
                rs = [r for r in res[(fam, which, lb)] if "error" not in r]
                if not rs:
                    cells.append("error: " + res[(fam, which, lb)][0]["error"])
                    cpu_cells.append("")
                    meds.append(None)
                    cmeds.append(None)
                    continue
                ms = [r["ms"] for r in rs]
                cms = [r.get("cpu_ms", float("nan")) for r in rs]
                nv = rs[0]["nv"]
                meds.append(float(np.median(ms)))
                cmeds.append(float(np.median(cms)))
                cells.append(f"{np.median(ms):.0f} ({min(ms):.0f})")
                cpu_cells.append(f"{np.median(cms):.0f}")
            ratios = [f"{m / meds[-1]:.2f}x ({c / cmeds[-1]:.2f}x)" if m and meds[-1] else ""
                      for m, c in zip(meds[:-1], cmeds[:-1])]
            sys.stdout.write(f"| {fam} | {which} | {nv} | " + " | ".join(cells + cpu_cells + ratios) + " |\n")
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 timed steps, no 50k-vertex mesh")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and BLAS threads of every measurement, both sides (default 1; 0 leaves them alone)")
    ap.add_argument("--settings", default=None,
                    help="comma-separated mesh sets from tiny,small,large (default: small,large; --quick: small)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 5; --quick: 2)")
    ap.add_argument("--fixed-batch", action="store_true",
                    help="reuse one batch for every step (per-batch operators built once, untimed); "
                         "not what training does, for comparison only")
    ap.add_argument("--no-loop", action="store_true", help="skip the batched-vs-loop table")
    ap.add_argument("--no-pyg", action="store_true", help="skip the MoNet-vs-PyG table")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--trees", default=None,
                    help="LABEL=PATH,...: time each source tree's library (PYTHONPATH=PATH; '.' is this checkout) "
                         "side by side, interleaved; e.g. old=/tmp/old_tree,new=.")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved rounds with --trees (default 1)")
    ap.add_argument("--_worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._worker:
        fn, cfg = a._worker
        res = (worker if fn == "worker" else worker_pyg)(json.loads(cfg))
        sys.stdout.write(json.dumps(res) + "\n")
        return
    import torch

    steps = a.steps or (2 if a.quick else 5)
    fams = [f for f in a.families.split(",") if f]
    base = dict(threads=a.threads, device=a.device, width=a.width, blocks=a.blocks, steps=steps,
                fixed_batch=a.fixed_batch)
    settings = a.settings.split(",") if a.settings else (["small"] if a.quick else ["small", "large"])
    info = {}
    trees = _parse_trees(a.trees)
    for which in dict.fromkeys(settings + ([] if a.no_loop else ["tiny"])):
        data, t = build_data(which)
        info[which] = (len(data), sum(d.n_vertices for d in data), t)
    threads = (f"{a.threads} thread(s) on both sides of every comparison (torch.set_num_threads and "
               f"{'/'.join(BLAS_VARS[:3])}={a.threads})" if a.threads > 0 else "threads: environment defaults")
    step_kind = ("FIXED batch reused every step: per-batch operators built once in the warm-up and not timed "
                 "(not what training does)" if a.fixed_batch else
                 "a NEW batch every step, as in training: batch assembly from the cached per-mesh operators, "
                 "HKS inputs and the per-batch operators the layers build on first use are inside the timed step")
    sys.stdout.write(f"torch {torch.__version__}, device {a.device}, {threads}, width {a.width}, "
                     f"{a.blocks} blocks, median of {steps} steps after one warm-up step\n"
                     f"step = {step_kind}\n\n")
    for which, (n, nv, t) in info.items():
        sys.stdout.write(f"- {which}: {n} mesh(es), {nv} vertices; operators (k=128, cached after the first run) "
                         f"+ patches + curvature: {t:.1f} s\n")
    if a.trees:
        sys.stdout.write("trees: " + ", ".join(f"{lb} = {p or REPO}" for lb, p in trees) + "\n")
        sys.stdout.flush()
        return _tree_table(a, base, settings, fams, trees)
    sys.stdout.write("\n| family | setting | vertices | ms / step | of which batch assembly, ms | vertices / s | "
                     "peak RSS added by training, MB |\n|---|---|---:|---:|---:|---:|---:|\n")
    sys.stdout.flush()
    for fam in fams:
        for which in settings:
            r = spawn({**base, "family": fam, "which": which, "mode": "batched"})
            if "error" in r:
                sys.stdout.write(f"| {fam} | {which} | | error: {r['error']} | | | |\n")
                continue
            sys.stdout.write(f"| {fam} | {which} | {r['nv']} | {r['ms']:.0f} | {r['assemble_ms']:.0f} | "
                             f"{r['vps']:.0f} | {r['peak_mb']:.0f} |\n")
            sys.stdout.flush()
    if a.no_loop:
        return _pyg_table(a, base, settings)
    sys.stdout.write("\n| DiffusionNet, 8 meshes | vertices | batched ms / step | per-mesh loop ms / step | "
                     "batched speed-up |\n|---|---:|---:|---:|---:|\n")
    for which in [w for w in ("small", "tiny") if w in info]:
        rb = spawn({**base, "family": "diffusion", "which": which, "mode": "batched"})
        rl = spawn({**base, "family": "diffusion", "which": which, "mode": "loop"})
        if "error" not in rb and "error" not in rl:
            sys.stdout.write(f"| {which} | {rb['nv']} | {rb['ms']:.0f} | {rl['ms']:.0f} | {rl['ms'] / rb['ms']:.2f}x |\n")
        else:
            sys.stdout.write(f"| {which} | | error: {rb.get('error', '')} {rl.get('error', '')} | | |\n")
        sys.stdout.flush()
    return _pyg_table(a, base, settings)


def _pyg_table(a, base, settings):
    if a.no_pyg:
        return None
    sys.stdout.write("\nOne layer on a fixed graph: both sides get the patch pseudo-coordinates precomputed "
                     "(ours cached on the batch in the warm-up call, PyG's passed in), same threads.\n")
    sys.stdout.write("\n| MoNet layer (fwd+bwd), width "
                     f"{a.width} | vertices | edges | manifold_nets MoNetConv ms | PyG GMMConv ms |\n"
                     "|---|---:|---:|---:|---:|\n")
    for which in settings:
        r = spawn({**base, "which": which}, fn="pyg")
        if "error" in r:
            sys.stdout.write(f"| {which} | | | error: {r['error']} | |\n")
            continue
        pyg = "not installed" if r["pyg_ms"] is None else f"{r['pyg_ms']:.0f}"
        sys.stdout.write(f"| {which} | {r['nv']} | {r['pairs']} | {r['ours_ms']:.0f} | {pyg} |\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
