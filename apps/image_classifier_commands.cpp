// The image-classifier verbs of build/diffuse (apps/image_classifier.hpp): train the U-Net's encoder half with
// cross-entropy on the dataset's labels, on clean images (the judge of samples) or on x_t ~ q(x_t | x0) at t
// uniform (the noise-aware guide); evaluate its accuracy on a split. Its checkpoints are what `evaluate --samples
// S.npz --classifier` scores with (clean) and what `sample --classifier` of a DDPM checkpoint guides with (noisy).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "apps/image_classifier.hpp"
#include "apps/image_data.hpp"
#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"
#include "apps/process_group.hpp"
#include "apps/run_support.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// The first n images of a split with their labels.
struct LabeledImages {
  Tensor images;  // [n, C, H, W] in [-1, 1]
  std::vector<int64_t> labels;
};

LabeledImages labeled_images(const json& config, const std::string& data_dir, const std::string& split, int64_t n, const std::string& what) {
  const auto set = load_images(config.at("data").at("dataset").get<std::string>(), data_dir, split);
  LabeledImages out;
  out.images = first_images(*set, split, n > 0 ? n : set->size(), what);
  out.labels.assign(set->labels.begin(), set->labels.begin() + out.images.size(0));
  return out;
}

// Right answers in all, and for a noisy classifier in each quarter of 1..T (the t each image was drawn at).
struct Accuracy {
  int64_t right = 0, total = 0;
  std::vector<int64_t> band_right = std::vector<int64_t>(4, 0), band_total = std::vector<int64_t>(4, 0);
  static double share(int64_t r, int64_t n) { return n > 0 ? static_cast<double>(r) / static_cast<double>(n) : 0.0; }
  double value() const { return share(right, total); }
  double standard_error() const { return std::sqrt(value() * (1 - value()) / static_cast<double>(std::max<int64_t>(total, 1))); }
};

// Accuracy on images in batches: a clean classifier reads them; a noisy one reads x_t at t uniform on 1..T,
// drawn from rng batch by batch (noisy_batch).
Accuracy classifier_accuracy(const ImageClassifierModel& m, const LabeledImages& data, int64_t batch, Philox& rng, Progress* progress) {
  NoGradGuard no_grad;
  Accuracy a;
  const int64_t n = data.images.size(0);
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min(n, begin + batch);
    Tensor x = data.images.slice(0, begin, end), step;
    if (m.noisy) {
      const NoisyBatch nb = noisy_batch(m, x, rng);
      x = nb.x_t;
      step = nb.step;
    }
    const Tensor z = m.logits(x, step, rng).to(DType::F64).contiguous();
    for (int64_t i = 0; i < end - begin; ++i) {
      const double* row = z.data<double>() + i * z.size(1);
      const int64_t best = std::max_element(row, row + z.size(1)) - row;
      const bool right = best == data.labels[static_cast<size_t>(begin + i)];
      a.right += right;
      ++a.total;
      if (m.noisy) {
        const int64_t band = step.data<int32_t>()[i] * 4 / m.diffusion->timesteps();
        a.band_right[static_cast<size_t>(band)] += right;
        ++a.band_total[static_cast<size_t>(band)];
      }
    }
    if (progress) progress->advance();
  }
  return a;
}

class ImageClassifierTraining : public ImageTrainingTask {
 public:
  ImageClassifierTraining(const json& config, const std::string& data_dir)
      : ImageTrainingTask(config, data_dir), seed_(config.at("seed").get<uint64_t>()), model_(config, seed_) {
    const EvaluationSchedule schedule = evaluation_schedule(config.at("train"));
    if (schedule.enabled()) held_out_ = labeled_images(config, data_dir, "test", schedule.items, "train.eval_items");
    const data::ImageSet& set = *data_.train_set;
    model_.require_images(set.height(), set.width(), set.channels(), "the training set " + set.source, "this configuration");
    model_.net.train();
  }

  nn::ParameterArena& arena() override { return model_.arena; }
  void draw_batch(int64_t b) override {
    const data::ImageBatch batch = data_.batches.next(b);
    labels_ = batch.labels;
    x_ = batch.images;
    step_ = Tensor();
    if (model_.noisy) {
      const NoisyBatch nb = noisy_batch(model_, x_, data_.streams.diffusion);
      x_ = nb.x_t;
      step_ = nb.step;
    }
  }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const Tensor z = model_.logits(x_.slice(0, begin, end), model_.noisy ? step_.slice(0, begin, end) : Tensor(), data_.streams.dropout);
    const Tensor loss = cross_entropy(z, labels_.slice(0, begin, end), Reduction::Mean);
    (loss * weight).backward();
    return {loss.item(), {loss.item()}};
  }
  std::vector<std::string> loss_part_names() const override { return {"CE"}; }
  // A classifier has no samples: the confusion matrix of the held-out images (rows: the true class).
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    fs::create_directories(dir);
    const fs::path path = dir / ("step-" + std::to_string(step) + ".txt");
    std::string text = "(no held-out images: set train.eval_every)\n";
    if (held_out_.images.defined()) {
      model_.net.eval();
      Philox rng(seed_, kSamples);
      const int64_t K = model_.classes();
      std::vector<int64_t> counts(static_cast<size_t>(K * K), 0);
      NoGradGuard no_grad;
      const int64_t n = held_out_.images.size(0), batch = model_.config.at("train").at("batch").get<int64_t>();
      for (int64_t begin = 0; begin < n; begin += batch) {
        const int64_t end = std::min(n, begin + batch);
        Tensor x = held_out_.images.slice(0, begin, end), s;
        if (model_.noisy) {  // the cleanest x_t: t = 1
          s = diffusion::step_tensor(end - begin, 0);
          x = model_.diffusion->q_sample(x, s, randn(x.shape(), rng));
        }
        const Tensor z = model_.logits(x, s, rng).to(DType::F64).contiguous();
        for (int64_t i = 0; i < end - begin; ++i) {
          const double* row = z.data<double>() + i * K;
          counts[static_cast<size_t>(held_out_.labels[static_cast<size_t>(begin + i)] * K + (std::max_element(row, row + K) - row))]++;
        }
      }
      model_.net.train();
      text = std::string("confusion matrix of ") + std::to_string(n) + " test images" + (model_.noisy ? " at t = 1" : "") +
             " (row: true class, column: predicted)\n";
      for (int64_t r = 0; r < K; ++r) {
        for (int64_t c = 0; c < K; ++c) text += (c ? " " : "") + std::to_string(counts[static_cast<size_t>(r * K + c)]);
        text += "\n";
      }
    }
    write_text_atomically(path, text);
    return {path, ""};
  }
  // Test accuracy of the first train.eval_items test images (noisy: at t uniform), as `diffuse evaluate`.
  EvaluationRecord evaluate(int64_t items) override {
    model_.net.eval();
    Philox rng(seed_, kEval);
    LabeledImages first{held_out_.images.slice(0, 0, std::min(items, held_out_.images.size(0))), held_out_.labels};
    const Accuracy a = classifier_accuracy(model_, first, model_.config.at("train").at("batch").get<int64_t>(), rng, nullptr);
    model_.net.train();
    return {.split = "test", .items = a.total, .item_noun = "images", .figure = "accuracy", .value = a.value(),
            .standard_error = a.standard_error(), .method = model_.noisy ? "t uniform" : "clean"};
  }

 private:
  uint64_t seed_;
  ImageClassifierModel model_;
  LabeledImages held_out_;  // the first train.eval_items test images, when the run evaluates
  Tensor x_, step_, labels_;  // the drawn batch (x_t and step for a noisy classifier)
};

}  // namespace

static std::optional<int64_t> image_classifier_parameter_count(const json& config) {
  return ImageClassifierModel(config, 0).net.parameter_count();
}

// A noisy classifier naming its DDPM run (classifier.ddpm) takes that run's diffusion section; the run must be
// on the same dataset, resolution and channels.
static std::unique_ptr<TrainingTask> make_image_classifier_training(json& config, const std::string& data_dir) {
  const std::string ddpm = config.at("classifier").value("ddpm", std::string());
  if (config.at("classifier").at("input") == "noisy" && !ddpm.empty()) {
    const json guided = checkpoint_config(ddpm);
    if (guided.at("kind") != "ddpm")
      throw std::invalid_argument("classifier.ddpm: " + ddpm + " is a " + guided.at("kind").get<std::string>() + " checkpoint, not ddpm");
    const json &mine = config.at("model"), &theirs = guided.at("model");
    for (const char* key : {"resolution", "in_channels"})
      if (mine.at(key) != theirs.at(key))
        throw std::invalid_argument("classifier.ddpm: " + ddpm + " has model." + key + " = " + theirs.at(key).dump() +
                                    ", this classifier model." + key + " = " + mine.at(key).dump() + " (--set model." + key + "=...)");
    if (config.at("data").at("dataset") != guided.at("data").at("dataset"))
      throw std::invalid_argument("classifier.ddpm: " + ddpm + " was trained on " + guided.at("data").at("dataset").dump() +
                                  ", this classifier on " + config.at("data").at("dataset").dump());
    config["diffusion"] = guided.at("diffusion");
  }
  return std::make_unique<ImageClassifierTraining>(config, data_dir);
}

static int run_image_classifier_sample(const SampleOptions& options) {
  throw std::invalid_argument(options.checkpoint + " is an image classifier: it does not sample; a noisy one guides `sample "
                              "--classifier` of a ddpm checkpoint, a clean one scores samples in `evaluate --samples S.npz --classifier`");
}

// Accuracy on the first --images (default all) images of a split: a noisy classifier at t uniform on 1..T, also by
// quarter of 1..T.
static int run_image_classifier_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty() || options.steps != 0 || options.estimate || !options.terms_out.empty())
    throw std::invalid_argument("--rate-distortion, --terms-out, --steps and --estimate: not for an image classifier (it reports accuracy)");
  if (options.split != "test" && options.split != "train") throw std::invalid_argument("--split: 'test' or 'train', got '" + options.split + "'");
  const auto m = load_model_for_inference<ImageClassifierModel>(options.checkpoint, options.ema);
  const LabeledImages data = labeled_images(m->config, options.data_dir, options.split, options.items, "--images");
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  Philox rng(options.seed, kEval);
  const auto start = std::chrono::steady_clock::now();
  const auto progress = evaluation_progress("evaluate", (data.images.size(0) + batch - 1) / batch, options.quiet);
  const Accuracy a = classifier_accuracy(*m, data, batch, rng, progress.get());
  progress->finish();
  const double seconds = seconds_since(start);
  if (!ProcessGroup::world().is_root()) return 0;
  const int64_t T = m->noisy ? m->diffusion->timesteps() : 0;
  auto band_name = [&](int64_t b) { return "t " + std::to_string(b * T / 4 + 1) + ".." + std::to_string((b + 1) * T / 4); };
  if (options.json) {
    json j = {{"accuracy", a.value()}, {"stderr", a.standard_error()}, {"images", a.total}, {"split", options.split},
              {"input", m->noisy ? "noisy, t uniform" : "clean"}, {"seconds", seconds}, {"checkpoint", options.checkpoint}};
    if (m->noisy)
      for (int64_t b = 0; b < 4; ++b) j["accuracy_by_t"][band_name(b)] = Accuracy::share(a.band_right[static_cast<size_t>(b)], a.band_total[static_cast<size_t>(b)]);
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("accuracy %.4f (+- %.4f standard error) on %lld %s images (%s), %.0f s\n", a.value(), a.standard_error(),
              static_cast<long long>(a.total), options.split.c_str(), m->noisy ? "x_t at t uniform on 1..T" : "clean", seconds);
  if (m->noisy)
    for (int64_t b = 0; b < 4; ++b)
      std::printf("  %s: %.4f on %lld images\n", band_name(b).c_str(),
                  Accuracy::share(a.band_right[static_cast<size_t>(b)], a.band_total[static_cast<size_t>(b)]),
                  static_cast<long long>(a.band_total[static_cast<size_t>(b)]));
  return 0;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kImageClassifierFamily = {
    .kind = "image-classifier",
    .description = "an image classifier (the U-Net's encoder half, pooled): clean (the judge of samples) or noise-aware (the guide)",
    .read_config = image_classifier_parameter_count,
    .make_training = make_image_classifier_training,
    .network_metadata = image_classifier_network_metadata,
    .sample = run_image_classifier_sample,
    .sample_flags = {},
    .evaluate = run_image_classifier_evaluate,
};

}  // namespace diffuse
