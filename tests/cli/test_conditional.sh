#!/usr/bin/env bash
# The class-conditional DDPM through the command line (docs/math.md §11), on generated CIFAR-10-format files:
#   - train: a conditional run (model.num_classes = 10, labels dropped with train.p_uncond = 0.5) stopped after 2
#     steps and resumed equals the uninterrupted run byte for byte, its metrics.jsonl (periodic evaluations given
#     the labels included) too; p_uncond changes the run; the training-time grid is a row per class;
#   - sample: without --class a row per class (--per-class each) with the labels in the .npz (int64 under 'labels',
#     in row order); --class by number, name (any case) and comma list; with each sampler --guidance-scale 0 is the
#     default's output byte for byte and --guidance-scale 20 another;
#   - sample --batch B --journal DIR: chunks lost from a journal are drawn again to the unbroken run's images byte
#     for byte; one chunk is the default's output; a journal of other settings, or a broken chunk, is refused;
#   - evaluate: the bound given each image's label ("given_labels":true);
#   - refusals: a class outside 0..9, an unknown name (both listing the classes), a negative guidance scale, --n for
#     a conditional checkpoint, --class / --guidance-scale / --per-class for an unconditional one (naming
#     model.num_classes = 0), DDIM with more steps than T, num_classes other than the dataset's, p_uncond outside [0, 1];
#   - the Fashion-MNIST presets, when Debian's package is there: class names of that dataset.
# Usage: test_conditional.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"

# 10 records per file, one of each class 0..9.
mkdir cifar
for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
  for i in 0 1 2 3 4 5 6 7 8 9; do printf "\\x0$i"; head -c 3072 /dev/urandom; done > "cifar/$f.bin"
done
png_width() { od -An -tu1 -j16 -N4 "$1" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }'; }
png_height() { od -An -tu1 -j20 -N4 "$1" | awk '{ print ($1 * 16777216) + ($2 * 65536) + ($3 * 256) + $4 }'; }
# npz_labels FILE N: the N int64 values of the .npz's 'labels' member, which sample writes last: only the central
# directory (46 + 9 bytes for arr_0.npy, 46 + 10 for labels.npy) and the 22-byte end record follow its data.
npz_labels() {
  local size
  size=$(stat -c %s "$1")
  grep -aqF "{'descr': '<i8', 'fortran_order': False, 'shape': ($2,), }" "$1" || { echo "no int64 [$2] labels header"; return; }
  od -An -v -td8 -j $((size - 133 - 8 * $2)) -N $((8 * $2)) "$1" | xargs
}

# ---- train: exact resume, p_uncond matters, the training-time grid --------------------------------------
cond=(--preset ddpm-cifar10-tiny --data cifar --threads 1 --set diffusion.timesteps=20 --set model.num_classes=10
      --set train.p_uncond=0.5 --set train.sample_every=4 --set train.sample_count=16 --set train.eval_every=2
      --set train.eval_items=4)
"$diffuse" train "${cond[@]}" --out straight --steps 4 > straight.log || fail "conditional train: $(tail -3 straight.log)"
"$diffuse" train "${cond[@]}" --out split --steps 2 > split.log || fail "conditional first half: $(tail -3 split.log)"
"$diffuse" train --data cifar --out split --resume --steps 4 --threads 1 > split2.log || fail "conditional resume: $(tail -3 split2.log)"
cmp -s straight/ckpt-000000004.safetensors split/ckpt-000000004.safetensors || fail "conditional: stop at 2 + resume differs"
cmp -s <(timeless straight/metrics.jsonl) <(timeless split/metrics.jsonl) ||
  fail "conditional: the resumed metrics.jsonl differs: $(diff <(timeless straight/metrics.jsonl) <(timeless split/metrics.jsonl) | head -4)"
[ "$(grep -c '"evaluation"' straight/metrics.jsonl)" -eq 2 ] || fail "conditional: expected evaluations at steps 2 and 4"
"$diffuse" train "${cond[@]}" --out kept --steps 4 --set train.p_uncond=0 > kept.log || fail "p_uncond 0: $(tail -3 kept.log)"
cmp -s straight/ckpt-000000004.safetensors kept/ckpt-000000004.safetensors && fail "train.p_uncond changed nothing"
# sample_count 16 with 10 classes: ceil(16 / 10) = 2 of each class, a row each: 10 rows of 2 (at scale 8).
[ "$(png_width straight/samples/step-4.png)" -eq 518 ] && [ "$(png_height straight/samples/step-4.png)" -eq 2582 ] ||
  fail "the training-time grid is $(png_width straight/samples/step-4.png) x $(png_height straight/samples/step-4.png), not 518 x 2582"
ckpt=straight/ckpt-000000004.safetensors

# ---- sample: a row per class, labels in the .npz, --class, w = 0 ---------------------------------------
"$diffuse" sample --checkpoint $ckpt --per-class 2 --sampler ddim --steps 5 --out all.png --threads 1 --quiet > all.log ||
  fail "conditional sample: $(cat all.log)"
[ "$(npz_labels all.npz 20)" = "0 0 1 1 2 2 3 3 4 4 5 5 6 6 7 7 8 8 9 9" ] || fail "all.npz labels: $(npz_labels all.npz 20)"
[ "$(png_width all.png)" -eq 518 ] && [ "$(png_height all.png)" -eq 2582 ] ||
  fail "the per-class grid is $(png_width all.png) x $(png_height all.png), not 518 x 2582 (10 rows of 2)"
grep -q "^sampling 20 images: sampler ddim .*; 2 of each class (0 airplane, 1 automobile, .*, 9 truck), a row each; no classifier-free guidance (w = 0, the conditional model)$" all.log ||
  fail "the summary line: $(head -1 all.log)"
grep -q "their classes as int64 \[N\] under 'labels'" all.log || fail "the written line names no labels: $(tail -1 all.log)"
"$diffuse" sample --checkpoint $ckpt --class 3,airplane --class Truck --per-class 1 --sampler ddim --steps 5 --out some.png \
  --threads 1 --quiet > some.log || fail "sample --class 3,airplane --class Truck: $(cat some.log)"
[ "$(npz_labels some.npz 3)" = "3 0 9" ] || fail "some.npz labels: $(npz_labels some.npz 3)"
for sampler in ancestral ddim dpm-solver; do
  steps=(); [ $sampler = ancestral ] || steps=(--steps 5)
  for w in none 0 20; do
    scale=(); [ $w = none ] || scale=(--guidance-scale $w)
    "$diffuse" sample --checkpoint $ckpt --class 1 --per-class 3 --sampler $sampler "${steps[@]}" "${scale[@]}" \
      --out "$sampler-$w.png" --threads 1 --quiet > "$sampler-$w.log" || fail "$sampler at w = $w: $(cat "$sampler-$w.log")"
  done
  cmp -s "$sampler-none.npz" "$sampler-0.npz" || fail "$sampler: --guidance-scale 0 is not the unguided conditional sample"
  # w = 20: the 4-step model's two predictions differ little, and the .npz holds bytes.
  cmp -s "$sampler-none.npz" "$sampler-20.npz" && fail "$sampler: --guidance-scale 20 changed nothing"
  grep -q "classifier-free guidance w = 20 (Ho & Salimans eq. 6)" "$sampler-20.log" || fail "$sampler: $(head -1 "$sampler-20.log")"
done

# ---- sample in chunks, through a journal: a stopped run resumes to the same images ------------------------
# 30 images (3 of each class) in chunks of 7, ancestral with classifier-free guidance. Chunks lost from a journal
# (a run stopped before them) are drawn again, and the result is the unbroken run's byte for byte, because each
# chunk draws from its own stream. One chunk (--batch >= N) is the default's output exactly.
chunked=(--checkpoint $ckpt --per-class 3 --guidance-scale 1 --threads 1 --quiet)
"$diffuse" sample "${chunked[@]}" --batch 7 --journal j1 --out c1.png > c1.log || fail "sample --batch 7 --journal j1: $(cat c1.log)"
grep -q '; 5 chunks of up to 7, 0 of them found in j1$' c1.log || fail "the chunked summary line: $(head -1 c1.log)"
[ "$(ls j1/chunk-*.npz | wc -l)" = 5 ] && [ -f j1/settings.json ] || fail "the journal holds: $(ls j1)"
[ "$(npz_labels j1/chunk-1.npz 7)" = "2 2 3 3 3 4 4" ] || fail "chunk 1's labels: $(npz_labels j1/chunk-1.npz 7)"
cp -r j1 j2 && rm j2/chunk-2.npz j2/chunk-4.npz
"$diffuse" sample "${chunked[@]}" --batch 7 --journal j2 --out c2.png > c2.log || fail "resume from j2: $(cat c2.log)"
grep -q '3 of them found in j2$' c2.log && grep -q 'sampling 9 of them took' c2.log || fail "the resumed run's lines: $(cat c2.log)"
cmp -s c1.npz c2.npz && cmp -s c1.png c2.png || fail "the resumed run's images differ from the unbroken run's"
"$diffuse" sample "${chunked[@]}" --batch 7 --out c3.png > /dev/null && cmp -s c1.npz c3.npz || fail "--batch 7 without a journal differs"
"$diffuse" sample "${chunked[@]}" --batch 30 --out c4.png > /dev/null && "$diffuse" sample "${chunked[@]}" --out c5.png > /dev/null &&
  cmp -s c4.npz c5.npz || fail "one chunk (--batch 30) is not the default's output"
cmp -s c1.npz c5.npz && fail "chunks of 7 drew the same images as one batch: the chunks' streams are not their own"
expect_error "--journal j1: written for other settings: seed was 0, now 9" "$diffuse" sample "${chunked[@]}" --batch 7 --journal j1 --seed 9 --out x.png
expect_error "--journal j1: written for other settings: batch was 7, now 6" "$diffuse" sample "${chunked[@]}" --batch 6 --journal j1 --out x.png
expect_error "--progressive: draws every image in one batch; drop --batch and --journal" \
  "$diffuse" sample "${chunked[@]}" --batch 7 --progressive --out x.png
echo garbage > j2/chunk-3.npz
expect_error "j2/chunk-3.npz" "$diffuse" sample "${chunked[@]}" --batch 7 --journal j2 --out x.png

# ---- evaluate: given the labels ---------------------------------------------------------------------
"$diffuse" evaluate --checkpoint $ckpt --data cifar --images 4 --estimate --json --threads 1 --quiet > eval.json ||
  fail "conditional evaluate"
grep -q '"bits_per_dim":[0-9.]*,.*"given_labels":true' eval.json || fail "conditional evaluate JSON: $(cat eval.json)"

# ---- refusals ---------------------------------------------------------------------------------------
classes="the classes are 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck"
expect_error "--class 10: no such class; $classes" "$diffuse" sample --checkpoint $ckpt --class 10 --out x.png
expect_error "--class 'sneaker': an unknown class; $classes" "$diffuse" sample --checkpoint $ckpt --class sneaker --out x.png
expect_error "--guidance-scale: w must be finite and >= 0 (0: the conditional model alone), got -1" \
  "$diffuse" sample --checkpoint $ckpt --guidance-scale=-1 --out x.png
expect_error "--n: this checkpoint is class-conditional (10 classes): it draws --per-class images of each --class" \
  "$diffuse" sample --checkpoint $ckpt --n 4 --out x.png
expect_error "--steps: DDIM takes 1..T = 20 steps" "$diffuse" sample --checkpoint $ckpt --sampler ddim --steps 30 --out x.png
"$diffuse" train --preset ddpm-cifar10-tiny --data cifar --threads 1 --set diffusion.timesteps=20 --set train.sample_every=0 \
  --out plain --steps 1 > plain.log || fail "unconditional train: $(tail -3 plain.log)"
for flag in "--class 3" "--guidance-scale 1" "--per-class 2"; do
  # shellcheck disable=SC2086
  expect_error "${flag% *}: this checkpoint's U-Net has no classes (model.num_classes = 0)" \
    "$diffuse" sample --checkpoint plain/ckpt-000000001.safetensors $flag --out x.png
done
[ ! -e x.png ] || fail "a refused sample wrote x.png"
expect_error "model.num_classes: 5, but cifar10 has 10 classes (0: an unconditional U-Net)" \
  "$diffuse" info --preset ddpm-cifar10-tiny --set model.num_classes=5
expect_error "train.p_uncond: must be in [0, 1], got 1.5" \
  "$diffuse" info --preset ddpm-cifar10-cond-small --set train.p_uncond=1.5
expect_error "model.num_classes: 5, but cifar10 has 10 classes" \
  "$diffuse" train --preset ddpm-cifar10-tiny --data cifar --set model.num_classes=5 --out bad
[ ! -e bad/ckpt-000000000.safetensors ] || fail "a refused run wrote a checkpoint"

# ---- the Fashion-MNIST presets: that dataset's class names --------------------------------------------
if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then  # scripts/setup.sh installs it
  "$diffuse" train --preset ddpm-fashion-mnist-cond-demo --out fashion --steps 1 --threads 1 > fashion.log ||
    fail "fashion cond demo train: $(tail -3 fashion.log)"
  "$diffuse" sample --checkpoint fashion/ckpt-000000001.safetensors --class sneaker,"ankle boot",T-shirt --per-class 1 \
    --sampler dpm-solver --steps 2 --guidance-scale 1 --out f.png --threads 1 --quiet > f.log || fail "fashion sample: $(cat f.log)"
  [ "$(npz_labels f.npz 3)" = "7 9 0" ] || fail "f.npz labels: $(npz_labels f.npz 3)"
  expect_error "--class 'airplane': an unknown class; the classes are 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot" \
    "$diffuse" sample --checkpoint fashion/ckpt-000000001.safetensors --class airplane --out x.png
else
  echo "note: dataset-fashion-mnist is not installed; the Fashion-MNIST conditional presets are not exercised"
fi

finish "the class-conditional command line"
