#!/usr/bin/env bash
# End-to-end tests of the image-classifier family, the sample scores and classifier guidance through build/diffuse,
# on CIFAR-10-format files this script generates: two classes of 32x32x3 images, bright in the top half (class 0)
# or in the bottom half (class 1), with noise (random flips, left-right, keep the class).
#   - train a clean classifier: its loss falls, its periodic evaluations are test accuracy, and `evaluate` reports a
#     test accuracy above 0.9 on this separable set (text and JSON);
#   - evaluate --fd-floor (train against test images) and --samples S.npz (the .npz of `sample`): FD-classifier,
#     precision and recall in [0, 1], no class accuracy without labels;
#   - a noisy classifier names its DDPM run (classifier.ddpm): it takes that run's diffusion section (T = 20), and
#     reports accuracy by quarter of 1..T; it guides `sample` with each sampler (ancestral, ddim, dpm-solver),
#     changing the samples of the same seed;
#   - refusals, each naming the flag or the file: --classifier-scale alone, a clean classifier as the guide, no
#     --class, a class outside 0..9, a noisy one as the judge, a DDPM checkpoint as the judge, too many --n, an
#     image classifier asked to sample, a noisy classifier's DDPM of another resolution; with Debian's Fashion-MNIST,
#     samples and a guide of another resolution and channels.
# Usage: test_image_classifier.sh path/to/diffuse
set -uo pipefail
source "$(dirname "$0")/harness.sh"

mkdir data
for i in 1 2 3 4 5; do cifar "data/data_batch_$i.bin" 40 "$i"; done
cifar data/test_batch.bin 200 9

# ---- the clean classifier ----------------------------------------------------------------------------
"$diffuse" train --preset classifier-cifar10-tiny --data data --out clf --steps 60 --threads 1 --set train.eval_every=30 \
  --set train.eval_items=64 --set train.checkpoint_every=60 > clf.log || fail "train classifier: $(tail -3 clf.log)"
clf=clf/ckpt-000000060.safetensors
awk -v a="$(first_loss clf)" -v b="$(last_loss clf)" 'BEGIN { exit !(b < 0.7 * a) }' ||
  fail "the classifier's loss did not fall: $(first_loss clf) -> $(last_loss clf)"
[ "$(grep -c '"evaluation":{"split":"test","items":64,"accuracy":' clf/metrics.jsonl)" -eq 2 ] ||
  fail "clf/metrics.jsonl: expected 2 evaluations of test accuracy: $(grep evaluation clf/metrics.jsonl)"
grep -aqF '\"network\":\"unet-encoder\"' "$clf" || fail "the checkpoint's metadata names no unet-encoder"
"$diffuse" evaluate --checkpoint "$clf" --data data --json --threads 1 > acc.json 2> /dev/null || fail "evaluate the classifier"
between "$(json_field acc.json accuracy)" 0.9 1 || fail "test accuracy on a separable set: $(cat acc.json)"
[ "$(json_field acc.json images)" = 200 ] || fail "evaluate should use all 200 test images: $(cat acc.json)"
"$diffuse" evaluate --checkpoint "$clf" --data data --images 50 --threads 1 2> /dev/null | grep -q '^accuracy [0-9.]* (+- [0-9.]* standard error) on 50 test images (clean)' ||
  fail "evaluate's text line"

# ---- the floor and samples' scores -------------------------------------------------------------------
"$diffuse" evaluate --fd-floor --classifier "$clf" --data data --n 100 --json --threads 1 > floor.json 2> /dev/null ||
  fail "evaluate --fd-floor: $(cat floor.json)"
between "$(json_field floor.json fd_classifier)" -1e-6 1e9 && between "$(json_field floor.json precision)" 0 1 &&
  between "$(json_field floor.json recall)" 0 1 && [ "$(json_field floor.json images)" = 100 ] || fail "fd-floor JSON: $(cat floor.json)"
"$diffuse" train --preset ddpm-cifar10-tiny --data data --out ddpm --steps 2 --threads 1 --set diffusion.timesteps=20 \
  --set train.sample_every=0 > ddpm.log || fail "ddpm train: $(tail -3 ddpm.log)"
ddpm=ddpm/ckpt-000000002.safetensors
"$diffuse" sample --checkpoint "$ddpm" --n 12 --sampler ddim --steps 5 --out s.png --threads 1 --quiet > /dev/null || fail "ddpm sample"
"$diffuse" evaluate --samples s.npz --classifier "$clf" --data data --json --threads 1 > scores.json 2> /dev/null ||
  fail "evaluate --samples: $(cat scores.json)"
[ "$(json_field scores.json images)" = 12 ] && [ "$(json_field scores.json class_accuracy)" = null ] &&
  between "$(json_field scores.json precision)" 0 1 || fail "evaluate --samples JSON: $(cat scores.json)"
"$diffuse" evaluate --samples s.npz --classifier "$clf" --data data --n 6 --threads 1 2> /dev/null > scores.txt || fail "evaluate --samples --n 6"
grep -q '^FD-classifier [0-9.e+-]* between 6 samples of s.npz and the first 6 test images' scores.txt && grep -q '^precision ' scores.txt &&
  grep -q "^class accuracy: none (s.npz holds no 'labels')" scores.txt || fail "evaluate --samples text: $(cat scores.txt)"

# ---- the noisy classifier and guidance ---------------------------------------------------------------
"$diffuse" train --preset noisy-classifier-cifar10-tiny --data data --out noisy --steps 10 --threads 1 --set train.eval_every=0 \
  --set train.checkpoint_every=10 --set diffusion.timesteps=1000 --set "classifier.ddpm=$ddpm" > noisy.log || fail "train noisy: $(tail -3 noisy.log)"
noisy=noisy/ckpt-000000010.safetensors
grep -q '"timesteps": 20' noisy/config.json || fail "the noisy classifier did not take the DDPM run's T = 20"
"$diffuse" evaluate --checkpoint "$noisy" --data data --threads 1 2> /dev/null > noisy-eval.txt || fail "evaluate noisy"
grep -q '^accuracy .* (x_t at t uniform on 1..T)' noisy-eval.txt && grep -q '^  t 16..20: ' noisy-eval.txt || fail "noisy evaluate: $(cat noisy-eval.txt)"
"$diffuse" sample --checkpoint "$ddpm" --n 4 --out plain.png --threads 1 --quiet > /dev/null || fail "unguided sample"
for sampler in ancestral ddim dpm-solver; do
  steps=()
  [ "$sampler" = ancestral ] || steps=(--steps 5)
  [ "$sampler" = ancestral ] || "$diffuse" sample --checkpoint "$ddpm" --n 4 --sampler "$sampler" "${steps[@]}" --out "plain-$sampler.png" \
    --threads 1 --quiet > /dev/null
  "$diffuse" sample --checkpoint "$ddpm" --per-class 2 --sampler "$sampler" "${steps[@]}" --classifier "$noisy" --classifier-scale 20 --class 0,1 \
    --out "guided-$sampler.png" --threads 1 --quiet > "guided-$sampler.txt" || fail "guided $sampler: $(cat "guided-$sampler.txt")"
  grep -q "; classifier guidance s = 20 by $noisy (noise-aware, 10 classes)" "guided-$sampler.txt" || fail "guided $sampler: $(cat "guided-$sampler.txt")"
  reference=plain-$sampler.npz
  [ "$sampler" = ancestral ] && reference=plain.npz
  ! cmp -s "$reference" "guided-$sampler.npz" || fail "guidance did not change the $sampler samples"
done
# In resumable chunks (--batch 3 --journal: chunks of 3 and 1), each chunk guided towards its own images' classes:
# a lost chunk is drawn again to the same images.
guided_chunks=(--checkpoint "$ddpm" --per-class 2 --classifier "$noisy" --classifier-scale 20 --class 0,1 --batch 3 --threads 1 --quiet)
"$diffuse" sample "${guided_chunks[@]}" --journal gj --out gc1.png > gc1.txt || fail "guided in chunks: $(cat gc1.txt)"
rm gj/chunk-0.npz
"$diffuse" sample "${guided_chunks[@]}" --journal gj --out gc2.png > gc2.txt || fail "guided in chunks, resumed: $(cat gc2.txt)"
cmp -s gc1.npz gc2.npz && grep -q '2 chunks of up to 3, 1 of them found in gj$' gc2.txt || fail "guided chunks resumed: $(cat gc2.txt)"

# ---- refusals ----------------------------------------------------------------------------------------
expect_error "--classifier-scale: needs --classifier" "$diffuse" sample --checkpoint "$ddpm" --n 2 --classifier-scale 2 --out x.png
expect_error "is a clean classifier" "$diffuse" sample --checkpoint "$ddpm" --per-class 2 --classifier "$clf" --class 1 --out x.png
expect_error "--n: classifier guidance asks for classes: it draws --per-class images of each --class" "$diffuse" sample \
  --checkpoint "$ddpm" --n 2 --classifier "$noisy" --out x.png
expect_error "--class 12: " "$diffuse" sample --checkpoint "$ddpm" --classifier "$noisy" --class 12 --out x.png
expect_error "--guidance-scale: this checkpoint's U-Net has no classes" "$diffuse" sample --checkpoint "$ddpm" --classifier "$noisy" \
  --guidance-scale 1 --out x.png
expect_error "is a noise-aware classifier" "$diffuse" evaluate --samples s.npz --classifier "$noisy" --data data
expect_error "is a ddpm checkpoint, not an image-classifier" "$diffuse" evaluate --samples s.npz --classifier "$ddpm" --data data
expect_error "--n: 50 requested but s.npz holds 12 samples" "$diffuse" evaluate --samples s.npz --classifier "$clf" --data data --n 50
expect_error "--classifier, the clean image classifier, is required" "$diffuse" evaluate --samples s.npz --data data
expect_error "--classifier: scores image samples" "$diffuse" evaluate --classifier "$clf" --data data
expect_error "is an image classifier: it does not sample" "$diffuse" sample --checkpoint "$clf" --n 2 --out x.png
expect_error "classifier.ddpm: $ddpm has model.resolution = 32, this classifier model.resolution = 16" "$diffuse" train \
  --preset noisy-classifier-cifar10-tiny --data data --out bad --set "classifier.ddpm=$ddpm" --set model.resolution=16
expect_error "--classifier: not an option of image-classifier checkpoints" "$diffuse" sample --checkpoint "$clf" --classifier "$noisy"

# Another resolution and channels (Debian's Fashion-MNIST, 28x28x1, when installed): refused as samples to score
# and as the guide of a CIFAR-10 DDPM, naming both shapes.
if [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte ]; then
  "$diffuse" train --preset classifier-fashion-mnist --out fm --steps 1 --threads 1 --set train.batch=4 --set train.eval_every=0 \
    --set train.checkpoint_every=1 > fm.log || fail "train on Fashion-MNIST: $(tail -3 fm.log)"
  expect_error "--samples s.npz holds 32x32x3 images, but fm/ckpt-000000001.safetensors classifies 28x28x1 images" \
    "$diffuse" evaluate --samples s.npz --classifier fm/ckpt-000000001.safetensors
  "$diffuse" train --preset noisy-classifier-fashion-mnist --out fm-noisy --steps 1 --threads 1 --set train.batch=4 \
    --set train.eval_every=0 --set train.checkpoint_every=1 > fm-noisy.log || fail "train noisy on Fashion-MNIST: $(tail -3 fm-noisy.log)"
  expect_error "--classifier: the DDPM checkpoint holds 32x32x3 images, but fm-noisy/ckpt-000000001.safetensors classifies 28x28x1 images" \
    "$diffuse" sample --checkpoint "$ddpm" --per-class 1 --classifier fm-noisy/ckpt-000000001.safetensors --class 1 --out x.png
else
  echo "note: Fashion-MNIST is not installed; the checks of another resolution are skipped"
fi
finish test_image_classifier
