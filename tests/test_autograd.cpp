// The tape itself: ordering, accumulation, no-grad scopes, freeing, and proof that the gradient-check
// harness catches what it is there to catch: a deliberately broken backward (an index off by one, two
// indices swapped), a NaN or an Inf (before any comparison), an op that ignores strides; and that its
// four-point stencil, step and tolerance options do what they say.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "gradcheck.hpp"

using namespace diffuse;
using namespace diffuse::testing;

TEST_CASE("a diamond graph sums both paths") {
  Tensor x = Tensor::from_vector(std::vector<double>{2.0}, {1});
  x.set_requires_grad();
  const Tensor a = x * 3.0, b = square(x);
  const Tensor y = a * b + a;  // y = 3x^3 + 3x, dy/dx = 9x^2 + 3 = 39
  sum(y).backward();
  CHECK(x.grad().item() == doctest::Approx(39.0));
}

// The two operands of add receive one gradient, and intermediate tensors keep it without a copy
// (autograd.cpp). A second part arriving at one of them must make a new sum, not add into the one the other
// holds (nor into the caller's tensor). The diamond above takes this path too, but only in the order in which
// its tape happens to run; here accumulate_grad is called directly.
TEST_CASE("a gradient two intermediate tensors share is copied on write") {
  Tensor x = Tensor::from_vector(std::vector<double>{1.0, -2.0, 0.5}, {3});
  x.set_requires_grad();
  const Tensor a = x * 2.0, b = x * 3.0;  // intermediates: each has a node
  const Tensor g = Tensor::ones({3}, DType::F64);
  accumulate_grad(a, g);
  accumulate_grad(b, g);
  CHECK(a.grad().impl() == g.impl());  // shared, not copied
  accumulate_grad(a, Tensor::full({3}, 2.0, DType::F64));
  CHECK(a.grad().to_vector() == std::vector<double>{3.0, 3.0, 3.0});
  CHECK(b.grad().to_vector() == std::vector<double>{1.0, 1.0, 1.0});
  CHECK(g.to_vector() == std::vector<double>{1.0, 1.0, 1.0});
  accumulate_grad(a, g);  // a's own sum now: added into in place
  CHECK(a.grad().to_vector() == std::vector<double>{4.0, 4.0, 4.0});
  accumulate_grad_window(b, 0, 1, Tensor::ones({2}, DType::F64));  // the windowed form copies on write too
  CHECK(b.grad().to_vector() == std::vector<double>{1.0, 2.0, 2.0});
  CHECK(g.to_vector() == std::vector<double>{1.0, 1.0, 1.0});
}

TEST_CASE("gradients accumulate across backward calls until zeroed") {
  Tensor w = Tensor::from_vector(std::vector<double>{1.0, -2.0}, {2});
  w.set_requires_grad();
  for (int micro = 0; micro < 3; ++micro) sum(w * w).backward();  // three micro-batches
  CHECK(w.grad().to_vector() == std::vector<double>{6.0, -12.0});
  w.zero_grad();
  sum(w * 5.0).backward();
  CHECK(w.grad().to_vector() == std::vector<double>{5.0, 5.0});
}

TEST_CASE("a no-grad scope records nothing") {
  Tensor w = Tensor::ones({3});
  w.set_requires_grad();
  {
    NoGradGuard no_grad;
    const Tensor y = exp(w) * 2.0;
    CHECK_FALSE(y.requires_grad());
    CHECK_FALSE(y.grad_fn());
  }
  const Tensor z = exp(w);
  REQUIRE(z.grad_fn());
  CHECK(std::string(z.grad_fn()->op) == "exp");
}

TEST_CASE("the graph is freed after backward") {
  Tensor w = Tensor::ones({4});
  w.set_requires_grad();
  Tensor h = tanh(w * 2.0);
  std::weak_ptr<Node> node = h.grad_fn();
  std::weak_ptr<TensorImpl> saved = h.grad_fn()->inputs[0].impl_ptr();  // the intermediate w * 2
  Tensor loss = sum(h);
  loss.backward();
  CHECK(node.expired());
  CHECK(saved.expired());
  CHECK_FALSE(loss.grad_fn());
  CHECK(w.grad().defined());
}

TEST_CASE("backward refuses what it cannot do") {
  CHECK_THROWS_WITH_AS(Tensor::ones({2}).backward(), doctest::Contains("does not require a gradient"), std::invalid_argument);
  Tensor w = Tensor::ones({2});
  w.set_requires_grad();
  CHECK_THROWS_WITH_AS((w * 2.0).backward(), doctest::Contains("a seed gradient is needed"), std::invalid_argument);
  (w * 2.0).backward(Tensor::ones({2}));
  CHECK(w.grad().to_vector() == std::vector<double>{2, 2});
}

// A transpose whose backward forgets to transpose back: shapes agree for a square matrix, values do not.
Tensor broken_transpose(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = x.transpose(0, 1).contiguous();
  }
  return record("broken_transpose", y, {x}, [x](const Tensor& g) { accumulate_grad(x, g); });
}

// matmul whose backward uses b instead of b^T for da: two indices swapped.
Tensor broken_matmul(const Tensor& a, const Tensor& b) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = matmul(a, b);
  }
  return record("broken_matmul", y, {a, b}, [a, b](const Tensor& g) {
    accumulate_grad(a, matmul(g, b.detach()));
    accumulate_grad(b, matmul(a.detach().transpose(0, 1), g));
  });
}

TEST_CASE("the harness catches a deliberately broken backward") {
  const auto bad = check_gradients([](auto& in) { return broken_transpose(in[0]); }, {random_input({3, 3}, 1)});
  CHECK_FALSE(bad.ok);
  MESSAGE("broken transpose: " << bad.report);
  const auto bad2 = check_gradients([](auto& in) { return broken_matmul(in[0], in[1]); },
                                    {random_input({3, 3}, 2), random_input({3, 3}, 3)});
  CHECK_FALSE(bad2.ok);
  MESSAGE("broken matmul: " << bad2.report);
  // ... while the correct ops pass at the same tolerance.
  CHECK(check_gradients([](auto& in) { return in[0].transpose(0, 1).contiguous(); }, {random_input({3, 3}, 1)}).ok);
  CHECK(check_gradients([](auto& in) { return matmul(in[0], in[1]); }, {random_input({3, 3}, 2), random_input({3, 3}, 3)}).ok);
}

namespace {
// y[i] = x[i + 1] for i < n - 1 (x [n] without its first element), by hand. With off_by_one the
// backward sends g[i] to x[i] instead of x[i + 1].
Tensor drop_first(const Tensor& x, bool off_by_one) {
  const int64_t n = x.numel();
  Tensor y = Tensor::empty({n - 1}, DType::F64);
  {
    NoGradGuard no_grad;
    const Tensor xc = x.contiguous();
    for (int64_t i = 0; i + 1 < n; ++i) y.data<double>()[i] = xc.data<double>()[i + 1];
  }
  return record("drop_first", y, {x}, [x, n, off_by_one](const Tensor& g) {
    Tensor dx = Tensor::zeros({n}, DType::F64);
    const Tensor gc = g.contiguous();
    for (int64_t i = 0; i + 1 < n; ++i) dx.data<double>()[off_by_one ? i : i + 1] += gc.data<double>()[i];
    accumulate_grad(x, dx);
  });
}
}  // namespace

TEST_CASE("the harness catches an index off by one in a backward, with either stencil and in either layout") {
  const Tensor x = random_input({7}, 4);
  for (const GradCheckOptions& opt : {GradCheckOptions{}, kFourPoint, strided()}) {
    CAPTURE(opt.h);
    CAPTURE(opt.strided);
    CHECK(check_gradients([](auto& in) { return drop_first(in[0], false); }, {x}, opt).ok);
    const GradCheck bad = check_gradients([](auto& in) { return drop_first(in[0], true); }, {x}, opt);
    CHECK_FALSE(bad.ok);
    CHECK(bad.failure == GradCheckFailure::Mismatch);
    CHECK(bad.worst > 1e5);  // far outside the tolerance, not at its edge
    MESSAGE("drop_first off by one: " << bad.report);
  }
  const GradCheck bad = check_gradients([](auto& in) { return broken_transpose(in[0]); }, {random_input({3, 3}, 1)},
                                        {.stencil = Stencil::Central4, .strided = true});
  CHECK(bad.failure == GradCheckFailure::Mismatch);
}

TEST_CASE("a NaN or an Inf fails the check first, with a report naming the tensor and the element") {
  // log of a negative element: the forward output is NaN there.
  const Tensor x = Tensor::from_vector(std::vector<double>{0.5, -1.0, 2.0}, {3});
  GradCheck r = check_gradients([](auto& in) { return log(in[0]); }, {x});
  CHECK_FALSE(r.ok);
  CHECK(r.failure == GradCheckFailure::NonFiniteOutput);
  CHECK(r.report.find("non-finite forward output: element 1 of float64[3] is nan") == 0);
  MESSAGE("log(-1): " << r.report);
  // ... and a wrong backward behind a NaN forward is reported as the NaN.
  r = check_gradients([](auto& in) { return drop_first(log(in[0]), true); }, {x});
  CHECK(r.failure == GradCheckFailure::NonFiniteOutput);
  // sqrt(x^2) = |x| is finite everywhere, but its chain-rule gradient at 0 is 0 * inf.
  const Tensor z = Tensor::from_vector(std::vector<double>{0.5, 0.0, -2.0}, {3});
  r = check_gradients([](auto& in) { return sqrt(square(in[0])); }, {z});
  CHECK_FALSE(r.ok);
  CHECK(r.failure == GradCheckFailure::NonFiniteGradient);
  CHECK(r.report.find("non-finite analytic gradient: element 1 of the gradient of input 0 float64[3]") == 0);
  MESSAGE("sqrt(x^2) at 0: " << r.report);
  // 1/x at 0: an Inf in the output.
  r = check_gradients([](auto& in) { return pow(in[0], -1.0); }, {z});
  CHECK(r.failure == GradCheckFailure::NonFiniteOutput);
  CHECK(r.report.find("is inf") != std::string::npos);
}

namespace {
// x^2 computed by reading x's memory as if it were row-major (right only for a contiguous x); the
// backward, 2 g x, through the ops.
Tensor square_ignoring_strides(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::F64);
  for (int64_t j = 0; j < x.numel(); ++j) y.data<double>()[j] = x.data<double>()[j] * x.data<double>()[j];
  return record("square_ignoring_strides", y, {x}, [x](const Tensor& g) { accumulate_grad(x, g * x.detach() * 2.0); });
}

// x^2 through the ops; the backward reads x's memory as if it were row-major.
Tensor square_grad_ignoring_strides(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = square(x);
  }
  return record("square_grad_ignoring_strides", y, {x}, [x](const Tensor& g) {
    Tensor dx = Tensor::empty(x.shape(), DType::F64);
    const Tensor gc = g.contiguous();
    for (int64_t j = 0; j < x.numel(); ++j) dx.data<double>()[j] = 2 * gc.data<double>()[j] * x.data<double>()[j];
    accumulate_grad(x, dx);
  });
}
}  // namespace

TEST_CASE("the strided variant feeds non-contiguous views of the same values, and catches an op that ignores strides") {
  const Tensor x = random_input({3, 4}, 5);
  const Tensor v = strided_view_of(x);
  CHECK_FALSE(v.is_contiguous());
  CHECK(v.shape() == x.shape());
  CHECK(v.strides() == Shape{2, 6});  // [3, 4] at strides [4, 1] becomes strides doubled and reversed
  CHECK(v.offset() == 1);
  CHECK(v.to_vector() == x.to_vector());
  CHECK(std::isnan(v.data<double>()[-1]));  // the buffer around the view is NaN
  CHECK(std::isnan(v.data<double>()[1]));
  CHECK(strided_view_of(random_input({5}, 6)).strides() == Shape{2});

  for (auto op : {square_ignoring_strides, square_grad_ignoring_strides}) {
    const TensorFn f = [op](auto& in) { return op(in[0]); };
    CHECK(check_gradients(f, {x}).ok);  // contiguous inputs only: the bug goes unseen
    const GradCheck r = check_gradients(f, {x}, strided());
    CHECK_FALSE(r.ok);
    CHECK(r.report.find("(strided inputs)") != std::string::npos);
    MESSAGE("ignoring strides: " << r.report);
  }
  // Both read the NaN around the view, so the NaN check reports them: in the output, in the gradient.
  CHECK(check_gradients([](auto& in) { return square_ignoring_strides(in[0]); }, {x}, strided()).failure ==
        GradCheckFailure::NonFiniteOutput);
  CHECK(check_gradients([](auto& in) { return square_grad_ignoring_strides(in[0]); }, {x}, strided()).failure ==
        GradCheckFailure::NonFiniteGradient);
  // A backward whose general (strided) path has the index off by one while its contiguous path is right:
  // caught by the comparison on the strided pass.
  const TensorFn two_paths = [](auto& in) { return drop_first(in[0], !in[0].is_contiguous()); };
  const Tensor row = random_input({7}, 8);
  CHECK(check_gradients(two_paths, {row}).ok);
  const GradCheck r = check_gradients(two_paths, {row}, strided());
  CHECK(r.failure == GradCheckFailure::Mismatch);
  CHECK(r.report.find("(strided) element") != std::string::npos);
  MESSAGE("off by one on the strided path only: " << r.report);
}

TEST_CASE("the four-point stencil: exact for quartics, and its step and tolerance reach the check") {
  const auto quartic = [](double t) { return t * t * t * t; };
  // (f(1 + h) - f(1 - h)) / 2h = 4 + 4 h^2; the four-point formula has no error up to degree 4.
  CHECK(std::abs(numeric_derivative(quartic, 1.0, 0.1, Stencil::Central2) - 4.04) < 1e-12);
  CHECK(std::abs(numeric_derivative(quartic, 1.0, 0.1, Stencil::Central4) - 4.0) < 1e-12);
  const TensorFn fourth = [](auto& in) { return square(square(in[0])); };
  const Tensor x = random_input({6}, 7);
  CHECK_FALSE(check_gradients(fourth, {x}, {.h = 0.1}).ok);  // off by 4 x h^2
  CHECK(check_gradients(fourth, {x}, {.h = 0.1, .stencil = Stencil::Central4}).ok);
  // At step 1e-3 the two-point difference of exp is off by h^2/6 = 1.7e-7 relative: inside the default
  // tolerance, outside the one the four-point checks use, which the four-point difference meets.
  const TensorFn e = [](auto& in) { return exp(in[0]); };
  CHECK(check_gradients(e, {x}, {.h = 1e-3}).ok);
  CHECK_FALSE(check_gradients(e, {x}, {.h = 1e-3, .atol = 1e-9, .rtol = 1e-8}).ok);
  CHECK(check_gradients(e, {x}, kFourPoint).ok);
}
