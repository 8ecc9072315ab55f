// conv2d against naive double-precision loops (forward, d(x), d(weight), d(bias)) on small awkward
// shapes, in float32 (oneDNN) and float64 (im2col + dgemm); the float64 path through the gradient-check
// harness; shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/threads.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {

// The four results of one convolution, each as a row-major vector of doubles.
struct ConvResults {
  std::vector<double> y, dx, dw, db;
};

// Naive loops straight from the definitions, in double. x [N, C, H, W], w [OC, C, KH, KW], b [OC]
// (empty: no bias), dy [N, OC, OH, OW]:
//   y[n, o, p, q]  = b[o] + sum_{c, i, j} w[o, c, i, j] x[n, c, p SH - PH + i, q SW - PW + j]
//   dx[n, c, h, v] = sum over (o, i, j) with h = p SH - PH + i, v = q SW - PW + j of dy[n, o, p, q] w[o, c, i, j]
//   dw[o, c, i, j] = sum_{n, p, q} dy[n, o, p, q] x[n, c, p SH - PH + i, q SW - PW + j]
//   db[o]          = sum_{n, p, q} dy[n, o, p, q]
// dx is written as a gather over the output positions that touch (h, v), unlike the implementations.
ConvResults reference_conv2d(const std::vector<double>& x, const Shape& xs, const std::vector<double>& w,
                             const Shape& ws, const std::vector<double>& b, const std::vector<double>& dy,
                             const Conv2dParams& p) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], OC = ws[0], KH = ws[2], KW = ws[3];
  const int64_t OH = (H + 2 * p.pad_h - KH) / p.stride_h + 1, OW = (W + 2 * p.pad_w - KW) / p.stride_w + 1;
  auto X = [&](int64_t n, int64_t c, int64_t h, int64_t v) {
    return h < 0 || h >= H || v < 0 || v >= W ? 0.0 : x[((n * C + c) * H + h) * W + v];
  };
  auto Wt = [&](int64_t o, int64_t c, int64_t i, int64_t j) { return w[((o * C + c) * KH + i) * KW + j]; };
  auto DY = [&](int64_t n, int64_t o, int64_t q, int64_t r) { return dy[((n * OC + o) * OH + q) * OW + r]; };
  ConvResults r;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < OC; ++o)
      for (int64_t q = 0; q < OH; ++q)
        for (int64_t s = 0; s < OW; ++s) {
          double acc = b.empty() ? 0.0 : b[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j)
                acc += Wt(o, c, i, j) * X(n, c, q * p.stride_h - p.pad_h + i, s * p.stride_w - p.pad_w + j);
          r.y.push_back(acc);
        }
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t v = 0; v < W; ++v) {
          double acc = 0;
          for (int64_t o = 0; o < OC; ++o)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t qs = h + p.pad_h - i, ss = v + p.pad_w - j;  // = q SH, s SW
                if (qs < 0 || ss < 0 || qs % p.stride_h || ss % p.stride_w) continue;
                const int64_t q = qs / p.stride_h, s = ss / p.stride_w;
                if (q < OH && s < OW) acc += DY(n, o, q, s) * Wt(o, c, i, j);
              }
          r.dx.push_back(acc);
        }
  for (int64_t o = 0; o < OC; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i)
        for (int64_t j = 0; j < KW; ++j) {
          double acc = 0;
          for (int64_t n = 0; n < N; ++n)
            for (int64_t q = 0; q < OH; ++q)
              for (int64_t s = 0; s < OW; ++s)
                acc += DY(n, o, q, s) * X(n, c, q * p.stride_h - p.pad_h + i, s * p.stride_w - p.pad_w + j);
          r.dw.push_back(acc);
        }
  if (!b.empty())
    for (int64_t o = 0; o < OC; ++o) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t q = 0; q < OH; ++q)
          for (int64_t s = 0; s < OW; ++s) acc += DY(n, o, q, s);
      r.db.push_back(acc);
    }
  return r;
}

// |got - want| <= rtol * max|want| elementwise (the scale of a sum of products is its largest entry);
// reports the largest difference either way.
void check_close(const char* what, const std::vector<double>& got, const std::vector<double>& want, double rtol) {
  REQUIRE(got.size() == want.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(got[i] - want[i]);
    if (!(d <= diff)) diff = std::isnan(d) ? INFINITY : d;  // a NaN fails the check
    scale = std::max(scale, std::abs(want[i]));
  }
  INFO(std::string(what) << ": max |difference| " << diff << ", max |reference| " << scale << ", tolerance "
            << rtol * std::max(scale, 1e-3));
  CHECK(diff <= rtol * std::max(scale, 1e-3));
}

struct Case {
  const char* name;
  Shape x, w;
  bool bias;
  Conv2dParams p;
};

const std::vector<Case> cases = {
    {"3->5, 3x3, stride 1, padding 1", {3, 3, 7, 9}, {5, 3, 3, 3}, true, {1, 1, 1, 1}},
    {"5->7, 3x3, stride 2, padding 1", {3, 5, 7, 9}, {7, 5, 3, 3}, true, {2, 2, 1, 1}},
    {"5->7, 1x1", {3, 5, 7, 9}, {7, 5, 1, 1}, true, {1, 1, 0, 0}},
    {"5->7, 1x1, stride 2, no bias", {3, 5, 7, 9}, {7, 5, 1, 1}, false, {2, 2, 0, 0}},
    {"3->5, 4x4, stride 2, padding 1", {3, 3, 7, 9}, {5, 3, 4, 4}, true, {2, 2, 1, 1}},
    {"12->20, 3x3, padding 1 (blocked, padded channels)", {3, 12, 7, 9}, {20, 12, 3, 3}, true, {1, 1, 1, 1}},
    {"17->9, 3x3, stride 2, padding 1, no bias", {3, 17, 9, 7}, {9, 17, 3, 3}, false, {2, 2, 1, 1}},
    {"16->24, 3x3, padding 1 (whole blocks)", {2, 16, 8, 8}, {24, 16, 3, 3}, true, {1, 1, 1, 1}},
    {"5->7, 2x5 kernel, stride 1x2, padding 0x2", {3, 5, 7, 9}, {7, 5, 2, 5}, true, {1, 2, 0, 2}},
    {"4->6, 5x5 kernel over a padded 3x3 input", {2, 4, 3, 3}, {6, 4, 5, 5}, true, {1, 1, 1, 1}},
    {"9->10, 3x3, stride 2, padding 3 (outputs that see only padding)", {2, 9, 5, 6}, {10, 9, 3, 3}, true,
     {2, 2, 3, 3}},
};

// Runs conv2d in `dtype` on the case's shapes with a tape and compares all four results with the
// reference; `x_view` makes the input a non-contiguous view.
void run_case(const Case& c, DType dtype, double rtol, bool x_view = false, uint64_t seed = 1) {
  CAPTURE(c.name);
  CAPTURE(dtype_name(dtype));
  Tensor x = x_view ? random_input({c.x[0], c.x[3], c.x[2], c.x[1]}, seed).to(dtype).permute({0, 3, 2, 1})
                    : random_input(c.x, seed).to(dtype);
  Tensor w = random_input(c.w, seed + 1, 0.3).to(dtype);
  Tensor b = c.bias ? random_input({c.w[0]}, seed + 2).to(dtype) : Tensor();
  x.set_requires_grad();
  w.set_requires_grad();
  if (b.defined()) b.set_requires_grad();
  const Tensor y = conv2d(x, w, b, c.p);
  const Tensor dy = random_input(y.shape(), seed + 3).to(dtype);
  y.backward(dy);

  const ConvResults want = reference_conv2d(x.to_vector(), c.x, w.to_vector(), c.w,
                                            b.defined() ? b.to_vector() : std::vector<double>{}, dy.to_vector(), c.p);
  check_close("y", y.to_vector(), want.y, rtol);
  check_close("dx", x.grad().to_vector(), want.dx, rtol);
  check_close("dweight", w.grad().to_vector(), want.dw, rtol);
  if (b.defined()) check_close("dbias", b.grad().to_vector(), want.db, rtol);

  // Without a tape (the forward_inference plan) the forward is the same.
  NoGradGuard no_grad;
  const Tensor y_inference = conv2d(x, w, b, c.p);
  CHECK(!y_inference.requires_grad());
  check_close("y without a tape", y_inference.to_vector(), want.y, rtol);
}

}  // namespace

TEST_CASE("float32 conv2d (oneDNN) matches the reference loops, forward and backward") {
  for (const Case& c : cases) run_case(c, DType::F32, 1e-4);
}

TEST_CASE("float64 conv2d (im2col + dgemm) matches the reference loops, forward and backward") {
  for (const Case& c : cases) run_case(c, DType::F64, 1e-12);
}

TEST_CASE("a non-contiguous input gives the same results") {
  run_case(cases[1], DType::F32, 1e-4, true, 11);
  run_case(cases[5], DType::F32, 1e-4, true, 12);
  run_case(cases[1], DType::F64, 1e-12, true, 13);
}

TEST_CASE("repeated calls reuse the cached plan and agree, at any thread count") {
  const Case& c = cases[5];
  run_case(c, DType::F32, 1e-4, false, 21);
  run_case(c, DType::F32, 1e-4, false, 21);  // the same shape again: served from the cache
  const int threads = num_threads();
  set_threads(1);  // a different thread count gets its own plan
  run_case(c, DType::F32, 1e-4, false, 22);
  set_threads(threads);
}

TEST_CASE("frozen weights (kept layouts, Winograd) give the reference forward, and are let go with the scope") {
  // 3x3 stride 1 with 32 input channels and a 12x10 output takes Winograd on an AVX-512 machine (direct
  // elsewhere); the 1x1 and strided convs keep their weights in the direct kernels' layouts.
  const std::vector<Case> frozen_cases = {
      {"32->24, 3x3, padding 1 (Winograd)", {2, 32, 12, 10}, {24, 32, 3, 3}, true, {1, 1, 1, 1}},
      {"48->16, 3x3, no padding, no bias (Winograd)", {3, 48, 11, 9}, {16, 48, 3, 3}, false, {1, 1, 0, 0}},
      cases[1], cases[2]};
  NoGradGuard no_grad;
  for (const Case& c : frozen_cases) {
    CAPTURE(c.name);
    const Tensor x = random_input(c.x, 51).to(DType::F32), w = random_input(c.w, 52, 0.3).to(DType::F32);
    const Tensor b = c.bias ? random_input({c.w[0]}, 53).to(DType::F32) : Tensor();
    const Tensor w2 = random_input(c.w, 54, 0.3).to(DType::F32);  // a second weight of the same shape
    auto want = [&](const Tensor& weight) {
      const std::vector<double> dy(static_cast<size_t>(conv2d(x, weight, b, c.p).numel()), 0.0);
      return reference_conv2d(x.to_vector(), c.x, weight.to_vector(), c.w,
                              b.defined() ? b.to_vector() : std::vector<double>{}, dy, c.p)
          .y;
    };
    const std::vector<double> want_w = want(w), want_w2 = want(w2);
    {
      FrozenWeights frozen;
      for (int repeat = 0; repeat < 2; ++repeat) {  // the second time from the kept layout
        check_close("y", conv2d(x, w, b, c.p).to_vector(), want_w, 1e-5);
        check_close("y, other weight", conv2d(x, w2, b, c.p).to_vector(), want_w2, 1e-5);
      }
      FrozenWeights nested;
      check_close("y in a nested scope", conv2d(x, w, b, c.p).to_vector(), want_w, 1e-5);
    }
    w.copy_(w2);  // outside every scope the weight may change, and the next scope sees the change
    FrozenWeights frozen;
    check_close("y after the weight changed", conv2d(x, w, b, c.p).to_vector(), want_w2, 1e-5);
  }
}

TEST_CASE("a gradient reaches only the inputs that want one") {
  const Case& c = cases[1];
  Tensor x = random_input(c.x, 31).to(DType::F32), w = random_input(c.w, 32).to(DType::F32);
  Tensor b = random_input({c.w[0]}, 33).to(DType::F32);
  w.set_requires_grad();  // x and b are constants: no backward-data pass, no bias gradient
  conv2d(x, w, b, c.p).backward(random_input({3, 7, 4, 5}, 34).to(DType::F32));
  CHECK(w.grad().defined());
  CHECK(!x.grad().defined());
  CHECK(!b.grad().defined());
}

TEST_CASE("float64 conv2d passes the gradient check") {
  CHECK_GRADIENTS([](auto& in) { return conv2d(in[0], in[1], in[2], 1, 1); },
                  {random_input({2, 3, 5, 6}, 41), random_input({4, 3, 3, 3}, 42), random_input({4}, 43)}, strided());
  CHECK_GRADIENTS([](auto& in) { return conv2d(in[0], in[1], in[2], 2, 1); },
                  {random_input({2, 3, 7, 6}, 44), random_input({5, 3, 4, 4}, 45), random_input({5}, 46)}, strided());
  CHECK_GRADIENTS([](auto& in) {
                    const Conv2dParams p{.stride_h = 1, .stride_w = 2, .pad_h = 0, .pad_w = 1};
                    return conv2d(in[0], in[1], Tensor(), p);
                  },
                  {random_input({2, 3, 4, 7}, 47), random_input({2, 3, 2, 3}, 48)}, strided());
  // Inside a small network: conv -> tanh -> 1x1 conv, so the second conv's backward feeds the first.
  CHECK_GRADIENTS([](auto& in) { return conv2d(tanh(conv2d(in[0], in[1], in[2], 1, 1)), in[3], Tensor()); },
                  {random_input({1, 2, 4, 5}, 49), random_input({3, 2, 3, 3}, 50), random_input({3}, 51),
                   random_input({2, 3, 1, 1}, 52)}, strided());
}

TEST_CASE("bad shapes throw, naming conv2d and the shapes") {
  const Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 3, 3, 3}), b = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 5, 3, 3}), Tensor()),
                       "conv2d: input float32[2, 3, 8, 8], weight float32[4, 5, 3, 3], bias undefined (stride 1x1, "
                       "padding 0x0): the input has 3 channels but the weight expects 5",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({3, 8, 8}), w, b),
                       doctest::Contains("conv2d: input float32[3, 8, 8], weight float32[4, 3, 3, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 3}), b), doctest::Contains("weight float32[4, 3, 3]"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor::zeros({5})), doctest::Contains("bias float32[5]"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({4, 3, 11, 3}), b, 1, 1),
                       doctest::Contains("the kernel is larger than the padded input"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, w.to(DType::F64), b), doctest::Contains("one dtype"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, w, b, 0, 1), doctest::Contains("stride 0x0"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(conv2d(x, w, b, 1, -1), doctest::Contains("padding must not be negative"),
                       std::invalid_argument);
}
