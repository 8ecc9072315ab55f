#!/usr/bin/env bash
# End-to-end tests of the diffusion-lm and text-classifier families (apps/diffusion_lm_commands.cpp,
# apps/text_classifier_commands.cpp, apps/text_control.hpp) through build/diffuse, on a verse file this script
# makes up: books of the Old Testament (Genesis, Exodus; valid Joshua, test Judges) speak of moses and aaron,
# of the New (Matthew, Mark; valid James, test John) of jesus and peter.
#   - Diffusion-LM trains from its demo preset with its loss falling, evaluates every 40 steps in bits/token,
#     resumes exactly, samples words of its vocabulary that keep a template or a length, and evaluates its
#     bound by every term (with the embedding's spread) and by the estimate;
#   - a noisy testament classifier trains on its embeddings' word posterior, learns the testaments, and guides
#     `sample --control testament=new`; a clean one judges the samples in `evaluate --samples --control`, which
#     also checks lengths exactly; a words classifier's reading of one word (the AUC of its logit by band of t);
#   - refusals: a word outside the vocabulary, a guide for another embedding dimension or vocabulary, a
#     control without its classifier, a judge that reads noisy embeddings, an empty verse file.
# Usage: test_diffusion_lm.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"

# Verses from two small grammars, drawn with a Park-Miller generator (the same file on every awk).
make_verses() {
  awk -v seed="$1" 'function r(n) { x = (x * 16807) % 2147483647; return int(x / 2147483647 * n) }
    BEGIN {
      x = seed; split("moses aaron joshua", law, " "); split("jesus peter john", gospel, " "); split("go come flee", verb, " ")
      split("land city house mountain", place, " ")
      split("Genesis:L:50 Exodus:L:50 Matthew:G:50 Mark:G:50 Joshua:L:8 James:G:8 Judges:L:8 John:G:8", books, " ")
      for (b = 1; b <= 8; ++b) {
        split(books[b], bn, ":")
        for (v = 1; v <= bn[3]; ++v) {
          a = bn[2] == "L" ? law[1 + r(3)] : gospel[1 + r(3)]; c = bn[2] == "L" ? law[1 + r(3)] : gospel[1 + r(3)]
          s = r(2) ? "And " a " said unto " c ", " verb[1 + r(3)] " unto the " place[1 + r(4)] "." \
                   : "Then " a " went to the " place[1 + r(4)] " of " c "."
          printf "%s 1:%d\t%s\n", bn[1], v, s
        }
      }
    }'
}
make_verses 7 > verses.tsv
make_verses 8 | sed 's/mountain/sea/' > other.tsv

tiny=(--threads 1 --seed 5 --set model.seq_len=16 --set model.width=32 --set model.layers=1 --set model.heads=2 --set model.mlp=64
      --set train.batch=16 --set train.log_every=10 --set train.checkpoint_every=40 --set train.eval_every=40 --set train.eval_items=8
      --set train.warmup=10)
dlm=("${tiny[@]}" --data verses.tsv --set diffusion.timesteps=40)

# ---- Diffusion-LM: training, evaluation in training, resume ----
"$diffuse" train --preset diffusion-lm-bible-demo "${dlm[@]}" --out dlm --steps 80 > dlm.log 2>&1 || fail "train: $(tail -3 dlm.log)"
awk -v a="$(first_loss dlm)" -v b="$(last_loss dlm)" 'BEGIN { exit !(b < a - 0.3) }' ||
  fail "the loss did not fall: $(first_loss dlm) -> $(last_loss dlm)"
grep -q '"loss_parts":{"L_x0":[0-9.e+-]*,"L_T":[0-9.e+-]*,"rounding":[0-9.e+-]*}' dlm/metrics.jsonl || fail "loss parts: $(tail -1 dlm/metrics.jsonl)"
steps=$(grep -o '^{"step":[0-9]*,"evaluation":{"split":"valid","items":8,"bits_per_token":[0-9][0-9.e+-]*,"stderr":[0-9][0-9.e+-]*,"method":"estimate"}}$' \
  dlm/metrics.jsonl | cut -d, -f1 | cut -d: -f2 | tr '\n' ' ')
[ "$steps" = "40 80 " ] || fail "evaluations at steps '$steps', not 40 80: $(grep evaluation dlm/metrics.jsonl)"
grep -q '"in_states": 2[0-9],' dlm/config.json || fail "model.in_states (the embedding's rows) not set from the vocabulary"
"$diffuse" train --preset diffusion-lm-bible-demo "${dlm[@]}" --out dlm_split --steps 40 > /dev/null 2>&1 || fail "split run"
"$diffuse" train --resume --data verses.tsv --threads 1 --out dlm_split --steps 80 > /dev/null 2>&1 || fail "resume"
cmp -s dlm/ckpt-000000080.safetensors dlm_split/ckpt-000000080.safetensors || fail "the resumed checkpoint differs"
cmp -s <(timeless dlm/metrics.jsonl) <(timeless dlm_split/metrics.jsonl) || fail "the resumed run's metrics.jsonl differs"
ckpt=dlm/ckpt-000000080.safetensors

# ---- sampling: words of the vocabulary, templates (infilling) and lengths kept ----
in_vocabulary() { tr ' ' '\n' < "$1" | grep -v '^$' | grep -vxFf dlm/vocabulary.txt | head -3; }
"$diffuse" sample --checkpoint $ckpt --n 3 --steps 10 --template "and moses said _ _ ," --out t.txt > t.log || fail "sample --template"
[ "$(grep -c '^and moses said [^ ]* [^ ]* ,' t.txt)" = 3 ] || fail "samples lost their template: $(cat t.txt)"
[ -z "$(in_vocabulary t.txt)" ] || fail "samples hold words outside the vocabulary: $(in_vocabulary t.txt)"
grep -q "3 samples of 16 tokens, 10 of T = 40 steps with clamping, infilling --template" t.log || fail "sample summary: $(tail -1 t.log)"
"$diffuse" sample --checkpoint $ckpt --n 3 --steps 10 --infill "and moses said _ _ ," --out infill.txt > /dev/null || fail "sample --infill"
cmp -s t.txt infill.txt || fail "--infill is not --template: $(cat infill.txt)"
"$diffuse" sample --checkpoint $ckpt --n 4 --steps 10 --control length=5 --out len.txt > /dev/null || fail "sample --control length=5"
[ "$(awk 'NF == 5' len.txt | wc -l)" = 4 ] || fail "length control: $(cat len.txt)"

# ---- the bound: every term, and the estimate ----
"$diffuse" evaluate --checkpoint $ckpt --data verses.tsv --split valid --json --quiet > exact.json || fail "evaluate"
grep -q '"bits_per_token":[0-9]' exact.json && grep -q '"method":"exact"' exact.json &&
  grep -q '"verses":16' exact.json && grep -q '"network_evaluations":40' exact.json && grep -q '"embedding_mean_pairwise_distance":[0-9]' exact.json ||
  fail "evaluate JSON: $(cat exact.json)"
"$diffuse" evaluate --checkpoint $ckpt --data verses.tsv --split valid --estimate --quiet > est.log || fail "evaluate --estimate"
grep -q "^bits/token <= [0-9.]* (+- [0-9.]* standard error over items) on 16 valid verses" est.log || fail "evaluate: $(cat est.log)"

# ---- classifiers: a noisy guide and a clean judge of the testament ----
cls=("${tiny[@]}" --data verses.tsv --set classifier.diffusion_lm=$ckpt --set classifier.target=testament --set train.eval_items=16)
"$diffuse" train --preset verse-classifier-noisy "${cls[@]}" --out guide --steps 200 > guide.log 2>&1 || fail "train the guide: $(tail -3 guide.log)"
grep -q '"input_layer": "word_posterior"' guide/config.json && grep -q '"input_dim": 0,' guide/config.json &&
  grep -q '"in_states": '"$(wc -l < dlm/vocabulary.txt)," guide/config.json && grep -q '"embedding_dim": 16,' guide/config.json &&
  grep -q '"word_presence": false' guide/config.json ||
  fail "the guide reads the word posterior as its expected embedding (input_dim 0, in_states V): $(grep -E 'input|states|embedding_dim|presence' guide/config.json)"
# The judge's file has a valid verse too long for rows of 16 (Joshua 1:9, 19 tokens): its periodic evaluation
# leaves it out, and `evaluate` refuses it unless --skip-long.
awk '{ print } /^Joshua 1:8\t/ { print "Joshua 1:9\tAnd moses said unto aaron, go unto the land, unto the city, unto the house." }' \
  verses.tsv > long.tsv
"$diffuse" train --preset verse-classifier-clean "${cls[@]/#verses.tsv/long.tsv}" --out judge --steps 40 > judge.log 2>&1 ||
  fail "train the judge: $(tail -3 judge.log)"
grep -q '"evaluation":{"split":"valid","items":16,"accuracy":' judge/metrics.jsonl || fail "the judge's evaluation: $(grep evaluation judge/metrics.jsonl)"
expect_error "long.tsv:209 (Joshua 1:9): 19 tokens, longer than the maximum of 14" "$diffuse" evaluate --checkpoint judge/ckpt-000000040.safetensors --data long.tsv --split valid
"$diffuse" evaluate --checkpoint judge/ckpt-000000040.safetensors --data long.tsv --split valid --skip-long --json > acc.json ||
  fail "evaluate the judge"
grep -q '"long_verses_left_out":1,' acc.json && grep -q '"verses":16}' acc.json || fail "the judge's evaluation: $(cat acc.json)"
awk -v a="$(grep -o '"accuracy":[0-9.]*' acc.json | cut -d: -f2)" 'BEGIN { exit !(a >= 0.9) }' ||
  fail "the clean judge tells the testaments apart in fewer than 90% of valid verses: $(cat acc.json)"
guide=guide/ckpt-000000200.safetensors judge=judge/ckpt-000000040.safetensors
# A noisy classifier's accuracy by noise level: ten bands of t over 1..40, each verse in one of them. On the
# 200 training verses it has learnt the testaments (the prior is 1/2): at 0.9 or more at t <= 12, where
# the words still show through the noise, and at 0.75 or more over all t.
"$diffuse" evaluate --checkpoint $guide --data verses.tsv --split valid > gacc.log || fail "evaluate the guide"
[ "$(grep -cE '^  t in [0-9]+\.\.[0-9]+: [0-9.]+ \([0-9]+ decisions\)$' gacc.log)" = 10 ] && grep -q '^  t in 37\.\.40: ' gacc.log ||
  fail "the guide's accuracy by t: $(cat gacc.log)"
[ "$(awk '/^  t in/ { gsub(/\(/, "", $5); n += $5 } END { print n }' gacc.log)" = 16 ] || fail "the bands do not hold the 16 verses: $(cat gacc.log)"
"$diffuse" evaluate --checkpoint $guide --data verses.tsv --split train > gtrain.log || fail "evaluate the guide on train"
awk '/^accuracy/ { all = $2 } /^  t in (1\.\.4|5\.\.8|9\.\.12):/ { right += $4 * substr($5, 2); n += substr($5, 2) }
     END { exit !(all >= 0.75 && right / n >= 0.9) }' gtrain.log || fail "the guide did not learn the testaments: $(cat gtrain.log)"
# How a words classifier reads one word (evaluate --control word=W): the AUC of its logit by band of t, over
# exactly the training verses that hold the word and those that do not.
"$diffuse" train --preset verse-classifier-noisy "${cls[@]}" --set classifier.target=words --out words --steps 40 > words.log 2>&1 ||
  fail "train the words guide: $(tail -3 words.log)"
"$diffuse" evaluate --checkpoint words/ckpt-000000040.safetensors --data verses.tsv --split train --control word=jesus --json > wr.json ||
  fail "evaluate --control word=jesus"
with=$(awk -F'\t' '$1 ~ /^(Genesis|Exodus|Matthew|Mark) / && tolower($2) ~ /(^|[^a-z])jesus([^a-z]|$)/' verses.tsv | wc -l)
grep -q "\"verses_with_word\":$with,\"word\":\"jesus\"}$" wr.json && grep -q '"verses":200,' wr.json &&
  grep -q '^{"auc":0\.[0-9]*,' wr.json || fail "the reading of 'jesus' (in $with training verses): $(cat wr.json)"
[ "$(grep -o '"verses_with_word":[0-9]*,"verses_without":[0-9]*' wr.json | grep -o '[0-9]*' | awk '{ n += $1 } END { print n }')" = 200 ] ||
  fail "the bands do not hold the 200 verses: $(cat wr.json)"
# The words guide adds each word's noisy-OR presence from the positions' posteriors (classifier.word_presence), so
# where the words show through the noise (t <= 12) it reads 'jesus' almost surely: AUC 0.95 or more in each band.
grep -q '"word_presence": true' words/config.json || fail "the words guide has no presence term: $(grep presence words/config.json)"
[ "$(grep -oE '"auc":[0-9.]+,"t":"(1\.\.4|5\.\.8|9\.\.12)"' wr.json | awk -F'[:,]' '$2 >= 0.95' | wc -l)" = 3 ] ||
  fail "the words guide does not read 'jesus' at low t: $(cat wr.json)"
# Word control: guided by it, samples hold 'jesus' (the unguided ones at the same seeds almost never do).
for s in 1 2; do
  "$diffuse" sample --checkpoint $ckpt --n 16 --steps 20 --seed $s --out wu$s.txt > /dev/null || fail "sample unguided, seed $s"
  "$diffuse" sample --checkpoint $ckpt --n 16 --steps 20 --seed $s --control word=jesus --classifier words/ckpt-000000040.safetensors \
    --guidance-skip-last 2 --out wg$s.txt > /dev/null || fail "sample --control word=jesus, seed $s"
done
unguided=$(cat wu1.txt wu2.txt | grep -cw jesus) guided=$(cat wg1.txt wg2.txt | grep -cw jesus)
[ "$guided" -ge 4 ] && [ "$unguided" -le 1 ] || fail "word control: $guided of 32 guided samples hold 'jesus', $unguided of 32 unguided"
expect_error "--control word=jesus: with a classifier checkpoint, word=W of a words classifier" \
  "$diffuse" evaluate --checkpoint $guide --data verses.tsv --control word=jesus
expect_error "--control: scores --samples, or how a text-classifier checkpoint reads a word; $ckpt is a diffusion-lm checkpoint" \
  "$diffuse" evaluate --checkpoint $ckpt --data verses.tsv --control word=jesus
"$diffuse" sample --checkpoint $ckpt --n 4 --steps 20 --control testament=new --classifier $guide --guidance-skip-last 2 --out g.txt > g.log ||
  fail "sample --control testament=new"
grep -q "guided to testament=new by $guide (3 Adagrad updates" g.log || fail "guided sample summary: $(tail -1 g.log)"

# ---- scores: fluency under an autoregressive word model, controls met ----
"$diffuse" train --preset ar-bible-demo "${tiny[@]}" --data verses.tsv --out ar --steps 20 > /dev/null 2>&1 || fail "train ar"
teacher=ar/ckpt-000000020.safetensors
# Of these four, two are 5 tokens of text: a <pad> or <eos> inside the span is not a token of text.
printf '%s\n' "and moses said unto aaron" "then peter went <pad> the" "then peter went to" "then john <eos> to the" > scored.txt
cp len.txt.json scored.txt.json
sed -n 1p len.txt >> scored.txt
"$diffuse" evaluate --samples scored.txt --teacher $teacher --control length=5 --json > s1.json || fail "evaluate --control length"
expected=$(awk 'NR == 5 { print ($0 ~ /<pad>|<eos>/) ? 1 : 2 }' scored.txt)
grep -q "\"control_success_rate\":0.$((expected * 2))," s1.json && grep -q '"generative_perplexity":' s1.json ||
  fail "length scores (expected $expected of 5): $(cat s1.json)"
"$diffuse" evaluate --samples g.txt --teacher $teacher --control testament=new --judge $judge > s2.log || fail "evaluate --control testament"
grep -q "control testament=new met by [0-9.]* of the samples (judged by $judge)" s2.log || fail "testament scores: $(cat s2.log)"

# ---- refusals ----
expect_error "--control: the word 'zebra' is not in the vocabulary" \
  "$diffuse" sample --checkpoint $ckpt --control word=zebra --classifier $guide
expect_error "--control testament=...: needs --classifier CKPT" "$diffuse" sample --checkpoint $ckpt --control testament=old
expect_error "--control: 'middle' is not a class of this classifier (old, new)" \
  "$diffuse" sample --checkpoint $ckpt --control testament=middle --classifier $guide
expect_error "classifies testament, not what --control group needs" \
  "$diffuse" sample --checkpoint $ckpt --control group=law --classifier $guide
expect_error "--judge: $guide reads noisy embeddings" \
  "$diffuse" evaluate --samples g.txt --teacher $teacher --control testament=old --judge $guide
"$diffuse" train --preset diffusion-lm-bible-demo "${dlm[@]}" --set model.input_dim=8 --set model.out_states=8 --out dlm8 --steps 1 > /dev/null 2>&1 ||
  fail "train d = 8"
expect_error "the classifier was trained on an embedding of d = 16" \
  "$diffuse" sample --checkpoint dlm8/ckpt-000000001.safetensors --control testament=old --classifier $guide
grep -qF "the model it would guide has d = 8" err.txt || fail "the d refusal does not name both: $(cat err.txt)"
"$diffuse" train --preset diffusion-lm-bible-demo "${tiny[@]}" --data other.tsv --set diffusion.timesteps=40 --out other --steps 1 > /dev/null 2>&1 ||
  fail "train on other.tsv"
expect_error "they first differ at id" "$diffuse" sample --checkpoint other/ckpt-000000001.safetensors --control testament=old --classifier $guide
: > empty.tsv
expect_error "empty.tsv" "$diffuse" train --preset diffusion-lm-bible-demo "${tiny[@]}" --data empty.tsv --out bad --steps 1

finish "diffusion-lm"
