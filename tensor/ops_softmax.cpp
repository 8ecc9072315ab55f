// Softmax, log-softmax and cross-entropy, all numerically stable (the row maximum is subtracted first).
// Shapes: x [..., K, ...] -> y of the same shape, normalised over `axis`.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/vec_math.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {
// A contiguous copy of x with `axis` moved last, so each softmax is one contiguous row.
Tensor axis_last(const Tensor& x, int64_t axis) {
  NoGradGuard no_grad;
  return axis == x.dim() - 1 ? x.contiguous() : x.transpose(axis, -1).contiguous();
}
Tensor axis_back(const Tensor& y, int64_t axis) {
  NoGradGuard no_grad;
  return axis == y.dim() - 1 ? y : y.transpose(axis, -1).contiguous();
}

// out = softmax or log_softmax of each row of in [rows, cols].
template <class T>
void softmax_rows(const T* in, T* out, int64_t rows, int64_t cols, bool log_space) {
  kernels::parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = in + r * cols;
      T* y = out + r * cols;
      // y = exp(x - m), m the row's largest; in SIMD lanes
      const T m = vec::max_of(x, cols);
      for (int64_t c = 0; c < cols; ++c) y[c] = x[c] - m;
      vec::exp_inplace(y, cols);
      const double s = vec::sum_of(y, cols);
      if (log_space) {
        const T lse = m + static_cast<T>(std::log(s));
        for (int64_t c = 0; c < cols; ++c) y[c] = x[c] - lse;
      } else {
        const T inv = static_cast<T>(1.0 / s);
        for (int64_t c = 0; c < cols; ++c) y[c] *= inv;
      }
    }
  });
}

// softmax:     dx = y * (dy - sum(dy * y))
// log_softmax: dx = dy - exp(y) * sum(dy)
template <class T>
void softmax_backward_rows(const T* g, const T* y, T* dx, int64_t rows, int64_t cols, bool log_space) {
  kernels::parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = g + r * cols;
      const T* yr = y + r * cols;
      T* d = dx + r * cols;
      double s = 0;
      if (log_space) {
        for (int64_t c = 0; c < cols; ++c) s += gr[c];
        std::copy(yr, yr + cols, d);
        vec::exp_inplace(d, cols);  // the softmax
        for (int64_t c = 0; c < cols; ++c) d[c] = gr[c] - d[c] * static_cast<T>(s);
      } else {
        for (int64_t c = 0; c < cols; ++c) s += static_cast<double>(gr[c]) * yr[c];
        for (int64_t c = 0; c < cols; ++c) d[c] = yr[c] * (gr[c] - static_cast<T>(s));
      }
    }
  });
}

Tensor softmax_impl(const Tensor& x, int64_t axis_in, bool log_space) {
  const char* op = log_space ? "log_softmax" : "softmax";
  ProfileScope scope(op);
  const int64_t axis = wrap_axis(axis_in, x.dim(), op);
  const Tensor xl = axis_last(x, axis);
  const int64_t cols = x.dim() ? x.shape()[axis] : 1, rows = cols ? x.numel() / cols : 0;
  Tensor yl = Tensor::empty(xl.shape(), x.dtype());
  dispatch_float(x.dtype(), op, [&]<class T>() { softmax_rows<T>(xl.data<T>(), yl.data<T>(), rows, cols, log_space); });
  Tensor y = axis_back(yl, axis);
  scope.bytes(bytes_of(x) + bytes_of(y));
  return record(op, y, {x}, [x, yl, axis, rows, cols, log_space, op](const Tensor& g) {
    const Tensor gl = axis_last(g, axis);
    Tensor dl = Tensor::empty(gl.shape(), g.dtype());
    dispatch_float(g.dtype(), op, [&]<class T>() {
      softmax_backward_rows<T>(gl.data<T>(), yl.data<T>(), dl.data<T>(), rows, cols, log_space);
    });
    accumulate_grad(x, axis_back(dl, axis));
  });
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, true); }

// logits [..., K], targets int32 [...], weight [...] or undefined.
// ce_i = logsumexp(logits_i) - logits_i[target_i]; loss = reduce(weight_i * ce_i).
// dlogits_i = (softmax(logits_i) - onehot(target_i)) * weight_i * dloss_i.
// Saves the logits (a reference) and each row's logsumexp; the softmax is recomputed in backward.
// Mean with weights divides by sum(weight); when that is 0 the loss is 0 (nothing selected).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, Reduction reduction, const Tensor& weight) {
  ProfileScope scope("cross_entropy");
  if (logits.dim() < 1 || targets.dtype() != DType::I32 ||
      Shape(logits.shape().begin(), logits.shape().end() - 1) != targets.shape())
    shape_error("cross_entropy", "logits " + describe(logits) + " need int32 targets of shape [...] matching [..., K]; got " +
                                     describe(targets));
  if (weight.defined() && (weight.shape() != targets.shape() || weight.dtype() != logits.dtype()))
    shape_error("cross_entropy", "weight " + describe(weight) + " must be " + dtype_name(logits.dtype()) +
                                     to_string(targets.shape()));
  const int64_t K = logits.shape().back(), rows = targets.numel();
  const Tensor x = logits.contiguous(), t = targets.contiguous();
  const Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  const int32_t* tv = t.data<int32_t>();
  for (int64_t i = 0; i < rows; ++i)
    if (tv[i] < 0 || tv[i] >= K)
      shape_error("cross_entropy", "target " + std::to_string(tv[i]) + " at position " + std::to_string(i) +
                                       " is outside [0, " + std::to_string(K) + ")");

  Tensor lse = Tensor::empty(targets.shape(), logits.dtype());
  Tensor ce = Tensor::empty(targets.shape(), logits.dtype());
  double total = 0, denom = static_cast<double>(rows);
  dispatch_float(logits.dtype(), "cross_entropy", [&]<class T>() {
    const T* xv = x.data<T>();
    T* l = lse.data<T>();
    T* c = ce.data<T>();
    kernels::parallel_for(rows, std::max<int64_t>(1, 8192 / K), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = xv + r * K;
        const T m = vec::max_of(row, K);
        l[r] = m + static_cast<T>(std::log(vec::exp_shifted_total(row, K, m)));
        c[r] = l[r] - row[tv[r]];
        if (w.defined()) c[r] *= w.data<T>()[r];
      }
    });
    for (int64_t r = 0; r < rows; ++r) total += c[r];
    if (w.defined()) {
      denom = 0;
      for (int64_t r = 0; r < rows; ++r) denom += w.data<T>()[r];
    }
  });

  Tensor y;
  double scale = 1.0;  // d(loss)/d(ce_i) before the weight
  switch (reduction) {
    case Reduction::None: y = ce; break;
    case Reduction::Sum: y = Tensor::scalar(total, logits.dtype()); break;
    case Reduction::Mean:
      scale = denom > 0 ? 1.0 / denom : 0.0;
      y = Tensor::scalar(total * scale, logits.dtype());
      break;
  }
  return record("cross_entropy", y, {logits}, [logits, x, t, w, lse, reduction, scale, K, rows](const Tensor& g) {
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    const Tensor gc = g.contiguous();
    dispatch_float(x.dtype(), "cross_entropy", [&]<class T>() {
      const T* xv = x.data<T>();
      const T* l = lse.data<T>();
      const int32_t* tv = t.data<int32_t>();
      const T* gv = gc.data<T>();
      T* d = dx.data<T>();
      kernels::parallel_for(rows, std::max<int64_t>(1, 8192 / K), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          T coef = static_cast<T>(scale) * (reduction == Reduction::None ? gv[r] : gv[0]);
          if (w.defined()) coef *= w.data<T>()[r];
          const T* row = xv + r * K;
          T* dr = d + r * K;
          vec::scaled_exp_shifted(row, dr, K, l[r], coef);
          dr[tv[r]] -= coef;
        }
      });
    });
    accumulate_grad(logits, dx);
  });
}

}  // namespace diffuse
