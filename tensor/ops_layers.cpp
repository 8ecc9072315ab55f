// Training layers: dropout and layer norm.
#include <cmath>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

// x [...] -> y [...] = x * m, m_i = [u_i >= p] / (1 - p) with u_i uniform; dx = dy * m.
// Saves only the mask. Identity (no draw, no node) when !training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, Philox& rng) {
  ProfileScope scope("dropout");
  if (p < 0 || p >= 1) shape_error("dropout", "probability " + std::to_string(p) + " is outside [0, 1)");
  if (!training || p == 0) return x;
  Tensor mask = rand_uniform(x.shape(), rng, x.dtype());
  dispatch_float(x.dtype(), "dropout", [&]<class T>() {
    T* m = mask.data<T>();
    const T keep = static_cast<T>(1.0 / (1.0 - p)), pp = static_cast<T>(p);
    kernels::parallel_for(mask.numel(), 1 << 15, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) m[i] = m[i] >= pp ? keep : T(0);
    });
  });
  Tensor y;
  {
    NoGradGuard no_grad;
    y = mul(x, mask);
  }
  return record("dropout", y, {x}, [x, mask](const Tensor& g) { accumulate_grad(x, mul(g, mask)); });
}

// x [..., C], weight [C], bias [C] -> y [..., C]; per row: xhat = (x - mean) * rstd,
// rstd = 1 / sqrt(var + eps) (biased variance), y = xhat * weight + bias.
// Backward per row, with dxhat = dy * weight:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
//   dweight = sum over rows of dy * xhat, dbias = sum over rows of dy.
// Saves x (a reference), and the per-row mean and rstd.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  ProfileScope scope("layer_norm");
  if (x.dim() < 1) shape_error("layer_norm", "input " + describe(x) + " has no last axis");
  const int64_t C = x.shape().back(), rows = C ? x.numel() / C : 0;
  for (const Tensor* p : {&weight, &bias})
    if (p->defined() && (p->shape() != Shape{C} || p->dtype() != x.dtype()))
      shape_error("layer_norm", "input " + describe(x) + " needs weight and bias of shape [" + std::to_string(C) +
                                    "], got " + describe(weight) + " and " + describe(bias));
  const Tensor xc = x.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor stats = Tensor::empty({rows, 2}, DType::F64);  // (mean, rstd) per row
  dispatch_float(x.dtype(), "layer_norm", [&]<class T>() {
    const T* xv = xc.data<T>();
    const T* w = wc.defined() ? wc.data<T>() : nullptr;
    const T* b = bc.defined() ? bc.data<T>() : nullptr;
    T* yv = y.data<T>();
    double* st = stats.data<double>();
    kernels::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = xv + r * C;
        double s = 0, ss = 0;
        for (int64_t c = 0; c < C; ++c) s += row[c];
        const double mu = s / C;
        for (int64_t c = 0; c < C; ++c) ss += (row[c] - mu) * (row[c] - mu);
        const double rstd = 1.0 / std::sqrt(ss / C + eps);
        st[2 * r] = mu;
        st[2 * r + 1] = rstd;
        T* out = yv + r * C;
        for (int64_t c = 0; c < C; ++c) {
          const T xhat = static_cast<T>((row[c] - mu) * rstd);
          out[c] = (w ? xhat * w[c] : xhat) + (b ? b[c] : T(0));
        }
      }
    });
  });
  scope.bytes(bytes_of(x) + bytes_of(y));
  return record("layer_norm", y, {x, weight, bias}, [x, xc, weight, wc, bias, stats, C, rows](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    Tensor dw = Tensor::zeros({C}, DType::F64), db = Tensor::zeros({C}, DType::F64);
    dispatch_float(x.dtype(), "layer_norm", [&]<class T>() {
      const T* xv = xc.data<T>();
      const T* gv = gc.data<T>();
      const T* w = wc.defined() ? wc.data<T>() : nullptr;
      const double* st = stats.data<double>();
      T* d = dx.data<T>();
      kernels::parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const double mu = st[2 * r], rstd = st[2 * r + 1];
          const T* xr = xv + r * C;
          const T* gr = gv + r * C;
          double m1 = 0, m2 = 0;  // mean(dxhat), mean(dxhat * xhat)
          for (int64_t c = 0; c < C; ++c) {
            const double dxhat = static_cast<double>(gr[c]) * (w ? w[c] : T(1));
            m1 += dxhat;
            m2 += dxhat * (xr[c] - mu) * rstd;
          }
          m1 /= C;
          m2 /= C;
          for (int64_t c = 0; c < C; ++c) {
            const double xhat = (xr[c] - mu) * rstd;
            const double dxhat = static_cast<double>(gr[c]) * (w ? w[c] : T(1));
            d[r * C + c] = static_cast<T>(rstd * (dxhat - m1 - xhat * m2));
          }
        }
      });
      // Parameter gradients: a serial pass over rows keeps the sums deterministic.
      double* dwv = dw.data<double>();
      double* dbv = db.data<double>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < C; ++c) {
          dwv[c] += gv[r * C + c] * ((xv[r * C + c] - st[2 * r]) * st[2 * r + 1]);
          dbv[c] += gv[r * C + c];
        }
    });
    accumulate_grad(x, dx);
    if (weight.defined()) accumulate_grad(weight, dw.to(x.dtype()));
    if (bias.defined()) accumulate_grad(bias, db.to(x.dtype()));
  });
}

}  // namespace diffuse
