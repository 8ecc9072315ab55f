#include "apps/image_data.hpp"

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

void write_image_grid(const std::string& path, const Tensor& x, int64_t columns) {
  data::write_png_grid(path, data::tensor_to_u8(x), columns);
}
void write_image_npz(const std::string& path, const Tensor& x) {
  data::write_npz(path, {{"arr_0", data::nchw_to_nhwc(data::tensor_to_u8(x))}});
}

int64_t square_columns(int64_t n) { return static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n)))); }

}  // namespace diffuse
