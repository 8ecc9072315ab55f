#include "apps/image_data.hpp"

#include <algorithm>
#include <cctype>
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

data::ImageBatch first_image_batch(const data::ImageSet& set, const std::string& split, int64_t n, const std::string& what) {
  if (n > set.size())
    throw std::invalid_argument(what + ": " + std::to_string(n) + " requested but the " + split + " split of " + set.source +
                                " has " + std::to_string(set.size()));
  std::vector<int64_t> first(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) first[static_cast<size_t>(i)] = i;
  return data::make_image_batch(set, first);
}
Tensor first_images(const data::ImageSet& set, const std::string& split, int64_t n, const std::string& what) {
  return first_image_batch(set, split, n, what).images;
}

data::ImageBatch held_out_image_batch(const nlohmann::json& config, const std::string& data_dir) {
  const EvaluationSchedule schedule = evaluation_schedule(config.at("train"));
  if (!schedule.enabled()) return {};
  const auto test = load_images(config.at("data").at("dataset").get<std::string>(), data_dir, "test");
  return first_image_batch(*test, "test", schedule.items, "train.eval_items");
}
Tensor held_out_images(const nlohmann::json& config, const std::string& data_dir) {
  return held_out_image_batch(config, data_dir).images;
}

// ---- classes ---------------------------------------------------------------------------------------

std::vector<std::string> image_class_names(const std::string& dataset) {
  if (dataset == "cifar10") return {data::kCifarClassNames.begin(), data::kCifarClassNames.end()};
  if (dataset == "fashion-mnist") return {data::kFashionMnistClassNames.begin(), data::kFashionMnistClassNames.end()};
  throw std::invalid_argument("--set data.dataset: unknown dataset '" + dataset + "' (cifar10 or fashion-mnist)");
}

std::string list_classes(int64_t num_classes, const std::vector<std::string>& names) {
  const bool named = static_cast<int64_t>(names.size()) == num_classes;
  std::string out;
  for (int64_t c = 0; c < num_classes; ++c)
    out += (c ? ", " : "") + std::to_string(c) + (named ? " " + names[static_cast<size_t>(c)] : "");
  return out;
}

namespace {
// Letters and digits only, lower case: "Ankle boot" -> "ankleboot", "T-shirt" -> "tshirt".
std::string class_key(const std::string& s) {
  std::string k;
  for (const unsigned char ch : s)
    if (std::isalnum(ch)) k += static_cast<char>(std::tolower(ch));
  return k;
}
}  // namespace

std::vector<int32_t> parse_classes(const std::vector<std::string>& specs, int64_t num_classes,
                                   const std::vector<std::string>& names, const std::string& flag) {
  const bool named = static_cast<int64_t>(names.size()) == num_classes;
  auto refuse = [&](const std::string& spec, const std::string& why) {
    throw std::invalid_argument(flag + " " + spec + ": " + why + "; the classes are " + list_classes(num_classes, names));
  };
  std::vector<int32_t> ids;
  for (const std::string& list : specs) {
    size_t start = 0;
    while (start <= list.size()) {
      const size_t comma = std::min(list.find(',', start), list.size());
      const std::string spec = list.substr(start, comma - start);
      start = comma + 1;
      if (!spec.empty() && std::all_of(spec.begin(), spec.end(), [](unsigned char ch) { return std::isdigit(ch); })) {
        if (spec.size() > 9 || std::stoll(spec) >= num_classes) refuse(spec, "no such class");
        ids.push_back(static_cast<int32_t>(std::stoll(spec)));
        continue;
      }
      const std::string key = class_key(spec);
      int64_t found = -1;
      for (int64_t c = 0; named && found < 0 && !key.empty() && c < num_classes; ++c) {
        const std::string& name = names[static_cast<size_t>(c)];
        bool match = class_key(name) == key;  // the whole name, or one of its '/' parts
        for (size_t begin = 0; !match && begin <= name.size();) {
          const size_t end = std::min(name.find('/', begin), name.size());
          match = class_key(name.substr(begin, end - begin)) == key;
          begin = end + 1;
        }
        if (match) found = c;
      }
      if (found < 0) refuse("'" + spec + "'", spec.empty() ? "an empty class" : "an unknown class");
      ids.push_back(static_cast<int32_t>(found));
    }
  }
  return ids;
}

Tensor class_rows(const std::vector<int32_t>& classes, int64_t per_class) {
  std::vector<int32_t> labels;
  for (const int32_t c : classes) labels.insert(labels.end(), static_cast<size_t>(per_class), c);
  return Tensor::from_vector(labels, {static_cast<int64_t>(labels.size())});
}
std::vector<int32_t> all_classes(int64_t num_classes) {
  std::vector<int32_t> ids(static_cast<size_t>(num_classes));
  for (int64_t c = 0; c < num_classes; ++c) ids[static_cast<size_t>(c)] = static_cast<int32_t>(c);
  return ids;
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
void write_image_npz(const std::string& path, const Tensor& x, const Tensor& labels) {
  std::vector<std::pair<std::string, data::NpyArray>> arrays = {{"arr_0", data::nchw_to_nhwc(data::tensor_to_u8(x))}};
  if (labels.defined()) {
    std::vector<int64_t> ids;
    for (const double v : labels.to_vector()) ids.push_back(static_cast<int64_t>(v));
    arrays.emplace_back("labels", data::npy_int64(ids));
  }
  data::write_npz(path, arrays);
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
