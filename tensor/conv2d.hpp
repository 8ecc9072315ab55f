// 2-D convolution (cross-correlation, as in PyTorch), forward and backward.
//
//   x [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined  ->  y [N, OC, OH, OW]
//   y[n, o, p, q] = bias[o] + sum over c, i, j of weight[o, c, i, j] * x[n, c, p*SH - PH + i, q*SW - PW + j]
//   (x is zero outside its H x W extent), OH = (H + 2 PH - KH) / SH + 1, OW = (W + 2 PW - KW) / SW + 1.
//
// float32 runs on oneDNN's convolution primitives (forward, backward-data, backward-weights, which
// also yields the bias gradient), in the blocked layouts oneDNN prefers; float64 runs on a plain
// im2col + cblas_dgemm implementation so that gradient checks of whole networks work in double
// (conv2d.cpp and conv2d_reference.cpp explain each).
#pragma once
#include <cstdint>

#include "tensor/tensor.hpp"

namespace diffuse {

// Stride and zero padding per spatial axis (h: rows, w: columns). Padding is added on both sides.
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
};

// Throws std::invalid_argument (message starting "conv2d:" and naming the shapes) unless x is
// [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined, all of one floating dtype, every size
// is positive, strides >= 1, padding >= 0, and the padded input is at least as large as the kernel.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params);

// While one lives, the weights of float32 convolutions run without a tape are taken as constant: each is
// kept in the layout its primitive computes in (reordered once, not at every call), and 3x3 stride-1
// kernels use Winograd F(4x4, 3x3) where oneDNN has it (AVX-512), whose weight transform only pays
// when kept. The caller promises that no weight tensor given to conv2d changes while the scope lives
// (sampling and evaluation open one). Scopes nest; the kept weights are freed when the outermost ends.
class FrozenWeights {
 public:
  FrozenWeights();
  ~FrozenWeights();
  FrozenWeights(const FrozenWeights&) = delete;
  FrozenWeights& operator=(const FrozenWeights&) = delete;
};

// The same stride and padding on both axes.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int64_t stride = 1,
              int64_t padding = 0);

}  // namespace diffuse
