// Unary elementwise ops: y = f(x), dx = dy * f'(.), where f' is evaluated at the saved input or output,
// whichever the derivative is cheapest in (exp, tanh, sigmoid and sqrt reuse y). Shapes: x [...] -> y [...].
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <type_traits>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/vec_math.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {
enum class Saves { Input, Output };

// y = f(x) computed; records dx = dy * deriv(s), s the saved input or output.
template <Saves S, class Deriv>
Tensor with_derivative(const Tensor& x, Tensor y, const char* op, Deriv deriv) {
  if (!needs_grad({x})) return y;
  const Tensor saved = (S == Saves::Input ? x : y).detach();
  return record(op, y, {x}, [x, saved, deriv, op](const Tensor& g) {
    Tensor dx = dispatch_float(g.dtype(), op, [&]<class T>() {
      return kernels::map_binary<T>(g, saved, g.shape(), [&](T gv, T s) { return gv * deriv(s); });
    });
    accumulate_grad(x, dx);
  });
}

// fwd(v) and deriv(s) are generic lambdas, instantiated for float and double.
template <Saves S, class Fwd, class Deriv>
Tensor unary_op(const Tensor& x, const char* op, Fwd fwd, Deriv deriv) {
  ProfileScope scope(op);
  Tensor y = dispatch_float(x.dtype(), op, [&]<class T>() { return kernels::map_unary<T>(x, fwd); });
  scope.bytes(bytes_of(x) + bytes_of(y));
  return with_derivative<S>(x, y, op, deriv);
}

// The same with the forward in SIMD lanes: a contiguous copy of x, then inplace(p, n) over it (a generic
// lambda calling a vec_math kernel, for float and double).
template <Saves S, class Inplace, class Deriv>
Tensor unary_op_lanes(const Tensor& x, const char* op, Inplace inplace, Deriv deriv) {
  ProfileScope scope(op);
  Tensor y = dispatch_float(x.dtype(), op, [&]<class T>() {
    Tensor out = kernels::map_unary<T>(x, [](T v) { return v; });
    inplace(out.data<T>(), out.numel());
    return out;
  });
  scope.bytes(bytes_of(x) + 2 * bytes_of(y));
  return with_derivative<S>(x, y, op, deriv);
}

template <class T> T sigmoid_of(T v) { return T(1) / (T(1) + std::exp(-v)); }
}  // namespace

// y = -x; dx = -dy
Tensor neg(const Tensor& x) {
  ProfileScope scope("neg");
  Tensor y = dispatch_float(x.dtype(), "neg", [&]<class T>() { return kernels::map_unary<T>(x, [](T v) { return -v; }); });
  return record("neg", y, {x}, [x](const Tensor& g) { accumulate_grad(x, neg(g)); });
}

// y = e^x; dx = dy * y
Tensor exp(const Tensor& x) {
  return unary_op_lanes<Saves::Output>(
      x, "exp", [](auto* p, int64_t n) { vec::exp_inplace(p, n); }, [](auto y) { return y; });
}

// y = ln x; dx = dy / x
Tensor log(const Tensor& x) {
  return unary_op_lanes<Saves::Input>(
      x, "log", [](auto* p, int64_t n) { vec::log_inplace(p, n); }, [](auto v) { return decltype(v)(1) / v; });
}

// y = ln(1 + x), exact for x near 0 where 1 + x rounds; dx = dy / (1 + x). In lanes by Goldberg's identity
// (Higham, "Accuracy and Stability of Numerical Algorithms", §1.14.1): with u = fl(1 + x),
// ln(1 + x) = ln(u) x / (u - 1) when u != 1, and x when u = 1, which holds to a few ulps.
Tensor log1p(const Tensor& x) {
  return unary_op_lanes<Saves::Input>(
      x, "log1p",
      [](auto* p, int64_t n) {
        using T = std::remove_pointer_t<decltype(p)>;
        constexpr int64_t kBlock = 512;
        T u[kBlock], l[kBlock];
        for (int64_t start = 0; start < n; start += kBlock) {
          const int64_t m = std::min(kBlock, n - start);
          T* v = p + start;
          for (int64_t i = 0; i < m; ++i) l[i] = u[i] = T(1) + v[i];
          vec::log_inplace(l, m);
          for (int64_t i = 0; i < m; ++i) v[i] = u[i] == T(1) ? v[i] : l[i] * (v[i] / (u[i] - T(1)));
        }
      },
      [](auto v) { return decltype(v)(1) / (decltype(v)(1) + v); });
}

// y = e^x - 1, exact for x near 0 where e^x rounds to 1; dx = dy (y + 1)
Tensor expm1(const Tensor& x) {
  return unary_op<Saves::Output>(x, "expm1", [](auto v) { return std::expm1(v); },
                                 [](auto y) { return y + decltype(y)(1); });
}

// y = sqrt(x); dx = dy / (2 y)
Tensor sqrt(const Tensor& x) {
  return unary_op<Saves::Output>(x, "sqrt", [](auto v) { return std::sqrt(v); },
                                 [](auto y) { return decltype(y)(0.5) / y; });
}

// y = x^2; dx = 2 x dy
Tensor square(const Tensor& x) {
  return unary_op<Saves::Input>(x, "square", [](auto v) { return v * v; }, [](auto v) { return 2 * v; });
}

// y = x^p; dx = p x^(p-1) dy
Tensor pow(const Tensor& x, double p) {
  return unary_op<Saves::Input>(
      x, "pow", [p](auto v) { return std::pow(v, decltype(v)(p)); },
      [p](auto v) { return decltype(v)(p) * std::pow(v, decltype(v)(p - 1)); });
}

// y = |x|; dx = sign(x) dy (0 at x = 0)
Tensor abs(const Tensor& x) {
  return unary_op<Saves::Input>(x, "abs", [](auto v) { return std::abs(v); },
                                [](auto v) { return decltype(v)((v > 0) - (v < 0)); });
}

// y = tanh x; dx = (1 - y^2) dy
Tensor tanh(const Tensor& x) {
  return unary_op<Saves::Output>(x, "tanh", [](auto v) { return std::tanh(v); }, [](auto y) { return 1 - y * y; });
}

// y = 1 / (1 + e^-x); dx = y (1 - y) dy
Tensor sigmoid(const Tensor& x) {
  return unary_op<Saves::Output>(x, "sigmoid", [](auto v) { return sigmoid_of(v); }, [](auto y) { return y * (1 - y); });
}

// y = max(x, 0); dx = [x > 0] dy
Tensor relu(const Tensor& x) {
  return unary_op<Saves::Input>(x, "relu", [](auto v) { return v > 0 ? v : decltype(v)(0); },
                                [](auto v) { return decltype(v)(v > 0); });
}

// y = x sigmoid(x); dx = s (1 + x (1 - s)) dy with s = sigmoid(x)
Tensor silu(const Tensor& x) {
  return unary_op<Saves::Input>(x, "silu", [](auto v) { return v * sigmoid_of(v); },
                                [](auto v) {
                                  const auto s = sigmoid_of(v);
                                  return s * (1 + v * (1 - s));
                                });
}

// erf form:  y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); dx = (Phi(x) + x phi(x)) dy
// tanh form: y = 0.5 x (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3)
//            dx = (0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)) dy
namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
}  // namespace

Tensor gelu(const Tensor& x, GeluForm form) {
  if (form == GeluForm::Erf && x.dtype() == DType::F32) {  // vectorised (vec_math.hpp); float64 below uses std::erf
    ProfileScope scope("gelu_erf");
    // In pieces on all threads; a piece's tail is computed as any other lane (vec_math.hpp), so the
    // result does not depend on the split.
    const Tensor xc = x.contiguous().detach();
    const int64_t n = xc.numel();
    Tensor y = Tensor::empty(xc.shape());
    const float* xs = xc.data<float>();
    float* ys = y.data<float>();
    kernels::parallel_for(n, 1 << 14, [&](int64_t i0, int64_t i1) {
      std::memcpy(ys + i0, xs + i0, static_cast<size_t>(i1 - i0) * sizeof(float));
      vec::gelu_inplace(ys + i0, i1 - i0);
    });
    return record("gelu_erf", y, {x}, [x, xc, n](const Tensor& g) {  // dx = g gelu'(x)
      const Tensor gc = g.contiguous();
      Tensor d = Tensor::empty(xc.shape());
      const float* xs = xc.data<float>();
      const float* gs = gc.data<float>();
      float* ds = d.data<float>();
      kernels::parallel_for(n, 1 << 14, [&](int64_t i0, int64_t i1) {
        std::memcpy(ds + i0, xs + i0, static_cast<size_t>(i1 - i0) * sizeof(float));
        vec::gelu_derivative_inplace(ds + i0, i1 - i0);
#pragma omp simd
        for (int64_t i = i0; i < i1; ++i) ds[i] *= gs[i];
      });
      accumulate_grad(x, d);
    });
  }
  if (form == GeluForm::Erf) {
    return unary_op<Saves::Input>(
        x, "gelu_erf",
        [](auto v) { using T = decltype(v); return T(0.5) * v * (1 + std::erf(v * T(kInvSqrt2))); },
        [](auto v) {
          using T = decltype(v);
          return T(0.5) * (1 + std::erf(v * T(kInvSqrt2))) + v * T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v);
        });
  }
  return unary_op<Saves::Input>(
      x, "gelu_tanh",
      [](auto v) {
        using T = decltype(v);
        return T(0.5) * v * (1 + std::tanh(T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v)));
      },
      [](auto v) {
        using T = decltype(v);
        const T t = std::tanh(T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v));
        return T(0.5) * (1 + t) + T(0.5) * v * (1 - t * t) * T(kSqrt2OverPi) * (1 + T(3 * 0.044715) * v * v);
      });
}

// y = min(max(x, lo), hi); dx = [lo <= x <= hi] dy (as PyTorch)
Tensor clamp(const Tensor& x, double lo, double hi) {
  if (lo > hi) shape_error("clamp", "lo " + std::to_string(lo) + " > hi " + std::to_string(hi));
  return unary_op<Saves::Input>(
      x, "clamp",
      [lo, hi](auto v) { using T = decltype(v); return std::min(std::max(v, T(lo)), T(hi)); },
      [lo, hi](auto v) { using T = decltype(v); return T(v >= T(lo) && v <= T(hi)); });
}

}  // namespace diffuse
