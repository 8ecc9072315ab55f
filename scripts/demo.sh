#!/usr/bin/env bash
# The main job: the engine doing its work end to end, in about 10 minutes on 2 cores, with no download.
#
#   1. DDPM (Ho et al. 2020) on Fashion-MNIST (Debian's dataset-fashion-mnist): train, sample a PNG grid
#      and the x0_hat trajectory, and measure bits/dim.
#   2. D3PM absorbing (Austin et al. 2021) on the bundled KJV Gospels (demo/kjv-gospels.txt): train,
#      print samples and a denoising trajectory, and measure bits/char.
#
# Usage: scripts/demo.sh [OUT_DIR]   (default runs/demo). Run it again to continue an interrupted demo:
# each training resumes from its last checkpoint, and a finished one is not trained again.
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

banner "1/2 DDPM on Fashion-MNIST: training the U-Net"
images=$out/fashion-mnist
train ddpm-fashion-mnist-demo "$images"
ckpt=$(latest "$images")
banner "1/2 DDPM: 1000-step ancestral sampling (Algorithm 2)"
"$diffuse" sample --checkpoint "$ckpt" --n 36 --out "$images/samples.png" --progressive --every 100
banner "1/2 DDPM: bits/dim on the test split"
"$diffuse" evaluate --checkpoint "$ckpt" --split test --images 1000 --estimate

banner "2/2 D3PM absorbing on the KJV Gospels: training the transformer"
text=$out/kjv-gospels
train d3pm-text-demo "$text" --data demo/kjv-gospels.txt
ckpt=$(latest "$text")
banner "2/2 D3PM: samples and a denoising trajectory (1000 steps)"
"$diffuse" sample --checkpoint "$ckpt" --n 2 --progressive --out "$text/samples.txt"
banner "2/2 D3PM: bits/char on the test split (the exact bound, every t)"
"$diffuse" evaluate --checkpoint "$ckpt" --data demo/kjv-gospels.txt --split test --chunks 64

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
