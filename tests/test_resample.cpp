// upsample_nearest2x and avg_pool2x2 against naive double-precision reference loops: the forward and
// the gradient (central differences of the reference) in float32, the analytic backward in float64
// through CHECK_GRADIENTS, strided inputs, errors.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tensor/resample.hpp"
#include "tensor/threads.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {

// y[p, i, j] = x[p, i / 2, j / 2] for each plane p of x [P, H, W] -> y [P, 2H, 2W].
Values reference_upsample(const Values& x, int64_t P, int64_t H, int64_t W) {
  Values y(P * 4 * H * W);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < 2 * H; ++i)
      for (int64_t j = 0; j < 2 * W; ++j) y[(p * 2 * H + i) * 2 * W + j] = x[(p * H + i / 2) * W + j / 2];
  return y;
}

// y[p, i, j] = mean of x[p, 2i + a, 2j + b] over a, b in {0, 1}, for x [P, H, W] -> y [P, H/2, W/2].
Values reference_pool(const Values& x, int64_t P, int64_t H, int64_t W) {
  Values y(P * (H / 2) * (W / 2), 0.0);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < H / 2; ++i)
      for (int64_t j = 0; j < W / 2; ++j)
        for (int64_t a = 0; a < 2; ++a)
          for (int64_t b = 0; b < 2; ++b)
            y[(p * (H / 2) + i) * (W / 2) + j] += 0.25 * x[(p * H + 2 * i + a) * W + 2 * j + b];
  return y;
}

// Runs op in float32 on x [N, C, H, W] with backward seeded by a random R; compares y and dx with the
// reference and its central-difference gradient.
void check_against_reference(const Shape& shape, bool upsample) {
  const int64_t P = shape[0] * shape[1], H = shape[2], W = shape[3];
  const auto ref = [&](const Values& x) {
    return upsample ? reference_upsample(x, P, H, W) : reference_pool(x, P, H, W);
  };
  const Values x = random_values(numel(shape), 1);
  const Values y = ref(x), R = random_values(static_cast<int64_t>(y.size()), 2);
  const Values dx = numeric_gradient([&](const Values& p) { return dot(R, ref(p)); }, x);
  Tensor tx = tensor_of(x, shape, DType::F32);
  Tensor ty = upsample ? upsample_nearest2x(tx) : avg_pool2x2(tx);
  const Shape expected = upsample ? Shape{shape[0], shape[1], 2 * H, 2 * W} : Shape{shape[0], shape[1], H / 2, W / 2};
  REQUIRE(ty.shape() == expected);
  ty.backward(tensor_of(R, expected, DType::F32, false));
  check_close(ty, y, upsample ? 0.0 : 1e-6, "y");
  check_close(tx.grad(), dx, 1e-6, "dx");
}

}  // namespace

TEST_CASE("upsample_nearest2x matches the double reference in float32 (forward and gradient)") {
  SUBCASE("batch 3, 5 channels, 5x7") { check_against_reference({3, 5, 5, 7}, true); }
  SUBCASE("1x1 planes") { check_against_reference({3, 2, 1, 1}, true); }
  SUBCASE("one long row") { check_against_reference({1, 2, 1, 37}, true); }
}

TEST_CASE("avg_pool2x2 matches the double reference in float32 (forward and gradient)") {
  SUBCASE("batch 3, 5 channels, 6x8") { check_against_reference({3, 5, 6, 8}, false); }
  SUBCASE("2x2 planes") { check_against_reference({3, 2, 2, 2}, false); }
  SUBCASE("two long rows") { check_against_reference({1, 2, 2, 38}, false); }
}

TEST_CASE("upsample_nearest2x and avg_pool2x2: float64 analytic gradients (CHECK_GRADIENTS)") {
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return upsample_nearest2x(in[0]); },
                  {random_input({3, 5, 5, 7}, 1)}, strided());
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return avg_pool2x2(in[0]); }, {random_input({3, 5, 6, 8}, 2)}, strided());
  // Pooling an upsampled tensor gives it back, and so does its gradient.
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return avg_pool2x2(upsample_nearest2x(in[0])); },
                  {random_input({3, 5, 5, 7}, 3)}, strided());
}

TEST_CASE("upsample_nearest2x and avg_pool2x2 read strided inputs") {
  const Tensor base = tensor_of(random_values(3 * 5 * 8 * 6, 4), {3, 5, 8, 6}, DType::F32, false);
  const Tensor strided = base.transpose(2, 3);  // [3, 5, 6, 8], not contiguous
  REQUIRE(!strided.is_contiguous());
  check_close(upsample_nearest2x(strided), upsample_nearest2x(strided.contiguous()).to_vector(), 0.0, "upsample");
  check_close(avg_pool2x2(strided), avg_pool2x2(strided.contiguous()).to_vector(), 0.0, "avg_pool");
  const Tensor x = tensor_of(random_values(3 * 5 * 6 * 8, 5), {3, 5, 6, 8}, DType::F32, false);
  check_close(avg_pool2x2(upsample_nearest2x(x)), x.to_vector(), 0.0, "pool(upsample(x)) = x");
}

TEST_CASE("upsample_nearest2x and avg_pool2x2 on several threads match the reference") {
  // 2048 rows of 32: large enough for the kernels to split the rows across threads.
  const int saved = num_threads();
  set_threads(2);
  const Shape shape{4, 16, 32, 32};
  const Values xv = random_values(numel(shape), 41);
  Tensor x = tensor_of(xv, shape, DType::F32);
  Tensor up = upsample_nearest2x(x);
  check_close(up, reference_upsample(xv, 64, 32, 32), 0.0, "upsample");
  Tensor pooled = avg_pool2x2(up);  // the gradient of x through both is 4 * (1/4) = 1 per element
  check_close(pooled, xv, 0.0, "pool(upsample(x))");
  sum(pooled).backward();
  check_close(x.grad(), Values(xv.size(), 1.0), 0.0, "dx");
  check_close(avg_pool2x2(x), reference_pool(xv, 64, 32, 32), 1e-6, "avg_pool");
  set_threads(saved);
}

TEST_CASE("upsample_nearest2x and avg_pool2x2: bad arguments throw invalid_argument naming the op and the shapes") {
  std::string m = error_message([] { avg_pool2x2(Tensor::zeros({3, 5, 5, 8})); });
  CHECK(m.rfind("avg_pool2x2:", 0) == 0);
  CHECK(m.find("float32[3, 5, 5, 8]") != std::string::npos);
  CHECK(m.find("even") != std::string::npos);
  m = error_message([] { avg_pool2x2(Tensor::zeros({3, 5, 6, 7})); });
  CHECK(m.rfind("avg_pool2x2:", 0) == 0);
  m = error_message([] { avg_pool2x2(Tensor::zeros({5, 6, 8})); });
  CHECK(m.rfind("avg_pool2x2:", 0) == 0);
  CHECK(m.find("float32[5, 6, 8]") != std::string::npos);
  m = error_message([] { upsample_nearest2x(Tensor::zeros({5, 6, 8})); });
  CHECK(m.rfind("upsample_nearest2x:", 0) == 0);
  CHECK(m.find("float32[5, 6, 8]") != std::string::npos);
  m = error_message([] { upsample_nearest2x(Tensor::zeros({1, 2, 3, 4}, DType::I32)); });
  CHECK(m.rfind("upsample_nearest2x:", 0) == 0);
  CHECK(m.find("int32[1, 2, 3, 4]") != std::string::npos);
}
