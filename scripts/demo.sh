#!/usr/bin/env bash
# The main job: the engine doing its work end to end, in about 10 minutes on 2 cores, with no download.
#
#   1. Class-conditional DDPM (Ho et al. 2020; classifier-free guidance, Ho & Salimans 2022) on Fashion-MNIST
#      (Debian's dataset-fashion-mnist): train, sample a grid of one row per class with DDIM (Song et al. 2021)
#      and guidance, and judge the samples with a classifier the demo trains too: class accuracy, FD-classifier,
#      precision and recall, beside the floor of real images; then bits/dim.
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

# The models are small: each runs about as fast on one core as on two (the 2-thread transformer step is even
# slower, 199 vs 157 ms), so they train side by side, half of the cores each: the DDPM on one, the text model
# and then the judge (the classifier that scores the DDPM's samples) on the other.
threads=$(( $(nproc) / 2 )); [ "$threads" -ge 1 ] || threads=1
images=$out/fashion-mnist-cond
judge=$out/fashion-mnist-judge
text=$out/kjv-gospels
mkdir -p "$out"

banner "Training the three models, two at a time, $threads thread(s) each"
echo "D3PM absorbing on the KJV Gospels, then the judge of the images, train in the background"
echo "(logs: $out/kjv-gospels-train.log, $out/judge-train.log); the conditional DDPM on Fashion-MNIST trains here:"
{
  train d3pm-text-demo "$text" --data demo/kjv-gospels.txt --threads "$threads" > "$out/kjv-gospels-train.log" 2>&1 &&
    train classifier-fashion-mnist-demo "$judge" --threads "$threads" > "$out/judge-train.log" 2>&1
} &
background_training=$!
train ddpm-fashion-mnist-cond-demo "$images" --threads "$threads"
wait "$background_training" ||
  { echo "demo: a background training failed; see $out/kjv-gospels-train.log and $out/judge-train.log" >&2; exit 1; }
echo "D3PM training: $(grep -o 'step [0-9]*/[0-9]*  loss [0-9.]*' "$out/kjv-gospels-train.log" | tail -1)"
echo "the judge: $(grep -o 'evaluation at step .*' "$out/judge-train.log" | tail -1)"

# The text model's samples and bound are computed alongside the images' sampling (which takes every core: the
# text's part ends in two minutes, the 200 images' 100 batched U-Net evaluations take longer); printed after it.
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
judge_ckpt=$(latest "$judge")
banner "1/2 Conditional DDPM on Fashion-MNIST: 20 samples of each class, DDIM 50 steps, classifier-free guidance w = 1"
"$diffuse" sample --checkpoint "$ckpt" --per-class 20 --sampler ddim --steps 50 --guidance-scale 1 \
  --out "$images/samples.png" --threads "$(nproc)"
banner "1/2 The samples judged by the demo's classifier (N = 200 against the first 200 test images)"
"$diffuse" evaluate --samples "$images/samples.npz" --classifier "$judge_ckpt" --threads "$threads"
banner "1/2 The floor: 200 training images in the samples' place"
"$diffuse" evaluate --fd-floor --classifier "$judge_ckpt" --n 200 --threads "$threads"
banner "1/2 DDPM: bits/dim on the test split, given each image's class"
"$diffuse" evaluate --checkpoint "$ckpt" --split test --images 1000 --estimate --threads "$threads"

wait "$text_results" || { cat "$out/kjv-gospels-results.txt"; echo "demo: the D3PM evaluation failed" >&2; exit 1; }
cat "$out/kjv-gospels-results.txt"

cat <<MSG

==== done in $((SECONDS - start)) s ====
Outputs:
  $images/samples.png               20 samples of each class, a row per class (T-shirt/top, trouser, pullover,
                                     dress, coat, sandal, shirt, sneaker, bag, ankle boot); samples.npz holds
                                     them (uint8 N x H x W x C, 'arr_0') and their classes ('labels')
  $text/samples.txt                  the two text samples
  each run directory: config.json (the resolved preset) and safetensors checkpoints

Next (see the README for presets, expected figures and times): the conditional model for an hour, its judge
in full, and guidance by CFG or by a noise-aware classifier; then CIFAR-10 and text8
  $diffuse train --preset ddpm-fashion-mnist-cond --out runs/fm-cond
  $diffuse train --preset classifier-fashion-mnist --out runs/fm-judge
  $diffuse sample --checkpoint runs/fm-cond/ckpt-000008000.safetensors --per-class 10 --guidance-scale 3 --out fm.png
  $diffuse train --preset ddpm-cifar10-small --data CIFAR10_DIR --out runs/ddpm-small
  $diffuse evaluate --checkpoint runs/ddpm-small/ckpt-000100000.safetensors --data CIFAR10_DIR --images 1000
  $diffuse train --preset d3pm-text8-small --data text8 --out runs/text8-absorbing
  $diffuse evaluate --checkpoint runs/text8-absorbing/ckpt-000100000.safetensors --data text8 --chunks 100
MSG
