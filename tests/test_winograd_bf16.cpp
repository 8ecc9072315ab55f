// tensor/winograd_bf16: the bf16 F(2x2, 3x3) convolution against float64 on the same float32 inputs, on
// awkward shapes (odd channels, output channels not a multiple of 8, odd and even sizes, padding 0 to 2,
// several blocks and panels), within the bound winograd_bf16.hpp states:
//   |y - y_exact| <= c sum_{xi: a_xi != 0} sum_c |U_xi,c| V+_xi,c,   c = 2u + u^2 + (C + 16) 2^-23,
// computed here by brute force in float64 from the definitions (U = G g G^T, V+ = |B|^T |d| |B| over each
// tile's patch). Also: the error is non-zero somewhere (the inputs were rounded), conv2d takes this path
// for a frozen weight in native bf16 (the same numbers), and the refusals.
//
// The kernel runs where the build targets AVX512-BF16 (bf16_pairs::available()); elsewhere each case
// prints why it is skipped.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "gradcheck.hpp"
#include "tensor/bf16_pair_gemm.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/precision.hpp"
#include "tensor/threads.hpp"
#include "tensor/winograd_bf16.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {

bool kernel_runs_here() {
  if (!bf16_pairs::available()) {
    MESSAGE("winograd_bf16 NOT tested: this build does not target AVX512-BF16 (oneDNN ISA " << onednn_cpu_isa() << ")");
    return false;
  }
  return true;
}

struct Case {
  int64_t N, C, H, W, OC, pad;
  bool bias;
};

// The bound above for every output of conv2d(x, w, pad) (x [N, C, H, W], w [OC, C, 3, 3], row-major).
std::vector<double> winograd_bound(const Values& x, const Values& w, const Case& k) {
  const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  const double Bt[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
  const double At[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};
  const int64_t OH = k.H + 2 * k.pad - 2, OW = k.W + 2 * k.pad - 2, TH = (OH + 1) / 2, TW = (OW + 1) / 2;
  // |U| [OC][C][16]
  std::vector<double> U(k.OC * k.C * 16);
  for (int64_t o = 0; o < k.OC; ++o)
    for (int64_t c = 0; c < k.C; ++c)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          double u = 0;
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) u += G[i][a] * w[((o * k.C + c) * 3 + a) * 3 + b] * G[j][b];
          U[(o * k.C + c) * 16 + i * 4 + j] = std::abs(u);
        }
  // V+ [N][C][TH][TW][16]
  std::vector<double> V(k.N * k.C * TH * TW * 16);
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t c = 0; c < k.C; ++c)
      for (int64_t ty = 0; ty < TH; ++ty)
        for (int64_t tx = 0; tx < TW; ++tx)
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              double v = 0;
              for (int a = 0; a < 4; ++a)
                for (int b = 0; b < 4; ++b) {
                  const int64_t r = 2 * ty - k.pad + a, s = 2 * tx - k.pad + b;
                  const double d = r < 0 || r >= k.H || s < 0 || s >= k.W ? 0 : x[((n * k.C + c) * k.H + r) * k.W + s];
                  v += std::abs(Bt[i][a]) * std::abs(d) * std::abs(Bt[j][b]);
                }
              V[(((n * k.C + c) * TH + ty) * TW + tx) * 16 + i * 4 + j] = v;
            }
  const double u = 1.0 / 256, coefficient = 2 * u + u * u + (k.C + 16) * std::ldexp(1.0, -23);
  std::vector<double> bound;
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t o = 0; o < k.OC; ++o)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          const int64_t ty = oy / 2, tx = ox / 2;
          double sum = 0;
          for (int r = 0; r < 4; ++r)
            for (int s = 0; s < 4; ++s) {
              if (At[oy % 2][r] == 0 || At[ox % 2][s] == 0) continue;
              for (int64_t c = 0; c < k.C; ++c)
                sum += U[(o * k.C + c) * 16 + r * 4 + s] * V[(((n * k.C + c) * TH + ty) * TW + tx) * 16 + r * 4 + s];
            }
          bound.push_back(coefficient * sum);
        }
  return bound;
}

}  // namespace

TEST_CASE("bf16 Winograd F(2x2, 3x3) within its propagated bound of float64, on awkward shapes") {
  if (!kernel_runs_here()) return;
  const std::vector<Case> cases = {
      {2, 17, 9, 19, 13, 1, true},    // odd channels and sizes, OC not a multiple of 8
      {3, 32, 33, 40, 24, 1, false},  // an odd output height: the last tile row half outside
      {1, 16, 16, 16, 8, 0, true},    // no padding: 14 x 14
      {2, 5, 20, 37, 9, 2, true},     // padding 2: 22 x 39
      {4, 64, 32, 32, 16, 1, true},   // 1024 tiles: several blocks of several panels, the last one partial
      {3, 24, 10, 9, 16, 1, true},    // rows narrower than a register
      {3, 16, 16, 16, 9, 1, false},   // 8 tiles a row: the output written straight from the registers
  };
  for (const int threads : {1, 2}) {
    set_threads(threads);
    for (const Case& k : cases) {
      const Shape xs{k.N, k.C, k.H, k.W}, ws{k.OC, k.C, 3, 3};
      const Values xv = random_values(numel(xs), 21), wv = random_values(numel(ws), 22, 0.2), bv = random_values(k.OC, 23);
      const Tensor x = tensor_of(xv, xs, DType::F32, false), w = tensor_of(wv, ws, DType::F32, false);
      const Tensor b32 = k.bias ? tensor_of(bv, {k.OC}, DType::F32, false) : Tensor();
      const Tensor b64 = k.bias ? tensor_of(bv, {k.OC}, DType::F64, false) : Tensor();
      const Tensor y = winograd_bf16::conv3x3(x, winograd_bf16::transform_weight(w), b32, k.pad, k.pad);
      const Tensor y64 = conv2d(tensor_of(xv, xs, DType::F64, false), tensor_of(wv, ws, DType::F64, false), b64, 1, k.pad);
      REQUIRE(y.shape() == y64.shape());
      const Values a = y.to_vector(), r = y64.to_vector();
      const std::vector<double> bound = winograd_bound(xv, wv, k);
      REQUIRE(bound.size() == a.size());
      double worst = 0, max_err = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        const double err = std::abs(a[i] - r[i]);
        max_err = std::max(max_err, std::isnan(err) ? INFINITY : err);
        worst = std::max(worst, std::isnan(err) ? INFINITY : err / bound[i]);
      }
      std::ostringstream what;
      what << threads << " thread(s), x " << to_string(xs) << " w " << to_string(ws) << " padding " << k.pad
           << ": max |err| / bound " << worst << ", max |err| " << max_err;
      MESSAGE(what.str());
      CHECK(worst <= 1.0);
      CHECK(max_err > 0);
    }
  }
  set_threads(hardware_threads());
}

TEST_CASE("conv2d takes the bf16 Winograd path for a frozen 3x3 weight in native bf16, and not otherwise") {
  if (!kernel_runs_here()) return;
  if (!bf16_missing_feature().empty()) {
    MESSAGE("conv2d's dispatch NOT tested: oneDNN has no native bf16 here (" << bf16_missing_feature() << ")");
    return;
  }
  const Values xv = random_values(2 * 24 * 18 * 20, 31), wv = random_values(16 * 24 * 9, 32, 0.2), bv = random_values(16, 33);
  const Tensor x = tensor_of(xv, {2, 24, 18, 20}, DType::F32, false), w = tensor_of(wv, {16, 24, 3, 3}, DType::F32, false);
  const Tensor b = tensor_of(bv, {16}, DType::F32, false);
  const Values direct = winograd_bf16::conv3x3(x, winograd_bf16::transform_weight(w), b, 1, 1).to_vector();
  NoGradGuard no_grad;
  PrecisionScope bf16({Precision::BF16, false});
  Values frozen_twice;
  {
    FrozenWeights frozen;
    conv2d(x, w, b, 1, 1);
    frozen_twice = conv2d(x, w, b, 1, 1).to_vector();  // the kept transformed weight
  }
  CHECK(frozen_twice == direct);
  CHECK(conv2d(x, w, b, 1, 1).to_vector() != direct);  // not frozen: oneDNN's direct bf16
}

TEST_CASE("winograd_bf16 refuses what it does not compute, naming it") {
  const Tensor w5 = Tensor::zeros({4, 3, 5, 5});
  CHECK_THROWS_WITH_AS(winograd_bf16::transform_weight(w5),
                       doctest::Contains("expected a float32 [OC, C, 3, 3] weight"), std::invalid_argument);
  if (!kernel_runs_here()) return;
  const winograd_bf16::TransformedWeight u = winograd_bf16::transform_weight(Tensor::zeros({4, 3, 3, 3}));
  CHECK_THROWS_WITH_AS(winograd_bf16::conv3x3(Tensor::zeros({1, 5, 8, 8}), u, Tensor(), 1, 1),
                       doctest::Contains("expected a float32 [N, 3, H, W] input"), std::invalid_argument);
}

TEST_CASE("bf16 Winograd sums a residual or a per-sample shift as it writes: conv2d_add") {
  if (!kernel_runs_here()) return;
  // Width 16: 8 tiles a row, written straight from the registers; width 18: 9, through the runs.
  for (const int64_t W : {16, 18}) {
    CAPTURE(W);
    const Values xv = random_values(3 * 20 * 16 * W, 41), wv = random_values(12 * 20 * 9, 42, 0.2), bv = random_values(12, 43);
    const Tensor x = tensor_of(xv, {3, 20, 16, W}, DType::F32, false), w = tensor_of(wv, {12, 20, 3, 3}, DType::F32, false);
    const Tensor b = tensor_of(bv, {12}, DType::F32, false);
    const Tensor residual = tensor_of(random_values(3 * 12 * 16 * W, 44), {3, 12, 16, W}, DType::F32, false);
    const Tensor shift = tensor_of(random_values(3 * 12, 45), {3, 12, 1, 1}, DType::F32, false);
    const winograd_bf16::TransformedWeight u = winograd_bf16::transform_weight(w);
    const Tensor plain = winograd_bf16::conv3x3(x, u, b, 1, 1);
    // A residual: (conv + bias) + residual, the same sums in the same order.
    CHECK(winograd_bf16::conv3x3(x, u, b, 1, 1, residual).to_vector() == (plain + residual).to_vector());
    // A shift: conv + (bias + shift), one rounding apart from (conv + bias) + shift.
    const Values fused = winograd_bf16::conv3x3(x, u, b, 1, 1, shift).to_vector(), apart = (plain + shift).to_vector();
    for (size_t i = 0; i < fused.size(); ++i) REQUIRE(std::abs(fused[i] - apart[i]) <= 1e-6 * (1 + std::abs(apart[i])));
    CHECK_THROWS_WITH_AS(winograd_bf16::conv3x3(x, u, b, 1, 1, Tensor::zeros({1, 12, 1, 1})),
                         doctest::Contains(("the added tensor must be float32 [3, 12, 16 or 1, " + std::to_string(W) + " or 1]").c_str()),
                         std::invalid_argument);

    // conv2d_add: fused in the frozen native-bf16 case; elsewhere conv2d, then add (here: an add broadcast
    // over the batch, which the kernel does not take).
    if (!bf16_missing_feature().empty()) return;
    NoGradGuard no_grad;
    PrecisionScope bf16({Precision::BF16, false});
    FrozenWeights frozen;
    CHECK(conv2d_add(x, w, b, 1, 1, residual).to_vector() == winograd_bf16::conv3x3(x, u, b, 1, 1, residual).to_vector());
    const Tensor per_channel = tensor_of(random_values(12, 46), {1, 12, 1, 1}, DType::F32, false);
    CHECK(conv2d_add(x, w, b, 1, 1, per_channel).to_vector() == (plain + per_channel).to_vector());
  }
}
