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

std::optional<ClassifierGuidance> sample_guidance(const SampleOptions& options, const json& ddpm_config,
                                                  const diffusion::GaussianDiffusion& diffusion, int64_t n) {
  if (options.classifier.empty()) {
    if (options.classifier_scale_given) throw std::invalid_argument("--classifier-scale: needs --classifier (the noise-aware classifier)");
    return std::nullopt;
  }
  const json config = checkpoint_config(options.classifier);
  if (config.value("kind", "") != "image-classifier")
    throw std::invalid_argument("--classifier: " + options.classifier + " is a " + config.value("kind", std::string("?")) +
                                " checkpoint, not an image-classifier");
  if (options.class_labels.empty()) throw std::invalid_argument("--classifier: classifier guidance needs --class (the classes asked for)");
  std::shared_ptr<const ImageClassifierModel> classifier = load_model_for_inference<ImageClassifierModel>(options.classifier, options.ema);
  const Tensor labels = parse_class_labels(options.class_labels, n, classifier->classes());
  return classifier_guidance(classifier, options.classifier, ddpm_config, diffusion, labels, options.classifier_scale);
}

Tensor parse_class_labels(const std::string& spec, int64_t n, int64_t classes) {
  const std::string range = "--class: class ids 0.." + std::to_string(classes - 1) + ", one or separated by commas";
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t comma = std::min(spec.find(',', start), spec.size());
    const std::string item = spec.substr(start, comma - start);
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || id < 0 || id >= classes) throw std::invalid_argument(range + ", got '" + item + "'");
    ids.push_back(static_cast<int32_t>(id));
    start = comma + 1;
  }
  if (static_cast<int64_t>(ids.size()) > n)
    throw std::invalid_argument("--class: " + std::to_string(ids.size()) + " classes for " + std::to_string(n) + " samples (--n)");
  std::vector<int32_t> labels(static_cast<size_t>(n));
  const int64_t L = static_cast<int64_t>(ids.size());
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = ids[static_cast<size_t>(i * L / n)];
  return Tensor::from_vector(labels, {n});
}

}  // namespace diffuse
