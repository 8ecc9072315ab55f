// Matrix products on OpenBLAS (cblas_sgemm / cblas_dgemm), float32 through tensor/gemm.hpp (which runs them in
// bf16 when tensor/precision.hpp says so, forward and backward alike). A 2-D operand whose rows or columns are
// unit-stride goes to BLAS as it is, transposed views included (CblasTrans with the view's leading
// dimension); only other layouts are copied.
#include <cblas.h>

#include <memory>
#include <type_traits>

#include "tensor/autograd.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/gemm.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {
// How BLAS can read a rows x cols matrix whose element (i, j) is at i*s0 + j*s1.
struct BlasOperand {
  bool ok;
  CBLAS_TRANSPOSE trans;
  int64_t ld;
};
BlasOperand blas_operand(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  if ((s1 == 1 || cols == 1) && (rows == 1 || s0 >= std::max<int64_t>(cols, 1)))
    return {true, CblasNoTrans, rows == 1 ? std::max<int64_t>(cols, 1) : s0};
  if ((s0 == 1 || rows == 1) && (cols == 1 || s1 >= std::max<int64_t>(rows, 1)))
    return {true, CblasTrans, cols == 1 ? std::max<int64_t>(rows, 1) : s1};
  return {false, CblasNoTrans, 0};
}

// The last two dims of t readable by BLAS: t itself, or a contiguous copy when its layout is not.
Tensor blas_ready(const Tensor& t) {
  const int64_t d = t.dim();
  if (blas_operand(t.shape()[d - 2], t.shape()[d - 1], t.strides()[d - 2], t.strides()[d - 1]).ok) return t;
  NoGradGuard no_grad;
  return t.contiguous();
}

// C [batch..., M, N] (contiguous, fresh) = A [batch..., M, K] @ B [batch..., K, N]; A and B already
// expanded to the same batch shape (stride 0 on broadcast dims).
template <class T>
void batched_gemm(const Tensor& A, const Tensor& B, Tensor& C) {
  const int64_t d = A.dim(), M = A.shape()[d - 2], K = A.shape()[d - 1], N = B.shape()[d - 1];
  const BlasOperand oa = blas_operand(M, K, A.strides()[d - 2], A.strides()[d - 1]);
  const BlasOperand ob = blas_operand(K, N, B.strides()[d - 2], B.strides()[d - 1]);
  const Shape batch(C.shape().begin(), C.shape().end() - 2);
  const int64_t nb = numel(batch);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t rem = i, off_a = 0, off_b = 0;
    for (int64_t k = static_cast<int64_t>(batch.size()) - 1; k >= 0; --k) {
      const int64_t idx = rem % batch[k];
      rem /= batch[k];
      off_a += idx * A.strides()[k];
      off_b += idx * B.strides()[k];
    }
    T* c = C.data<T>() + i * M * N;
    if (K == 0) {
      std::fill(c, c + M * N, T(0));
      continue;
    }
    gemm(oa.trans, ob.trans, M, N, K, T(1), A.data<T>() + off_a, oa.ld, B.data<T>() + off_b, ob.ld, T(0), c,
              std::max<int64_t>(N, 1));
  }
}
}  // namespace

// a [..., M, K] @ b [..., K, N] -> y [..., M, N]
// da = dy @ b^T (summed over broadcast batch dims), db = a^T @ dy (likewise).
Tensor matmul(const Tensor& a, const Tensor& b) {
  ProfileScope scope("matmul");
  if (a.dim() < 2 || b.dim() < 2 || a.shape().back() != b.shape()[b.dim() - 2] || a.dtype() != b.dtype())
    shape_error("matmul", "cannot multiply " + describe(a) + " by " + describe(b));
  const int64_t M = a.shape()[a.dim() - 2], K = a.shape().back(), N = b.shape().back();
  if (b.dim() == 2 && a.dim() > 2 && a.is_contiguous()) {
    // [..., M, K] @ [K, N] is one GEMM over the flattened rows.
    Shape out = a.shape();
    out.back() = N;
    return matmul(a.reshape({-1, K}), b).reshape(out);
  }
  const Shape batch = broadcast_shapes(Shape(a.shape().begin(), a.shape().end() - 2),
                                       Shape(b.shape().begin(), b.shape().end() - 2), "matmul");
  Shape sa = batch, sb = batch, sy = batch;
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  sy.insert(sy.end(), {M, N});
  Tensor y = Tensor::empty(sy, a.dtype());
  {
    NoGradGuard no_grad;
    const Tensor A = blas_ready(a.expand(sa)), B = blas_ready(b.expand(sb));
    dispatch_float(a.dtype(), "matmul", [&]<class T>() { batched_gemm<T>(A, B, y); });
  }
  return record("matmul", y, {a, b}, [a, b](const Tensor& g) {
    if (a.requires_grad()) accumulate_grad(a, sum_to(matmul(g, b.detach().transpose(-1, -2)), a.shape()));
    if (b.requires_grad()) accumulate_grad(b, sum_to(matmul(a.detach().transpose(-1, -2), g), b.shape()));
  });
}

namespace {
// The weight's bf16 copy for linear in bf16 mode: w (BLAS-ready) read as the GEMM operand `ow` (weight^T,
// [in, out]), copied as stored. Made once per call and read by the forward and by the backward's dx, so
// the float32 weight is converted once per step; without a tape inside a FrozenWeights scope, made once
// for the scope (sampling).
std::shared_ptr<const Bf16Matrix> linear_weight_bf16(const Tensor& w, const BlasOperand& ow, int64_t in, int64_t out,
                                                     bool tape) {
  const bool as_is = ow.trans == CblasNoTrans;  // stored [in, out]; else stored [out, in]
  const auto make = [&] {
    return std::make_shared<const Bf16Matrix>(to_bf16_matrix(w.data<float>(), as_is ? in : out, as_is ? out : in, ow.ld));
  };
  if (tape || !weights_frozen()) return make();
  static const char tags[2] = {};  // one per stored orientation
  return std::static_pointer_cast<const Bf16Matrix>(frozen_derived(w, &tags[as_is], make));
}
}  // namespace

// x [..., in] , weight [out, in], bias [out] -> y [..., out] = x weight^T + bias
// dx = dy weight, dweight = dy^T x (over all rows), dbias = sum of dy over all rows.
// In bf16 the weight's bf16 copy is made once (linear_weight_bf16) and the backward's dx runs in the
// forward's precision.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  ProfileScope scope("linear");
  if (x.dim() < 1 || weight.dim() != 2 || x.shape().back() != weight.shape()[1] || x.dtype() != weight.dtype() ||
      (bias.defined() && (bias.dim() != 1 || bias.shape()[0] != weight.shape()[0] || bias.dtype() != x.dtype())))
    shape_error("linear", "input " + describe(x) + ", weight " + describe(weight) + ", bias " + describe(bias) +
                              " (expected [..., in], [out, in], [out])");
  const int64_t in = weight.shape()[1], out = weight.shape()[0];
  const PrecisionMode mode = precision_mode();
  Shape out_shape = x.shape();
  out_shape.back() = out;
  Tensor x2, y;
  std::shared_ptr<const Bf16Matrix> w16;
  CBLAS_TRANSPOSE w_trans = CblasNoTrans;
  {
    NoGradGuard no_grad;
    x2 = x.reshape({-1, in});
    const Tensor w = blas_ready(weight);
    const BlasOperand ow = blas_operand(in, out, w.strides()[1], w.strides()[0]);  // weight^T, [in, out]
    w_trans = ow.trans;
    x2 = blas_ready(x2);
    const BlasOperand ox = blas_operand(x2.shape()[0], in, x2.strides()[0], x2.strides()[1]);
    const int64_t rows = x2.shape()[0];
    y = Tensor::empty({rows, out}, x.dtype());
    dispatch_float(x.dtype(), "linear", [&]<class T>() {
      T beta = T(0);
      if (bias.defined()) {
        y.copy_(bias);  // every row starts as the bias, then GEMM adds x W^T
        beta = T(1);
      }
      if (rows > 0 && in > 0) {
        if constexpr (std::is_same_v<T, float>) {
          if (mode.bf16()) {
            w16 = linear_weight_bf16(w, ow, in, out, needs_grad({x, weight, bias}));
            gemm(ox.trans, ow.trans, rows, out, in, 1.0f, x2.data<float>(), ox.ld, *w16, beta, y.data<float>(), out);
            return;
          }
        }
        gemm(ox.trans, ow.trans, rows, out, in, T(1), x2.data<T>(), ox.ld, w.data<T>(), ow.ld, beta, y.data<T>(), out);
      } else if (!bias.defined()) {
        y.fill_(0);
      }
    });
    y = y.view(out_shape);
  }
  return record("linear", y, {x, weight, bias}, [x, weight, bias, x2, in, out, w16, w_trans, mode](const Tensor& g) {
    const Tensor g2 = g.reshape({-1, out});
    if (x.requires_grad()) {
      if (w16) {  // dx [rows, in] = g2 [rows, out] @ weight [out, in], from the weight's bf16 copy
        const Tensor gb = blas_ready(g2);
        const BlasOperand og = blas_operand(gb.shape()[0], out, gb.strides()[0], gb.strides()[1]);
        const Tensor dx = Tensor::empty({gb.shape()[0], in});
        PrecisionScope forward_precision(mode);
        gemm(og.trans, w_trans == CblasTrans ? CblasNoTrans : CblasTrans, gb.shape()[0], in, out, 1.0f,
             gb.data<float>(), og.ld, *w16, 0.0f, dx.data<float>(), in);
        accumulate_grad(x, dx.reshape(x.shape()));
      } else {
        accumulate_grad(x, matmul(g2, weight.detach()).reshape(x.shape()));
      }
    }
    if (weight.requires_grad()) accumulate_grad(weight, matmul(g2.transpose(0, 1), x2));
    if (bias.defined() && bias.requires_grad()) accumulate_grad(bias, sum(g2, {0}));
  });
}

}  // namespace diffuse
