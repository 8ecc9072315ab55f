// Images in and out for the image families (DDPM, D3PM on images): a split of the configured dataset, and
// model-space images [N, C, H, W] in [-1, 1] written as a PNG grid or as the uint8 N x H x W x C .npz that
// FID tools read.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "data/image_set.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

// "cifar10" from dir, or "fashion-mnist" (dir empty: the Debian package's directory). split: "train" or "test".
std::shared_ptr<const data::ImageSet> load_images(const std::string& dataset, const std::string& dir, const std::string& split);

void write_image_grid(const std::string& path, const Tensor& x, int64_t columns);
void write_image_npz(const std::string& path, const Tensor& x);  // key arr_0
int64_t square_columns(int64_t n);                                // ceil(sqrt(n)): a square-ish grid

}  // namespace diffuse
