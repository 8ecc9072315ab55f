// Images in and out for the image families (DDPM, D3PM on images): a split of the configured dataset, and
// model-space images [N, C, H, W] in [-1, 1] written as a PNG grid or as the uint8 N x H x W x C .npz that
// FID tools read.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/training_loop.hpp"
#include "data/image_batches.hpp"
#include "data/image_set.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

// "cifar10" from dir, or "fashion-mnist" (dir empty: the Debian package's directory). split: "train" or "test".
std::shared_ptr<const data::ImageSet> load_images(const std::string& dataset, const std::string& dir, const std::string& split);

// The first n images of a split, [n, C, H, W] in [-1, 1] (and their labels, int32 [n]); throws naming `what`
// (the flag or key that asked) when the split has fewer.
data::ImageBatch first_image_batch(const data::ImageSet& set, const std::string& split, int64_t n, const std::string& what);
Tensor first_images(const data::ImageSet& set, const std::string& split, int64_t n, const std::string& what);

// A training run's held-out images: the first train.eval_items test images (with their labels) when the run
// evaluates (train.eval_every > 0), else an empty batch (undefined tensors).
data::ImageBatch held_out_image_batch(const nlohmann::json& config, const std::string& data_dir);
Tensor held_out_images(const nlohmann::json& config, const std::string& data_dir);

// ---- classes ---------------------------------------------------------------------------------------

// The class names of a dataset ("cifar10": airplane .. truck; "fashion-mnist": T-shirt/top .. Ankle boot), by id.
std::vector<std::string> image_class_names(const std::string& dataset);

// "0 airplane, 1 automobile, ..., 9 truck": the classes as a refusal lists them (names may be empty: ids alone).
std::string list_classes(int64_t num_classes, const std::vector<std::string>& names);

// The ids of `specs`, in order: each a number 0..num_classes-1 or a name of `names` (used when it holds
// num_classes names), matched without regard to case or to anything but letters and digits ("Ankle boot",
// "ankle-boot", "ankleboot"), a name with '/' also by each of its parts ("t-shirt", "top"). A spec may be a
// comma list ("sneaker,bag"). Throws std::invalid_argument naming `flag` and listing the classes for a number
// outside the range or an unknown name.
std::vector<int32_t> parse_classes(const std::vector<std::string>& specs, int64_t num_classes,
                                   const std::vector<std::string>& names, const std::string& flag);

// Labels int32 [classes.size() x per_class]: per_class copies of each class in turn, a grid row each.
Tensor class_rows(const std::vector<int32_t>& classes, int64_t per_class);
std::vector<int32_t> all_classes(int64_t num_classes);  // 0, 1, ..., num_classes - 1

// A periodic evaluation's record of bits/dim on test images.
EvaluationRecord test_images_record(int64_t images, double bits_per_dim, double standard_error, const std::string& method);

// The PNG grid a person looks at: each image drawn `scale` times larger (nearest neighbour), with a 2-pixel
// border between images; scale 0 picks the smallest that makes the grid at least kReadableGridWidth wide.
// The .npz (write_image_npz) keeps the raw samples.
constexpr int64_t kReadableGridWidth = 512;
void write_image_grid(const std::string& path, const Tensor& x, int64_t columns, int64_t scale = 0);
// The samples as uint8 N x H x W x C under 'arr_0', and with labels (int32 [N], defined for a conditional model)
// their classes as int64 [N] under 'labels'.
void write_image_npz(const std::string& path, const Tensor& x, const Tensor& labels = Tensor());
int64_t square_columns(int64_t n);                                // ceil(sqrt(n)): a square-ish grid

// What the image families' training tasks share: the configured dataset's training images in a shuffled,
// randomly flipped (train.random_flip), resumable order, the run's random streams, and their state for
// the checkpoint ("data.position", "rng.*").
struct ImageTrainingData {
  ImageTrainingData(const nlohmann::json& config, const std::string& data_dir);
  std::shared_ptr<const data::ImageSet> train_set;
  data::ImageBatchSampler batches;
  TrainingStreams streams;

  std::map<std::string, std::string> state() const;
  void restore(const std::map<std::string, std::string>& metadata, const std::string& path);
  std::string summary() const;  // "50000 training images"
};

// A training task on those images: the data's side of TrainingTask, answered by ImageTrainingData.
class ImageTrainingTask : public TrainingTask {
 public:
  ImageTrainingTask(const nlohmann::json& config, const std::string& data_dir) : data_(config, data_dir) {}
  std::map<std::string, std::string> state() const override { return data_.state(); }
  void restore(const std::map<std::string, std::string>& meta, const std::string& path) override { data_.restore(meta, path); }
  std::string data_summary() const override { return data_.summary(); }
  std::string item_name() const override { return "images"; }
  int64_t items_per_example() const override { return 1; }

 protected:
  ImageTrainingData data_;
};

}  // namespace diffuse
