#!/usr/bin/env bash
# Which text model learns most in a fixed CPU budget (issue 21): D3PM absorbing at lambda = 0.01 and 1,
# masked diffusion in continuous time, and the autoregressive baseline, with the same transformer
# (6 x 256, d3pm-text8-small's), batch, optimiser, threads and number of steps, on a text8-format corpus.
#
#   bench/text_families.sh CORPUS OUT [STEPS] [THREADS]
#
# Stage 1 trains the four runs one after the other; each evaluates its EMA weights every 100 steps on the
# first 256 valid chunks (train.eval_every: the diffusion bounds by their one-t estimates with standard
# errors, the autoregressive NLL exactly) into its metrics.jsonl. Run the script again after an
# interruption: each run resumes where it stopped, and a finished one is not repeated.
# Stage 2 draws the four curves (OUT/curves.png), then for each final checkpoint: the bound on all the
# test chunks (2343 of text8's; one t per chunk, the autoregressive NLL exactly), the exact D3PM bound on the first 32
# (T = 1000 network evaluations per batch of 8; journaled by batch: it resumes), 16 samples at 256 steps (the
# autoregressive model: 256 tokens) with their generative perplexity under the autoregressive run, unigram
# entropy and seconds per sample, all into OUT/table.jsonl.
set -euo pipefail
corpus=$1
out=$2
steps=${3:-1700}
threads=${4:-2}
diffuse=${DIFFUSE:-$(dirname "$0")/../build/diffuse}
mkdir -p "$out"
common=(--data "$corpus" --threads "$threads" --seed 1 --set train.checkpoint_every=100 --set train.keep_checkpoints=3
        --set train.sample_every=0 --set train.eval_every=100 --set train.eval_items=256)
declare -A preset=([d3pm-0.01]=d3pm-text8-small [d3pm-1]=d3pm-text8-small [masked]=mdlm-text8-small [ar]=ar-text8-small)
declare -A extra=([d3pm-0.01]="--set diffusion.hybrid_lambda=0.01" [d3pm-1]="--set diffusion.hybrid_lambda=1.0" [masked]="" [ar]="")
runs=(masked ar d3pm-1 d3pm-0.01)

last_ckpt() { ls "$1"/ckpt-*.safetensors 2>/dev/null | sort | tail -1; }
for r in "${runs[@]}"; do
  dir=$out/$r
  if [ -n "$(last_ckpt "$dir")" ]; then
    "$diffuse" train --resume --out "$dir" --data "$corpus" --threads "$threads" --steps "$steps" >> "$out/$r.log" 2>&1
  else
    # shellcheck disable=SC2086
    "$diffuse" train --preset "${preset[$r]}" ${extra[$r]} "${common[@]}" --out "$dir" --steps "$steps" >> "$out/$r.log" 2>&1
  fi
done

# Stage 2: the curves and the table.
"$diffuse" plot --runs "${runs[@]/#/$out/}" --evaluation --out "$out/curves.png" --width 1200 --height 800
teacher=$(last_ckpt "$out/ar")
: > "$out/table.jsonl"
for r in "${runs[@]}"; do
  c=$(last_ckpt "$out/$r")
  exact=null
  if [[ $r == d3pm-* ]]; then
    bound=$("$diffuse" --threads "$threads" evaluate --checkpoint "$c" --data "$corpus" --batch 32 --estimate --json --quiet)
    exact=$("$diffuse" --threads "$threads" evaluate --checkpoint "$c" --data "$corpus" --chunks 32 --batch 8 --json --quiet \
      --journal "$out/$r-exact-journal")
  else
    bound=$("$diffuse" --threads "$threads" evaluate --checkpoint "$c" --data "$corpus" --batch 32 --json --quiet)
  fi
  sample_steps=(--steps 256); [[ $r == ar ]] && sample_steps=()
  "$diffuse" --threads "$threads" sample --checkpoint "$c" --n 16 "${sample_steps[@]}" --seed 7 --quiet --out "$out/$r-samples.txt" \
    > "$out/$r-sample.log"
  scores=$("$diffuse" --threads "$threads" evaluate --samples "$out/$r-samples.txt" --teacher "$teacher" --data "$corpus" --json --quiet)
  echo "{\"run\":\"$r\",\"checkpoint\":\"$c\",\"bound\":$bound,\"exact_32_chunks\":$exact,\"samples\":$scores,\"sampling\":$(tr -d '\n' < "$out/$r-samples.txt.json")}" \
    >> "$out/table.jsonl"
done
echo "wrote $out/curves.png and $out/table.jsonl"
