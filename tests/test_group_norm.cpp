// group_norm and group_norm_silu against a naive double-precision reference: the forward, and the
// gradients of x, weight and bias (central differences of the reference), in float32; the analytic
// backward in float64 through CHECK_GRADIENTS; the fused op against silu(group_norm(...)); errors.
#include <doctest/doctest.h>

#include <cmath>

#include "gradcheck.hpp"
#include "tensor/autograd.hpp"
#include "tensor/group_norm.hpp"
#include "tensor/ops.hpp"
#include "tensor/threads.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {

// y[n, c, s] = (x - mean[n, g]) / sqrt(var[n, g] + eps) * w[c] + b[c], then silu(y) = y / (1 + e^-y)
// when `silu`. x is [N, C, S] flattened; mean and var over the C/G channels of group g and all s.
Values reference(const Values& x, const Shape& shape, int64_t G, const Values& w, const Values& b, double eps,
                 bool silu) {
  const int64_t N = shape[0], C = shape[1], S = static_cast<int64_t>(x.size()) / (N * C), Cg = C / G;
  Values y(x.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      double mean = 0, var = 0;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c)
        for (int64_t s = 0; s < S; ++s) mean += x[(n * C + c) * S + s];
      mean /= Cg * S;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c)
        for (int64_t s = 0; s < S; ++s) var += (x[(n * C + c) * S + s] - mean) * (x[(n * C + c) * S + s] - mean);
      var /= Cg * S;
      for (int64_t c = g * Cg; c < (g + 1) * Cg; ++c)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t i = (n * C + c) * S + s;
          const double z = (x[i] - mean) / std::sqrt(var + eps) * w[c] + b[c];
          y[i] = silu ? z / (1 + std::exp(-z)) : z;
        }
    }
  return y;
}

// Runs the float32 op on x [shape] (values x_offset + x_scale * normal), weight 0.5 + 0.5 * normal,
// bias 0.3 * normal, with backward seeded by a random R, and compares the output and all three
// gradients with the reference and its central-difference gradients.
void check_against_reference(const Shape& shape, int64_t G, bool silu, double x_offset = 0.0, double x_scale = 1.0,
                             double tol = 2e-5) {
  const int64_t C = shape[1], n = numel(shape);
  const double eps = 1e-6;
  const Values x = random_values(n, 1, x_scale, x_offset), w = random_values(C, 2, 0.5, 0.5),
               b = random_values(C, 3, 0.3), R = random_values(n, 4);
  const Values y = reference(x, shape, G, w, b, eps, silu);
  const Values dx = numeric_gradient([&](const Values& p) { return dot(R, reference(p, shape, G, w, b, eps, silu)); },
                                     x, 1e-5 * x_scale);
  const Values dw = numeric_gradient([&](const Values& p) { return dot(R, reference(x, shape, G, p, b, eps, silu)); }, w);
  const Values db = numeric_gradient([&](const Values& p) { return dot(R, reference(x, shape, G, w, p, eps, silu)); }, b);

  Tensor tx = tensor_of(x, shape, DType::F32), tw = tensor_of(w, {C}, DType::F32), tb = tensor_of(b, {C}, DType::F32);
  Tensor ty = silu ? group_norm_silu(tx, G, tw, tb, eps) : group_norm(tx, G, tw, tb, eps);
  ty.backward(tensor_of(R, shape, DType::F32, false));
  check_close(ty, y, tol, "y");
  check_close(tx.grad(), dx, tol, "dx");
  check_close(tw.grad(), dw, tol, "dweight");
  check_close(tb.grad(), db, tol, "dbias");
}

}  // namespace

TEST_CASE("group_norm matches the double reference in float32 (forward and all gradients)") {
  SUBCASE("6 channels in 3 groups, 5x7") { check_against_reference({3, 6, 5, 7}, 3, false); }
  SUBCASE("10 channels in 5 groups, 5x7") { check_against_reference({3, 10, 5, 7}, 5, false); }
  SUBCASE("one group (layer norm over C, H, W)") { check_against_reference({3, 6, 5, 7}, 1, false); }
  SUBCASE("one channel per group (instance norm)") { check_against_reference({3, 6, 5, 7}, 6, false); }
  SUBCASE("3-D input [N, C, L]") { check_against_reference({3, 10, 9}, 5, false); }
  SUBCASE("2-D input [N, C], 2 groups of 5") { check_against_reference({3, 10}, 2, false); }
  SUBCASE("three spatial dims") { check_against_reference({2, 6, 3, 5, 7}, 2, false); }
  SUBCASE("U-Net width: 64 channels in 32 groups, 5x7") { check_against_reference({3, 64, 5, 7}, 32, false); }
}

TEST_CASE("group_norm_silu matches the double reference in float32 (forward and all gradients)") {
  SUBCASE("6 channels in 3 groups, 5x7") { check_against_reference({3, 6, 5, 7}, 3, true); }
  SUBCASE("10 channels in 5 groups, 5x7") { check_against_reference({3, 10, 5, 7}, 5, true); }
  SUBCASE("2-D input [N, C], 2 groups of 5") { check_against_reference({3, 10}, 2, true); }
  SUBCASE("U-Net width: 64 channels in 32 groups, 5x7") { check_against_reference({3, 64, 5, 7}, 32, true); }
}

TEST_CASE("group_norm statistics stay accurate when the mean is far from zero") {
  // mean 100, std 1: E[x^2] - E[x]^2 in float would lose about 4 of float's 7 digits here.
  check_against_reference({3, 10, 5, 7}, 5, false, 100.0, 1.0, 2e-4);
  check_against_reference({3, 10, 5, 7}, 5, true, 100.0, 1.0, 2e-4);
  // A constant group has variance 0: the output is the bias, finite.
  Tensor x = Tensor::full({2, 4, 3, 3}, 7.0), w = Tensor::full({4}, 2.0), b = Tensor::full({4}, 0.5);
  check_close(group_norm(x, 2, w, b, 1e-6), Values(72, 0.5), 1e-6, "constant input");
}

TEST_CASE("group_norm and group_norm_silu: float64 analytic gradients (CHECK_GRADIENTS)") {
  const Shape shape{3, 10, 5, 7};
  const Tensor x = random_input(shape, 1), w = add(random_input({10}, 2, 0.5), 1.0), b = random_input({10}, 3, 0.3);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return group_norm(in[0], 5, in[1], in[2], 1e-6); }, {x, w, b}, strided(kFourPoint));
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return group_norm_silu(in[0], 5, in[1], in[2], 1e-6); }, {x, w, b}, strided(kFourPoint));
  const Tensor x6 = random_input({3, 6, 5, 7}, 4), w6 = add(random_input({6}, 5, 0.5), 1.0), b6 = random_input({6}, 6);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return group_norm(in[0], 3, in[1], in[2], 1e-6); }, {x6, w6, b6}, strided(kFourPoint));
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return group_norm_silu(in[0], 3, in[1], in[2], 1e-6); },
                  {x6, w6, b6}, strided(kFourPoint));
  // Without the affine parameters.
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return group_norm(in[0], 3, Tensor(), Tensor()); }, {x6}, strided(kFourPoint));
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return group_norm_silu(in[0], 3, Tensor(), Tensor()); }, {x6}, strided(kFourPoint));
}

TEST_CASE("group_norm_silu equals silu(group_norm(...)), forward and backward") {
  for (DType dtype : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(dtype));
    const Shape shape{3, 10, 5, 7};
    const Values xv = random_values(numel(shape), 7), wv = random_values(10, 8, 0.5, 1.0),
                 bv = random_values(10, 9, 0.3), R = random_values(numel(shape), 10);
    const double tol = dtype == DType::F32 ? 2e-6 : 1e-12;
    Tensor x1 = tensor_of(xv, shape, dtype), w1 = tensor_of(wv, {10}, dtype), b1 = tensor_of(bv, {10}, dtype);
    Tensor x2 = tensor_of(xv, shape, dtype), w2 = tensor_of(wv, {10}, dtype), b2 = tensor_of(bv, {10}, dtype);
    Tensor fused = group_norm_silu(x1, 5, w1, b1, 1e-6);
    Tensor composed = silu(group_norm(x2, 5, w2, b2, 1e-6));
    fused.backward(tensor_of(R, shape, dtype, false));
    composed.backward(tensor_of(R, shape, dtype, false));
    check_close(fused, composed.to_vector(), tol, "y");
    check_close(x1.grad(), x2.grad().to_vector(), tol, "dx");
    check_close(w1.grad(), w2.grad().to_vector(), tol, "dweight");
    check_close(b1.grad(), b2.grad().to_vector(), tol, "dbias");
  }
}

TEST_CASE("group_norm: strided input, partial gradients, no tape") {
  const Values xv = random_values(3 * 6 * 5 * 7, 11);
  const Tensor w = tensor_of(random_values(6, 12, 0.5, 1.0), {6}, DType::F32, false);
  const Tensor b = tensor_of(random_values(6, 13), {6}, DType::F32, false);
  // A non-contiguous view gives the same result as its contiguous copy.
  const Tensor base = tensor_of(xv, {3, 6, 7, 5}, DType::F32, false);
  const Tensor strided = base.transpose(2, 3);
  CHECK(!strided.is_contiguous());
  check_close(group_norm(strided, 3, w, b), group_norm(strided.contiguous(), 3, w, b).to_vector(), 1e-6, "strided");
  // Only the weight requires a gradient: it gets the same one as when x requires one too.
  Tensor w_only = tensor_of(w.to_vector(), {6}, DType::F32);
  sum(group_norm_silu(tensor_of(xv, {3, 6, 5, 7}, DType::F32, false), 3, w_only, b)).backward();
  Tensor w_both = tensor_of(w.to_vector(), {6}, DType::F32);
  sum(group_norm_silu(tensor_of(xv, {3, 6, 5, 7}, DType::F32), 3, w_both, b)).backward();
  check_close(w_only.grad(), w_both.grad().to_vector(), 1e-6, "dweight without dx");
  // Under NoGradGuard nothing is recorded.
  NoGradGuard no_grad;
  CHECK(!group_norm(tensor_of(xv, {3, 6, 5, 7}, DType::F32), 3, w_both, b).requires_grad());
}

TEST_CASE("group_norm on several threads: the reference forward, and results independent of the thread count") {
  // 4 x 32 blocks of 2 x 16 x 16 values: large enough for the kernels to split the blocks across threads.
  const Shape shape{4, 64, 16, 16};
  const Values xv = random_values(numel(shape), 21), wv = random_values(64, 22, 0.5, 1.0), bv = random_values(64, 23),
               R = random_values(numel(shape), 24);
  const int saved = num_threads();
  for (bool silu : {false, true}) {
    CAPTURE(silu);
    std::vector<Values> results;
    for (int threads : {1, 2}) {
      set_threads(threads);
      Tensor x = tensor_of(xv, shape, DType::F32), w = tensor_of(wv, {64}, DType::F32), b = tensor_of(bv, {64}, DType::F32);
      Tensor y = silu ? group_norm_silu(x, 32, w, b, 1e-6) : group_norm(x, 32, w, b, 1e-6);
      y.backward(tensor_of(R, shape, DType::F32, false));
      if (threads == 2) check_close(y, reference(xv, shape, 32, wv, bv, 1e-6, silu), 2e-5, "y");
      results.push_back(y.to_vector());
      for (const Tensor& t : {x, w, b}) results.push_back(t.grad().to_vector());
    }
    for (size_t i = 0; i < 4; ++i) CHECK(results[i] == results[i + 4]);
  }
  set_threads(saved);
}

TEST_CASE("group_norm: bad arguments throw invalid_argument naming the op and the shapes") {
  const Tensor x = Tensor::zeros({3, 10, 5, 7}), w = Tensor::ones({10}), b = Tensor::zeros({10});
  std::string m = error_message([&] { group_norm(x, 4, w, b); });
  CHECK(m.rfind("group_norm:", 0) == 0);
  CHECK(m.find("4 groups") != std::string::npos);
  CHECK(m.find("float32[3, 10, 5, 7]") != std::string::npos);
  m = error_message([&] { group_norm_silu(x, 5, Tensor::ones({6}), b); });
  CHECK(m.rfind("group_norm_silu:", 0) == 0);
  CHECK(m.find("float32[6]") != std::string::npos);
  m = error_message([&] { group_norm(x, 5, w, Tensor::zeros({10}, DType::F64)); });
  CHECK(m.rfind("group_norm:", 0) == 0);
  CHECK(m.find("float64[10]") != std::string::npos);
  m = error_message([&] { group_norm(Tensor::zeros({10}), 5, w, b); });
  CHECK(m.rfind("group_norm:", 0) == 0);
  CHECK(m.find("float32[10]") != std::string::npos);
  CHECK(error_message([&] { group_norm(x, 0, w, b); }).rfind("group_norm:", 0) == 0);
  CHECK(error_message([&] { group_norm(Tensor::zeros({2, 4}, DType::I32), 2, Tensor(), Tensor()); })
            .rfind("group_norm:", 0) == 0);
}
