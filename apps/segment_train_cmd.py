"""``manifold-nets segment train``: train a segmentation model on a folder of labelled meshes.

Thin: reads the data set (:func:`manifold_nets.data.readers.load_dataset`, or the built-in
synthetic set), splits off validation meshes and calls
:func:`manifold_nets.tasks.segmentation.train_segmentation`, which writes the run folder.
Data-parallel training: launch the same command under ``torchrun --nproc_per_node N -m
manifold_nets_apps.cli segment train ...`` (gloo on CPU, NCCL with ``--device cuda``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from manifold_nets.errors import RunFolderError

from .common import (
    EXIT_INTERRUPTED,
    OutputError,
    UsageError,
    check_new_run,
    check_output_dir,
    device_arg,
    make_output_dir,
    non_negative_int,
    one_line,
    positive_float,
    positive_int,
    report_skipped,
    resolve_data_format,
    seed_int,
)

FORMATS = ("labeled-psb", "psb-seg", "maron", "meshcnn", "folder", "synthetic")
FAMILY_CHOICES = ("diffusion", "spectral", "cheb", "gcnn", "acnn", "monet", "gem")  # manifold_nets.nn.FAMILIES


def _fraction(text: str) -> float:
    import argparse

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1) (got {text!r})") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1) (got {v})")
    return v


def register(sub) -> None:
    from manifold_nets.tasks.segmentation import (
        CLASS_WEIGHTS,
        VAL_FRACTION_DEFAULT,
        SegmentationConfig,
    )

    d = SegmentationConfig()
    p = sub.add_parser(
        "train", help="train a segmentation model on labelled meshes",
        description=(
            "Train a mesh segmentation model and write the run folder OUT: model.pt (the last "
            "epoch's, or the best by validation accuracy with --val-fraction), checkpoint.pt "
            "(resumable), config.json, metrics.csv and metrics.json.  --data synthetic trains on a "
            "generated set of articulated figures (no download).  Operators are cached in "
            "--cache-dir (default $MANIFOLD_NETS_CACHE or ~/.cache/manifold_nets/learning).  With --resume the run's config.json is used and "
            "the model options are ignored.  Several processes: torchrun --nproc_per_node N -m "
            "manifold_nets_apps.cli segment train ....  Exit codes: 0 done, 1 the data failed, "
            "2 usage error, 4 OUT cannot be written, 130 interrupted (resume with --resume)."),
    )
    p.add_argument("--data", required=True, metavar="DIR",
                   help="data folder, or 'synthetic' for the built-in synthetic set")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="data set layout (default labeled-psb; synthetic with --data synthetic)")
    p.add_argument("--category", default=None, metavar="NAME",
                   help="category sub-folder (Labeled PSB: Human, Ant, ...)")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder (created)")
    p.add_argument("--family", choices=FAMILY_CHOICES, default=d.family, help=f"convolution family (default {d.family})")
    p.add_argument("--features", choices=("hks", "wks", "xyz"), default=d.features,
                   help=f"input features (default {d.features})")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=d.standardize,
                   help="standardise HKS/WKS channels with the training meshes' statistics, kept in the model "
                        f"(default {'on' if d.standardize else 'off'})")
    p.add_argument("--class-weights", choices=CLASS_WEIGHTS, default=d.class_weights,
                   help="weight parts in the loss by their surface share to the power -1/2 (sqrt) or -1 (inverse), "
                        f"so rare parts count more (default {d.class_weights})")
    p.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"maximum epochs (default {d.epochs})")
    p.add_argument("--patience", type=positive_int, default=d.patience,
                   help=f"with --val-fraction: stop after this many epochs without a better validation accuracy "
                        f"(default {d.patience})")
    p.add_argument("--lr", type=positive_float, default=d.lr, help=f"learning rate (default {d.lr})")
    p.add_argument("--width", type=positive_int, default=d.width, help=f"channels (default {d.width})")
    p.add_argument("--n-blocks", type=positive_int, default=d.n_blocks, help=f"blocks (default {d.n_blocks})")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help=f"meshes per step (default {d.batch_size})")
    p.add_argument("--val-fraction", type=_fraction, default=VAL_FRACTION_DEFAULT,
                   help="fraction of the meshes held out for validation and early stopping (default "
                        f"{VAL_FRACTION_DEFAULT:g}: train on all of them for --epochs)")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed (default 0)")
    p.add_argument("--device", type=device_arg, default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--max-vertices", type=non_negative_int, default=d.max_vertices,
                   help=f"simplify training meshes to at most this many vertices; prediction repeats it "
                        f"(default {d.max_vertices}; 0: train on the meshes as given)")
    p.add_argument("--remesh-variants", type=non_negative_int, default=d.remesh_variants,
                   help="extra random triangulations per training mesh (augmentation; default 0)")
    p.add_argument("--n-meshes", type=positive_int, default=24,
                   help="size of the synthetic set (with --data synthetic; default 24)")
    p.add_argument("--cache-dir", default=None, metavar="DIR", help="learning cache folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in RUN_DIR")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in a RUN_DIR that holds an earlier run (its files are deleted); "
                        "without it (or --resume) such a folder is refused")
    p.add_argument("--labels-on", choices=("auto", "faces", "vertices"), default=None,
                   help="--format folder: whether label arrays are per face or per vertex (default auto: "
                        "by their length; needed when a mesh has as many faces as vertices)")
    p.add_argument("--skip-bad", action="store_true", help="report and skip meshes whose labels are malformed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _load(args):
    fmt = resolve_data_format(args)
    if fmt == "synthetic":
        from manifold_nets.data.synthetic import make_segmentation_set

        ds = make_segmentation_set(args.n_meshes, seed=args.seed)
        return ds, {"data": "synthetic", "format": "synthetic", "n_meshes": args.n_meshes, "seed": args.seed}
    root = Path(args.data)
    if not root.is_dir():
        from manifold_nets.errors import MeshFileNotFoundError

        why = "a file" if root.exists() else "no such folder"
        raise MeshFileNotFoundError(f"--data {root}: expected a data folder (got {why})")
    from manifold_nets.data.readers import load_dataset

    ds = load_dataset(root, fmt, category=args.category, skip_bad=args.skip_bad, labels_on=args.labels_on)
    return ds, {"data": str(root.resolve()), "format": fmt, "category": args.category}


def run(args) -> int:
    from tqdm.auto import tqdm

    from manifold_nets.tasks.segmentation import (
        SegmentationConfig,
        split_train_val,
        train_segmentation,
    )

    quiet = args.quiet or int(os.environ.get("RANK", "0") or 0) != 0
    resolve_data_format(args)  # options the data would silently ignore are usage errors, before any work
    out = check_output_dir(args.out, "--out")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    if args.resume and not (out / "checkpoint.pt").is_file():
        raise UsageError(f"--resume: expected an interrupted run in {out} (got no checkpoint.pt there)")
    check_new_run(out, resume=args.resume, overwrite=args.overwrite)
    val_fraction = args.val_fraction
    if args.resume:  # the data, split and seed of the interrupted run
        import json

        try:
            rec = json.loads((out / "config.json").read_text())
            args.seed = int(rec["segmentation"]["seed"])
            val_fraction = float(rec["data"].get("val_fraction", val_fraction))
            args.n_meshes = int(rec["data"].get("n_meshes", args.n_meshes))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--resume: expected the run's config.json in {out} (got {exc})") from None
    ds, info = _load(args)
    if int(os.environ.get("RANK", "0") or 0) == 0:
        report_skipped(getattr(ds, "skipped", None))
    if len(ds) < 1:
        raise UsageError(f"--data {args.data}: expected labelled meshes (got none)")
    config = None if args.resume else SegmentationConfig(
        family=args.family, features=args.features, width=args.width, n_blocks=args.n_blocks,
        max_vertices=args.max_vertices or None, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        patience=args.patience, remesh_variants=args.remesh_variants, standardize=args.standardize,
        class_weights=args.class_weights, seed=args.seed, cache_dir=args.cache_dir)
    train, val = split_train_val(ds, val_fraction, seed=args.seed)
    info["val_fraction"] = val_fraction
    make_output_dir(out, "--out")

    bars: dict = {}

    def progress(ev: dict) -> None:
        if quiet:
            return
        kind = ev["kind"]
        if kind == "prepare":
            bar = bars.get(ev["what"])
            if bar is None:
                bar = bars[ev["what"]] = tqdm(total=ev["total"], desc=f"operators ({ev['what']})", unit="mesh",
                                              file=sys.stderr, leave=False)
            bar.update(1)
            if ev["done"] == ev["total"]:
                bar.close()
        elif kind == "step":
            bar = bars.get("train")
            if bar is None:
                bar = bars["train"] = tqdm(total=ev["n_epochs"], initial=ev["epoch"] - 1, desc="train",
                                           unit="epoch", file=sys.stderr)
            bar.set_postfix_str(f"step {ev['step']}/{ev['n_steps']} loss {ev['loss']:.3f}", refresh=False)
        elif kind == "epoch":
            bar = bars.get("train")
            if bar is None:
                bar = bars["train"] = tqdm(total=ev["n_epochs"], initial=ev["epoch"] - 1, desc="train",
                                           unit="epoch", file=sys.stderr)
            bar.total = ev["n_epochs"]
            val = ev.get("val_accuracy")
            bar.set_postfix_str(f"loss {ev['train_loss']:.3f} acc {ev.get('train_accuracy', float('nan')):.3f}"
                                + (f" val {val:.3f}" if val is not None else ""), refresh=False)
            bar.update(1)

    try:
        result = train_segmentation(train, val, config, out, resume=args.resume, overwrite=args.overwrite,
                                    progress=progress, device=args.device, data_info=info)
    except RunFolderError as exc:  # another process took the folder meanwhile
        raise OutputError(f"--out {one_line(exc)}") from None
    except KeyboardInterrupt:
        for bar in bars.values():
            bar.close()
        bars.clear()
        if (out / "checkpoint.pt").is_file():
            print(f"manifold-nets: interrupted; continue with the same command and --resume "
                  f"(checkpoint in {out})", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise
    finally:
        for bar in bars.values():
            bar.close()
    if int(os.environ.get("RANK", "0") or 0) != 0:
        return 0
    last = result.final
    how = "early stop" if result.stopped_early else "done"
    score = "" if result.best_score is None else f", validation accuracy {100 * result.best_score:.2f} %"
    print(f"{how}: {result.epochs_run} epochs (best epoch {result.best_epoch}{score}, last train accuracy "
          f"{100 * last.get('train_accuracy', float('nan')):.2f} %) in {result.seconds:.1f} s -> {out / 'model.pt'}",
          flush=True)
    return 0
