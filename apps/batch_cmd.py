"""``manifold-nets batch``: run tasks on a folder of meshes on all cores or a Dask cluster."""

from __future__ import annotations

import json
import re
import sys

from manifold_nets.batch import (
    MANIFEST_NAME,
    OutputCollisionError,
    collect_inputs,
    make_task,
    map_meshes,
)
from manifold_nets.batch.tasks import DEFAULT_REPAIR_STEPS, REPAIR_STEPS, TASKS
from manifold_nets.errors import MeshError, MeshFileError, MissingDependencyError
from manifold_nets.tasks.smoothing import DEFAULT_SMOOTH, DEFAULT_SMOOTHNESS

from .common import (
    UsageError,
    check_output_dir,
    make_output_dir,
    no_inputs_error,
    non_negative_int,
    positive_float,
    positive_int,
    skipped_summary,
    smooth_arg,
)

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _memory_size(text: str) -> int:
    """argparse type: ``4GB``, ``512MiB``, ``1e9`` -> bytes."""
    import argparse

    m = re.fullmatch(r"\s*([0-9.eE+]+)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    try:
        v = float(m.group(1)) * _UNITS[unit] if m else None
    except (KeyError, ValueError):
        v = None
    if v is None or not v > 0:
        raise argparse.ArgumentTypeError(f"expected a size such as 4GB or 512MiB (got {text!r})")
    return int(v)


def _int_list(text: str) -> list[int]:
    import argparse

    try:
        out = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated vertex indices (got {text!r})") from None
    if not out or min(out) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative vertex indices (got {text!r})")
    return out


def register(sub) -> None:
    p = sub.add_parser(
        "batch",
        help="run tasks on a folder of meshes on all cores (or a Dask cluster), with a manifest and resume",
        description=(
            "Run one or more tasks on every mesh file of folders and globs, in parallel worker "
            "processes (default: all cores) or on a Dask cluster, writing outputs under OUT with "
            "the input tree mirrored (sub/a.off -> OUT/sub/a.off.operators.npz) and a manifest "
            f"OUT/{MANIFEST_NAME} (one JSON line per file and task: timings, input content hash, "
            "outputs with their hashes, errors).  A file that fails, or whose worker dies, is "
            "recorded and the others go on.  --resume keeps finished work whose outputs are intact "
            "and redoes the rest.  Tasks: info (OUT/x.info.json), operators (x.operators.npz), "
            "descriptors (x.descriptors.npz: HKS, WKS), geodesics (x.geodesics.npz, --sources), "
            "repair (x.repaired.ply + .maps.npz, --steps), convert (x.<--to>), segment "
            "(x.segment.ply with a 'label' per vertex and face + x.segment.json, --model), correspond "
            "(x.map.txt: one 0-based --target vertex per input vertex).  Exit codes: 0 all "
            "done, 1 a file failed or no mesh file was found, 2 usage error (also two inputs "
            "that would write the same output), 3 a missing optional dependency (dask[distributed] "
            "for --dask/--scheduler, torch for segment), 4 OUT cannot be written, 130 interrupted "
            "(run again with --resume)."
        ),
    )
    p.add_argument("meshes", nargs="+", metavar="IN", help="mesh files, folders or globs (quote globs)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created if missing)")
    p.add_argument("--do", required=True, metavar="TASK[,TASK...]",
                   help="tasks to run on each file: " + ", ".join(TASKS))
    g = p.add_argument_group("inputs")
    g.add_argument("--no-recursive", action="store_true", help="do not search sub-folders")
    g.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only files whose relative path or name matches (repeatable), e.g. '*.obj'")
    g.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out files whose relative path or name matches (repeatable)")
    g.add_argument("--no-triangulate", action="store_true", help="fail polygon meshes instead of triangulating them")
    e = p.add_argument_group("execution")
    e.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: all cores)")
    e.add_argument("--threads-per-worker", type=positive_int, default=None, metavar="T",
                   help="BLAS threads per worker (default: cores // workers)")
    d = e.add_mutually_exclusive_group()
    d.add_argument("--dask", choices=("local",), default=None,
                   help="run on an embedded Dask LocalCluster of --workers processes (needs dask[distributed])")
    d.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on an existing Dask cluster: scheduler address (tcp://host:8786) or scheduler file")
    e.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="local workers: fail a file that runs longer (its worker is killed)")
    e.add_argument("--memory-limit", type=_memory_size, default=None, metavar="SIZE",
                   help="memory per worker (4GB, 512MiB): a file needing more fails, the rest go on")
    r = e.add_mutually_exclusive_group()
    r.add_argument("--resume", action="store_true",
                   help="keep the finished work of an earlier run in OUT, redo failed, partial or stale work")
    r.add_argument("--overwrite", action="store_true", help="start over in an OUT that holds an earlier run")
    t = p.add_argument_group("task options")
    t.add_argument("--k", type=non_negative_int, default=128, help="operators/descriptors: eigenpairs (default 128)")
    t.add_argument("--laplacian", choices=("auto", "cotan", "robust"), default="auto",
                   help="operators/descriptors: Laplacian (default auto)")
    t.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="operators/descriptors: content-hash cache folder shared between runs")
    t.add_argument("--n-times", type=positive_int, default=16, help="descriptors: HKS times (default 16)")
    t.add_argument("--n-energies", type=positive_int, default=16, help="descriptors: WKS energies (default 16)")
    t.add_argument("--sources", type=_int_list, default=[0], metavar="I[,J...]",
                   help="geodesics: source vertex indices, one distance row each (default 0)")
    t.add_argument("--method", choices=("heat", "exact", "graph"), default="heat", help="geodesics: method")
    t.add_argument("--steps", default=",".join(DEFAULT_REPAIR_STEPS),
                   help="repair: comma-separated steps from " + ", ".join(REPAIR_STEPS) + " (default: %(default)s)")
    t.add_argument("--to", choices=("ply", "obj", "off"), default="ply", help="convert: output format (default ply)")
    t.add_argument("--drop-data", action="store_true",
                   help="convert: leave out (and record) the arrays the format cannot hold instead of failing")
    t.add_argument("--model", metavar="RUN_DIR_OR_CKPT", default=None,
                   help="segment: run folder of 'segment train' (model.pt + config.json) or a .pt checkpoint")
    t.add_argument("--device", default="cpu",
                   help="segment: torch device (default cpu); with --scheduler the workers' devices count, "
                        "and a worker without it records a failure per file")
    t.add_argument("--target", metavar="MESH", default=None,
                   help="correspond: the mesh every input is mapped to (x.map.txt: one 0-based target vertex per line)")
    t.add_argument("--refine", choices=("zoomout", "icp", "none"), default="zoomout",
                   help="correspond: refinement of the functional map (default %(default)s)")
    t.add_argument("--max-vertices", type=non_negative_int, default=None, metavar="N",
                   help="segment: simplify inputs above N vertices first (default: as the model was trained; 0: never)")
    t.add_argument("--smooth", choices=("graphcut", "none"), default=DEFAULT_SMOOTH,
                   help="segment: smooth the labels along the surface with a graph cut (needs PyMaxflow), "
                        "or not (default %(default)s)")
    t.add_argument("--smoothness", type=float, default=DEFAULT_SMOOTHNESS,
                   help="segment: weight of the graph cut's smoothness term (default %(default)s)")
    o = p.add_argument_group("output")
    o.add_argument("--quiet", action="store_true", help="no progress bar; only the summary")
    o.add_argument("--json", action="store_true", help="print one JSON document (summary and records), no bar")
    p.set_defaults(func=run)


def _tasks(args) -> list:
    names = [s.strip() for s in args.do.split(",") if s.strip()]
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise UsageError(f"--do: expected tasks from {', '.join(TASKS)} (got {', '.join(unknown) or 'none'})")
    if len(set(names)) != len(names):
        raise UsageError(f"--do: expected each task once (got {args.do})")
    params = {
        "operators": {"k": args.k, "laplacian": args.laplacian, "cache_dir": args.cache_dir},
        "descriptors": {"k": args.k, "laplacian": args.laplacian, "cache_dir": args.cache_dir,
                        "n_times": args.n_times, "n_energies": args.n_energies},
        "geodesics": {"sources": args.sources, "method": args.method},
        "repair": {"steps": [s.strip() for s in args.steps.split(",") if s.strip()]},
        "convert": {"to": args.to, "drop_data": args.drop_data},
        "segment": {"model": args.model, "device": args.device, "max_vertices": args.max_vertices,
                    "smooth": smooth_arg(args.smooth), "smoothness": args.smoothness, "cache_dir": args.cache_dir},
        "correspond": {"target": args.target, "refine": args.refine},
    }
    out = []
    for n in names:
        try:
            out.append(make_task(n, remote=bool(args.scheduler), **params.get(n, {})))
        except (MeshFileError, MissingDependencyError):
            raise  # exit 1 (no such model) or 3 (torch missing)
        except MeshError as exc:
            raise UsageError(str(exc)) from None
    return out


def _fmt_table(report) -> str:
    rows = [("task", "ok", "failed", "skipped", "seconds")]
    for name, c in report.by_task().items():
        rows.append((name, str(c["ok"]), str(c["failed"]), str(c["skipped"]), f"{c['seconds']:.2f}"))
    w = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(x.ljust(w[i]) if i == 0 else x.rjust(w[i]) for i, x in enumerate(r)) for r in rows]
    fails: dict = {}
    for rec in report.failed:
        fails.setdefault((rec["rel"], rec["error"], rec["message"]), []).append(rec["task"])
    if fails:
        lines.append("failed:")
        for (rel, err, msg), tasks in fails.items():
            lines.append(f"  {rel} [{','.join(tasks)}]: {err}: {msg}")
    return "\n".join(lines)


def run(args) -> int:
    tasks = _tasks(args)
    out = check_output_dir(args.output, "-o/--output")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    if (out / MANIFEST_NAME).exists() and not (args.resume or args.overwrite):
        raise UsageError(f"-o/--output {out}: expected a folder without an earlier batch run (got {MANIFEST_NAME}); "
                         "pass --resume to finish it or --overwrite to start over")
    pairs, skipped = collect_inputs(args.meshes, recursive=not args.no_recursive, include=args.include,
                                    exclude=args.exclude, exclude_dirs=[out])
    if not pairs:
        if args.json:
            json.dump({"summary": {"files": 0, "ok": 0, "failed": 0, "skipped": 0}, "skipped_inputs": skipped,
                       "records": []}, sys.stdout, indent=1)
            print()
        raise no_inputs_error(args.meshes, skipped)
    make_output_dir(out, "-o/--output")
    executor = "dask" if (args.dask or args.scheduler) else "local"
    show_bar = not (args.quiet or args.json)
    bar = None
    finished = [0, 0]  # files done, files to do

    def progress(done, total, recs):
        nonlocal bar
        finished[:] = [done, total]
        if not show_bar:
            return
        if bar is None:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="file", file=sys.stderr, desc="batch", dynamic_ncols=True)
            return
        bar.update(1)
        for r in recs:
            if r["status"] == "failed":
                bar.set_postfix_str(f"failed: {r['rel']}", refresh=False)
                break

    try:
        report = map_meshes(tasks, pairs, out, executor=executor, workers=args.workers,
                            threads_per_worker=args.threads_per_worker, resume=args.resume, progress=progress,
                            triangulate=not args.no_triangulate, timeout=args.timeout,
                            memory_limit=args.memory_limit, scheduler=args.scheduler)
    except OutputCollisionError as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        print(f"manifold-nets batch: {finished[0]} of {finished[1]} files finished before the interruption are "
              f"recorded in {out / MANIFEST_NAME}; run the same command with --resume to do the rest",
              file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        doc = report.to_dict()
        doc["skipped_inputs"] = skipped
        json.dump(doc, sys.stdout, indent=1, default=str)
        print()
    else:
        print(_fmt_table(report))
        n_bad = len({r["rel"] for r in report.failed})
        print(f"{report.n_files} files: {report.n_files - n_bad} done, {n_bad} failed"
              + (f" ({report.n_skipped} results kept from the earlier run)" if report.n_skipped else "")
              + f", {report.seconds:.1f} s ({report.files_per_second:.2f} files/s) on {report.executor}; "
              f"manifest {report.manifest}" + skipped_summary(skipped), flush=True)
    return 1 if report.n_failed else 0
