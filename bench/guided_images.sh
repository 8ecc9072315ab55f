#!/usr/bin/env bash
# Class-conditional DDPM's samplers and guidance, scored in the engine (issue 24): FD-classifier, class
# accuracy, precision and recall under the clean classifier, and seconds per image, for each row of the
# issue's table; then the floor (training images against test images at the same N).
#
#   bench/guided_images.sh DATASET DATA_DIR OUT [STEPS] [PER_CLASS] [THREADS]
#
# DATASET is fashion-mnist or cifar10 (the presets ddpm-fashion-mnist-cond / ddpm-cifar10-cond-small, the
# judge classifier-*, the guide noisy-classifier-*). DATA_DIR: Fashion-MNIST's (/usr/share/datasets/fashion-mnist)
# or CIFAR-10's directory. STEPS: the DDPM's training steps (default: the preset's). PER_CLASS: images drawn
# per class in each row, N = 10 PER_CLASS (default 100). ROWS (environment) picks rows by name (default: all):
#
#   ancestral-none ancestral-cfg1 ancestral-cfg3 ancestral-clf1 ancestral-clf5 ddim50-cfg1 ddim20-cfg1
#   dpm20-cfg1 dpm10-cfg1
#
# JUDGE_STEPS and GUIDE_STEPS (environment) cut the classifiers' runs short (default: their presets' steps).
# LANES (environment, default 1) samples that many rows at once, each lane with THREADS threads.
#
# Stage 1 trains the DDPM, the judge and, when a chosen row uses classifier guidance, the guide (each resumes; a
# finished one is not repeated). Stage 2 samples each row once, in chunks of 100 images kept in OUT/<row>.journal
# (a stopped row resumes; a row whose .npz exists is only scored again), and appends one JSON line per row to
# OUT/table.jsonl, then the floor's.
# The grids are OUT/<row>.png, one row per class.
set -euo pipefail
dataset=$1
data=$2
out=$3
steps=${4:-}
per_class=${5:-100}
threads=${6:-2}
lanes=${LANES:-1}
diffuse=${DIFFUSE:-$(dirname "$0")/../build/diffuse}
case $dataset in
  fashion-mnist) ddpm_preset=ddpm-fashion-mnist-cond ;;
  cifar10) ddpm_preset=ddpm-cifar10-cond-small ;;
  *) echo "bench/guided_images.sh: DATASET must be fashion-mnist or cifar10, got '$dataset'" >&2; exit 2 ;;
esac
rows=${ROWS:-ancestral-none ancestral-cfg1 ancestral-cfg3 ancestral-clf1 ancestral-clf5 ddim50-cfg1 ddim20-cfg1 dpm20-cfg1 dpm10-cfg1}
mkdir -p "$out"
last_ckpt() { { ls "$1"/ckpt-*.safetensors 2>/dev/null || true; } | sort | tail -1; }

# train NAME PRESET [STEPS] [--set ...]: a run that resumes.
train() {
  local name=$1 preset=$2 n=$3; shift 3
  local until=(); [ -n "$n" ] && until=(--steps "$n")
  if [ -n "$(last_ckpt "$out/$name")" ]; then
    "$diffuse" --threads "$threads" train --resume --out "$out/$name" --data "$data" "${until[@]}" >> "$out/$name.log" 2>&1
  else
    "$diffuse" --threads "$threads" train --preset "$preset" --data "$data" --seed 1 --out "$out/$name" "${until[@]}" \
      --set train.sample_every=0 "$@" >> "$out/$name.log" 2>&1
  fi
}
train ddpm "$ddpm_preset" "$steps"
ddpm=$(last_ckpt "$out/ddpm")
train judge "classifier-$dataset" "${JUDGE_STEPS:-}"
judge=$(last_ckpt "$out/judge")
guide=  # the noise-aware classifier, trained only when a chosen row guides with it
case " $rows " in
  *" ancestral-clf"*)
    train guide "noisy-classifier-$dataset" "${GUIDE_STEPS:-}" --set "classifier.ddpm=$ddpm"
    guide=$(last_ckpt "$out/guide") ;;
esac

# The sample flags of each row.
declare -A flags=(
  [ancestral-none]="--sampler ancestral"
  [ancestral-cfg1]="--sampler ancestral --guidance-scale 1"
  [ancestral-cfg3]="--sampler ancestral --guidance-scale 3"
  [ancestral-clf1]="--sampler ancestral --classifier $guide --classifier-scale 1"
  [ancestral-clf5]="--sampler ancestral --classifier $guide --classifier-scale 5"
  [ddim50-cfg1]="--sampler ddim --steps 50 --guidance-scale 1"
  [ddim20-cfg1]="--sampler ddim --steps 20 --guidance-scale 1"
  [dpm20-cfg1]="--sampler dpm-solver --steps 20 --guidance-scale 1"
  [dpm10-cfg1]="--sampler dpm-solver --steps 10 --guidance-scale 1"
)
n=$((10 * per_class))
for row in $rows; do
  [ -n "${flags[$row]:-}" ] || { echo "bench/guided_images.sh: unknown row '$row'" >&2; exit 2; }
done
# sample_row ROW: its samples, its scores and its line of table.jsonl.
sample_row() {
  local row=$1 scores per_image
  if [ ! -f "$out/$row.npz" ]; then
    # In chunks of 100 through a journal: a row stopped (by the end of a session) resumes where it stopped.
    # shellcheck disable=SC2086
    "$diffuse" --threads "$threads" sample --checkpoint "$ddpm" --per-class "$per_class" ${flags[$row]} --seed 7 \
      --batch 100 --journal "$out/$row.journal" --quiet --out "$out/$row.png" > "$out/$row.log"
  fi
  scores=$("$diffuse" --threads "$threads" evaluate --samples "$out/$row.npz" --classifier "$judge" --data "$data" --json --quiet)
  # Seconds per image: the time of the images this row's last run drew itself ("sampling D of them took S s").
  per_image=$(sed -n 's/.*sampling \([0-9]*\) of them took \([0-9.]*\) s.*/\2 \1/p' "$out/$row.log" | awk '{ printf "%.4f", $1 / $2 }')
  echo "{\"row\":\"$row\",\"flags\":\"${flags[$row]}\",\"n\":$n,\"threads\":$threads,\"lanes\":$lanes,\"seconds_per_image\":$per_image,\"scores\":$scores}" \
    >> "$out/table.jsonl"
}
# LANES processes take the rows in turn, each the next row no lane has claimed (mkdir is the lock). On 2 cores,
# LANES=2 with THREADS=1 does about 1.4 times the work of one lane of 2 threads (docs/distributed.md).
rm -rf "$out"/.claimed
mkdir "$out"/.claimed
lane() {
  for row in $rows; do
    if mkdir "$out/.claimed/$row" 2>/dev/null; then sample_row "$row"; fi
  done
}
pids=()
for ((l = 0; l < lanes; ++l)); do lane & pids+=($!); done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$?; done  # the other lanes finish their rows first
[ "$failed" -eq 0 ] || { echo "bench/guided_images.sh: a row failed (its log is $out/<row>.log)" >&2; exit "$failed"; }
floor=$("$diffuse" --threads "$threads" evaluate --fd-floor --classifier "$judge" --data "$data" --n "$n" --json --quiet)
echo "{\"row\":\"floor\",\"n\":$n,\"scores\":$floor}" >> "$out/table.jsonl"
echo "wrote $out/table.jsonl"
