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

#include "tensor/frozen_weights.hpp"  // FrozenWeights: conv2d keeps its weights laid out, and Winograd's
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

// The same stride and padding on both axes.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int64_t stride = 1,
              int64_t padding = 0);

// conv2d(x, weight, bias, stride, padding) + add, for `add` broadcastable to the output (undefined: nothing
// added). Where the convolution runs as tensor/winograd_bf16 (sampling in native bf16) and `add` is
// [N, OC, OH, OW] (a residual) or [N, OC, 1, 1] (a shift per sample and channel, such as a time embedding),
// the sum is formed as the output is written, with no pass of its own; elsewhere this is conv2d, then add:
// the same values and gradients.
Tensor conv2d_add(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                  const Tensor& add);

}  // namespace diffuse
