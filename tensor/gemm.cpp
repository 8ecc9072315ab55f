#include "tensor/gemm.hpp"

#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "tensor/flop_counter.hpp"
#include "tensor/kernels.hpp"
#include "tensor/onednn.hpp"
#include "tensor/precision.hpp"
#include "tensor/threads.hpp"

namespace diffuse {

namespace {

// op(X) [rows, cols] of a row-major matrix stored with leading dimension ld, copied into a dense
// row-major [rows, cols] buffer (the transpose done here, so every primitive sees plain operands).
// convert(in, out, n) converts n unit-stride values.
template <class Out, class Convert>
void pack(CBLAS_TRANSPOSE t, int64_t rows, int64_t cols, const float* X, int64_t ld, std::vector<Out>& out,
          Convert convert) {
  out.resize(static_cast<size_t>(rows * cols));
  Out* o = out.data();
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(cols, 1));  // about 64K values a piece
  if (t == CblasNoTrans) {
    kernels::parallel_for(rows, grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) convert(X + i * ld, o + i * cols, cols);
    });
    return;
  }
  // op(X)[i, j] = X[j, i]: read X's rows (unit stride), scatter them into columns, in tiles for the cache.
  constexpr int64_t tile = 32;
  kernels::parallel_for((cols + tile - 1) / tile, 1 + (1 << 16) / (tile * std::max<int64_t>(rows, 1)), [&](int64_t t0, int64_t t1) {
    Out converted[tile];
    for (int64_t j0 = t0 * tile; j0 < std::min(cols, t1 * tile); j0 += tile)
      for (int64_t i0 = 0; i0 < rows; i0 += tile) {
        const int64_t j1 = std::min(cols, j0 + tile), i1 = std::min(rows, i0 + tile);
        for (int64_t j = j0; j < j1; ++j) {
          convert(X + j * ld + i0, converted, i1 - i0);
          for (int64_t i = i0; i < i1; ++i) o[i * cols + j] = converted[i - i0];
        }
      }
  });
}

void convert_to_bf16(const float* in, uint16_t* out, int64_t n) { to_bf16(in, out, n); }

// ---- bf16 native: oneDNN matmul ------------------------------------------------------------------

struct MatmulPlan {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
};

// dst [M, N] (f32, row stride ldc) = alpha op(src) op(weights) + beta dst, where src [M, K] and weights [K, N]
// are row-major matrices of `type` stored with leading dimensions lda and ldb, as they are (ta, tb false) or
// transposed (true): described to oneDNN by their strides, never copied. With batch > 1, `batch` such
// products over matrices stored one after another (each operand's matrices rows x ld values apart).
// Created once per shape and kept.
const MatmulPlan& matmul_plan(dnnl::memory::data_type type, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                              int64_t lda, int64_t ldb, int64_t ldc, float alpha, float beta, int64_t batch = 1) {
  using dims = dnnl::memory::dims;
  static std::map<std::tuple<int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, float, int, int64_t>,
                  MatmulPlan>
      cache;
  const auto key = std::make_tuple(static_cast<int>(type), ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, num_threads(), batch);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() >= 512) cache.clear();  // a program sweeping through shapes; a network has a few dozen
  // A matrix [rows, cols] stored with leading dimension ld, transposed or not, as the batch's 2-D or 3-D desc.
  const auto desc = [batch](int64_t rows, int64_t cols, dnnl::memory::data_type t, bool trans, int64_t ld) {
    const dims strides = trans ? dims{1, ld} : dims{ld, 1};
    if (batch == 1) return dnnl::memory::desc({rows, cols}, t, strides);
    return dnnl::memory::desc({batch, rows, cols}, t, dims{(trans ? cols : rows) * ld, strides[0], strides[1]});
  };
  const dnnl::memory::desc a = desc(M, K, type, ta, lda), b = desc(K, N, type, tb, ldb);
  const dnnl::memory::desc c = desc(M, N, dnnl::memory::data_type::f32, false, ldc);
  dnnl::primitive_attr attr = onednn::primitive_attr_with_user_scratchpad();
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, onednn::engine());
  MatmulPlan plan{pd, dnnl::matmul(pd)};
  return cache.emplace(key, std::move(plan)).first->second;
}

// A [M, K] as op(A) of its stored matrix (converted here), B's bf16 values as stored (tb_: transposed).
void bf16_gemm_native(CBLAS_TRANSPOSE ta, bool tb_, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                      int64_t lda, const uint16_t* b16, float beta, float* C, int64_t ldc) {
  static std::vector<uint16_t> a16;  // one thread calls (never inside a parallel region: see gemm())
  // A converted as it is stored (rows of A), its transpose left to oneDNN's layouts.
  const bool ta_ = ta == CblasTrans;
  pack(CblasNoTrans, ta_ ? K : M, ta_ ? M : K, A, lda, a16, convert_to_bf16);
  const MatmulPlan& plan = matmul_plan(dnnl::memory::data_type::bf16, ta_, tb_, M, N, K, ta_ ? M : K, tb_ ? K : N, ldc,
                                       alpha, beta);
  const dnnl::engine& engine = onednn::engine();
  dnnl::memory a(plan.pd.src_desc(), engine, a16.data());
  dnnl::memory b(plan.pd.weights_desc(), engine, const_cast<uint16_t*>(b16));  // oneDNN only reads it
  dnnl::memory c(plan.pd.dst_desc(), engine, C);
  onednn::execute(plan.primitive, plan.pd, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
}

void bf16_gemm_native(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  static std::vector<uint16_t> b16;
  const bool tb_ = tb == CblasTrans;
  pack(CblasNoTrans, tb_ ? N : K, tb_ ? K : N, B, ldb, b16, convert_to_bf16);
  bf16_gemm_native(ta, tb_, M, N, K, alpha, A, lda, b16.data(), beta, C, ldc);
}

// ---- float32 on oneDNN: the large products --------------------------------------------------------

// Products of at least this many multiply-adds go to oneDNN's matmul; smaller ones to cblas_sgemm, where a
// primitive's fork and join would cost more than the product (see the header).
constexpr int64_t kOnednnMinMacs = int64_t{1} << 24;

void f32_gemm_onednn(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                     int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const MatmulPlan& plan = matmul_plan(dnnl::memory::data_type::f32, ta == CblasTrans, tb == CblasTrans, M, N, K, lda,
                                       ldb, ldc, alpha, beta);
  const dnnl::engine& engine = onednn::engine();
  dnnl::memory a(plan.pd.src_desc(), engine, const_cast<float*>(A));  // oneDNN only reads A and B
  dnnl::memory b(plan.pd.weights_desc(), engine, const_cast<float*>(B));
  dnnl::memory c(plan.pd.dst_desc(), engine, C);
  onednn::execute(plan.primitive, plan.pd, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
}

// ---- bf16 emulated: rounded copies, then sgemm -----------------------------------------------------

void bf16_gemm_emulated(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local std::vector<float> ar, br;
  const auto convert = [](const float* in, float* out, int64_t n) { round_to_bf16(in, out, n); };
  pack(ta, M, K, A, lda, ar, convert);
  pack(tb, K, N, B, ldb, br, convert);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, ar.data(), K, br.data(), N, beta, C, ldc);
}

std::atomic<int64_t> g_bf16_matrices{0};

}  // namespace

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  count_flops(2 * M * N * K);
  const PrecisionMode mode = precision_mode();
  if (mode.bf16() && M > 0 && N > 0 && K > 0) {
    if (mode.emulated || omp_in_parallel()) return bf16_gemm_emulated(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return bf16_gemm_native(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  if (M * N * K >= kOnednnMinMacs && !omp_in_parallel())
    return f32_gemm_onednn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

Bf16Matrix to_bf16_matrix(const float* X, int64_t rows, int64_t cols, int64_t ld) {
  ++g_bf16_matrices;
  Bf16Matrix m{{}, rows, cols};
  pack(CblasNoTrans, rows, cols, X, ld, m.values, convert_to_bf16);
  return m;
}

int64_t bf16_matrices_made() { return g_bf16_matrices; }

void batched_bf16_gemm(bool ta, bool tb, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const uint16_t* A,
                       const uint16_t* B, float* C) {
  if (!precision_mode().bf16_native() || omp_in_parallel())
    throw std::logic_error("batched_bf16_gemm: needs native bf16 mode, outside parallel regions");
  count_flops(2 * batch * M * N * K);
  if (batch == 0 || M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(C, C + batch * M * N, 0.0f);
    return;
  }
  const MatmulPlan& plan =
      matmul_plan(dnnl::memory::data_type::bf16, ta, tb, M, N, K, ta ? M : K, tb ? K : N, N, alpha, 0.0f, batch);
  const dnnl::engine& engine = onednn::engine();
  dnnl::memory a(plan.pd.src_desc(), engine, const_cast<uint16_t*>(A));  // oneDNN only reads A and B
  dnnl::memory b(plan.pd.weights_desc(), engine, const_cast<uint16_t*>(B));
  dnnl::memory c(plan.pd.dst_desc(), engine, C);
  onednn::execute(plan.primitive, plan.pd, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const Bf16Matrix& B, float beta, float* C, int64_t ldc) {
  const PrecisionMode mode = precision_mode();
  if (!mode.bf16()) throw std::logic_error("gemm with a bf16 operand outside bf16 mode");
  const bool tb_ = tb == CblasTrans;
  if (B.rows != (tb_ ? N : K) || B.cols != (tb_ ? K : N)) throw std::logic_error("gemm: the bf16 operand's shape");
  count_flops(2 * M * N * K);
  if (M == 0 || N == 0) return;
  if (K == 0) {  // C = beta C
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  if (!mode.emulated && !omp_in_parallel()) return bf16_gemm_native(ta, tb_, M, N, K, alpha, A, lda, B.values.data(), beta, C, ldc);
  // Emulated: B's bf16 values widened (exactly) to float32, A rounded, then sgemm.
  thread_local std::vector<float> b;
  b.resize(B.values.size());
  for (size_t i = 0; i < b.size(); ++i) b[i] = from_bf16(B.values[i]);
  bf16_gemm_emulated(ta, tb, M, N, K, alpha, A, lda, b.data(), B.cols, beta, C, ldc);
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
          int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  count_flops(2 * M * N * K);
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace diffuse
