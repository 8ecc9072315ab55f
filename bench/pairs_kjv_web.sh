#!/usr/bin/env bash
# A target given its source on the King James -> World English Bible pairs (issue 23; docs/math.md §9): DiffuSeq,
# the source-conditioned masked model and the autoregressive baseline with the same transformer (6 x 256), rows
# (128), batch (64), optimiser, threads and training time, against copying the source.
#
#   [LANES=2] bench/pairs_kjv_web.sh PAIRS OUT [STEPS] [THREADS] [TEST_PAIRS]
#
# PAIRS is `scripts/export_bible.sh pairs KJV WEB kjv_web.tsv`. Three models, each resuming where it stopped (a
# finished one is not repeated):
#   dlm     diffuseq-kjv-web-small: Diffusion-LM on [x; y] with the source clean (partial noising), STEPS steps
#   masked  mdlm-kjv-web-small: masked diffusion with the source never masked
#   ar      ar-kjv-web-small: the causal transformer on "x SEP y", its loss on y
# dlm trains first. Its training time is the budget (its metrics.jsonl: ms_per_step times the steps, evaluations
# and checkpoints left out; bench/train_seconds.sh): masked and ar train in pieces of 100 steps until theirs reaches
# it. Each keeps the checkpoint of its best valid evaluation (train.keep_best, every 500 steps); as the budget ends
# between two evaluations, the last checkpoint is decoded instead when it scores better on the same valid pairs.
#
# The rows of the issue's table, each `evaluate --task pairs --json` on the first TEST_PAIRS pairs of the test books
# (default 64, all from Judges; 0 takes all 2,516), those with a side longer than 62 tokens left out and counted
# (--skip-long: 19 of the 2,516), 5 candidates per source (self-BLEU among them) except greedy decoding's one:
#   copy the source; DiffuSeq with 2000 steps, 200 with skipping, 200 with MBR over the 5; masked ancestral with
#   256 steps, MaskGIT with 8 and 16; autoregressive greedy and sampled (temperature 1).
# Two lanes of about equal work: masked, then its rows, then copy and DiffuSeq's 200-step rows; ar, then its rows,
# then DiffuSeq's 2000 steps. LANES=2 runs them side by side, each on THREADS threads (on 2 cores two 1-thread runs
# do about 1.4 times the work of one on 2 threads); otherwise one after the other. Decoding is the costly part on a
# CPU: on 2 threads, 64 pairs x 5 candidates took about 2.2 h for DiffuSeq's 2000 steps and 49 min for masked
# ancestral's 256 at commit d4da4b8 (9938f98 then halved masked decoding's time and 6260410 took 8% off DiffuSeq's).
# With LANES=2, THREADS=1 and 32 pairs (the README's table): DiffuSeq's 2000 steps 64 min, the other rows about 17 min.
# Each row decodes batches of 8 sources into a journal (OUT/journal-<row>), so an interrupted row resumes at its
# last whole batch, and writes its hypotheses to OUT/<row>.tsv.
#
# OUT/table.jsonl: each model's steps and training seconds ("training" lines), one line per row, then five test
# verses with every model's output beside the source and the reference ("quote" lines).
set -euo pipefail
pairs=$1
out=$2
steps=${3:-3000}
threads=${4:-2}
test_pairs=${5:-64}
diffuse=${DIFFUSE:-$(dirname "$0")/../build/diffuse}
mkdir -p "$out/rows"
eval_items=256  # the valid pairs of each evaluation, in training and in chosen()
common=(--threads "$threads" --seed 1 --set train.checkpoint_every=100 --set train.keep_checkpoints=3 --set train.sample_every=500
        --set train.eval_every=500 --set train.eval_items=$eval_items --set train.keep_best=true)
last_ckpt() { { ls "$1"/ckpt-*.safetensors 2>/dev/null || true; } | sort | tail -1; }
# valid_bits CHECKPOINT [--estimate]: bits per target token on the training's valid pairs.
valid_bits() {
  "$diffuse" --threads "$threads" evaluate --quiet --checkpoint "$1" --data "$pairs" --split valid --chunks "$eval_items" --skip-long --seed 3 \
    --json "${@:2}" | sed -E 's/.*"bits_per_token":([0-9.eE+-]+).*/\1/'
}
# chosen DIR [--estimate]: a model's checkpoint for decoding, the better on valid of its best evaluation's
# (early stopping, train.keep_best) and its last.
chosen() {
  local dir=$1 last at_last at_best; shift
  last=$(last_ckpt "$dir")
  [ -f "$dir/best.safetensors" ] || { echo "$last"; return; }
  grep -q "\"$(basename "$last")\"" "$dir/best.json" && { echo "$dir/best.safetensors"; return; }
  at_last=$(valid_bits "$last" "$@")
  at_best=$(valid_bits "$dir/best.safetensors" "$@")
  echo "$dir: valid bits/token $at_last at the last checkpoint, $at_best at the best evaluation's" >&2
  if below "$at_last" "$at_best"; then echo "$last"; else echo "$dir/best.safetensors"; fi
}

source "$(dirname "$0")/train_seconds.sh"
# train NAME PRESET STEPS: a run that resumes, to STEPS.
train() {
  local name=$1 preset=$2 to=$3
  if [ -n "$(last_ckpt "$out/$name")" ]; then
    "$diffuse" train --resume --out "$out/$name" --data "$pairs" --threads "$threads" --steps "$to" >> "$out/$name.log" 2>&1
  else
    "$diffuse" train --preset "$preset" "${common[@]}" --out "$out/$name" --data "$pairs" --steps "$to" >> "$out/$name.log" 2>&1
  fi
}
# train_for NAME PRESET SECONDS: 100 steps at a time (at least once) until the run's training time reaches SECONDS.
train_for() {
  local name=$1 preset=$2 budget=$3 c
  while c=$(last_ckpt "$out/$name") && { [ -z "$c" ] || below "$(train_seconds "$out/$name")" "$budget"; }; do
    local step=0
    [ -n "$c" ] && { step=$(basename "$c" .safetensors); step=$((10#${step#ckpt-})); }
    train "$name" "$preset" $((step + 100))
  done
}
chunks=()
[ "$test_pairs" -gt 0 ] && chunks=(--chunks "$test_pairs")
# row NAME MODEL DECODING [evaluate flags...]: one evaluation into OUT/rows/NAME.json and OUT/NAME.tsv.
row() {
  local name=$1 model=$2 decoding=$3 scores; shift 3
  rm -f "$out/rows/$name.json"
  scores=$("$diffuse" --threads "$threads" evaluate --quiet --task pairs --data "$pairs" --split test "${chunks[@]}" --skip-long --seed 3 --batch 8 \
    --journal "$out/journal-$name" --out "$out/$name.tsv" --json "$@")
  echo "{\"row\":\"$name\",\"model\":\"$model\",\"decoder\":\"$decoding\",\"scores\":$scores}" > "$out/rows/$name.json"
}

train dlm diffuseq-kjv-web-small "$steps"
budget=$(train_seconds "$out/dlm")
dlm=$(chosen "$out/dlm" --estimate)
masked_lane() {
  train_for masked mdlm-kjv-web-small "$budget"
  local masked; masked=$(chosen "$out/masked" --estimate)
  row masked-256 "masked, source-conditioned" "ancestral, 256 steps" --checkpoint "$masked" --steps 256 --candidates 5
  row maskgit-8 "masked, source-conditioned" "MaskGIT, 8 steps" --checkpoint "$masked" --decoder maskgit --steps 8 --candidates 5
  row maskgit-16 "masked, source-conditioned" "MaskGIT, 16 steps" --checkpoint "$masked" --decoder maskgit --steps 16 --candidates 5
  row copy "copy the source unchanged" "-" --copy-source
  row diffuseq-200 DiffuSeq "200 steps (skipping)" --checkpoint "$dlm" --steps 200 --candidates 5
  row diffuseq-200-mbr DiffuSeq "200 steps, MBR over 5" --checkpoint "$dlm" --steps 200 --candidates 5 --mbr
}
ar_lane() {
  train_for ar ar-kjv-web-small "$budget"
  local ar; ar=$(chosen "$out/ar")
  row ar-greedy autoregressive greedy --checkpoint "$ar" --candidates 1
  row ar-sampled autoregressive "sampled, temperature 1" --checkpoint "$ar" --temperature 1 --candidates 5
  row diffuseq-2000 DiffuSeq "2000 steps" --checkpoint "$dlm" --steps 2000 --candidates 5
}
if [ "${LANES:-1}" = 2 ]; then
  masked_lane & m=$!
  ar_lane & a=$!
  failed=0
  wait "$m" || failed=$?
  wait "$a" || failed=$?  # the other lane finishes first
  [ "$failed" = 0 ] || exit "$failed"
else
  masked_lane
  ar_lane
fi

: > "$out/table.jsonl"
for m in dlm masked ar; do
  c=$(last_ckpt "$out/$m"); c=$(basename "$c" .safetensors)
  echo "{\"row\":\"training\",\"model\":\"$m\",\"steps\":$((10#${c#ckpt-})),\"train_seconds\":$(train_seconds "$out/$m")}" >> "$out/table.jsonl"
done
names=(copy diffuseq-2000 diffuseq-200 diffuseq-200-mbr masked-256 maskgit-8 maskgit-16 ar-greedy ar-sampled)
for n in "${names[@]}"; do cat "$out/rows/$n.json" >> "$out/table.jsonl"; done

# Five test verses (rows spread over the evaluated pairs) with every model's hypothesis.
files=()
for n in "${names[@]}"; do files+=("$out/$n.tsv"); done
awk -F'\t' -v names="${names[*]}" '
  function esc(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return s }
  BEGIN { split(names, name, " ") }
  FNR == 1 { ++f; next }
  { total[f] = FNR - 1; verse[FNR] = $1; source[FNR] = $2; reference[FNR] = $3; hyp[f, FNR] = $4 }
  END {
    rows = total[1]
    for (k = 0; k < 5; ++k) {
      r = 2 + int(k * (rows - 1) / 4)
      line = "{\"quote\":\"" esc(verse[r]) "\",\"source\":\"" esc(source[r]) "\",\"reference\":\"" esc(reference[r]) "\",\"outputs\":{"
      for (i = 1; i <= f; ++i) line = line (i > 1 ? "," : "") "\"" name[i] "\":\"" esc(hyp[i, r]) "\""
      print line "}}"
    }
  }' "${files[@]}" >> "$out/table.jsonl"
echo "wrote $out/table.jsonl"
