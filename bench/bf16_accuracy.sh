#!/usr/bin/env bash
# bf16 beside float32 (issue 27): for each of two presets, a bf16 run and two float32 runs from two seeds,
# with the same steps, batch and threads; then the exact bound of each final checkpoint (its EMA weights)
# evaluated in float32 on the same first test items, so that only the training precision differs.
#
#   bench/bf16_accuracy.sh CIFAR_DIR TEXT8 OUT [STEPS] [THREADS]
#
#   DDPM_PRESET (default ddpm-cifar10-small): bits/dim, every one of the T terms, on the first 16 test images;
#   D3PM_PRESET (default d3pm-text8-small):  bits/char, every term, on the first 16 test chunks.
#   BF16_FLAGS (default empty): e.g. --allow-emulated on a CPU without native bf16.
#
# Runs: OUT/{ddpm,d3pm}-{fp32-s1,fp32-s2,bf16-s1}. Each resumes where it stopped, a finished one is not
# repeated, and each evaluation is journaled, so the script can be run again after an interruption. Writes
# OUT/{ddpm,d3pm}-loss.png (the three loss curves) and OUT/table.jsonl (one line per run: the bound, the
# final loss, the precision). The question it answers: is |bf16 - fp32-s1| within |fp32-s2 - fp32-s1|?
set -euo pipefail
cifar=$1
text8=$2
out=$3
steps=${4:-500}
threads=${5:-2}
ddpm_preset=${DDPM_PRESET:-ddpm-cifar10-small}
d3pm_preset=${D3PM_PRESET:-d3pm-text8-small}
read -r -a bf16_flags <<< "${BF16_FLAGS:-}"
diffuse=${DIFFUSE:-$(dirname "$0")/../build/diffuse}
mkdir -p "$out"
last_ckpt() { { ls "$1"/ckpt-*.safetensors 2>/dev/null || true; } | sort | tail -1; }

# run FAMILY PRESET DATA NAME SEED PRECISION: one training run that resumes.
run() {
  local family=$1 preset=$2 data=$3 name=$4 seed=$5 precision=$6 dir=$out/$1-$4
  local flags=(--threads "$threads" --precision "$precision")
  [ "$precision" = bf16 ] && flags+=("${bf16_flags[@]}")
  if [ -n "$(last_ckpt "$dir")" ]; then
    "$diffuse" "${flags[@]}" train --resume --out "$dir" --data "$data" --steps "$steps" >> "$dir.log" 2>&1
  else
    "$diffuse" "${flags[@]}" train --preset "$preset" --data "$data" --seed "$seed" --steps "$steps" --out "$dir" \
      --set train.checkpoint_every=100 --set train.keep_checkpoints=2 --set train.sample_every=0 \
      --set train.eval_every=0 >> "$dir.log" 2>&1
  fi
}

for family in ddpm d3pm; do
  if [ $family = ddpm ]; then preset=$ddpm_preset data=$cifar items=(--images 16); else preset=$d3pm_preset data=$text8 items=(--chunks 16); fi
  run $family "$preset" "$data" fp32-s1 1 fp32
  run $family "$preset" "$data" fp32-s2 2 fp32
  run $family "$preset" "$data" bf16-s1 1 bf16
  "$diffuse" plot --runs "$out/$family-fp32-s1" "$out/$family-fp32-s2" "$out/$family-bf16-s1" --out "$out/$family-loss.png" \
    --width 1200 --height 800
done

: > "$out/table.jsonl"
for family in ddpm d3pm; do
  if [ $family = ddpm ]; then data=$cifar items=(--images 16); else data=$text8 items=(--chunks 16); fi
  for name in fp32-s1 fp32-s2 bf16-s1; do
    c=$(last_ckpt "$out/$family-$name")
    bound=$("$diffuse" --threads "$threads" --precision fp32 evaluate --checkpoint "$c" --data "$data" "${items[@]}" \
      --batch 16 --json --quiet --journal "$out/$family-$name-journal")
    loss=$(tail -n 1 "$out/$family-$name/metrics.jsonl")
    echo "{\"family\":\"$family\",\"run\":\"$name\",\"checkpoint\":\"$c\",\"bound_fp32\":$bound,\"last_metrics\":$loss}" >> "$out/table.jsonl"
  done
done
echo "wrote $out/ddpm-loss.png, $out/d3pm-loss.png and $out/table.jsonl"
