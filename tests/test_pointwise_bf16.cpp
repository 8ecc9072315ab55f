// tensor/pointwise_bf16: the bf16 1x1 convolution against float64 on the same float32 inputs, on awkward
// shapes (odd channels, output channels not a multiple of 8, images of 35 pixels so that runs of pixels
// cross 48-pixel panels and images, several blocks), within the bound of any bf16 product with float32
// accumulation (tensor/precision.hpp):
//   |y - y_exact| <= c(C + 1) (sum_c |W_oc,c| |x_c| + |bias_oc|),   c(K) = 2u + u^2 + K 2^-23;
// the error non-zero somewhere; conv2d taking this path for a frozen 1x1 weight in native bf16; the refusal.
// The kernel runs where the build targets AVX512-BF16; elsewhere each case prints why it is skipped.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

#include "gradcheck.hpp"
#include "tensor/bf16_pair_gemm.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/ops.hpp"
#include "tensor/pointwise_bf16.hpp"
#include "tensor/precision.hpp"
#include "tensor/profile.hpp"
#include "tensor/threads.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {

bool kernel_runs_here() {
  if (!bf16_pairs::available()) {
    MESSAGE("pointwise_bf16 NOT tested: this build does not target AVX512-BF16 (oneDNN ISA " << onednn_cpu_isa() << ")");
    return false;
  }
  return true;
}

}  // namespace

TEST_CASE("bf16 1x1 convolution within c(C + 1) |W| |x| of float64, on awkward shapes") {
  if (!kernel_runs_here()) return;
  struct Case {
    int64_t N, C, H, W, OC;
    bool bias;
  };
  const std::vector<Case> cases = {{3, 17, 7, 5, 13, true}, {2, 64, 16, 16, 24, false}, {5, 300, 32, 32, 8, true}};
  for (const int threads : {1, 2}) {
    set_threads(threads);
    for (const Case& k : cases) {
      const Shape xs{k.N, k.C, k.H, k.W}, ws{k.OC, k.C, 1, 1};
      const Values xv = random_values(numel(xs), 51), wv = random_values(numel(ws), 52, 0.2), bv = random_values(k.OC, 53);
      const Tensor x = tensor_of(xv, xs, DType::F32, false), w = tensor_of(wv, ws, DType::F32, false);
      const Tensor b32 = k.bias ? tensor_of(bv, {k.OC}, DType::F32, false) : Tensor();
      const Tensor x64 = tensor_of(xv, xs, DType::F64, false), w64 = tensor_of(wv, ws, DType::F64, false);
      const Tensor b64 = k.bias ? tensor_of(bv, {k.OC}, DType::F64, false) : Tensor();
      const Tensor y = pointwise_bf16::conv1x1(x, pointwise_bf16::pack_weight(w), b32);
      const Tensor y64 = conv2d(x64, w64, b64);
      Tensor bound = conv2d(abs(x64), abs(w64));
      if (k.bias) bound = bound + abs(b64).reshape({-1, 1, 1});
      const double c = 2.0 / 256 + 1.0 / 65536 + (k.C + 1) * std::ldexp(1.0, -23);
      REQUIRE(y.shape() == y64.shape());
      const Values a = y.to_vector(), r = y64.to_vector(), e = bound.to_vector();
      double worst = 0, max_err = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        const double err = std::abs(a[i] - r[i]);
        max_err = std::max(max_err, std::isnan(err) ? INFINITY : err);
        worst = std::max(worst, std::isnan(err) ? INFINITY : err / (c * e[i]));
      }
      std::ostringstream what;
      what << threads << " thread(s), x " << to_string(xs) << " w " << to_string(ws) << ": max |err| / bound " << worst
           << ", max |err| " << max_err;
      MESSAGE(what.str());
      CHECK(worst <= 1.0);
      CHECK(max_err > 0);
    }
  }
  set_threads(hardware_threads());
}

TEST_CASE("conv2d takes the bf16 1x1 path for a frozen weight in native bf16") {
  if (!kernel_runs_here()) return;
  if (!bf16_missing_feature().empty()) {
    MESSAGE("conv2d's dispatch NOT tested: oneDNN has no native bf16 here (" << bf16_missing_feature() << ")");
    return;
  }
  const Tensor x = tensor_of(random_values(2 * 24 * 9 * 11, 61), {2, 24, 9, 11}, DType::F32, false);
  const Tensor w = tensor_of(random_values(16 * 24, 62, 0.2), {16, 24, 1, 1}, DType::F32, false);
  const Tensor b = tensor_of(random_values(16, 63), {16}, DType::F32, false);
  const Values ours = pointwise_bf16::conv1x1(x, pointwise_bf16::pack_weight(w), b).to_vector();
  NoGradGuard no_grad;
  PrecisionScope bf16({Precision::BF16, false});
  // oneDNN's bf16 1x1 may well give the same numbers, so what tells the paths apart is its reorders.
  auto reorders = [&] {
    start_profile();
    const Values y = conv2d(x, w, b).to_vector();
    int64_t calls = 0;
    for (const ProfileRow& row : stop_profile()) calls += row.op == "reorder" ? row.calls : 0;
    return std::make_pair(y, calls);
  };
  {
    FrozenWeights frozen;
    const auto [y, calls] = reorders();
    CHECK(y == ours);
    CHECK(calls == 0);
  }
  CHECK(reorders().second > 0);  // not frozen: oneDNN's bf16 primitive, reordered in and out
}

TEST_CASE("pointwise_bf16 refuses what it does not compute, naming it") {
  CHECK_THROWS_WITH_AS(pointwise_bf16::pack_weight(Tensor::zeros({4, 3, 3, 3})),
                       doctest::Contains("expected a float32 [OC, C, 1, 1] weight"), std::invalid_argument);
  if (!kernel_runs_here()) return;
  CHECK_THROWS_WITH_AS(pointwise_bf16::conv1x1(Tensor::zeros({1, 5, 4, 4}), pointwise_bf16::pack_weight(Tensor::zeros({4, 3, 1, 1})), Tensor()),
                       doctest::Contains("expected a float32 [N, 3, H, W] input"), std::invalid_argument);
}
