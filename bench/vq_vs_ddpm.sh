#!/usr/bin/env bash
# VQ-Diffusion beside the class-conditional DDPM at the same training wall clock (issue 25), scored by the same
# judge as bench/guided_images.sh, whose output folder this script reads (its DDPM run, judge and table).
#
#   bench/vq_vs_ddpm.sh DATASET DATA_DIR GUIDED_OUT OUT [VQVAE_SHARE] [PER_CLASS] [THREADS]
#
# DATASET: fashion-mnist or cifar10 (presets vqvae-fashion-mnist / vqvae-cifar10-small and
# vq-diffusion-fashion-mnist / vq-diffusion-cifar10-small). The budget is the DDPM run's training time: the
# sum over GUIDED_OUT/ddpm/metrics.jsonl of ms_per_step times the steps of each record (evaluations and
# checkpoints left out, on both sides). The VQ-VAE trains for VQVAE_SHARE of it (default 0.3), the token model
# for the rest; each trains in pieces of 100 steps until its share is spent, so a run resumes after an
# interruption. PER_CLASS images per class in each row (default 100, as bench/guided_images.sh).
#
# OUT/table.jsonl, one line per row: vq100 and vq25 (ancestral with step skipping), each plain, with
# truncation r = 0.86, and with r = 0.86 and CFG w = 3, each drawn in chunks of 100 as the DDPM's rows; the
# DDPM's rows ancestral-none, ddim50-cfg1 and dpm20-cfg1 copied from GUIDED_OUT/table.jsonl (those it has); and
# the floor: the judge's scores of the VQ-VAE's reconstructions of the first 10 PER_CLASS test images (no token
# model can beat its tokenizer).
set -euo pipefail
dataset=$1
data=$2
guided=$3
out=$4
share=${5:-0.3}
per_class=${6:-100}
threads=${7:-2}
diffuse=${DIFFUSE:-$(dirname "$0")/../build/diffuse}
case $dataset in
  fashion-mnist) vqvae_preset=vqvae-fashion-mnist token_preset=vq-diffusion-fashion-mnist ;;
  cifar10) vqvae_preset=vqvae-cifar10-small token_preset=vq-diffusion-cifar10-small ;;
  *) echo "bench/vq_vs_ddpm.sh: DATASET must be fashion-mnist or cifar10, got '$dataset'" >&2; exit 2 ;;
esac
mkdir -p "$out"
last_ckpt() { { ls "$1"/ckpt-*.safetensors 2>/dev/null || true; } | sort | tail -1; }
source "$(dirname "$0")/train_seconds.sh"
# train_for NAME PRESET DATA SECONDS [--set ...]: 100 steps at a time (at least once) until the run's training
# time reaches SECONDS.
train_for() {
  local name=$1 preset=$2 d=$3 budget=$4; shift 4
  while [ -z "$(last_ckpt "$out/$name")" ] || below "$(train_seconds "$out/$name")" "$budget"; do
    local c step
    c=$(last_ckpt "$out/$name")
    if [ -n "$c" ]; then
      step=$(basename "$c" .safetensors); step=$((10#${step#ckpt-}))
      "$diffuse" --threads "$threads" train --resume --out "$out/$name" --data "$d" --steps $((step + 100)) >> "$out/$name.log" 2>&1
    else
      "$diffuse" --threads "$threads" train --preset "$preset" --data "$d" --seed 1 --out "$out/$name" --steps 100 \
        --set train.checkpoint_every=100 --set train.sample_every=0 "$@" >> "$out/$name.log" 2>&1
    fi
  done
}

budget=$(train_seconds "$guided/ddpm")
judge=$(last_ckpt "$guided/judge")
[ -n "$judge" ] && [ "$budget" != 0.0 ] || { echo "bench/vq_vs_ddpm.sh: $guided has no DDPM run or judge (run bench/guided_images.sh first)" >&2; exit 2; }
train_for vqvae "$vqvae_preset" "$data" "$(awk -v b="$budget" -v s="$share" 'BEGIN { print b * s }')"
vqvae=$(last_ckpt "$out/vqvae")
[ -f "$out/train.tok" ] || "$diffuse" --threads "$threads" tokenize --checkpoint "$vqvae" --data "$data" --out "$out/train.tok" > /dev/null
train_for tokens "$token_preset" "$out/train.tok" "$(awk -v b="$budget" -v v="$(train_seconds "$out/vqvae")" 'BEGIN { print b - v }')"
tokens=$(last_ckpt "$out/tokens")

n=$((10 * per_class))
declare -A flags=(
  [vq100]="--steps 100" [vq100-r0.86]="--steps 100 --truncation 0.86" [vq100-r0.86-cfg3]="--steps 100 --truncation 0.86 --guidance-scale 3"
  [vq25]="--steps 25" [vq25-r0.86]="--steps 25 --truncation 0.86" [vq25-r0.86-cfg3]="--steps 25 --truncation 0.86 --guidance-scale 3"
)
{
  echo "{\"row\":\"budget\",\"ddpm_train_seconds\":$budget,\"vqvae_train_seconds\":$(train_seconds "$out/vqvae"),\"tokens_train_seconds\":$(train_seconds "$out/tokens"),\"vqvae\":\"$vqvae\",\"tokens\":\"$tokens\"}"
  for row in vq100 vq100-r0.86 vq100-r0.86-cfg3 vq25 vq25-r0.86 vq25-r0.86-cfg3; do
    if [ ! -f "$out/$row.npz" ]; then
      # In chunks of 100 through a journal, as the DDPM's rows: a row stopped resumes where it stopped.
      # shellcheck disable=SC2086
      "$diffuse" --threads "$threads" sample --checkpoint "$tokens" --per-class "$per_class" ${flags[$row]} --seed 7 \
        --batch 100 --journal "$out/$row.journal" --quiet --out "$out/$row.png" > "$out/$row.log"
    fi
    scores=$("$diffuse" --threads "$threads" evaluate --samples "$out/$row.npz" --classifier "$judge" --data "$data" --json --quiet)
    # Seconds per image: the time of the images this row's last run drew itself ("sampling D of them took S s").
    per_image=$(sed -n 's/.*sampling \([0-9]*\) of them took \([0-9.]*\) s.*/\2 \1/p' "$out/$row.log" | awk '{ printf "%.4f", $1 / $2 }')
    echo "{\"row\":\"$row\",\"flags\":\"${flags[$row]}\",\"n\":$n,\"threads\":$threads,\"seconds_per_image\":$per_image,\"scores\":$scores}"
  done
  grep -E '"row":"(ancestral-none|ddim50-cfg1|dpm20-cfg1)"' "$guided/table.jsonl" || true
  [ -f "$out/reconstructions.npz" ] || "$diffuse" --threads "$threads" evaluate --checkpoint "$vqvae" --data "$data" --images "$n" \
    --out "$out/reconstructions.png" --quiet > "$out/reconstructions.log"
  floor=$("$diffuse" --threads "$threads" evaluate --samples "$out/reconstructions.npz" --classifier "$judge" --data "$data" --json --quiet)
  echo "{\"row\":\"floor: the VQ-VAE's reconstructions\",\"n\":$n,\"scores\":$floor}"
} > "$out/table.jsonl"
echo "wrote $out/table.jsonl"
