#!/usr/bin/env bash
# End-to-end tests of the models of a target given its source (docs/math.md §9) through build/diffuse, on a pair
# file this script makes up: KJV-like sources ("And moses said unto aaron, go unto the land.") and WEB-like
# targets (the same with "unto" -> "to", "And" dropped, "went" -> "walked"), training books Genesis and Exodus
# (one training pair too long for the rows), valid Joshua and James, test Judges and John (one test source
# too long, one test target with a word no training book has).
#   - DiffuSeq (diffuseq-kjv-web-demo), the source-conditioned masked model (mdlm-kjv-web-demo) and the
#     autoregressive baseline (ar-kjv-web-demo) each train a few steps, say how many pairs they dropped,
#     write training samples that keep their valid sources, evaluate the bound of the target in bits/token,
#     and resume exactly (checkpoint and metrics.jsonl);
#   - `evaluate --task pairs` prints BLEU, ROUGE-L, self-BLEU, dist-1/2 and seconds per sentence, and --json
#     has them all: DiffuSeq with MBR over 3 candidates, the masked model ancestral and by MaskGIT, the
#     autoregressive model greedy and sampled; --out writes the hypotheses beside the references;
#     --copy-source needs no checkpoint; unknown tokens are counted;
#   - `sample` of a pair model takes its source as --template "SOURCE <eos>" and keeps it;
#   - refusals: a checkpoint trained on verses, a held-out source too long (its line and length; --skip-long
#     leaves it out and counts it instead), `sample` without a source, --mbr with one candidate, a decoder of
#     another family.
# Usage: test_pairs.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"

# Pairs from a small grammar, drawn with a Park-Miller generator (the same file on every awk).
awk 'function r(n) { x = (x * 16807) % 2147483647; return int(x / 2147483647 * n) }
  function web(s) { gsub(/unto/, "to", s); sub(/^And /, "", s); gsub(/went/, "walked", s); return toupper(substr(s, 1, 1)) substr(s, 2) }
  BEGIN {
    x = 11; split("moses aaron joshua david", name, " "); split("go come flee return", verb, " ")
    split("land city house mountain river", place, " "); split("Genesis:60 Exodus:60 Joshua:8 James:6 Judges:8 John:6", books, " ")
    for (b = 1; b <= 6; ++b) {
      split(books[b], bn, ":")
      for (v = 1; v <= bn[2]; ++v) {
        s = r(2) ? "And " name[1 + r(4)] " said unto " name[1 + r(4)] ", " verb[1 + r(4)] " unto the " place[1 + r(5)] "." \
                 : "And " name[1 + r(4)] " went unto the " place[1 + r(5)] " of " name[1 + r(4)] "."
        printf "%s 1:%d\t%s\t%s\n", bn[1], v, s, web(s)
      }
    }
    printf "Exodus 2:1\tAnd moses said unto aaron, go unto the land, go unto the city, go unto the house, go unto the river.\tMoses spoke.\n"
    printf "John 2:1\tAnd david went unto the city of moses.\tDavid walked to the temple of moses.\n"
    printf "Judges 2:1\tAnd moses said unto aaron, go unto the land, go unto the city, go unto the house, go unto the river.\tMoses spoke.\n"
  }' > pairs.tsv
awk -F'\t' '{ print $1 "\t" $3 }' pairs.tsv | grep -v '^Judges 2:1' > verses.tsv

tiny=(--data pairs.tsv --threads 1 --seed 5 --set model.seq_len=32 --set model.width=32 --set model.layers=1 --set model.heads=2
      --set model.mlp=64 --set train.batch=16 --set train.log_every=10 --set train.checkpoint_every=20 --set train.eval_every=20
      --set train.eval_items=8 --set train.warmup=10 --set train.sample_every=20 --set train.sample_count=2)
timeless() { sed -E 's/"(wall_time|ms_per_step|items_per_second)":[^,}]*,?//g' "$1"; }
preset_of() { case $1 in dlm) echo diffuseq-kjv-web-demo ;; mdlm) echo mdlm-kjv-web-demo ;; ar) echo ar-kjv-web-demo ;; esac; }
extra_of() { [ "$1" = dlm ] && echo "--set diffusion.timesteps=50 --set train.sample_steps=10"; }

# ---- training, samples of valid sources, the bound, resume ----
for m in dlm mdlm ar; do
  # shellcheck disable=SC2046
  "$diffuse" train --preset "$(preset_of $m)" "${tiny[@]}" $(extra_of $m) --out $m --steps 40 > $m.log 2>&1 || fail "$m: train: $(tail -3 $m.log)"
  grep -q "the training books of pairs.tsv: 120 pairs of 32; 1 with a side longer than the maximum dropped (1 sources, 0 targets; longest 26 tokens)" $m.log ||
    fail "$m: no data summary: $(grep 'training books' $m.log)"
  grep -q "tokens of both sides (data.min_count 5)" $m.log || fail "$m: the vocabulary's summary: $(grep 'training books' $m.log)"
  # The training samples are targets of the first valid pairs' sources: "source <eos> target".
  sample=$m/samples/step-40.txt
  [ "$(grep -c '^and [a-z]* .* <eos>' "$sample")" = 2 ] || fail "$m: training samples lack their sources: $(cat "$sample" 2>&1)"
  head -c 40 "$sample" | grep -q "^$(awk -F'\t' '$1 ~ /^Joshua/ { print tolower($2); exit }' pairs.tsv | cut -c1-12)" ||
    fail "$m: the first sample's source is not Joshua 1:1's: $(head -1 "$sample")"
  grep -q '"evaluation":{"split":"valid","items":8,"bits_per_token":[0-9]' $m/metrics.jsonl || fail "$m: no periodic evaluation in bits/token"
  # shellcheck disable=SC2046
  "$diffuse" train --preset "$(preset_of $m)" "${tiny[@]}" $(extra_of $m) --out ${m}_split --steps 20 > /dev/null 2>&1 || fail "$m: split run"
  "$diffuse" train --resume --data pairs.tsv --threads 1 --out ${m}_split --steps 40 > /dev/null 2>&1 || fail "$m: resume"
  cmp -s $m/ckpt-000000040.safetensors ${m}_split/ckpt-000000040.safetensors || fail "$m: the resumed checkpoint differs"
  cmp -s <(timeless $m/metrics.jsonl) <(timeless ${m}_split/metrics.jsonl) || fail "$m: the resumed run's metrics.jsonl differs"
  "$diffuse" --threads 1 evaluate --checkpoint $m/ckpt-000000040.safetensors --data pairs.tsv --split valid --json --quiet $([ $m = ar ] || echo --estimate) > b.json ||
    fail "$m: evaluate the bound"
  grep -q '"bits_per_token":[0-9]' b.json && grep -q '"pairs":14' b.json || fail "$m: the bound's JSON: $(cat b.json)"
done
grep -q '"data.dataset": *"pairs"\|"dataset": "pairs"' dlm/config.json || fail "the run's configuration does not record pairs"

# ---- evaluate --task pairs: every metric, text and JSON ----
keys=(bleu rouge_l self_bleu dist_1 dist_2 seconds_per_sentence brevity_penalty unknown_tokens)
check_json() {  # check_json NAME FILE: every key with a number
  for k in "${keys[@]}"; do grep -q "\"$k\":[0-9]" "$2" || fail "$1: --json lacks a number for $k: $(cat "$2")"; done
}
q=(--threads 1 --quiet --data pairs.tsv --split valid --chunks 6)
"$diffuse" evaluate --task pairs --checkpoint dlm/ckpt-000000040.safetensors "${q[@]}" --steps 10 --candidates 3 --mbr --out dlm.tsv > e.log ||
  fail "dlm: evaluate --task pairs: $(cat e.log)"
grep -q "^6 valid pairs of pairs.tsv, diffusion-lm: 10 of T = 50 steps with clamping, 3 candidates per source, the hypothesis chosen by MBR" e.log ||
  fail "dlm: the report's first line: $(head -1 e.log)"
grep -q "^  BLEU [0-9.]* (BP [0-9.]*; precisions" e.log && grep -q "^  ROUGE-L [0-9.]*, self-BLEU [0-9.]* (n = 3), dist-1 [0-9.]*, dist-2 [0-9.]*" e.log &&
  grep -q "^  [0-9.]* s per sentence (18 sentences in" e.log || fail "dlm: the report: $(cat e.log)"
[ "$(wc -l < dlm.tsv)" = 7 ] && head -1 dlm.tsv | grep -q "^verse	source	reference	hypothesis	candidate_1	candidate_2	candidate_3$" ||
  fail "dlm: --out: $(head -2 dlm.tsv)"
[ "$(awk -F'\t' 'NR > 1 && NF == 7' dlm.tsv | wc -l)" = 6 ] && grep -q "^Joshua 1:1	and " dlm.tsv || fail "dlm: --out rows: $(sed -n 2p dlm.tsv)"
"$diffuse" evaluate --task pairs --checkpoint dlm/ckpt-000000040.safetensors "${q[@]}" --steps 10 --candidates 3 --mbr --json > e.json || fail "dlm --json"
check_json dlm e.json
grep -q '"family":"diffusion-lm"' e.json && grep -q '"mbr":true' e.json && grep -q '"candidates":3' e.json || fail "dlm JSON: $(cat e.json)"
for decoding in "--steps 50" "--decoder maskgit --steps 4"; do
  # shellcheck disable=SC2086
  "$diffuse" evaluate --task pairs --checkpoint mdlm/ckpt-000000040.safetensors "${q[@]}" $decoding --candidates 2 --json > m.json ||
    fail "mdlm $decoding: $(cat m.json)"
  check_json "mdlm $decoding" m.json
done
grep -q '"decoding":"MaskGIT, 4 steps, choice temperature 4.5"' m.json || fail "MaskGIT decoding: $(cat m.json)"
"$diffuse" evaluate --task pairs --checkpoint ar/ckpt-000000040.safetensors "${q[@]}" --candidates 2 --json > a.json || fail "ar greedy"
check_json "ar greedy" a.json
grep -q '"self_bleu":100' a.json && grep -q '"decoding":"greedy, left to right"' a.json || fail "ar greedy: two identical candidates: $(cat a.json)"
"$diffuse" evaluate --task pairs --checkpoint ar/ckpt-000000040.safetensors "${q[@]}" --candidates 2 --temperature 1.5 --json > a.json || fail "ar sampled"
check_json "ar sampled" a.json
grep -q '"decoding":"drawn at temperature 1.5, left to right"' a.json || fail "ar sampled: $(cat a.json)"

# ---- copy the source; unknown tokens ----
"$diffuse" evaluate --task pairs --copy-source --data pairs.tsv --split test --chunks 3 --json > c.json || fail "copy-source: $(cat c.json)"
grep -q '"family":"copy-source"' c.json && grep -q '"self_bleu":null' c.json && grep -q '"bleu":[1-9]' c.json || fail "copy-source JSON: $(cat c.json)"
"$diffuse" evaluate --task pairs --copy-source --data pairs.tsv --split test --chunks 15 --out c.tsv > c.log || fail "copy-source"
grep -q "^  BLEU [1-9]" c.log || fail "copy-source's BLEU: $(cat c.log)"
grep -q "^  [1-9][0-9]* of [0-9,]* source and target tokens are outside the vocabulary" c.log || fail "no unknown tokens counted: $(cat c.log)"
# The reference keeps the word no training book has (John 2:1's "temple"); the copy is the source.
awk -F'\t' '$1 == "John 2:1" { exit !($3 ~ /temple/ && $4 == $2) }' c.tsv || fail "copy-source --out: $(grep 'John 2:1' c.tsv)"

# ---- sample: the source as the template ----
src="and moses said unto aaron , go unto the land . <eos>"
for m in dlm mdlm ar; do
  "$diffuse" sample --quiet --checkpoint $m/ckpt-000000040.safetensors --n 2 $([ $m = ar ] || echo --steps 8) --template "$src" --out s.txt > /dev/null ||
    fail "$m: sample --template"
  [ "$(grep -c "^and moses said unto aaron , go unto the land \. <eos>" s.txt)" = 2 ] || fail "$m: the source was not kept: $(cat s.txt)"
  expect_error "give the source as --template \"SOURCE <eos>\"" "$diffuse" sample --checkpoint $m/ckpt-000000040.safetensors --n 1
done

# ---- refusals ----
"$diffuse" train --preset mdlm-bible-demo --data verses.tsv --threads 1 --set model.seq_len=32 --set model.width=32 --set model.layers=1 \
  --set model.heads=2 --set model.mlp=64 --set train.batch=8 --set train.eval_every=0 --out verses --steps 2 > /dev/null 2>&1 || fail "verses run"
expect_error "holds a masked-text model (masked diffusion in continuous time" \
  "$diffuse" evaluate --task pairs --checkpoint verses/ckpt-000000002.safetensors --data pairs.tsv
grep -qF "trained on data.dataset 'verses', not on a pair file" err.txt || fail "the refusal does not name the dataset: $(cat err.txt)"
expect_error "pairs.tsv:151 (Judges 2:1), source: 26 tokens, longer than the maximum of 14 a side (rows of 32: <bos> source <eos> in the first 16, target <eos> in the rest); a pair is never cut" \
  "$diffuse" evaluate --task pairs --checkpoint ar/ckpt-000000040.safetensors --data pairs.tsv --quiet
"$diffuse" --threads 1 evaluate --task pairs --checkpoint ar/ckpt-000000040.safetensors --data pairs.tsv --quiet --skip-long --candidates 1 \
  --json > skip.json 2> skip.err || fail "--skip-long: $(cat skip.json skip.err)"
grep -q '"pairs":15' skip.json && grep -q '"left_out_too_long":1' skip.json || fail "--skip-long does not leave out Judges 2:1: $(cat skip.json)"
"$diffuse" --threads 1 evaluate --checkpoint mdlm/ckpt-000000040.safetensors --data pairs.tsv --quiet --skip-long --json > skip.json 2> skip.err ||
  fail "the bound with --skip-long: $(cat skip.err)"
grep -q '"pairs":15' skip.json && grep -q "1 pairs of the test split longer than rows of 32 left out (--skip-long); 15 evaluated" skip.err ||
  fail "the bound's --skip-long: $(cat skip.json skip.err)"
expect_error "--mbr: chooses among a model's candidates" \
  "$diffuse" evaluate --task pairs --checkpoint ar/ckpt-000000040.safetensors --data pairs.tsv --candidates 1 --mbr
expect_error "--decoder: masked-text's" \
  "$diffuse" evaluate --task pairs --checkpoint ar/ckpt-000000040.safetensors --data pairs.tsv --decoder maskgit
expect_error "--temperature: the autoregressive model's" \
  "$diffuse" evaluate --task pairs --checkpoint mdlm/ckpt-000000040.safetensors --data pairs.tsv --temperature 1
expect_error "is a pair file (aligned source and target), but the run's configuration" \
  "$diffuse" train --preset mdlm-bible-demo --data pairs.tsv --out bad
expect_error "d3pm-text reads characters only" "$diffuse" train --preset d3pm-text-demo --data pairs.tsv --out bad2
expect_error "model.half_positions: the network's two halves share their positions, for pair rows in data.pair_layout halves" \
  "$diffuse" train --preset mdlm-kjv-web-demo --data pairs.tsv --set data.pair_layout=packed --out bad3

finish pairs
