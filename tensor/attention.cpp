// Scaled dot-product attention on cblas sgemm / dgemm (float32 through tensor/gemm.hpp, so in bf16 mode the
// five GEMMs take bf16 operands, P and dS included, with float32 accumulation; the softmax and its backward
// stay float32; with a thread per (batch, head) pair the bf16 GEMMs are the rounding kind, see gemm.hpp),
// forward and backward side by side.
//
// Per (batch, head) pair, with scale = 1 / sqrt(D):
//   forward   S  = scale Q K^T + M            [Tq, Tk]   GEMM (alpha = scale)
//             P  = softmax(S) over each row             max-subtracted, in place
//             O  = P V                        [Tq, Dv]   GEMM
//   backward  dV = P^T dO                     [Tk, Dv]   GEMM
//             dP = dO V^T                     [Tq, Tk]   GEMM
//             dS = P * (dP - rowsum(dP * P))             (the softmax backward), in place
//             dQ = scale dS K                 [Tq, D]    GEMM
//             dK = scale dS^T Q               [Tk, D]    GEMM
//             dM = dS, summed over the mask's broadcast dims
//
// Threading: the (batch, head) pairs are independent, so when there are at least as many pairs as
// threads each thread takes whole pairs and calls BLAS single-threaded (a Tq x Tk score block and its
// softmax stay in that core's cache). With fewer pairs than threads the pairs run one after another on
// the threaded BLAS. Measured on the 2-core development machine (bench_norm_attention, forward +
// backward, median ms): B = 32, H = 8, T = 256, D = 32 takes 73 with a thread per pair against 174 with
// the pairs in turn on 2-thread BLAS (its softmax on one thread); B = 32, H = 1, T = 256, D = 128 takes 25
// against 71. OpenBLAS scales poorly at these sizes: 256 x 256 x 32 sgemm is only 1.26x faster on 2 threads.
//
// Memory: the backward needs P, saved as [B, H, Tq, Tk]: O(B H T^2), 64 MiB in float32 at B = 32, H = 8,
// T = 256; acceptable at these sizes. Without a tape P is a per-thread Tq x Tk scratch.
#include "tensor/attention.hpp"

#include <cblas.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "tensor/autograd.hpp"
#include "tensor/gemm.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/threads.hpp"
#include "tensor/vec_math.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {

// C = alpha op(A) op(B), through tensor/gemm.hpp (bf16 when the precision mode says so).
template <class T>
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T* C, int64_t ldc) {
  diffuse::gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, T(0), C, ldc);
}

// The sizes of one call.
struct Dims {
  int64_t B, H, Tq, Tk, D, Dv;
  int64_t pairs() const { return B * H; }
};

// A [B, H, rows, cols] tensor whose rows are unit-stride, as BLAS sees the (b, h) matrix: a pointer and
// a leading dimension (the row stride).
template <class T>
struct Matrices {
  const T* base;
  int64_t sb, sh, ld;
  const T* at(int64_t b, int64_t h) const { return base + b * sb + h * sh; }
};

// t itself when BLAS can read each [rows, cols] matrix with a leading dimension, else a contiguous copy.
Tensor blas_rows(const Tensor& t) {
  const int64_t rows = t.shape()[2], cols = t.shape()[3];
  if ((cols == 1 || t.strides()[3] == 1) && (rows == 1 || t.strides()[2] >= cols)) return t;
  NoGradGuard no_grad;
  return t.contiguous();
}

template <class T>
Matrices<T> matrices(const Tensor& t) {
  const int64_t ld = t.shape()[2] == 1 ? t.shape()[3] : t.strides()[2];
  return {t.data<T>(), t.strides()[0], t.strides()[1], ld};
}

// The additive mask as broadcast to [B, H, Tq, Tk]: a pointer and four strides (0 on broadcast dims).
template <class T>
struct MaskView {
  const T* base = nullptr;
  Shape st{0, 0, 0, 0};
  const T* at(int64_t b, int64_t h) const { return base ? base + b * st[0] + h * st[1] : nullptr; }
};

// Runs OpenBLAS with `n` threads in a scope and restores the previous count. OpenBLAS keeps one
// global count (threads.cpp sets it); the engine calls ops from one thread at a time.
class BlasThreads {
 public:
  explicit BlasThreads(int n) : saved_(openblas_get_num_threads()) {
    if (n != saved_) openblas_set_num_threads(n);
  }
  ~BlasThreads() {
    if (openblas_get_num_threads() != saved_) openblas_set_num_threads(saved_);
  }
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

 private:
  int saved_;
};

// Runs body(b, h, scratch) for every (b, h) pair, scratch being `scratch_size` values private to the
// calling thread. See the threading note at the top of the file.
template <class T, class F>
void for_each_pair(const Dims& d, int64_t scratch_size, F&& body) {
  const int threads = num_threads();
  if (d.pairs() >= threads && threads > 1) {
    BlasThreads single(1);
#pragma omp parallel
    {
      std::unique_ptr<T[]> scratch(new T[scratch_size]);
#pragma omp for schedule(static)
      for (int64_t bh = 0; bh < d.pairs(); ++bh) body(bh / d.H, bh % d.H, scratch.get());
    }
  } else {
    std::unique_ptr<T[]> scratch(new T[scratch_size]);
    for (int64_t bh = 0; bh < d.pairs(); ++bh) body(bh / d.H, bh % d.H, scratch.get());
  }
}

// Row-wise softmax of s [rows, cols] in place, after adding the mask rows (mask[i, j] at i * mi + j * mj).
// The row maximum is subtracted before exp, so no exp overflows; a row whose entries are all -inf
// becomes zeros (it attends to nothing).
template <class T>
void masked_softmax_rows(T* s, int64_t rows, int64_t cols, const T* mask, int64_t mi, int64_t mj) {
  for (int64_t i = 0; i < rows; ++i) {
    T* r = s + i * cols;
    if (mask) {
      const T* m = mask + i * mi;
      if (mj == 1) {
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) r[j] += m[j];
      } else {
        for (int64_t j = 0; j < cols; ++j) r[j] += m[j * mj];
      }
    }
    T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < cols; ++j) mx = r[j] > mx ? r[j] : mx;
    if (mx == -std::numeric_limits<T>::infinity()) {
      std::fill(r, r + cols, T(0));
      continue;
    }
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) r[j] -= mx;
    vec::exp_inplace(r, cols);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) sum += r[j];
    const T inv = T(1) / sum;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) r[j] *= inv;
  }
}

// dS = P * (dP - rowsum(dP * P)) for each row of [rows, cols], in place over dP.
template <class T>
void softmax_backward_rows(const T* p, T* dp, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* pr = p + i * cols;
    T* g = dp + i * cols;
    T dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; ++j) dot += g[j] * pr[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) g[j] = pr[j] * (g[j] - dot);
  }
}

// ---- forward: o [B, H, Tq, Dv]; probs [B, H, Tq, Tk] when saved for the backward, else null ----------
template <class T>
void attention_forward(const Dims& d, const Matrices<T>& q, const Matrices<T>& k, const Matrices<T>& v,
                       const MaskView<T>& mask, T* probs, T* out) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(d.D)));
  for_each_pair<T>(d, probs ? 1 : d.Tq * d.Tk, [&](int64_t b, int64_t h, T* scratch) {
    const int64_t bh = b * d.H + h;
    T* p = probs ? probs + bh * d.Tq * d.Tk : scratch;
    gemm(CblasNoTrans, CblasTrans, d.Tq, d.Tk, d.D, scale, q.at(b, h), q.ld, k.at(b, h), k.ld, p, d.Tk);  // S
    masked_softmax_rows(p, d.Tq, d.Tk, mask.at(b, h), mask.st[2], mask.st[3]);                            // P
    gemm(CblasNoTrans, CblasNoTrans, d.Tq, d.Dv, d.Tk, T(1), p, d.Tk, v.at(b, h), v.ld, out + bh * d.Tq * d.Dv,
         d.Dv);  // O = P V
  });
}

// ---- backward: any of dq, dk, dv, ds (the full [B, H, Tq, Tk] dS, for the mask) may be null ------------
template <class T>
void attention_backward(const Dims& d, const Matrices<T>& q, const Matrices<T>& k, const Matrices<T>& v,
                        const T* probs, const T* dout, T* dq, T* dk, T* dv, T* ds_full) {
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(d.D)));
  const bool need_ds = dq || dk || ds_full;
  for_each_pair<T>(d, ds_full ? 1 : d.Tq * d.Tk, [&](int64_t b, int64_t h, T* scratch) {
    const int64_t bh = b * d.H + h;
    const T* p = probs + bh * d.Tq * d.Tk;
    const T* go = dout + bh * d.Tq * d.Dv;
    if (dv)  // dV = P^T dO
      gemm(CblasTrans, CblasNoTrans, d.Tk, d.Dv, d.Tq, T(1), p, d.Tk, go, d.Dv, dv + bh * d.Tk * d.Dv, d.Dv);
    if (!need_ds) return;
    T* ds = ds_full ? ds_full + bh * d.Tq * d.Tk : scratch;
    gemm(CblasNoTrans, CblasTrans, d.Tq, d.Tk, d.Dv, T(1), go, d.Dv, v.at(b, h), v.ld, ds, d.Tk);  // dP = dO V^T
    softmax_backward_rows(p, ds, d.Tq, d.Tk);                                                      // dS
    if (dq)  // dQ = scale dS K
      gemm(CblasNoTrans, CblasNoTrans, d.Tq, d.D, d.Tk, scale, ds, d.Tk, k.at(b, h), k.ld, dq + bh * d.Tq * d.D, d.D);
    if (dk)  // dK = scale dS^T Q
      gemm(CblasTrans, CblasNoTrans, d.Tk, d.D, d.Tq, scale, ds, d.Tk, q.at(b, h), q.ld, dk + bh * d.Tk * d.D, d.D);
  });
}

Dims check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) {
  const auto fail = [&](const std::string& why) {
    shape_error("attention", "q " + describe(q) + ", k " + describe(k) + ", v " + describe(v) +
                                 (mask.defined() ? ", mask " + describe(mask) : std::string()) + ": " + why);
  };
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) fail("expected [B, H, Tq, D], [B, H, Tk, D], [B, H, Tk, Dv]");
  if (q.dtype() == DType::I32 || k.dtype() != q.dtype() || v.dtype() != q.dtype())
    fail("expected one floating dtype");
  const Shape& qs = q.shape();
  const Shape& ks = k.shape();
  const Shape& vs = v.shape();
  if (ks[0] != qs[0] || vs[0] != qs[0] || ks[1] != qs[1] || vs[1] != qs[1])
    fail("batch and head counts differ");
  if (ks[3] != qs[3]) fail("q and k have different head widths");
  if (vs[2] != ks[2]) fail("k and v have different token counts");
  if (qs[3] < 1 || vs[3] < 1 || ks[2] < 1) fail("head widths and the key count must be at least 1");
  const Dims d{qs[0], qs[1], qs[2], ks[2], qs[3], vs[3]};
  if (mask.defined()) {
    const Shape full{d.B, d.H, d.Tq, d.Tk};
    if (mask.dtype() != q.dtype()) fail("the mask must have q's dtype");
    bool broadcasts = mask.dim() <= 4;
    for (int64_t i = 1; i <= mask.dim() && broadcasts; ++i) {
      const int64_t m = mask.shape()[mask.dim() - i];
      broadcasts = m == 1 || m == full[4 - i];
    }
    if (!broadcasts) fail("the mask does not broadcast to " + to_string(full));
  }
  return d;
}

}  // namespace

// q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv], mask broadcastable to [B, H, Tq, Tk] -> o [B, H, Tq, Dv].
// Saves q, k, v (references, or the copies BLAS reads) and P.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) {
  ProfileScope scope("attention");
  const Dims d = check_attention(q, k, v, mask);
  const Tensor qb = blas_rows(q), kb = blas_rows(k), vb = blas_rows(v);
  const bool save = needs_grad({q, k, v, mask});
  Tensor probs = save ? Tensor::empty({d.B, d.H, d.Tq, d.Tk}, q.dtype()) : Tensor();
  Tensor out = Tensor::empty({d.B, d.H, d.Tq, d.Dv}, q.dtype());
  dispatch_float(q.dtype(), "attention", [&]<class T>() {
    MaskView<T> m;
    if (mask.defined()) m = {mask.data<T>(), kernels::broadcast_strides(mask, {d.B, d.H, d.Tq, d.Tk})};
    attention_forward<T>(d, matrices<T>(qb), matrices<T>(kb), matrices<T>(vb), m, save ? probs.data<T>() : nullptr,
                         out.data<T>());
  });
  return record("attention", out, {q, k, v, mask}, [d, q, k, v, mask, qb, kb, vb, probs](const Tensor& g) {
    const Tensor gc = g.contiguous();
    const auto grad_for = [](const Tensor& t, const Shape& shape) {
      return t.defined() && t.requires_grad() ? Tensor::empty(shape, t.dtype()) : Tensor();
    };
    Tensor dq = grad_for(q, q.shape()), dk = grad_for(k, k.shape()), dv = grad_for(v, v.shape());
    Tensor ds = grad_for(mask, {d.B, d.H, d.Tq, d.Tk});
    dispatch_float(q.dtype(), "attention", [&]<class T>() {
      const auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
      attention_backward<T>(d, matrices<T>(qb), matrices<T>(kb), matrices<T>(vb), probs.data<T>(), gc.data<T>(),
                            ptr(dq), ptr(dk), ptr(dv), ptr(ds));
    });
    if (dq.defined()) accumulate_grad(q, dq);
    if (dk.defined()) accumulate_grad(k, dk);
    if (dv.defined()) accumulate_grad(v, dv);
    if (ds.defined()) accumulate_grad(mask, sum_to(ds, mask.shape()));
  });
}

}  // namespace diffuse
