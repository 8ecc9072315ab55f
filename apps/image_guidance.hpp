// Classifier guidance of the DDPM family's `sample` (Dhariwal & Nichol 2021; docs/math.md §10.6):
//
//   diffuse sample --checkpoint DDPM --classifier NOISY --classifier-scale s --class c [--sampler ...]
//
// A noise-aware image classifier p_phi(c | x_t, t) (apps/image_classifier.hpp, classifier.input = noisy) gives
// g = grad_{x_t} log p_phi(c | x_t, t) at every step, by backward through the classifier (diffusion/guidance.hpp
// class_log_prob_gradient), and
//   the ancestral sampler (their Algorithm 1) draws x_{t-1} around mu_theta(x_t, t) + s Sigma g, Sigma the step's
//     fixed variance (classifier_guided_mean, through diffusion/ddpm_sampler.hpp's MeanGuidance hook);
//   DDIM and DPM-Solver++ (their Algorithm 2, eq. 14) use eps_theta(x_t, t) - s sqrt(1 - abar_t) g
//     (classifier_guided_eps, through diffusion/ddim_sampler.hpp's EpsGuidance hook).
// The classifier must read the DDPM's images (resolution, channels) and have learnt on its forward process (T and
// betas); --class must be one of its classes. Each refusal names both sides.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "apps/command_options.hpp"
#include "apps/image_classifier.hpp"
#include "diffusion/ddim_sampler.hpp"
#include "diffusion/ddpm_sampler.hpp"

namespace diffuse {

struct ClassifierGuidance {
  diffusion::MeanGuidance mean;  // for the ancestral sampler
  diffusion::EpsGuidance eps;    // for DDIM and DPM-Solver++
  std::string summary;           // "classifier guidance s = 3 by PATH (noise-aware, 10 classes)"
};

// The hooks of a loaded noisy classifier (named `path` in messages) guiding towards labels (int32 [N], one per
// sample) at scale s, for the DDPM of `ddpm_config` whose process is `diffusion`. Throws std::invalid_argument
// naming --classifier when the classifier is clean, reads other images or learnt on another forward process.
ClassifierGuidance classifier_guidance(std::shared_ptr<const ImageClassifierModel> classifier, const std::string& path,
                                       const nlohmann::json& ddpm_config, const diffusion::GaussianDiffusion& diffusion,
                                       const Tensor& labels, double scale);

// From `sample`'s options: none without --classifier (refusing --classifier-scale alone); else the classifier
// loaded from options.classifier (its EMA weights unless --raw-weights), once for all chunks; `labels` (int32 [n],
// the classes of --class) must be given. Its hooks for a chunk's labels come from classifier_guidance.
std::shared_ptr<const ImageClassifierModel> sample_classifier(const SampleOptions& options, const Tensor& labels);

}  // namespace diffuse
