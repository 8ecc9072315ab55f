// What the two conv2d paths share (internal to tensor/): the sizes of one convolution, checked once by
// the public entry point, and the float64 path's entry, which conv2d.cpp dispatches to.
//   conv2d.cpp            float32 on oneDNN (plans, frozen weights, Winograd) and the public conv2d
//   conv2d_reference.cpp  float64 on im2col + cblas_dgemm (the path gradient checks run in)
#pragma once
#include <cstdint>
#include <string>

#include "tensor/conv2d.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::conv2d_internal {

// Every size of one convolution.
struct Geometry {
  int64_t N, C, H, W;    // input
  int64_t OC, KH, KW;    // weight [OC, C, KH, KW]
  int64_t SH, SW, PH, PW;
  int64_t OH, OW;        // output
  Shape x_shape() const { return {N, C, H, W}; }
  Shape w_shape() const { return {OC, C, KH, KW}; }
  Shape y_shape() const { return {N, OC, OH, OW}; }
  int64_t flops() const { return 2 * N * OC * OH * OW * C * KH * KW; }  // of each of fwd, bwd-data, bwd-weights
};

// The geometry of conv2d(x, weight, bias, p), or std::invalid_argument (conv2d.hpp lists the conditions).
inline Geometry check_conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  auto fail = [&](const std::string& why) {
    shape_error("conv2d", "input " + describe(x) + ", weight " + describe(weight) + ", bias " + describe(bias) +
                              " (stride " + std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) +
                              ", padding " + std::to_string(p.pad_h) + "x" + std::to_string(p.pad_w) + "): " + why);
  };
  if (!x.defined() || !weight.defined()) fail("input and weight must be defined");
  if (x.dim() != 4) fail("the input must be [N, C, H, W]");
  if (weight.dim() != 4) fail("the weight must be [OC, C, KH, KW]");
  if (x.dtype() != DType::F32 && x.dtype() != DType::F64) fail("expected float32 or float64 tensors");
  if (weight.dtype() != x.dtype() || (bias.defined() && bias.dtype() != x.dtype()))
    fail("input, weight and bias must have one dtype");
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  if (xs[1] != ws[1])
    fail("the input has " + std::to_string(xs[1]) + " channels but the weight expects " + std::to_string(ws[1]));
  if (bias.defined() && bias.shape() != Shape{ws[0]}) fail("the bias must be [" + std::to_string(ws[0]) + "]");
  for (int64_t d : xs)
    if (d <= 0) fail("every input size must be positive");
  for (int64_t d : ws)
    if (d <= 0) fail("every weight size must be positive");
  if (p.stride_h < 1 || p.stride_w < 1) fail("strides must be at least 1");
  if (p.pad_h < 0 || p.pad_w < 0) fail("padding must not be negative");
  if (xs[2] + 2 * p.pad_h < ws[2] || xs[3] + 2 * p.pad_w < ws[3]) fail("the kernel is larger than the padded input");
  Geometry g{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], p.stride_h, p.stride_w, p.pad_h, p.pad_w, 0, 0};
  g.OH = (g.H + 2 * g.PH - g.KH) / g.SH + 1;
  g.OW = (g.W + 2 * g.PW - g.KW) / g.SW + 1;
  return g;
}

// x [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined -> y [N, OC, OH, OW], float64
// (conv2d_reference.cpp).
Tensor conv2d_im2col(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias);

}  // namespace diffuse::conv2d_internal
