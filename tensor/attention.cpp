// Scaled dot-product attention on cblas sgemm / dgemm (float32 through tensor/gemm.hpp, so in bf16 mode the
// five GEMMs take bf16 operands, P and dS included, with float32 accumulation; the softmax and its backward
// stay float32), forward and backward side by side. Native bf16 has its own loop over chunks of pairs with
// batched oneDNN matmuls (the second half of the file); the arithmetic is the same.
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
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/autograd.hpp"
#include "tensor/gemm.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"
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
    const T inv = T(1) / vec::exp_shifted_sum(r, cols, mx);
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

// ---- native bf16: the five GEMMs as batched oneDNN matmuls ---------------------------------------------
// With bf16 native, a thread per pair would have to emulate (gemm.hpp: oneDNN's primitives do not run
// nested in a parallel region), so here the pairs go in chunks instead: each GEMM is one bf16 matmul over
// the chunk's pairs on all threads, and only the softmax and its backward run row-parallel between them.
// The operands are those of the emulated path (Q, K, V, dO, P and dS rounded to bf16, float32 accumulation).
// A chunk's float32 score block is kept to about 4 MiB (16 pairs at Tq = Tk = 256) unless P is saved whole.

// The pairs of a chunk.
int64_t pairs_per_chunk(const Dims& d) {
  return std::clamp<int64_t>((int64_t{4} << 20) / (4 * d.Tq * d.Tk), 1, d.pairs());
}

// The [B, H, rows, cols] matrices of m as dense bf16 [B * H, rows, cols].
std::vector<uint16_t> dense_bf16(const Dims& d, const Matrices<float>& m, int64_t rows, int64_t cols) {
  std::vector<uint16_t> out(static_cast<size_t>(d.pairs() * rows * cols));
  kernels::parallel_for(d.pairs() * rows, 1 + (1 << 14) / cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / rows;
      to_bf16(m.at(bh / d.H, bh % d.H) + (r % rows) * m.ld, out.data() + r * cols, cols);
    }
  });
  return out;
}

void to_bf16_parallel(const float* in, uint16_t* out, int64_t n) {
  kernels::parallel_for(n, 1 << 14, [&](int64_t i0, int64_t i1) { to_bf16(in + i0, out + i0, i1 - i0); });
}

// body(row, pair) for each row of a chunk of n pairs' [Tq, Tk] blocks (pair = the (b, h) index), in parallel.
template <class F>
void for_each_score_row(const Dims& d, int64_t p0, int64_t n, F&& body) {
  kernels::parallel_for(n * d.Tq, 1 + (1 << 14) / d.Tk, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) body(r, p0 + r / d.Tq);
  });
}

void attention_forward_bf16(const Dims& d, const Matrices<float>& q, const Matrices<float>& k, const Matrices<float>& v,
                            const MaskView<float>& mask, float* probs, float* out) {
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.D)));
  const std::vector<uint16_t> q16 = dense_bf16(d, q, d.Tq, d.D), k16 = dense_bf16(d, k, d.Tk, d.D),
                              v16 = dense_bf16(d, v, d.Tk, d.Dv);
  const int64_t chunk = pairs_per_chunk(d), block = d.Tq * d.Tk;
  std::vector<float> scratch(probs ? 0 : static_cast<size_t>(chunk * block));
  std::vector<uint16_t> p16(static_cast<size_t>(chunk * block));
  for (int64_t p0 = 0; p0 < d.pairs(); p0 += chunk) {
    const int64_t n = std::min(chunk, d.pairs() - p0);
    float* s = probs ? probs + p0 * block : scratch.data();
    batched_bf16_gemm(false, true, n, d.Tq, d.Tk, d.D, scale, &q16[p0 * d.Tq * d.D], &k16[p0 * d.Tk * d.D], s);  // S
    for_each_score_row(d, p0, n, [&](int64_t r, int64_t bh) {  // P
      const float* m = mask.at(bh / d.H, bh % d.H);
      masked_softmax_rows(s + r * d.Tk, 1, d.Tk, m ? m + (r % d.Tq) * mask.st[2] : nullptr, 0, mask.st[3]);
    });
    to_bf16_parallel(s, p16.data(), n * block);
    batched_bf16_gemm(false, false, n, d.Tq, d.Dv, d.Tk, 1.0f, p16.data(), &v16[p0 * d.Tk * d.Dv],
                      out + p0 * d.Tq * d.Dv);  // O = P V
  }
}

void attention_backward_bf16(const Dims& d, const Matrices<float>& q, const Matrices<float>& k, const Matrices<float>& v,
                             const float* probs, const float* dout, float* dq, float* dk, float* dv, float* ds_full) {
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.D)));
  const bool need_ds = dq || dk || ds_full;
  const std::vector<uint16_t> none;
  const std::vector<uint16_t> q16 = dk ? dense_bf16(d, q, d.Tq, d.D) : none, k16 = dq ? dense_bf16(d, k, d.Tk, d.D) : none,
                              v16 = need_ds ? dense_bf16(d, v, d.Tk, d.Dv) : none;
  std::vector<uint16_t> go16(static_cast<size_t>(d.pairs() * d.Tq * d.Dv));
  to_bf16_parallel(dout, go16.data(), d.pairs() * d.Tq * d.Dv);
  const int64_t chunk = pairs_per_chunk(d), block = d.Tq * d.Tk;
  std::vector<float> scratch(ds_full || !need_ds ? 0 : static_cast<size_t>(chunk * block));
  std::vector<uint16_t> p16(static_cast<size_t>(chunk * block));
  for (int64_t p0 = 0; p0 < d.pairs(); p0 += chunk) {
    const int64_t n = std::min(chunk, d.pairs() - p0);
    const float* p = probs + p0 * block;
    const uint16_t* go = &go16[p0 * d.Tq * d.Dv];
    if (dv) {  // dV = P^T dO
      to_bf16_parallel(p, p16.data(), n * block);
      batched_bf16_gemm(true, false, n, d.Tk, d.Dv, d.Tq, 1.0f, p16.data(), go, dv + p0 * d.Tk * d.Dv);
    }
    if (!need_ds) continue;
    float* ds = ds_full ? ds_full + p0 * block : scratch.data();
    batched_bf16_gemm(false, true, n, d.Tq, d.Tk, d.Dv, 1.0f, go, &v16[p0 * d.Tk * d.Dv], ds);  // dP = dO V^T
    for_each_score_row(d, p0, n, [&](int64_t r, int64_t) { softmax_backward_rows(p + r * d.Tk, ds + r * d.Tk, 1, d.Tk); });
    to_bf16_parallel(ds, p16.data(), n * block);  // dS, as the next two GEMMs' operand
    if (dq)  // dQ = scale dS K
      batched_bf16_gemm(false, false, n, d.Tq, d.D, d.Tk, scale, p16.data(), &k16[p0 * d.Tk * d.D], dq + p0 * d.Tq * d.D);
    if (dk)  // dK = scale dS^T Q
      batched_bf16_gemm(true, false, n, d.Tk, d.D, d.Tq, scale, p16.data(), &q16[p0 * d.Tq * d.D], dk + p0 * d.Tk * d.D);
  }
}

// Native bf16 (on float32 tensors) takes the batched path, unless called inside a parallel region.
bool batched_bf16_path() { return precision_mode().bf16_native() && !omp_in_parallel(); }

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
    T* p = save ? probs.data<T>() : nullptr;
    if constexpr (std::is_same_v<T, float>)
      if (batched_bf16_path())
        return attention_forward_bf16(d, matrices<T>(qb), matrices<T>(kb), matrices<T>(vb), m, p, out.data<T>());
    attention_forward<T>(d, matrices<T>(qb), matrices<T>(kb), matrices<T>(vb), m, p, out.data<T>());
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
      if constexpr (std::is_same_v<T, float>)
        if (batched_bf16_path())
          return attention_backward_bf16(d, matrices<T>(qb), matrices<T>(kb), matrices<T>(vb), probs.data<T>(),
                                         gc.data<T>(), ptr(dq), ptr(dk), ptr(dv), ptr(ds));
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
