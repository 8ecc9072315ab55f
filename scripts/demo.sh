#!/usr/bin/env bash
# The main job: the engine doing its work end to end, in 9 minutes on 2 cores, with no download.
#
#   1. DDPM (Ho et al. 2020) on Fashion-MNIST (Debian's dataset-fashion-mnist): train, sample a PNG grid
#      and the x0_hat trajectory, and measure bits/dim.
#   2. D3PM absorbing (Austin et al. 2021) on the bundled KJV Gospels (demo/kjv-gospels.txt): train,
#      print samples and a denoising trajectory, and measure bits/char.
#
# Usage: scripts/demo.sh [OUT_DIR]   (default runs/demo; outputs and logs go there). Run it again to continue
# an interrupted demo: each training resumes from its last checkpoint, and a finished one is not repeated.
set -euo pipefail
cd "$(dirname "$0")/.."
diffuse=${DIFFUSE:-build/diffuse}
out=${1:-runs/demo}
[ -x "$diffuse" ] || { echo "demo: $diffuse is missing; build first (cmake -S . -B build -G Ninja && cmake --build build)" >&2; exit 1; }
start=$SECONDS

# Trains PRESET into DIR, or resumes it when DIR already holds a checkpoint. Extra flags follow.
train() {
  local preset=$1 dir=$2; shift 2
  if compgen -G "$dir/ckpt-*.safetensors" >/dev/null; then
    "$diffuse" train --out "$dir" --resume "$@"
  else
    "$diffuse" train --preset "$preset" --out "$dir" "$@"
  fi
}
latest() { ls "$1"/ckpt-*.safetensors | tail -1; }
banner() { printf '\n==== %s (%d s so far) ====\n' "$1" $((SECONDS - start)); }
heading() { printf '\n==== %s ====\n' "$1"; }  # for the text model's results, computed in the background

# The two models are small: each runs about as fast on one core as on two (the 2-thread transformer step is
# even slower, 199 vs 157 ms), so they train side by side, half of the cores each.
threads=$(( $(nproc) / 2 )); [ "$threads" -ge 1 ] || threads=1
images=$out/fashion-mnist
text=$out/kjv-gospels
mkdir -p "$out"

banner "Training both models side by side, $threads thread(s) each"
echo "D3PM absorbing on the KJV Gospels trains in the background (log: $out/kjv-gospels-train.log);"
echo "DDPM on Fashion-MNIST trains here:"
train d3pm-text-demo "$text" --data demo/kjv-gospels.txt --threads "$threads" > "$out/kjv-gospels-train.log" 2>&1 &
text_training=$!
train ddpm-fashion-mnist-demo "$images" --threads "$threads"
wait "$text_training" || { echo "demo: the D3PM training failed; see $out/kjv-gospels-train.log" >&2; exit 1; }
echo "D3PM training: $(grep -o 'step [0-9]*/[0-9]*  loss [0-9.]*' "$out/kjv-gospels-train.log" | tail -1)"

# The text model's samples and bound are computed alongside the image sampling; printed after it.
text_ckpt=$(latest "$text")
{
  heading "2/2 D3PM absorbing on the KJV Gospels: samples and a denoising trajectory (1000 steps)"
  "$diffuse" sample --checkpoint "$text_ckpt" --n 2 --progressive --out "$text/samples.txt" --threads "$threads"
  heading "2/2 D3PM: bits/char on the test split (the exact bound, every t)"
  "$diffuse" evaluate --checkpoint "$text_ckpt" --data demo/kjv-gospels.txt --split test --chunks 64 --threads "$threads" 2>&1 |
    grep -v "network evaluations"
} > "$out/kjv-gospels-results.txt" 2>&1 &
text_results=$!

ckpt=$(latest "$images")
banner "1/2 DDPM on Fashion-MNIST: 1000-step ancestral sampling (Algorithm 2)"
"$diffuse" sample --checkpoint "$ckpt" --n 36 --out "$images/samples.png" --progressive --every 100 --threads "$threads"
banner "1/2 DDPM: bits/dim on the test split"
"$diffuse" evaluate --checkpoint "$ckpt" --split test --images 1000 --estimate --threads "$threads"

wait "$text_results" || { cat "$out/kjv-gospels-results.txt"; echo "demo: the D3PM evaluation failed" >&2; exit 1; }
cat "$out/kjv-gospels-results.txt"

cat <<MSG

==== done in $((SECONDS - start)) s ====
Outputs:
  $images/samples.png               36 Fashion-MNIST samples (and samples.npz, uint8 N x H x W x C)
  $images/samples-progressive.png   x0_hat every 100 steps, one row per sample
  $text/samples.txt                  the two text samples
  each run directory: config.json (the resolved preset) and safetensors checkpoints

Next, on the real data (see the README for presets, expected figures and times):
  $diffuse train --preset ddpm-cifar10-small --data CIFAR10_DIR --out runs/ddpm-small
  $diffuse evaluate --checkpoint runs/ddpm-small/ckpt-000100000.safetensors --data CIFAR10_DIR --images 1000
  $diffuse train --preset d3pm-text8-small --data text8 --out runs/text8-absorbing
  $diffuse evaluate --checkpoint runs/text8-absorbing/ckpt-000100000.safetensors --data text8 --chunks 100
MSG
