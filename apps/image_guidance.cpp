#include "apps/image_guidance.hpp"

#include <cstdio>
#include <stdexcept>

#include "apps/ddpm_config.hpp"
#include "apps/run_support.hpp"
#include "diffusion/guidance.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;

void require_labels_for(const Tensor& labels, const Tensor& x) {
  if (labels.size(0) != x.size(0))
    throw std::invalid_argument("classifier guidance: " + std::to_string(labels.size(0)) + " labels for a batch of " +
                                std::to_string(x.size(0)));
}
}  // namespace

ClassifierGuidance classifier_guidance(std::shared_ptr<const ImageClassifierModel> classifier, const std::string& path,
                                       const json& ddpm_config, const diffusion::GaussianDiffusion& diffusion, const Tensor& labels,
                                       double scale) {
  if (!classifier->noisy)
    throw std::invalid_argument("--classifier: " + path + " is a clean classifier (classifier.input = clean); guidance needs a "
                                "noise-aware one (preset noisy-classifier-*)");
  const json& model = ddpm_config.at("model");
  const int64_t resolution = model.at("resolution").get<int64_t>();
  classifier->require_images(resolution, resolution, model.at("in_channels").get<int64_t>(), "--classifier: the DDPM checkpoint", path);
  const json& theirs = classifier->config.at("diffusion");
  if (!same_forward_process(theirs, ddpm_config.at("diffusion")))
    throw std::invalid_argument("--classifier: " + path + " learnt on the x_t of " + forward_process_summary(theirs) +
                                ", but the DDPM checkpoint's process is " + forward_process_summary(ddpm_config.at("diffusion")));
  const Tensor ids = labels.contiguous();
  for (int64_t i = 0; i < ids.numel(); ++i)
    if (ids.data<int32_t>()[i] < 0 || ids.data<int32_t>()[i] >= classifier->classes())
      throw std::invalid_argument("--class: " + std::to_string(ids.data<int32_t>()[i]) + " is not a class of " + path + " (classes 0.." +
                                  std::to_string(classifier->classes() - 1) + ")");
  // g = grad_{x_t} sum_b log p_phi(c_b | x_t_b, t_b): the classifier in eval mode (no dropout) needs no randomness.
  const diffusion::ClassLogProb log_prob = [classifier, labels](const Tensor& x, const Tensor& step) {
    require_labels_for(labels, x);
    Philox unused(0);
    return classifier->log_prob(x, step, labels, unused);
  };
  ClassifierGuidance g;
  g.mean = [log_prob, scale](const diffusion::ReverseMoments& p, const Tensor& x_t, const Tensor& step) {
    // Dhariwal & Nichol Algorithm 1: mu + s Sigma g
    return diffusion::classifier_guided_mean(p.mean, p.variance, diffusion::class_log_prob_gradient(log_prob, x_t, step), scale);
  };
  g.eps = [log_prob, scale, &diffusion](const Tensor& eps, const Tensor& x_t, const Tensor& step) {
    // Their Algorithm 2, eq. 14: eps - s sqrt(1 - abar_t) g
    return diffusion::classifier_guided_eps(diffusion, eps, step, diffusion::class_log_prob_gradient(log_prob, x_t, step), scale);
  };
  char s[32];
  std::snprintf(s, sizeof s, "%g", scale);
  g.summary = std::string("classifier guidance s = ") + s + " by " + path + " (noise-aware, " + std::to_string(classifier->classes()) +
              " classes)";
  return g;
}

std::shared_ptr<const ImageClassifierModel> sample_classifier(const SampleOptions& options, const Tensor& labels) {
  if (options.classifier.empty()) {
    if (options.classifier_scale_given) throw std::invalid_argument("--classifier-scale: needs --classifier (the noise-aware classifier)");
    return nullptr;
  }
  const json config = checkpoint_config(options.classifier);
  if (config.value("kind", "") != "image-classifier")
    throw std::invalid_argument("--classifier: " + options.classifier + " is a " + config.value("kind", std::string("?")) +
                                " checkpoint, not an image-classifier");
  if (!labels.defined()) throw std::invalid_argument("--classifier: classifier guidance needs --class (the classes asked for)");
  return load_model_for_inference<ImageClassifierModel>(options.classifier, options.ema);
}


}  // namespace diffuse
