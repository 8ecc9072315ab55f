#!/usr/bin/env bash
# End-to-end tests of the masked-diffusion and autoregressive text families through build/diffuse, on a
# corpus this script generates:
#   - each trains a small model whose loss falls, evaluates it every 40 steps on valid chunks (masked
#     diffusion's estimate, the autoregressive model's exact bits/char: finite, in metrics.jsonl), resumes
#     exactly (checkpoint and metrics.jsonl, evaluations included), samples (with a prefix-and-infill
#     template for masked diffusion, a prefix for the autoregressive model) and evaluates (an estimate with
#     its standard error; the exact likelihood), and records its network in the checkpoint's metadata;
#   - `evaluate --samples --teacher` scores both families' samples under the autoregressive model;
#   - MaskGIT decoding of the masked model keeps its template in exactly --steps evaluations;
#   - bad input: a flag of another family (--decoder for the autoregressive model), eps <= 0, an unknown schedule, a teacher that is not autoregressive, samples in another
#     vocabulary, a samples file with a character outside the alphabet, infilling asked of the
#     autoregressive model: each exits non-zero naming the key, file or offset.
# Usage: test_text_families.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"
yes "the quick brown fox jumps over the lazy dog while five boxing wizards jump quickly" | head -c 200000 | tr -d '\n' > corpus.txt
small=(--data corpus.txt --threads 1 --seed 5 --set model.seq_len=32 --set model.width=32 --set model.layers=1
       --set model.heads=2 --set model.mlp=64 --set train.batch=16 --set train.log_every=10 --set train.checkpoint_every=40
       --set train.eval_every=40 --set train.eval_items=16 --set train.keep_best=true)

for family in mdlm ar; do
  "$diffuse" train --preset $family-text-demo "${small[@]}" --out $family --steps 120 > $family.log 2>&1 || fail "$family: train"
  awk -v a="$(first_loss $family)" -v b="$(last_loss $family)" 'BEGIN { exit !(b < a - 0.3) }' ||
    fail "$family: the loss did not fall: $(first_loss $family) -> $(last_loss $family)"
  # Resume from step 80 to 120 equals the straight run.
  "$diffuse" train --preset $family-text-demo "${small[@]}" --out ${family}_split --steps 80 > /dev/null 2>&1 || fail "$family: split run"
  "$diffuse" train --resume --data corpus.txt --threads 1 --out ${family}_split --steps 120 > /dev/null 2>&1 || fail "$family: resume"
  cmp -s $family/ckpt-000000120.safetensors ${family}_split/ckpt-000000120.safetensors || fail "$family: resumed checkpoint differs"
  method=$([ $family = ar ] && echo exact || echo estimate)
  steps=$(grep -o "^{\"step\":[0-9]*,\"evaluation\":{\"split\":\"valid\",\"items\":16,\"bits_per_char\":[0-9][0-9.e+-]*,\"stderr\":[0-9][0-9.e+-]*,\"method\":\"$method\"}}$" \
    $family/metrics.jsonl | cut -d, -f1 | cut -d: -f2 | tr '\n' ' ')
  [ "$steps" = "40 80 120 " ] || fail "$family: evaluations at steps '$steps', not 40 80 120: $(grep evaluation $family/metrics.jsonl)"
  grep -q "^evaluation at step 40: [0-9.]* +- [0-9.]* bits/char on 16 valid chunks ($method)" $family.log ||
    fail "$family: no evaluation line: $(grep evaluation $family.log)"
  cmp -s <(timeless $family/metrics.jsonl) <(timeless ${family}_split/metrics.jsonl) ||
    fail "$family: the resumed run's metrics.jsonl differs: $(diff <(timeless $family/metrics.jsonl) <(timeless ${family}_split/metrics.jsonl) | head -4)"
  # train.keep_best: best.safetensors is the checkpoint of the evaluation with the fewest bits/char, in both runs.
  best_step=$(grep -o '^{"step":[0-9]*,"evaluation":{[^}]*"bits_per_char":[0-9.e+-]*' $family/metrics.jsonl |
    sed 's/^{"step":\([0-9]*\),.*"bits_per_char":/\1 /' | sort -s -g -k2,2 | head -1 | cut -d' ' -f1)
  [ "$(json_field $family/best.json step)" = "$best_step" ] || fail "$family: best.json $(cat $family/best.json), the best evaluation is at step $best_step"
  cmp -s $family/best.safetensors "$family/$(printf 'ckpt-%09d.safetensors' "$best_step")" || fail "$family: best.safetensors is not step $best_step's checkpoint"
  cmp -s $family/best.json ${family}_split/best.json && cmp -s $family/best.safetensors ${family}_split/best.safetensors ||
    fail "$family: the resumed run kept another best: $(cat ${family}_split/best.json)"
done
expect_error "train.keep_best: needs train.eval_every > 0 and a multiple of train.checkpoint_every (30 and 40)" \
  "$diffuse" train --preset ar-text-demo "${small[@]}" --out bad-best --steps 1 --set train.eval_every=30
echo "losses: mdlm $(first_loss mdlm) -> $(last_loss mdlm), ar $(first_loss ar) -> $(last_loss ar)"
ckpt_m=mdlm/ckpt-000000120.safetensors ckpt_a=ar/ckpt-000000120.safetensors

# Sampling: the template's characters stay where they were put.
"$diffuse" --threads 1 sample --checkpoint $ckpt_m --n 3 --steps 32 --template "the ____ brown" --out m.txt > ms.log || fail "masked sample"
[ "$(grep -c '^the .... brown' m.txt)" = 3 ] || fail "masked samples lost their template: $(cat m.txt)"
grep -q "reused" ms.log || fail "masked sample does not report reused evaluations: $(tail -1 ms.log)"
"$diffuse" --threads 1 sample --checkpoint $ckpt_m --n 3 --steps 32 --template "the ____ brown" --recompute --out m2.txt > /dev/null ||
  fail "masked sample --recompute"
cmp -s m.txt m2.txt || fail "reusing outputs changed the samples"
"$diffuse" --threads 1 sample --checkpoint $ckpt_a --n 2 --template "the quick" --out a.txt > /dev/null || fail "ar sample"
[ "$(grep -c '^the quick' a.txt)" = 2 ] || fail "ar samples lost their prefix: $(cat a.txt)"
# MaskGIT decoding keeps the template too, in exactly --steps network evaluations.
"$diffuse" --threads 1 sample --checkpoint $ckpt_m --n 3 --decoder maskgit --steps 8 --template "the ____ brown" --out g.txt > g.log ||
  fail "masked sample --decoder maskgit"
[ "$(grep -c '^the .... brown' g.txt)" = 3 ] || fail "MaskGIT samples lost their template: $(cat g.txt)"
grep -q "MaskGIT decoding in 8 steps (.*): 8 network evaluations" g.log || fail "MaskGIT summary: $(tail -1 g.log)"
# ... and for a D3PM absorbing model.
"$diffuse" train --preset d3pm-text-demo "${small[@]}" --out d3pm --steps 20 > /dev/null 2>&1 || fail "d3pm: train"
"$diffuse" --threads 1 sample --checkpoint d3pm/ckpt-000000020.safetensors --n 2 --decoder maskgit --steps 4 \
  --template "the ____ brown" --out gd.txt > /dev/null || fail "d3pm sample --decoder maskgit"
[ "$(grep -c '^the .... brown' gd.txt)" = 2 ] || fail "D3PM MaskGIT samples lost their template: $(cat gd.txt)"
"$diffuse" train --preset d3pm-text-demo "${small[@]}" --set diffusion.kind=uniform --out d3pm_u --steps 10 > /dev/null 2>&1 ||
  fail "d3pm uniform: train"
expect_error "--decoder maskgit: needs the absorbing kind" "$diffuse" sample --checkpoint d3pm_u/ckpt-000000010.safetensors --decoder maskgit
expect_error "--decoder: not an option of ar-text checkpoints" "$diffuse" sample --checkpoint $ckpt_a --decoder maskgit
expect_error "--temperature: not an option of masked-text checkpoints" "$diffuse" sample --checkpoint $ckpt_m --temperature 2
expect_error "--template: the autoregressive model continues a prefix" "$diffuse" sample --checkpoint $ckpt_a --template "th_ quick"

# Evaluation: an estimate with a standard error; the exact likelihood.
"$diffuse" --threads 1 evaluate --checkpoint $ckpt_m --data corpus.txt --chunks 64 --json > me.json || fail "masked evaluate"
grep -q '"method":"estimate"' me.json && grep -q '"stderr"' me.json || fail "masked evaluate JSON: $(cat me.json)"
"$diffuse" --threads 1 evaluate --checkpoint $ckpt_a --data corpus.txt --chunks 64 --json > ae.json || fail "ar evaluate"
grep -q '"method":"exact"' ae.json || fail "ar evaluate JSON: $(cat ae.json)"
grep -aq 'causal: query n sees keys 0..n' $ckpt_a || fail "the ar checkpoint does not record its causal mask"
grep -aq 'none: the network reads no time' $ckpt_m || fail "the masked checkpoint does not record that it reads no time"

# Sample scores under the autoregressive teacher.
"$diffuse" --threads 1 evaluate --samples m.txt --teacher $ckpt_a --data corpus.txt --json > scores.json || fail "evaluate --samples"
for key in generative_perplexity unigram_entropy_bits reference_unigram_entropy_bits distinct_2; do
  grep -q "\"$key\"" scores.json || fail "evaluate --samples lacks $key: $(cat scores.json)"
done
"$diffuse" --threads 1 evaluate --samples a.txt --teacher $ckpt_a > /dev/null || fail "evaluate --samples of ar samples"

# Bad input.
expect_error "diffusion.eps" "$diffuse" train --preset mdlm-text-demo --data corpus.txt --out bad1 --set diffusion.eps=0
expect_error "diffusion.schedule: 'cosin'" "$diffuse" train --preset mdlm-text-demo --data corpus.txt --out bad2 --set diffusion.schedule=cosin
expect_error "is a 'masked-text' checkpoint; the teacher must be an autoregressive model" \
  "$diffuse" evaluate --samples m.txt --teacher $ckpt_m
printf 'the quick\nthe Quick\n' > upper.txt
expect_error "'Q' at offset 14 (line 2, column 5)" "$diffuse" evaluate --samples upper.txt --teacher $ckpt_a
cp m.txt words.txt && echo '{"vocabulary": "words of vocab.txt"}' > words.txt.json
expect_error "in the vocabulary words of vocab.txt" "$diffuse" evaluate --samples words.txt --teacher $ckpt_a
grep -qF "reads characters 'abcdefghijklmnopqrstuvwxyz '" err.txt || fail "the refusal does not name the teacher's vocabulary: $(cat err.txt)"

finish "text families"
