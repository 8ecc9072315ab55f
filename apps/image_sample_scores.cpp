#include "apps/image_sample_scores.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "apps/image_classifier.hpp"
#include "apps/image_data.hpp"
#include "apps/process_group.hpp"
#include "apps/run_support.hpp"
#include "data/image_batches.hpp"
#include "data/npz_reader.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;

// Images [n, C, H, W] in [-1, 1] from bytes, as the data loaders scale them (b / 127.5 - 1).
Tensor first_of(const data::U8Array& images, int64_t n, const std::string& source) {
  data::ImageSet set{images, std::vector<uint8_t>(static_cast<size_t>(images.shape.at(0)), 0), source, {}};
  std::vector<int64_t> first(static_cast<size_t>(n));
  std::iota(first.begin(), first.end(), 0);
  return data::make_image_batch(set, first).images;
}
}  // namespace

int run_image_sample_scores(const EvaluateOptions& options) {
  if (options.classifier.empty()) throw std::invalid_argument("evaluate --samples S.npz: --classifier, the clean image classifier, is required");
  const json config = checkpoint_config(options.classifier);
  if (config.value("kind", "") != "image-classifier")
    throw std::invalid_argument("--classifier: " + options.classifier + " is a " + config.value("kind", std::string("?")) +
                                " checkpoint, not an image-classifier");
  require_data_path(config, options.data_dir);
  const auto m = load_model_for_inference<ImageClassifierModel>(options.classifier, options.ema);
  if (m->noisy)
    throw std::invalid_argument("--classifier: " + options.classifier + " is a noise-aware classifier (classifier.input = noisy); "
                                "the scores use a clean one (preset classifier-*)");
  const std::string dataset = config.at("data").at("dataset").get<std::string>();
  // The samples (or, for the floor, the training images) and their labels.
  Tensor generated;
  std::vector<int64_t> wanted;
  std::string what;
  int64_t n = options.items;
  if (options.fd_floor) {
    const auto train = load_images(dataset, options.data_dir, "train");
    if (n == 0) n = std::min<int64_t>(10000, train->size());
    generated = first_images(*train, "train", n, "--n");
    what = "the first " + std::to_string(n) + " training images";
  } else {
    const data::SampleArchive archive = data::read_sample_npz(options.samples);
    const Shape& s = archive.images.shape;  // [N, C, H, W]
    m->require_images(s[2], s[3], s[1], "--samples " + options.samples, options.classifier);
    if (n == 0) n = s[0];
    if (n > s[0])
      throw std::invalid_argument("--n: " + std::to_string(n) + " requested but " + options.samples + " holds " + std::to_string(s[0]) + " samples");
    generated = first_of(archive.images, n, options.samples);
    if (!archive.labels.empty()) wanted.assign(archive.labels.begin(), archive.labels.begin() + n);
    what = std::to_string(n) + " samples of " + options.samples;
  }
  const auto test = load_images(dataset, options.data_dir, "test");
  const Tensor reference = first_images(*test, "test", n, "--n");
  const std::vector<int64_t> reference_labels(test->labels.begin(), test->labels.begin() + n);

  const int64_t batch = options.batch > 0 ? options.batch : 250;
  const auto progress = evaluation_progress("features", 2 * ((n + batch - 1) / batch), options.quiet);
  const auto start = std::chrono::steady_clock::now();
  const ImageSampleScores s = score_image_samples(*m, generated, wanted, reference, reference_labels, options.neighbours, batch,
                                                  [&] { progress->advance(); });
  progress->finish();
  const double seconds = seconds_since(start);
  if (!ProcessGroup::world().is_root()) return 0;
  if (options.json) {
    json j = {{"fd_classifier", s.fd.value}, {"fd_mean_term", s.fd.mean_term}, {"fd_trace_term", s.fd.trace_term},
              {"precision", s.pr.precision}, {"recall", s.pr.recall}, {"k", s.pr.k},
              {"class_accuracy", s.labelled ? json(s.class_accuracy) : json(nullptr)}, {"reference_accuracy", s.reference_accuracy},
              {"images", s.images}, {"features", s.feature_dim}, {"samples", options.fd_floor ? "train" : options.samples},
              {"reference", "test"}, {"classifier", options.classifier}, {"seconds", seconds}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("FD-classifier %.4f between %s and the first %lld test images of %s, in the %lld penultimate features of %s "
              "(mean term %.4f, trace term %.4f; not FID: comparable only with FD-classifier of the same classifier and N)\n",
              s.fd.value, what.c_str(), static_cast<long long>(n), dataset.c_str(), static_cast<long long>(s.feature_dim),
              options.classifier.c_str(), s.fd.mean_term, s.fd.trace_term);
  std::printf("precision %.4f, recall %.4f (Kynkaanniemi et al. 2019, k = %lld)\n", s.pr.precision, s.pr.recall,
              static_cast<long long>(s.pr.k));
  if (s.labelled) std::printf("class accuracy %.4f (the classifier's class is the one asked for, %lld labelled samples)\n", s.class_accuracy,
                              static_cast<long long>(n));
  else if (!options.fd_floor) std::printf("class accuracy: none (%s holds no 'labels')\n", options.samples.c_str());
  std::printf("the classifier's accuracy on the %lld test images: %.4f; %.0f s\n", static_cast<long long>(n), s.reference_accuracy, seconds);
  return 0;
}

}  // namespace diffuse
