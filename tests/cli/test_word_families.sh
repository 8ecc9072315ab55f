#!/usr/bin/env bash
# End-to-end tests of the masked-diffusion and autoregressive text families on words (apps/text_corpus.hpp),
# through build/diffuse, on a verse file this script makes up (train books Genesis and Exodus, valid Joshua
# and James, test Judges and John; one test verse too long for the model):
#   - each trains a small model from its word preset whose loss falls, evaluates it every 40 steps in
#     bits/token on valid verses, records its vocabulary (config.json's data.vocabulary = vocabulary.txt),
#     and resumes exactly (checkpoint and metrics.jsonl);
#   - samples decode to words of the vocabulary and keep their template (ancestral and MaskGIT decoding of
#     the masked model, a prefix for the autoregressive one);
#   - `evaluate` prints bits_per_token on verses and leaves a test verse too long out, counted;
#   - `evaluate --samples --teacher` scores word samples under the autoregressive model;
#   - refusals: d3pm-text on words, resuming on a corpus with another vocabulary, a template word outside the
#     vocabulary, samples in another vocabulary than the teacher's.
# Usage: test_word_families.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"

# Verses from a small grammar, drawn with a Park-Miller generator (the same file on every awk).
make_verses() {
  awk -v seed="$1" 'function r(n) { x = (x * 16807) % 2147483647; return int(x / 2147483647 * n) }
    BEGIN {
      x = seed; split("moses aaron joshua david", name, " "); split("go come flee return", verb, " ")
      split("land city house mountain river", place, " "); split("Genesis:60 Exodus:60 Joshua:10 James:6 Judges:10 John:6", books, " ")
      for (b = 1; b <= 6; ++b) {
        split(books[b], bn, ":")
        for (v = 1; v <= bn[2]; ++v) {
          s = r(2) ? "And " name[1 + r(4)] " said unto " name[1 + r(4)] ", " verb[1 + r(4)] " unto the " place[1 + r(5)] "." \
                   : "Then " name[1 + r(4)] " went to the " place[1 + r(5)] " of " name[1 + r(4)] "."
          printf "%s 1:%d\t%s\n", bn[1], v, s
        }
      }
      printf "Judges 2:1\tAnd moses said unto aaron, go unto the land, go unto the city, go unto the house.\n"
    }'
}
make_verses 7 > verses.tsv
make_verses 8 | sed 's/river/sea/' > other.tsv

small=(--data verses.tsv --threads 1 --seed 5 --set model.seq_len=16 --set model.width=32 --set model.layers=1 --set model.heads=2
       --set model.mlp=64 --set train.batch=16 --set train.log_every=10 --set train.checkpoint_every=40 --set train.eval_every=40
       --set train.eval_items=8 --set train.warmup=10)

for family in mdlm ar; do
  "$diffuse" train --preset $family-bible-demo "${small[@]}" --out $family --steps 80 > $family.log 2>&1 || fail "$family: train: $(tail -3 $family.log)"
  awk -v a="$(first_loss $family)" -v b="$(last_loss $family)" 'BEGIN { exit !(b < a - 0.5) }' ||
    fail "$family: the loss did not fall: $(first_loss $family) -> $(last_loss $family)"
  grep -q "the training books of verses.tsv: 120 sequences of 16" $family.log || fail "$family: no data summary: $(head -1 $family.log)"
  method=$([ $family = ar ] && echo exact || echo estimate)
  steps=$(grep -o "^{\"step\":[0-9]*,\"evaluation\":{\"split\":\"valid\",\"items\":8,\"bits_per_token\":[0-9][0-9.e+-]*,\"stderr\":[0-9][0-9.e+-]*,\"method\":\"$method\"}}$" \
    $family/metrics.jsonl | cut -d, -f1 | cut -d: -f2 | tr '\n' ' ')
  [ "$steps" = "40 80 " ] || fail "$family: evaluations at steps '$steps', not 40 80: $(grep evaluation $family/metrics.jsonl)"
  grep -q "^evaluation at step 40: [0-9.]* +- [0-9.]* bits/token on 8 valid verses ($method)" $family.log ||
    fail "$family: no evaluation line: $(grep evaluation $family.log)"
  # The vocabulary: config.json's data.vocabulary is vocabulary.txt, one token a line.
  recorded=$(grep -o '"vocabulary": "[^"]*"' $family/config.json | cut -d'"' -f4)
  [ "$recorded" = "$(tr '\n' ' ' < $family/vocabulary.txt | sed 's/ $//')" ] || fail "$family: data.vocabulary is not vocabulary.txt"
  grep -q '"in_states": 2[0-9],' $family/config.json || fail "$family: model.in_states not set from the vocabulary"
  # Resume from step 40 to 80 equals the straight run.
  "$diffuse" train --preset $family-bible-demo "${small[@]}" --out ${family}_split --steps 40 > /dev/null 2>&1 || fail "$family: split run"
  "$diffuse" train --resume --data verses.tsv --threads 1 --out ${family}_split --steps 80 > /dev/null 2>&1 || fail "$family: resume"
  cmp -s $family/ckpt-000000080.safetensors ${family}_split/ckpt-000000080.safetensors || fail "$family: resumed checkpoint differs"
  cmp -s <(timeless $family/metrics.jsonl) <(timeless ${family}_split/metrics.jsonl) || fail "$family: the resumed run's metrics.jsonl differs"
done
echo "losses: mdlm $(first_loss mdlm) -> $(last_loss mdlm), ar $(first_loss ar) -> $(last_loss ar)"
ckpt_m=mdlm/ckpt-000000080.safetensors ckpt_a=ar/ckpt-000000080.safetensors

# Samples are words of the vocabulary (<unk> included) and keep their template.
in_vocabulary() { tr ' ' '\n' < "$1" | grep -v '^$' | grep -vxFf mdlm/vocabulary.txt | head -3; }
"$diffuse" --threads 1 sample --checkpoint $ckpt_m --n 3 --steps 16 --template "and moses said _ aaron" --out m.txt > ms.log ||
  fail "masked sample"
[ "$(grep -c '^and moses said [^ ]* aaron' m.txt)" = 3 ] || fail "masked samples lost their template: $(cat m.txt)"
[ -z "$(in_vocabulary m.txt)" ] || fail "masked samples hold words outside the vocabulary: $(in_vocabulary m.txt)"
grep -q "3 samples of 16 tokens" ms.log || fail "masked sample summary: $(tail -1 ms.log)"
"$diffuse" --threads 1 sample --checkpoint $ckpt_m --n 3 --decoder maskgit --steps 8 --template "and moses said _ aaron" --out g.txt > g.log ||
  fail "masked sample --decoder maskgit"
[ "$(grep -c '^and moses said [^ ]* aaron' g.txt)" = 3 ] || fail "MaskGIT samples lost their template: $(cat g.txt)"
grep -q "MaskGIT decoding in 8 steps (.*): 8 network evaluations" g.log || fail "MaskGIT summary: $(tail -1 g.log)"
"$diffuse" --threads 1 sample --checkpoint $ckpt_m --n 1 --steps 8 --progressive --every 2 > p.log || fail "masked sample --progressive"
grep -q "^t=1.000 | \[MASK\] \[MASK\]" p.log || fail "the trajectory does not show the mask as [MASK]: $(head -3 p.log)"
"$diffuse" --threads 1 sample --checkpoint $ckpt_a --n 3 --template "and moses" --out a.txt > /dev/null || fail "ar sample"
[ "$(grep -c '^and moses' a.txt)" = 3 ] || fail "ar samples lost their prefix: $(cat a.txt)"
[ -z "$(in_vocabulary a.txt)" ] || fail "ar samples hold words outside the vocabulary: $(in_vocabulary a.txt)"
grep -q '"vocabulary": "words: 2[0-9] tokens, FNV-1a 64 [0-9a-f]\{16\}"' m.txt.json || fail "the samples' .json: $(cat m.txt.json)"

# Evaluation in bits per token on verses; a test verse longer than the model's rows is refused, or with --skip-long left
# out and counted.
for ckpt in $ckpt_m $ckpt_a; do
  "$diffuse" --threads 1 evaluate --checkpoint $ckpt --data verses.tsv --split valid --json --quiet > e.json || fail "evaluate $ckpt"
  grep -q '"bits_per_token":[0-9]' e.json && grep -q '"verses":16' e.json || fail "evaluate JSON of $ckpt: $(cat e.json)"
  expect_error "longer than the maximum of 14" "$diffuse" --threads 1 evaluate --checkpoint $ckpt --data verses.tsv
  "$diffuse" --threads 1 evaluate --checkpoint $ckpt --data verses.tsv --skip-long --json --quiet > t.json 2> t.err || fail "evaluate test $ckpt"
  grep -qF "evaluate: 1 verses of the test split longer than rows of 16 left out (--skip-long); 16 evaluated" t.err || fail "no note of the long verse: $(cat t.err)"
  grep -q '"verses":16' t.json || fail "evaluate JSON of the test split: $(cat t.json)"
done
"$diffuse" --threads 1 evaluate --checkpoint $ckpt_a --data verses.tsv --chunks 10 --quiet > et.log || fail "evaluate the first 10 test verses"
grep -q "^bits/token [0-9.]* (exact; +- [0-9.]* standard error over verses) on 10 test verses" et.log || fail "evaluate: $(cat et.log)"

# Scores of word samples under the autoregressive teacher.
"$diffuse" --threads 1 evaluate --samples m.txt --teacher $ckpt_a --data verses.tsv --split valid --json > scores.json ||
  fail "evaluate --samples"
for key in generative_perplexity teacher_bits_per_token '"tokens"' reference_unigram_entropy_bits distinct_2; do
  grep -q "$key" scores.json || fail "evaluate --samples lacks $key: $(cat scores.json)"
done
"$diffuse" --threads 1 evaluate --samples a.txt --teacher $ckpt_a > as.log || fail "evaluate --samples of ar samples"
grep -q "generative perplexity [0-9.]* per token" as.log || fail "evaluate --samples: $(cat as.log)"

# Refusals.
expect_error "d3pm-text reads characters only" "$diffuse" train --preset d3pm-text-demo --data verses.tsv --out bad1
grep -qF "masked-text is the word-level absorbing model" err.txt || fail "the d3pm refusal does not name masked-text: $(cat err.txt)"
expect_error "the vocabulary of other.tsv (its training books at data.min_count 5) has" \
  "$diffuse" train --resume --data other.tsv --out mdlm_split --steps 90
grep -qF "records (data.vocabulary)" err.txt && grep -qF "they first differ at id" err.txt || fail "the vocabulary refusal: $(cat err.txt)"
expect_error "--template: the word 'zebra' is not in the vocabulary" "$diffuse" sample --checkpoint $ckpt_m --template "and zebra _"
"$diffuse" train --preset ar-bible-demo "${small[@]}" --set data.min_count=100 --out ar_small --steps 1 > /dev/null 2>&1 || fail "ar k=100"
expect_error "are in the vocabulary words: 2" "$diffuse" evaluate --samples m.txt --teacher ar_small/ckpt-000000001.safetensors
grep -qF "reads words: " err.txt || fail "the refusal does not name the teacher's vocabulary: $(cat err.txt)"
"$diffuse" info --preset mdlm-bible-small > info.txt || fail "info mdlm-bible-small"
grep -q "parameters set by the vocabulary" info.txt || fail "info: $(head -1 info.txt)"

finish "word families"
