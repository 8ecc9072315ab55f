// 1x1 convolution in bf16 for sampling: a tape-free forward whose weight is frozen
// (tensor/frozen_weights.hpp), in --precision bf16 on a CPU with AVX512-BF16.
//
// A 1x1 convolution is a GEMM per image, y[n] [OC x HW] = W [OC x C] x[n] [C x HW] + bias. oneDNN runs it in
// its blocked layouts, so a bf16 call also reorders x from nchw into blocked bf16 and y back, which on the
// U-Net's shortcut convolutions (64 x 128 x 32 x 32 -> 64 channels) took longer than the products. Here x's
// channel pairs are rounded into the pair layout of tensor/bf16_pair_gemm.hpp, 48 pixels at a time, and
// the kernel's rows are y's nchw rows. Error: that of any bf16 product with float32 accumulation,
// |y - y_exact| <= (2u + u^2 + C 2^-23) sum_c |W_oc,c| |x_c| (tensor/precision.hpp), which test_precision's
// bound for conv2d covers.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::pointwise_bf16 {

// A [OC, C, 1, 1] float32 weight rounded to bf16 pairs: u[oc * C2 + k] holds (oc, channel 2k) in its low 16
// bits and (oc, channel 2k + 1) in its high ones; OC8 = OC rounded up to 8, C2 = ceil(C / 2), zero-padded.
struct PackedWeight {
  int64_t OC = 0, C = 0, OC8 = 0, C2 = 0;
  std::vector<uint32_t> u;
};
PackedWeight pack_weight(const Tensor& weight);

// y [N, OC, H, W] = conv2d(x, weight, bias) (stride 1, no padding) for x [N, C, H, W] float32 (any strides),
// bias [OC] or undefined. No tape. Throws std::logic_error where bf16_pairs::available() is false.
Tensor conv1x1(const Tensor& x, const PackedWeight& weight, const Tensor& bias);

}  // namespace diffuse::pointwise_bf16
