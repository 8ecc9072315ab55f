#include "apps/image_data.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "data/cifar10.hpp"
#include "data/idx.hpp"
#include "data/image_io.hpp"

namespace diffuse {

std::shared_ptr<const data::ImageSet> load_images(const std::string& dataset, const std::string& dir, const std::string& split) {
  data::ImageSet set;
  if (dataset == "cifar10") {
    set = data::load_cifar10(dir, split == "test" ? data::CifarSplit::Test : data::CifarSplit::Train);
  } else if (dataset == "fashion-mnist") {
    set = data::load_fashion_mnist(split == "test" ? data::FashionSplit::Test : data::FashionSplit::Train,
                                   dir.empty() ? data::kFashionMnistDefaultDir : dir);
  } else {
    throw std::invalid_argument("--set data.dataset: unknown dataset '" + dataset + "' (cifar10 or fashion-mnist)");
  }
  for (const std::string& note : set.notes) std::printf("note: %s\n", note.c_str());
  return std::make_shared<const data::ImageSet>(std::move(set));
}

Tensor first_images(const data::ImageSet& set, const std::string& split, int64_t n, const std::string& what) {
  if (n > set.size())
    throw std::invalid_argument(what + ": " + std::to_string(n) + " requested but the " + split + " split of " + set.source +
                                " has " + std::to_string(set.size()));
  std::vector<int64_t> first(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) first[static_cast<size_t>(i)] = i;
  return data::make_image_batch(set, first).images;
}

Tensor held_out_images(const nlohmann::json& config, const std::string& data_dir) {
  const EvaluationSchedule schedule = evaluation_schedule(config.at("train"));
  if (!schedule.enabled()) return {};
  const auto test = load_images(config.at("data").at("dataset").get<std::string>(), data_dir, "test");
  return first_images(*test, "test", schedule.items, "train.eval_items");
}

EvaluationRecord test_images_record(int64_t images, double bits_per_dim, double standard_error, const std::string& method) {
  return {.split = "test", .items = images, .item_noun = "images", .figure = "bits_per_dim", .value = bits_per_dim,
          .standard_error = standard_error, .method = method};
}

void write_image_grid(const std::string& path, const Tensor& x, int64_t columns, int64_t scale) {
  constexpr int64_t padding = 2;
  const int64_t shown_columns = std::min(columns > 0 ? columns : square_columns(x.size(0)), x.size(0));
  if (scale == 0) scale = data::grid_scale_for_width(shown_columns, x.size(3), padding, kReadableGridWidth);
  data::write_png_grid(path, data::tensor_to_u8(x), columns, padding, scale);
}
void write_image_npz(const std::string& path, const Tensor& x) {
  data::write_npz(path, {{"arr_0", data::nchw_to_nhwc(data::tensor_to_u8(x))}});
}

ImageTrainingData::ImageTrainingData(const nlohmann::json& config, const std::string& data_dir)
    : train_set(load_images(config.at("data").at("dataset").get<std::string>(), data_dir, "train")),
      batches(train_set, {.seed = config.at("seed").get<uint64_t>(),
                          .flip_probability = config.at("train").at("random_flip").get<bool>() ? 0.5 : 0.0}),
      streams(config.at("seed").get<uint64_t>()) {}

std::map<std::string, std::string> ImageTrainingData::state() const {
  std::map<std::string, std::string> s = streams.state();
  s["data.position"] = nlohmann::json(batches.state().to_strings()).dump();
  return s;
}

void ImageTrainingData::restore(const std::map<std::string, std::string>& meta, const std::string& path) {
  if (!meta.count("data.position")) throw std::runtime_error(path + ": the checkpoint records no data position");
  batches.restore(data::ImageSamplerState::from_strings(nlohmann::json::parse(meta.at("data.position"))));
  streams.restore(meta, path);
}

std::string ImageTrainingData::summary() const { return std::to_string(train_set->size()) + " training images"; }

int64_t square_columns(int64_t n) { return static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n)))); }

}  // namespace diffuse
