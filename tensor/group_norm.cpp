// Group norm and the fused group norm + SiLU: hand-written kernels, forward and backward side by side.
//
// Layout. x [N, C, *spatial] is read as [N, C, HW] (HW = the product of the spatial sizes). The Cg = C / G
// channels of group g of sample n are consecutive, so that (n, g) block is one contiguous span of
// M = Cg * HW values starting at (n G + g) M. Every kernel is a parallel loop over the N G blocks; a
// block (8 KiB for the U-Net's 64 channels at 32x32 in 32 groups) stays in cache between the passes
// over it, so each tensor crosses the memory bus once per direction.
//
// Precision. Sums are blocked: at most kChunk = 256 terms are added in the tensor's type (for float in
// SIMD lanes, each lane adding 256 / lanes of them), and the chunk sums are added in double. Float
// rounding then grows like one chunk's, not the whole block's, at full float SIMD speed. The variance is
// E[d^2] - E[d]^2 of d = x - x[0], the block's first value: the shift keeps the subtraction from
// cancelling when |mean| >> std.
#include "tensor/group_norm.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/vec_math.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {

// Sizes of x [N, C, HW] split into G groups of Cg channels.
struct GroupLayout {
  int64_t N, C, G, Cg, HW;
  int64_t block() const { return Cg * HW; }  // M: values per (sample, group)
};

GroupLayout check_group_norm(const char* op, const Tensor& x, int64_t groups, const Tensor& weight,
                             const Tensor& bias) {
  if (x.dim() < 2) shape_error(op, "input " + describe(x) + " must be [N, C, *spatial]");
  dispatch_float(x.dtype(), op, []<class T>() {});  // throws for int32
  const int64_t C = x.shape()[1];
  if (groups < 1 || C % groups != 0)
    shape_error(op, std::to_string(groups) + " groups do not divide the " + std::to_string(C) +
                        " channels of input " + describe(x));
  for (const Tensor* p : {&weight, &bias})
    if (p->defined() && (p->shape() != Shape{C} || p->dtype() != x.dtype()))
      shape_error(op, "input " + describe(x) + " needs weight and bias of " + dtype_name(x.dtype()) + "[" +
                          std::to_string(C) + "], got " + describe(weight) + " and " + describe(bias));
  int64_t HW = 1;
  for (int64_t d = 2; d < x.dim(); ++d) HW *= x.shape()[d];
  return {x.shape()[0], C, groups, C / groups, HW};
}

// How many (n, g) blocks one thread takes at a time: about 32K values.
int64_t block_grain(int64_t M) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(M, 1)); }

constexpr int64_t kChunk = 256;

// One chunk of n <= kChunk values, summed in T: s = sum d, ss = sum d^2 with d = x - shift. The generic
// version (double) is a plain loop; the float overload adds a SIMD register of values at a time.
template <class T>
void chunk_moments(const T* x, T shift, int64_t n, T& s, T& ss) {
  s = ss = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T d = x[i] - shift;
    s += d;
    ss += d * d;
  }
}
void chunk_moments(const float* x, float shift, int64_t n, float& s, float& ss) {
  constexpr int64_t L = vec::kLanes;
  vec::floatv vs[2] = {}, vss[2] = {};  // two registers each: two independent chains of additions
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L)
    for (int k = 0; k < 2; ++k) {
      const vec::floatv d = vec::load(x + i + k * L) - shift;
      vs[k] += d;
      vss[k] += d * d;
    }
  for (; i + L <= n; i += L) {
    const vec::floatv d = vec::load(x + i) - shift;
    vs[0] += d;
    vss[0] += d * d;
  }
  s = vec::hsum(vs[0] + vs[1]);
  ss = vec::hsum(vss[0] + vss[1]);
  for (; i < n; ++i) {
    const float d = x[i] - shift;
    s += d;
    ss += d * d;
  }
}

// One chunk of n <= kChunk values, summed in T: s1 = sum dz, s2 = sum dz (x - c).
template <class T>
void chunk_grad_sums(const T* dz, const T* x, T c, int64_t n, T& s1, T& s2) {
  s1 = s2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    s1 += dz[i];
    s2 += dz[i] * (x[i] - c);
  }
}
void chunk_grad_sums(const float* dz, const float* x, float c, int64_t n, float& s1, float& s2) {
  constexpr int64_t L = vec::kLanes;
  vec::floatv v1[2] = {}, v2[2] = {};  // as in chunk_moments
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L)
    for (int k = 0; k < 2; ++k) {
      const vec::floatv g = vec::load(dz + i + k * L);
      v1[k] += g;
      v2[k] += g * (vec::load(x + i + k * L) - c);
    }
  for (; i + L <= n; i += L) {
    const vec::floatv g = vec::load(dz + i);
    v1[0] += g;
    v2[0] += g * (vec::load(x + i) - c);
  }
  s1 = vec::hsum(v1[0] + v1[1]);
  s2 = vec::hsum(v2[0] + v2[1]);
  for (; i < n; ++i) {
    s1 += dz[i];
    s2 += dz[i] * (x[i] - c);
  }
}

// Mean and biased variance of the M values at x, returned in double: from the sums of d and d^2,
// d = x - x[0], chunk by chunk.
template <class T>
void block_moments(const T* x, int64_t M, double& mean, double& var) {
  const T shift = x[0];
  double s = 0, ss = 0;
  for (int64_t i0 = 0; i0 < M; i0 += kChunk) {
    T cs, css;
    chunk_moments(x + i0, shift, std::min(kChunk, M - i0), cs, css);
    s += cs;
    ss += css;
  }
  const double m = s / M;
  mean = shift + m;
  var = std::max(0.0, ss / M - m * m);
}

// s1 = sum dz and s2 = sum dz (x - c) over n values, returned in double, chunk by chunk.
template <class T>
void row_sums(const T* dz, const T* x, T c, int64_t n, double& s1, double& s2) {
  s1 = s2 = 0;
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    T c1, c2;
    chunk_grad_sums(dz + i0, x + i0, c, std::min(kChunk, n - i0), c1, c2);
    s1 += c1;
    s2 += c2;
  }
}

// ---- forward ---------------------------------------------------------------------------------------
// Per block: (mean, rstd) from block_moments; then per channel c the normalisation and affine map fold
// into one multiply-add,
//   z = x * a_c + b_c,   a_c = rstd * weight[c],   b_c = bias[c] - mean * a_c,
// and y = z (group_norm) or y = z * sigmoid(z) (group_norm_silu).
// Writes y and stats [N, G, 2] = (mean, rstd) per block.
template <class T, bool kSilu>
void group_norm_forward(const GroupLayout& L, const T* x, const T* w, const T* b, double eps, T* y,
                        double* stats) {
  const int64_t M = L.block(), HW = L.HW;
  kernels::parallel_for(L.N * L.G, block_grain(M), [&](int64_t i0, int64_t i1) {
    for (int64_t ng = i0; ng < i1; ++ng) {
      const int64_t c0 = (ng % L.G) * L.Cg;  // the block's first channel
      double mean = 0, var = 0;
      if (M > 0) block_moments(x + ng * M, M, mean, var);
      const double rstd = 1.0 / std::sqrt(var + eps);
      stats[2 * ng] = mean;
      stats[2 * ng + 1] = rstd;
      for (int64_t c = 0; c < L.Cg; ++c) {
        const double a = rstd * (w ? static_cast<double>(w[c0 + c]) : 1.0);
        const T ta = static_cast<T>(a), tb = static_cast<T>((b ? static_cast<double>(b[c0 + c]) : 0.0) - mean * a);
        const T* xr = x + ng * M + c * HW;
        T* yr = y + ng * M + c * HW;
#pragma omp simd
        for (int64_t i = 0; i < HW; ++i) yr[i] = xr[i] * ta + tb;
        if constexpr (kSilu) vec::silu_inplace(yr, HW);
      }
    }
  });
}

// ---- backward --------------------------------------------------------------------------------------
// With dz = d(loss)/dz (dz = dy for group_norm), xhat = (x - mean) rstd and dxhat = dz * weight[c], the
// layer-norm formula applies per block of M values:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//      = A_c dz + B (x - mean) + C0,   A_c = rstd w_c,  B = -rstd^3 m2 / M,  C0 = -rstd m1 / M,
// where m1 = sum_c w_c sum_s dz and m2 = sum_c w_c sum_s dz (x - mean) over the block. The parameter
// gradients need per-(n, c) sums, reduced over n afterwards in a fixed order (deterministic):
//   dweight[c] = sum_n sum_s dz xhat,   dbias[c] = sum_n sum_s dz.
// For group_norm_silu, y = z sigmoid(z) gives
//   dz = dy * silu'(z),  silu'(z) = s (1 + z (1 - s)),  s = sigmoid(z),
// with z recomputed from x and the saved statistics exactly as the forward computed it; dz goes to a
// per-thread scratch block that is still in cache for the two passes after it.
// Writes dx (when dx != nullptr) and sum_dz, sum_dz_xhat, both [N, C].
template <class T, bool kSilu>
void group_norm_backward(const GroupLayout& L, const T* x, const T* dy, const T* w, const T* b,
                         const double* stats, T* dx, double* sum_dz, double* sum_dz_xhat) {
  const int64_t M = L.block(), HW = L.HW;
  kernels::parallel_for(L.N * L.G, block_grain(M), [&](int64_t i0, int64_t i1) {
    std::vector<T> scratch(kSilu ? M : 0);
    for (int64_t ng = i0; ng < i1; ++ng) {
      const int64_t n = ng / L.G, c0 = (ng % L.G) * L.Cg;
      const double mean = stats[2 * ng], rstd = stats[2 * ng + 1];
      const T* xg = x + ng * M;
      const T* dz = dy + ng * M;
      if constexpr (kSilu) {
        for (int64_t c = 0; c < L.Cg; ++c) {
          const double a = rstd * (w ? static_cast<double>(w[c0 + c]) : 1.0);
          const T ta = static_cast<T>(a), tb = static_cast<T>((b ? static_cast<double>(b[c0 + c]) : 0.0) - mean * a);
          const T* xr = xg + c * HW;
          const T* dr = dz + c * HW;
          T* sr = scratch.data() + c * HW;
#pragma omp simd
          for (int64_t i = 0; i < HW; ++i) sr[i] = xr[i] * ta + tb;
          vec::sigmoid_inplace(sr, HW);  // s = sigmoid(z)
#pragma omp simd
          for (int64_t i = 0; i < HW; ++i) {
            const T z = xr[i] * ta + tb, s = sr[i];
            sr[i] = dr[i] * s * (T(1) + z * (T(1) - s));
          }
        }
        dz = scratch.data();
      }
      // Sums around tmean, the mean rounded to T; sum dz (x - mean) = sum dz (x - tmean) + (tmean - mean) sum dz.
      const T tmean = static_cast<T>(mean);
      const double shift = static_cast<double>(tmean) - mean;
      double m1 = 0, m2 = 0;
      for (int64_t c = 0; c < L.Cg; ++c) {
        double s1, s2;  // sum dz, sum dz (x - mean)
        row_sums(dz + c * HW, xg + c * HW, tmean, HW, s1, s2);
        s2 += shift * s1;
        sum_dz[n * L.C + c0 + c] = s1;
        sum_dz_xhat[n * L.C + c0 + c] = s2 * rstd;
        const double wc = w ? static_cast<double>(w[c0 + c]) : 1.0;
        m1 += wc * s1;
        m2 += wc * s2;
      }
      if (!dx) continue;
      // dx = A_c dz + B (x - mean) + C0 = A_c dz + B (x - tmean) + (C0 + B (tmean - mean)).
      const double Bd = -rstd * rstd * rstd * m2 / M;
      const T B = static_cast<T>(Bd), C1 = static_cast<T>(-rstd * m1 / M + Bd * shift);
      for (int64_t c = 0; c < L.Cg; ++c) {
        const T A = static_cast<T>(rstd * (w ? static_cast<double>(w[c0 + c]) : 1.0));
        const T* xr = xg + c * HW;
        const T* dr = dz + c * HW;
        T* out = dx + ng * M + c * HW;
#pragma omp simd
        for (int64_t i = 0; i < HW; ++i) out[i] = A * dr[i] + B * (xr[i] - tmean) + C1;
      }
    }
  });
}

// The op shared by group_norm and group_norm_silu. Saves x (a reference), weight and bias, and the
// statistics [N, G, 2]; nothing of the output's size.
Tensor group_norm_op(const char* op, bool silu, const Tensor& x, int64_t groups, const Tensor& weight,
                     const Tensor& bias, double eps) {
  ProfileScope scope(op);
  const GroupLayout L = check_group_norm(op, x, groups, weight, bias);
  Tensor xc, wc, bc;
  {
    NoGradGuard no_grad;
    xc = x.contiguous();
    if (weight.defined()) wc = weight.contiguous();
    if (bias.defined()) bc = bias.contiguous();
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor stats = Tensor::empty({L.N, L.G, 2}, DType::F64);
  dispatch_float(x.dtype(), op, [&]<class T>() {
    const T* w = wc.defined() ? wc.data<T>() : nullptr;
    const T* b = bc.defined() ? bc.data<T>() : nullptr;
    if (silu)
      group_norm_forward<T, true>(L, xc.data<T>(), w, b, eps, y.data<T>(), stats.data<double>());
    else
      group_norm_forward<T, false>(L, xc.data<T>(), w, b, eps, y.data<T>(), stats.data<double>());
  });
  scope.bytes(2 * bytes_of(x) + bytes_of(y));  // the moments' pass over x, then x read and y written
  return record(op, y, {x, weight, bias}, [op, silu, L, x, xc, weight, wc, bias, bc, stats](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = x.requires_grad() ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
    Tensor sums = Tensor::empty({2, L.N, L.C}, DType::F64);  // sum_dz, sum_dz_xhat per (n, c)
    const bool need_w = weight.defined() && weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
    Tensor dw = need_w ? Tensor::empty({L.C}, x.dtype()) : Tensor();
    Tensor db = need_b ? Tensor::empty({L.C}, x.dtype()) : Tensor();
    dispatch_float(x.dtype(), op, [&]<class T>() {
      const T* w = wc.defined() ? wc.data<T>() : nullptr;
      const T* b = bc.defined() ? bc.data<T>() : nullptr;
      T* d = dx.defined() ? dx.data<T>() : nullptr;
      double* sum_dz = sums.data<double>();
      double* sum_dz_xhat = sum_dz + L.N * L.C;
      if (silu)
        group_norm_backward<T, true>(L, xc.data<T>(), gc.data<T>(), w, b, stats.data<double>(), d, sum_dz, sum_dz_xhat);
      else
        group_norm_backward<T, false>(L, xc.data<T>(), gc.data<T>(), w, b, stats.data<double>(), d, sum_dz,
                                      sum_dz_xhat);
      // sums over n, in order (deterministic)
      std::vector<double> grad_weight(L.C, 0.0), grad_bias(L.C, 0.0);
      for (int64_t n = 0; n < L.N; ++n)
        for (int64_t c = 0; c < L.C; ++c) {
          grad_weight[c] += sum_dz_xhat[n * L.C + c];
          grad_bias[c] += sum_dz[n * L.C + c];
        }
      for (int64_t c = 0; c < L.C; ++c) {
        if (need_w) dw.data<T>()[c] = static_cast<T>(grad_weight[c]);
        if (need_b) db.data<T>()[c] = static_cast<T>(grad_bias[c]);
      }
    });
    if (dx.defined()) accumulate_grad(x, dx);
    if (need_w) accumulate_grad(weight, dw);
    if (need_b) accumulate_grad(bias, db);
  });
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  return group_norm_op("group_norm", false, x, groups, weight, bias, eps);
}

Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  return group_norm_op("group_norm_silu", true, x, groups, weight, bias, eps);
}

}  // namespace diffuse
