// The image classifiers of the `image-classifier` family (docs/math.md §10.1-§10.2): the U-Net's encoder half,
// global average pooling and a linear head (nn/unet_encoder.hpp), in two kinds set by classifier.input:
//
//   clean  reads clean images and no t: a small pre-activation ResNet with GroupNorm, trained with cross-entropy
//          on the dataset's labels. Its penultimate features (the pooled [B, C] before the head) are the space of
//          FD-classifier, precision and recall, and its predictions give the class accuracy of conditional
//          samples (apps/image_sample_scores.hpp). Never used for guidance.
//   noisy  the noise-aware p_phi(c | x_t, t) of classifier guidance (Dhariwal & Nichol 2021, §4.1): it also
//          reads t - 1 through the U-Net's timestep embedding, and learns on x_t ~ q(x_t | x0) at t uniform on
//          1..T under the forward process of its "diffusion" section, the DDPM run's own: classifier.ddpm names
//          that run's checkpoint, whose diffusion section a new run copies, refusing one for another dataset,
//          resolution or number of channels (apps/image_guidance.hpp refuses guiding another process).
//
// Both take the dataset's labels 0..classes-1 (model.classes: 10 for Fashion-MNIST and CIFAR-10).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diffusion/gaussian_diffusion.hpp"
#include "metrics/feature_metrics.hpp"
#include "nn/arena.hpp"
#include "nn/unet_encoder.hpp"
#include "tensor/random.hpp"

namespace diffuse {

struct ImageClassifierModel {
  // config: a resolved image-classifier configuration (throws naming the field when it is not one).
  ImageClassifierModel(const nlohmann::json& config, uint64_t seed);
  nlohmann::json config;
  bool noisy;  // classifier.input: "noisy" reads x_t and t; "clean" clean images
  Philox init_rng;
  nn::UNetEncoder net;
  nn::ParameterArena arena;
  std::unique_ptr<const diffusion::GaussianDiffusion> diffusion;  // noisy: the forward process of its x_t

  int64_t classes() const { return net.config().classes; }
  int64_t channels() const { return net.config().in_channels; }
  int64_t resolution() const { return net.config().resolution; }
  std::string image_shape() const;  // "28x28x1": height x width x channels, as the .npz stores them

  // x [B, C, R, R] in [-1, 1] (noisy: x_t) and, for a noisy classifier, step int32 [B] = t - 1 in 0..T-1 (checked:
  // out of range throws naming T); a clean one takes an undefined step. -> logits [B, classes].
  Tensor logits(const Tensor& x, const Tensor& step, Philox& rng) const;
  // log p_phi(c_b | x_b, t_b) per row [B], differentiable in x: labels int32 [B] in 0..classes-1.
  Tensor log_prob(const Tensor& x, const Tensor& step, const Tensor& labels, Philox& rng) const;
  // Throws std::invalid_argument unless images of height x width x channels are this classifier's:
  // "<what> holds 32x32x3 images, but <path> classifies 28x28x1 images".
  void require_images(int64_t height, int64_t width, int64_t channels, const std::string& what, const std::string& path) const;
};

// x_t = q_sample(x0, step, noise) for a noisy classifier's training and evaluation: x0 [B, C, R, R], step drawn
// uniform on 0..T-1 and the noise from rng, in that order. Returns {x_t, step}.
struct NoisyBatch {
  Tensor x_t, step;
};
NoisyBatch noisy_batch(const ImageClassifierModel& m, const Tensor& x0, Philox& rng);

// A clean classifier's outputs on images [N, C, R, R] in [-1, 1], in batches without a tape: the penultimate
// features [N, C'] (float64) and the most probable class of each image. on_batch (may be empty) after each batch.
struct ClassifierOutputs {
  Tensor features;
  std::vector<int64_t> predicted;
};
ClassifierOutputs classify_images(const ImageClassifierModel& m, const Tensor& images, int64_t batch,
                                  const std::function<void()>& on_batch = {});

// The scores of samples against reference images in a clean classifier's features (apps/image_sample_scores.hpp,
// metrics/feature_metrics.hpp).
struct ImageSampleScores {
  int64_t images = 0;            // N in each set
  int64_t feature_dim = 0;
  metrics::FrechetDistance fd;   // FD-classifier
  metrics::PrecisionRecall pr;
  bool labelled = false;         // the samples carried labels
  double class_accuracy = 0;     // when labelled
  double reference_accuracy = 0; // the classifier's accuracy on the N reference (test) images
};

// The scores of samples [N, C, H, W] in [-1, 1] (with wanted labels, or empty) against reference images [N, ...]
// with their labels, in classifier m's features, k as precision_recall's; on_batch after each network evaluation.
ImageSampleScores score_image_samples(const ImageClassifierModel& m, const Tensor& samples, const std::vector<int64_t>& wanted,
                                      const Tensor& reference, const std::vector<int64_t>& reference_labels, int64_t k,
                                      int64_t batch, const std::function<void()>& on_batch = {});

}  // namespace diffuse
