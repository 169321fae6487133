#!/usr/bin/env bash
# The GPU checks the open issues ask for, as one prepared run on a machine with CUDA:
#   1. every family's outputs and gradients on the GPU equal to the CPU's (float64), float32 training
#      steps built on the GPU, checkpoints moved both ways (tests/nn/test_device.py);
#   2. training-step speed on the GPU (benchmarks/bench_nn.py --device cuda);
#   3. the README's synthetic segmentation run with --device cuda, timed;
#   4. one Labeled PSB category trained on the GPU, timed (only where the data set is at hand:
#      $MANIFOLD_NETS_DATA/datasets/labeled-psb).
#
# Usage:  bash benchmarks/device_check.sh        (logs under $OUT, default device_out/)
# A machine whose Python lacks the library's compiled dependencies (potpourri3d, robust-laplacian,
# libigl, cholespy, fast-simplification, trimesh, PyMaxflow) takes them as wheels from .whl/
# (ignored by git; fetched on a machine with the package registry by
#  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
#    -d .whl trimesh potpourri3d robust-laplacian libigl cholespy fast-simplification PyMaxflow
# for that machine's Python version).  Step 4 reads the Labeled PSB from $MANIFOLD_NETS_DATA (default
# ../shared); on a machine the data does not reach, copy one category into an ignored folder of the
# checkout (.data/datasets/labeled-psb/Teddy) and set MANIFOLD_NETS_DATA=.data. Research data: never commit it.
set -uo pipefail
OUT=${OUT:-device_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}                     # DEVICE=cpu rehearses the script on a machine without a GPU
BENCH_SETTINGS=${BENCH_SETTINGS:-small,large}
SITE=/tmp/manifold_nets_site
mkdir -p "$SITE"
if ! "$PY" -c "import potpourri3d, robust_laplacian, igl, cholespy, fast_simplification, trimesh" 2>/dev/null \
   && compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
fi
# the library from this checkout, and its command (apps/ is the package manifold_nets_apps)
ln -sfn "$PWD/apps" "$SITE/manifold_nets_apps"
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
CLI=("$PY" -m manifold_nets_apps.cli)

step() { echo; echo "=== $* ($(date +%T))"; }

step "environment"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  "$PY" -c "import torch, numpy, scipy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'); print('numpy', numpy.__version__, 'scipy', scipy.__version__)"
  "$PY" -c "import manifold_nets, potpourri3d, robust_laplacian, igl, cholespy; print('manifold_nets', manifold_nets.__version__)"
} 2>&1 | tee "$OUT/env.txt"

step "1. nn on $DEVICE against the CPU"
MANIFOLD_NETS_TEST_DEVICE=$DEVICE timeout 240 "$PY" -m pytest -q -p no:cacheprovider -rs tests/nn/test_device.py 2>&1 \
  | tee "$OUT/test_device.log"

step "2. training steps on $DEVICE (bench_nn, settings $BENCH_SETTINGS, a new batch every step)"
timeout 300 "$PY" benchmarks/bench_nn.py --device "$DEVICE" --threads 0 --settings "$BENCH_SETTINGS" --no-loop --no-pyg 2>&1 \
  | tee "$OUT/bench_nn_$DEVICE.log"

step "3. README synthetic segmentation run on $DEVICE"
rm -rf "$OUT/run"
{ time timeout 300 "${CLI[@]}" segment train --data synthetic --out "$OUT/run" --epochs 30 --device "$DEVICE" --quiet; } 2>&1 \
  | tee "$OUT/segment_synthetic_$DEVICE.log"
timeout 120 "${CLI[@]}" segment eval --model "$OUT/run" --data synthetic --device "$DEVICE" 2>&1 | tee -a "$OUT/segment_synthetic_$DEVICE.log"

PSB="${MANIFOLD_NETS_DATA:-../shared}/datasets/labeled-psb"
if [ -d "$PSB/Teddy" ]; then
  step "4. one Labeled PSB category (Teddy, fold 0) trained on $DEVICE"
  timeout 600 "$PY" benchmarks/bench_segmentation.py --categories Teddy --folds 1 --device "$DEVICE" \
    --json "$OUT/psb_teddy_$DEVICE.json" 2>&1 | tee "$OUT/psb_teddy_$DEVICE.log"
else
  step "4. skipped: no Labeled PSB at $PSB"
fi
step "done"
