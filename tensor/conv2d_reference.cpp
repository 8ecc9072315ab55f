// conv2d in float64: im2col + cblas_dgemm, forward and backward side by side. conv2d.cpp checks the
// arguments and sends float64 here (float32 runs on oneDNN there).
//
// oneDNN has no double-precision convolution, and gradient checks of whole networks run in double, so
// float64 has a straightforward implementation. For one sample, the matrix cols [C*KH*KW, OH*OW] holds
// in row (c, i, j) and column (p, q) the input under kernel tap (i, j) of channel c when the kernel sits
// at output position (p, q): x[c, p*SH - PH + i, q*SW - PW + j], or 0 in the padding. Then per sample
//   y[n]   [OC, OH*OW]    = W [OC, C*KH*KW] @ cols + bias                       forward
//   dcols  [C*KH*KW, OH*OW] = W^T @ dy[n],   dx[n] = col2im(dcols)              backward data
//   dW     [OC, C*KH*KW] += dy[n] @ cols^T,  dbias[o] += sum over (p, q) of dy[n, o]   backward weights
// where col2im is the adjoint of im2col: it adds each column entry back onto the input element it came from.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "tensor/autograd.hpp"
#include "tensor/conv2d_geometry.hpp"
#include "tensor/flop_counter.hpp"

namespace diffuse::conv2d_internal {

namespace {

// cols [C*KH*KW, OH*OW] = the patches of one sample x_n [C, H, W] (zero in the padding).
void im2col(const Geometry& g, const double* x, double* cols) {
  const int64_t P = g.OH * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.KH; ++i)
      for (int64_t j = 0; j < g.KW; ++j) {
        double* row = cols + ((c * g.KH + i) * g.KW + j) * P;
        for (int64_t p = 0; p < g.OH; ++p) {
          const int64_t h = p * g.SH - g.PH + i;
          for (int64_t q = 0; q < g.OW; ++q) {
            const int64_t w = q * g.SW - g.PW + j;
            row[p * g.OW + q] = h >= 0 && h < g.H && w >= 0 && w < g.W ? x[(c * g.H + h) * g.W + w] : 0.0;
          }
        }
      }
}

// x_n [C, H, W] += col2im(cols): the adjoint of im2col (entries that came from the padding are dropped).
void col2im_add(const Geometry& g, const double* cols, double* x) {
  const int64_t P = g.OH * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.KH; ++i)
      for (int64_t j = 0; j < g.KW; ++j) {
        const double* row = cols + ((c * g.KH + i) * g.KW + j) * P;
        for (int64_t p = 0; p < g.OH; ++p) {
          const int64_t h = p * g.SH - g.PH + i;
          if (h < 0 || h >= g.H) continue;
          for (int64_t q = 0; q < g.OW; ++q) {
            const int64_t w = q * g.SW - g.PW + j;
            if (w >= 0 && w < g.W) x[(c * g.H + h) * g.W + w] += row[p * g.OW + q];
          }
        }
      }
}

// Row-major C [M, N] = op(A) [M, K] @ op(B) [K, N] + beta C, op a transpose where asked.
void dgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda,
           const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  count_flops(2 * M * N * K);
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K,
              1.0, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

// x [N, C, H, W], weight [OC, C, KH, KW], bias [OC] or undefined -> y [N, OC, OH, OW], float64, per sample
// through cols = im2col(x[n]) [CKK, P] (CKK = C*KH*KW, P = OH*OW):
//   y[n] = W cols + bias;   dx[n] = col2im(W^T dy[n]);   dW = sum_n dy[n] cols^T;   dbias = sum of dy over n, P.
// Saves x and weight (contiguous); the backward recomputes cols.
Tensor conv2d_im2col(const Geometry& g, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const int64_t P = g.OH * g.OW, CKK = g.C * g.KH * g.KW;
  const int64_t x_step = g.C * g.H * g.W, y_step = g.OC * P;
  Tensor xc, wc, bc;
  {
    NoGradGuard no_grad;
    xc = x.contiguous();
    wc = weight.contiguous();
    if (bias.defined()) bc = bias.contiguous();
  }
  // y[n] [OC, P] = bias (broadcast over P), then += W [OC, CKK] @ cols [CKK, P].
  Tensor y = Tensor::empty(g.y_shape(), DType::F64);
  {
    std::vector<double> cols(CKK * P);
    const double* xv = xc.data<double>();
    const double* wv = wc.data<double>();
    double* yv = y.data<double>();
    for (int64_t n = 0; n < g.N; ++n) {
      im2col(g, xv + n * x_step, cols.data());
      double* yn = yv + n * y_step;
      for (int64_t o = 0; o < g.OC; ++o)
        std::fill(yn + o * P, yn + (o + 1) * P, bc.defined() ? bc.data<double>()[o] : 0.0);
      dgemm(false, false, g.OC, P, CKK, wv, CKK, cols.data(), P, 1.0, yn, P);
    }
  }
  return record("conv2d", y, {x, weight, bias}, [g, x, weight, bias, xc, wc](const Tensor& grad) {
    const int64_t P = g.OH * g.OW, CKK = g.C * g.KH * g.KW;
    const int64_t x_step = g.C * g.H * g.W, y_step = g.OC * P;
    const Tensor dy = grad.contiguous();
    const double* dyv = dy.data<double>();
    std::vector<double> cols(CKK * P);
    if (x.requires_grad()) {
      // dcols [CKK, P] = W^T @ dy[n], then scattered back onto dx[n].
      Tensor dx = Tensor::zeros(g.x_shape(), DType::F64);
      for (int64_t n = 0; n < g.N; ++n) {
        dgemm(true, false, CKK, P, g.OC, wc.data<double>(), CKK, dyv + n * y_step, P, 0.0, cols.data(), P);
        col2im_add(g, cols.data(), dx.data<double>() + n * x_step);
      }
      accumulate_grad(x, dx);
    }
    if (weight.requires_grad() || (bias.defined() && bias.requires_grad())) {
      // dW [OC, CKK] += dy[n] [OC, P] @ cols[n]^T;  dbias[o] += sum over P of dy[n, o].
      Tensor dw = Tensor::zeros(g.w_shape(), DType::F64), db = Tensor::zeros({g.OC}, DType::F64);
      for (int64_t n = 0; n < g.N; ++n) {
        im2col(g, xc.data<double>() + n * x_step, cols.data());
        const double* dyn = dyv + n * y_step;
        dgemm(false, true, g.OC, CKK, P, dyn, P, cols.data(), P, 1.0, dw.data<double>(), CKK);
        for (int64_t o = 0; o < g.OC; ++o)
          for (int64_t k = 0; k < P; ++k) db.data<double>()[o] += dyn[o * P + k];
      }
      accumulate_grad(weight, dw);
      if (bias.defined()) accumulate_grad(bias, db);
    }
  });
}

}  // namespace diffuse::conv2d_internal
