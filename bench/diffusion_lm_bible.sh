#!/usr/bin/env bash
# Diffusion-LM against the discrete text models on the World English Bible, and its control (issue 22), with
# the same transformer (6 x 256), batch, optimiser, threads and number of steps for the language models:
#
#   bench/diffusion_lm_bible.sh VERSES TEXT8 OUT [STEPS] [THREADS]
#
# STEPS (5200) is about an hour for each word model on 2 threads of this machine (0.66-0.71 s/step, and the
# evaluations); TEXT8_STEPS (2600: 1.35-1.41 s/step) the same for the two text8 runs; CLS_STEPS (3000, about
# 7 minutes each: 0.13 s/step) the classifiers'. Small values of all three make a check of the whole pipeline in minutes.
#
# VERSES is `scripts/export_bible.sh verses WEB web.tsv`; TEXT8 a text8-format file. Stage 1 trains, one after
# the other (each resumes where it stopped; a finished one is not repeated):
#   ar        ar-bible-small: the autoregressive word model, the fluency teacher (generative perplexity)
#   masked    mdlm-bible-small: absorbing-state diffusion in continuous time (D3PM absorbing as T -> infinity)
#   dlm       diffusion-lm-bible-small
#   guide-*   verse-classifier-noisy on dlm's embeddings (their word posterior q(w | x_t)): testament, group, words
#   judge-*   verse-classifier-clean: testament, group (the independent judges)
# The three language models keep the checkpoint of their best valid evaluation (train.keep_best, every 200 steps);
# stage 2 and the classifiers use it (early stopping: ar-bible-small overfits the WEB's training books well before
# 5200 steps), or the last checkpoint of a run that has none.
# Stage 2 writes OUT/table.jsonl: bits/token on the test books (Diffusion-LM: every term on the first 64 verses,
# and the estimate on all; masked: the estimate; ar: exact), 16 samples of each with their generative
# perplexity under ar; the control table (unguided against guided, success and fluency) for word=jesus,
# testament=new, group=gospels, length=10 and an infilling template closed by <eos> (scored as length=12: the
# template's 7 words and the 5 it leaves to generate; the WEB's words: "unto" is the KJV's).
# Stage 3 trains, on TEXT8, diffusion-lm-text8-small (dlm-text8) and d3pm-text8-small, absorbing (d3pm-text8), for
# TEXT8_STEPS each, and adds their bits/char on all the test chunks to the table: the continuous and the
# discrete model on one corpus at one budget.
set -euo pipefail
verses=$1
text8=$2
out=$3
steps=${4:-5200}
text8_steps=${TEXT8_STEPS:-2600}
classifier_steps=${CLS_STEPS:-3000}
threads=${5:-2}
diffuse=${DIFFUSE:-$(dirname "$0")/../build/diffuse}
mkdir -p "$out"
common=(--threads "$threads" --seed 1 --set train.checkpoint_every=100 --set train.keep_checkpoints=3 --set train.sample_every=0)
last_ckpt() { ls "$1"/ckpt-*.safetensors 2>/dev/null | sort | tail -1; }

# train NAME DATA STEPS PRESET [--set ...]: a run that resumes.
train() {
  local name=$1 data=$2 n=$3 preset=$4; shift 4
  if [ -n "$(last_ckpt "$out/$name")" ]; then
    "$diffuse" train --resume --out "$out/$name" --data "$data" --threads "$threads" --steps "$n" >> "$out/$name.log" 2>&1
  else
    "$diffuse" train --preset "$preset" "${common[@]}" "$@" --out "$out/$name" --data "$data" --steps "$n" >> "$out/$name.log" 2>&1
  fi
}

lm=(--set train.eval_every=200 --set train.eval_items=256 --set train.keep_best=true)
train ar "$verses" "$steps" ar-bible-small "${lm[@]}"
train masked "$verses" "$steps" mdlm-bible-small "${lm[@]}"
train dlm "$verses" "$steps" diffusion-lm-bible-small "${lm[@]}"
# A language model's checkpoint for stage 2: its best valid evaluation's (early stopping), else its last.
chosen() { if [ -f "$1/best.safetensors" ]; then echo "$1/best.safetensors"; else last_ckpt "$1"; fi; }
dlm=$(chosen "$out/dlm")
for target in testament group words; do
  train "guide-$target" "$verses" "$classifier_steps" verse-classifier-noisy --set classifier.target=$target --set classifier.diffusion_lm="$dlm"
done
for target in testament group; do
  train "judge-$target" "$verses" "$classifier_steps" verse-classifier-clean --set classifier.target=$target --set classifier.diffusion_lm="$dlm"
done
# Stage 2.
teacher=$(chosen "$out/ar")
q=(--threads "$threads")
: > "$out/table.jsonl"
for r in ar masked dlm; do
  c=$(chosen "$out/$r")
  bound=$("$diffuse" "${q[@]}" evaluate --quiet --checkpoint "$c" --data "$verses" --skip-long --batch 64 --json $([ $r = ar ] || echo --estimate))
  exact=null
  [ $r = dlm ] && exact=$("$diffuse" "${q[@]}" evaluate --quiet --checkpoint "$c" --data "$verses" --skip-long --chunks 64 --batch 64 --json --journal "$out/dlm-exact-journal")
  "$diffuse" "${q[@]}" sample --quiet --checkpoint "$c" --n 16 --seed 7 $([ $r = ar ] || echo --steps 200) --out "$out/$r-samples.txt" > /dev/null
  scores=$("$diffuse" "${q[@]}" evaluate --quiet --samples "$out/$r-samples.txt" --teacher "$teacher" --data "$verses" --json)
  echo "{\"run\":\"$r\",\"checkpoint\":\"$c\",\"bound\":$bound,\"exact_64_verses\":$exact,\"samples\":$scores}" >> "$out/table.jsonl"
done

# The control table: 16 samples unguided and guided for each target, at 200 steps, the same seed.
c=$(chosen "$out/dlm")
control() {  # control NAME CONTROL [sample flags...]
  local name=$1 ctl=$2; shift 2
  "$diffuse" "${q[@]}" sample --quiet --checkpoint "$c" --n 16 --steps 200 --seed 11 "$@" --out "$out/control-$name.txt" > /dev/null
  local judge=()
  case $ctl in testament=*) judge=(--judge "$(last_ckpt "$out/judge-testament")") ;; group=*) judge=(--judge "$(last_ckpt "$out/judge-group")") ;; esac
  local s
  s=$("$diffuse" "${q[@]}" evaluate --quiet --samples "$out/control-$name.txt" --teacher "$teacher" --control "$ctl" "${judge[@]}" --json)
  echo "{\"control\":\"$ctl\",\"run\":\"$name\",\"scores\":$s}" >> "$out/table.jsonl"
}
control word-unguided word=jesus
control word-guided word=jesus --control word=jesus --classifier "$(last_ckpt "$out/guide-words")"
control testament-unguided testament=new
control testament-guided testament=new --control testament=new --classifier "$(last_ckpt "$out/guide-testament")"
control group-unguided group=gospels
control group-guided group=gospels --control group=gospels --classifier "$(last_ckpt "$out/guide-group")"
control length-unguided length=10
control length-given length=10 --control length=10
control infill-given length=12 --template "and jesus said to them , _ _ _ _ _ . <eos>"

# Stage 3: text8.
train dlm-text8 "$text8" "$text8_steps" diffusion-lm-text8-small --set train.eval_every=200 --set train.eval_items=256
train d3pm-text8 "$text8" "$text8_steps" d3pm-text8-small --set train.eval_every=200 --set train.eval_items=256
for r in dlm-text8 d3pm-text8; do
  c8=$(last_ckpt "$out/$r")
  b8=$("$diffuse" "${q[@]}" evaluate --quiet --checkpoint "$c8" --data "$text8" --batch 32 --estimate --json)
  echo "{\"run\":\"$r\",\"checkpoint\":\"$c8\",\"bound\":$b8}" >> "$out/table.jsonl"
done
echo "wrote $out/table.jsonl"
