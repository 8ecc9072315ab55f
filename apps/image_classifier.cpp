#include "apps/image_classifier.hpp"

#include <stdexcept>

#include "apps/command_options.hpp"
#include "apps/ddpm_config.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;

bool reads_noisy_images(const json& config) {
  const std::string input = config.at("classifier").at("input").get<std::string>();
  if (input != "noisy" && input != "clean") throw std::invalid_argument("classifier.input: 'noisy' or 'clean', got '" + input + "'");
  return input == "noisy";
}

nn::UNetEncoderConfig classifier_network(const json& config, bool noisy) {
  const nn::UNetEncoderConfig c = nn::UNetEncoderConfig::from_json(config.at("model"));
  if (c.time_embedding != noisy)
    throw std::invalid_argument(std::string("model.time_embedding: a ") + (noisy ? "noisy" : "clean") + " classifier " +
                                (noisy ? "reads t (true)" : "reads no t (false)") + ", got " + (c.time_embedding ? "true" : "false"));
  return c;
}
}  // namespace

ImageClassifierModel::ImageClassifierModel(const json& config, uint64_t seed)
    : config(config), noisy(reads_noisy_images(config)), init_rng(seed, kInit), net(classifier_network(config, noisy), init_rng), arena(net) {
  if (noisy) {
    if (!config.contains("diffusion"))
      throw std::invalid_argument("a noisy classifier needs the \"diffusion\" section of the DDPM run it guides (classifier.ddpm)");
    diffusion = std::make_unique<const diffusion::GaussianDiffusion>(diffusion_config(config.at("diffusion")));
  }
}

std::string ImageClassifierModel::image_shape() const {
  return std::to_string(resolution()) + "x" + std::to_string(resolution()) + "x" + std::to_string(channels());
}

Tensor ImageClassifierModel::logits(const Tensor& x, const Tensor& step, Philox& rng) const {
  if (noisy && step.defined()) {
    const Tensor s = step.contiguous();
    for (int64_t b = 0; b < s.numel(); ++b)
      if (s.data<int32_t>()[b] < 0 || s.data<int32_t>()[b] >= diffusion->timesteps())
        throw std::invalid_argument("image classifier: step " + std::to_string(s.data<int32_t>()[b]) + " (t - 1) is outside 0.." +
                                    std::to_string(diffusion->timesteps() - 1) + " of its diffusion");
  }
  return net.forward(x, step, rng);
}

Tensor ImageClassifierModel::log_prob(const Tensor& x, const Tensor& step, const Tensor& labels, Philox& rng) const {
  return -cross_entropy(logits(x, step, rng), labels, Reduction::None);  // log softmax(z)_c = -CE(z, c)
}

void ImageClassifierModel::require_images(int64_t height, int64_t width, int64_t channels_, const std::string& what,
                                          const std::string& path) const {
  if (height == resolution() && width == resolution() && channels_ == channels()) return;
  throw std::invalid_argument(what + " holds " + std::to_string(height) + "x" + std::to_string(width) + "x" + std::to_string(channels_) +
                              " images, but " + path + " classifies " + image_shape() + " images");
}

NoisyBatch noisy_batch(const ImageClassifierModel& m, const Tensor& x0, Philox& rng) {
  NoGradGuard no_grad;
  NoisyBatch b;
  b.step = diffusion::sample_steps(x0.size(0), m.diffusion->timesteps(), rng);
  b.x_t = m.diffusion->q_sample(x0, b.step, randn(x0.shape(), rng, x0.dtype()));
  return b;
}

ClassifierOutputs classify_images(const ImageClassifierModel& m, const Tensor& images, int64_t batch, const std::function<void()>& on_batch) {
  if (m.noisy) throw std::invalid_argument("classify_images: features and predictions come from a clean classifier");
  NoGradGuard no_grad;
  Philox unused(0);
  const int64_t n = images.size(0);
  std::vector<Tensor> features;
  ClassifierOutputs out;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min(n, begin + batch);
    const Tensor f = m.net.features(images.slice(0, begin, end), Tensor(), unused);
    const Tensor z = m.net.head(f).to(DType::F64).contiguous();
    for (int64_t i = 0; i < end - begin; ++i) {
      const double* row = z.data<double>() + i * z.size(1);
      int64_t best = 0;
      for (int64_t k = 1; k < z.size(1); ++k)
        if (row[k] > row[best]) best = k;
      out.predicted.push_back(best);
    }
    features.push_back(f.to(DType::F64));
    if (on_batch) on_batch();
  }
  out.features = concat(features, 0);
  return out;
}

ImageSampleScores score_image_samples(const ImageClassifierModel& m, const Tensor& samples, const std::vector<int64_t>& wanted,
                                      const Tensor& reference, const std::vector<int64_t>& reference_labels, int64_t k, int64_t batch,
                                      const std::function<void()>& on_batch) {
  const ClassifierOutputs generated = classify_images(m, samples, batch, on_batch);
  const ClassifierOutputs real = classify_images(m, reference, batch, on_batch);
  ImageSampleScores s;
  s.images = samples.size(0);
  s.feature_dim = generated.features.size(1);
  s.fd = metrics::frechet_distance(metrics::fit_gaussian(real.features), metrics::fit_gaussian(generated.features));
  s.pr = metrics::precision_recall(real.features, generated.features, k);
  s.reference_accuracy = metrics::class_accuracy(real.predicted, reference_labels);
  s.labelled = !wanted.empty();
  if (s.labelled) {
    for (size_t i = 0; i < wanted.size(); ++i)
      if (wanted[i] >= m.classes())
        throw std::invalid_argument("--samples: label " + std::to_string(wanted[i]) + " of sample " + std::to_string(i) +
                                    " is not a class of the classifier (0.." + std::to_string(m.classes() - 1) + ")");
    s.class_accuracy = metrics::class_accuracy(generated.predicted, wanted);
  }
  return s;
}

}  // namespace diffuse
