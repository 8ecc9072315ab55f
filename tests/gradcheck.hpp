// The one gradient-check harness every op goes through, and the helpers its tests share.
//
// check_gradients runs f on float64 inputs, contracts the output with a fixed random tensor R (so every
// output element matters, each with its own weight), and compares d(sum(f(x) * R))/dx from backward()
// with a numeric derivative, element by element. In order:
//   1. the forward output must be finite, then every analytic gradient must be finite: a NaN or an Inf
//      fails at once with a report naming the tensor and the element, before any comparison;
//   2. each element's numeric derivative, by the options' stencil and step h:
//        Stencil::Central2  (f(x + h) - f(x - h)) / 2h                              error ~ h^2 f'''/6
//        Stencil::Central4  (f(x - 2h) - 8 f(x - h) + 8 f(x + h) - f(x + 2h)) / 12h  error ~ h^4 f'''''/30
//      passes when |analytic - numeric| <= atol + rtol |numeric|.
// With the defaults (Central2, h 1e-6, atol 1e-7, rtol 1e-6) truncation and rounding in double are ~1e-9,
// six orders of magnitude below the error of any wrong index or wrong formula. Where curvature is high
// (exp, log, softmax, normalisations, attention) Central4 with a larger step keeps the truncation error
// small while rounding shrinks by the ratio of the steps, which lets those ops be held to a tighter
// tolerance (each op's test picks its own GradCheckOptions).
//
// With options.strided the check runs a second time with every float input replaced by a non-contiguous
// view holding the same values (strided_view_of: strides doubled and reversed, at an offset, into a
// buffer whose other elements are NaN), so an op that ignores strides reads NaN or wrong values and fails.
//
// The second half of the file serves tests that compare an op in float32 with a naive double-precision
// reference written in the test: the reference ref(inputs) is a plain loop nest in double; the loss is
// sum(R * ref) for a fixed random R; its gradient by numeric_gradient (the same stencils); the op runs in
// float32 on the same values (random_values are exact in float32), its backward seeded with R, and
// check_close compares both its output and its gradients.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

namespace diffuse::testing {

// How a numeric derivative is taken (the formulas are at the top of this file).
enum class Stencil { Central2, Central4 };

// What one op's gradient check asks for. The defaults are the harness's historical ones.
struct GradCheckOptions {
  double h = 1e-6;     // finite-difference step
  double atol = 1e-7;  // an element passes when |analytic - numeric| <= atol + rtol |numeric|
  double rtol = 1e-6;
  Stencil stencil = Stencil::Central2;
  bool strided = false;  // also run with every float input a non-contiguous view (strided_view_of)
  uint64_t seed = 1234;  // of R
};

// For ops with high curvature (exp, log, softmax, normalisations, attention): the four-point stencil at
// step 1e-3, whose truncation error is O(h^4) and whose rounding is a thousandth of the default step's,
// held to a tolerance 100 times tighter than the default (the worst element of any op using it takes 4%
// of that tolerance: group norm's).
inline constexpr GradCheckOptions kFourPoint{.h = 1e-3, .atol = 1e-9, .rtol = 1e-8, .stencil = Stencil::Central4};

// The same options with the strided variant on: CHECK_GRADIENTS(f, inputs, strided(kFourPoint)).
constexpr GradCheckOptions strided(GradCheckOptions opt = {}) {
  opt.strided = true;
  return opt;
}

// Why a check failed, in the order the harness looks.
enum class GradCheckFailure { None, NonFiniteOutput, NonFiniteGradient, Mismatch };

struct GradCheck {
  bool ok = true;
  GradCheckFailure failure = GradCheckFailure::None;
  double worst = 0;    // largest |analytic - numeric| / (atol + rtol |numeric|); <= 1 passes
  std::string report;  // the first non-finite value, or where the worst element is, with both values
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// d/dt at(t) at t = x0 by the stencil; at(t) evaluates the function with the variable set to t.
inline double numeric_derivative(const std::function<double(double)>& at, double x0, double h, Stencil stencil) {
  if (stencil == Stencil::Central2) {
    const double fp = at(x0 + h), fm = at(x0 - h);
    return (fp - fm) / (2 * h);
  }
  const double fm2 = at(x0 - 2 * h), fm1 = at(x0 - h), fp1 = at(x0 + h), fp2 = at(x0 + 2 * h);
  return (fm2 - 8 * fm1 + 8 * fp1 - fp2) / (12 * h);
}

// A non-contiguous float64 tensor holding x's values: a view into a buffer of shape reverse(x.shape) + [2]
// at [..., 1], permuted back, so every stride is doubled and their order reversed, the offset is 1, and
// every element of the buffer outside the view is NaN. (Detached: a leaf.)
inline Tensor strided_view_of(const Tensor& x) {
  const int64_t d = x.dim();
  Shape buffer_shape(x.shape().rbegin(), x.shape().rend());
  buffer_shape.push_back(2);
  const Tensor buffer = Tensor::full(buffer_shape, NAN, DType::F64);
  std::vector<int64_t> reverse(d);
  for (int64_t i = 0; i < d; ++i) reverse[i] = d - 1 - i;
  const Tensor view = buffer.narrow(d, 1, 1).squeeze(d).permute(reverse).detach();
  view.copy_(x);
  return view;
}

namespace detail {

// The element of x (float64, any layout) at row-major position j.
inline double& element(const Tensor& x, int64_t j) {
  int64_t at = 0;
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    at += (j % x.shape()[d]) * x.strides()[d];
    j /= x.shape()[d];
  }
  return x.data<double>()[at];
}

// The first non-finite element of v, or -1.
inline int64_t first_non_finite(const std::vector<double>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<int64_t>(i);
  return -1;
}

// One pass of the check on inputs already in float64 in the layout to test.
inline GradCheck check_layout(const TensorFn& f, std::vector<Tensor>& inputs, const GradCheckOptions& opt,
                              const char* layout) {
  GradCheck result;
  auto fail = [&](GradCheckFailure why, const std::string& what) {
    result.ok = false;
    result.failure = why;
    result.worst = INFINITY;
    result.report = what + " (" + layout + " inputs)";
    return result;
  };
  for (Tensor& x : inputs)
    if (x.dtype() != DType::I32) x.set_requires_grad(true);
  const Tensor out = f(inputs);
  const std::vector<double> out_values = out.to_vector();
  if (const int64_t j = first_non_finite(out_values); j >= 0) {
    std::ostringstream o;
    o << "non-finite forward output: element " << j << " of " << describe(out) << " is " << out_values[j];
    return fail(GradCheckFailure::NonFiniteOutput, o.str());
  }
  Philox rng(opt.seed);
  const Tensor R = randn(out.shape(), rng, DType::F64);
  sum(mul(out, R)).backward();

  std::vector<std::vector<double>> analytic(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (x.dtype() == DType::I32) continue;
    analytic[k] = x.grad().defined() ? x.grad().to_vector() : std::vector<double>(x.numel(), 0.0);
    if (const int64_t j = first_non_finite(analytic[k]); j >= 0) {
      std::ostringstream o;
      o << "non-finite analytic gradient: element " << j << " of the gradient of input " << k << " "
        << describe(x) << " is " << analytic[k][j];
      return fail(GradCheckFailure::NonFiniteGradient, o.str());
    }
  }

  auto objective = [&]() {
    NoGradGuard no_grad;
    return sum(mul(f(inputs), R)).item();
  };
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (x.dtype() == DType::I32) continue;
    for (int64_t j = 0; j < x.numel(); ++j) {
      double& v = element(x, j);
      const double saved = v;
      const double numeric = numeric_derivative(
          [&](double t) {
            v = t;
            return objective();
          },
          saved, opt.h, opt.stencil);
      v = saved;
      const double a = analytic[k][j];
      const double score = std::abs(a - numeric) / (opt.atol + opt.rtol * std::abs(numeric));
      if (!(score <= result.worst)) {  // also catches NaN
        result.worst = std::isnan(score) ? INFINITY : score;
        std::ostringstream o;
        o << "input " << k << " " << describe(x) << " (" << layout << ") element " << j << ": analytic " << a
          << " numeric " << numeric << " (allowed difference " << opt.atol + opt.rtol * std::abs(numeric) << ")";
        result.report = o.str();
      }
    }
  }
  result.ok = result.worst <= 1.0;
  if (!result.ok) result.failure = GradCheckFailure::Mismatch;
  return result;
}

}  // namespace detail

inline GradCheck check_gradients(const TensorFn& f, std::vector<Tensor> inputs, const GradCheckOptions& opt = {}) {
  for (Tensor& x : inputs)
    if (x.dtype() != DType::I32) x = x.to(DType::F64).contiguous().clone().detach();
  GradCheck result = detail::check_layout(f, inputs, opt, "contiguous");
  if (!opt.strided || !result.ok) return result;
  for (Tensor& x : inputs)
    if (x.dtype() != DType::I32) x = strided_view_of(x);
  const double contiguous_worst = result.worst;
  result = detail::check_layout(f, inputs, opt, "strided");
  result.worst = std::max(result.worst, contiguous_worst);
  return result;
}

// Fails the current test case with the harness's report when the gradients disagree.
#define CHECK_GRADIENTS(...)                                           \
  do {                                                                 \
    const auto gc_ = ::diffuse::testing::check_gradients(__VA_ARGS__); \
    INFO(gc_.report);                                                  \
    CHECK(gc_.ok);                                                     \
  } while (0)

// Well-scaled random inputs: normal with the given scale, float64.
inline Tensor random_input(const Shape& shape, uint64_t seed, double scale = 1.0) {
  Philox rng(seed, 7);
  return mul(randn(shape, rng, DType::F64), scale);
}

// Max |a - b| over all elements (shapes must match).
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

// ---- float32 ops against a double-precision reference written in the test ---------------------------

using Values = std::vector<double>;

// n normal values * scale + offset, each rounded to the nearest float (so float32 and float64 tensors
// built from them hold the same numbers).
inline Values random_values(int64_t n, uint64_t seed, double scale = 1.0, double offset = 0.0) {
  Philox rng(seed, 11);
  std::vector<double> v(n);
  rng.fill_normal(v.data(), n);
  for (double& x : v) x = static_cast<float>(offset + scale * x);
  return v;
}

inline Tensor tensor_of(const Values& v, const Shape& shape, DType dtype, bool requires_grad = true) {
  Tensor t = Tensor::from_vector(v, shape).to(dtype).detach();
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

inline double dot(const Values& a, const Values& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// d loss / d p by the stencil, one element at a time (the reference side of a float32 comparison).
inline Values numeric_gradient(const std::function<double(const Values&)>& loss, Values p, double h = 1e-5,
                               Stencil stencil = Stencil::Central2) {
  Values g(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const double saved = p[i];
    g[i] = numeric_derivative(
        [&](double t) {
          p[i] = t;
          return loss(p);
        },
        saved, h, stencil);
    p[i] = saved;
  }
  return g;
}

// Passes when max |actual - expected| <= tol * max(1, max |expected|); on failure prints the largest
// difference, where it is, and both values.
inline void check_close(const Tensor& actual, const Values& expected, double tol, const std::string& what) {
  REQUIRE(actual.defined());
  const Values a = actual.to_vector();
  REQUIRE(a.size() == expected.size());
  double worst = 0, scale = 1;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(expected[i]));
    const double d = std::abs(a[i] - expected[i]);
    if (!(d <= worst)) {  // also catches NaN
      worst = std::isnan(d) ? INFINITY : d;
      at = i;
    }
  }
  std::ostringstream o;
  o << what << ": max |difference| " << worst << " at element " << at << " (got " << a[at] << ", expected "
    << expected[at] << "), allowed " << tol * scale;
  INFO(o.str());
  CHECK(worst <= tol * scale);
}

// The message of the std::invalid_argument that f throws, or "" when it throws nothing.
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace diffuse::testing
