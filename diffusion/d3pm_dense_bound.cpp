// D3pm::dense_bound_terms: the bound's terms in float64 for float32 or float64 logits without a tape, for
// the dense kinds (discretized Gaussian and nearest-neighbour). The formulas are bound_terms'
// (d3pm_diffusion.cpp; Austin et al. eq. 3, the posterior, and eq. 4, the x0-parameterisation; docs/math.md
// §3.5-§3.8 and §3.13), computed a block of positions at a time, so that the [positions, K] arrays the
// tensor version builds and reads back stay in cache (float32 logits are widened as a block is read, no
// float64 copy of them is made):
//   log ptilde   = log_softmax(logits)                                  (an extra mask at -inf)
//   log p_theta  = log_softmax(log(x_t Q_t^T + eps) + log(ptilde Qbar_{t-1} + eps))
//   log q        = log_softmax(log(x_t Q_t^T + eps) + log(x0 Qbar_{t-1} + eps))
//   L_{t-1}      = max(0, sum_k q_k (log q_k - log p_k))                for t > 1
// (the first logs of p_theta and q are the same, `column` below, and cancel in log q - log p).
//   L_0          = -log p_theta(x0 | x_1), or -log ptilde(x0) with the ptilde decoder
// (with step skipping, t-1 is s, the next visited t, and Q_t the product Q_{s+1} ... Q_t). On the
// d3pm-cifar10-small U-Net at batch 8, one t of an exact evaluation (network + bound, one thread)
// went from 0.88 to 0.29 s with this and the table / SIMD changes beside it. test_d3pm_losses checks it
// against the tensor version to 1e-12, and float32 logits against their float64 copy exactly.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "diffusion/d3pm_diffusion.hpp"
#include "diffusion/d3pm_rows.hpp"
#include "tensor/kernels.hpp"
#include "tensor/vec_math.hpp"

namespace diffuse::diffusion {

using namespace d3pm_rows;

namespace {
// e[k] = exp(row[k] - max) for k < K (e may be row), with the max and the sum of e: logsumexp(row) =
// max + log(sum), softmax(row) = e / sum.
struct ShiftedExp {
  double max, sum;
  double logsumexp() const { return max + std::log(sum); }
};
ShiftedExp exp_shifted(const double* row, double* e, int64_t K) {
  const double m = vec::max_of(row, K);
  for (int64_t k = 0; k < K; ++k) e[k] = row[k] - m;
  vec::exp_inplace(e, K);
  return {m, vec::sum_of(e, K)};
}
// probs[0..K) = softmax(row) (probs may be row); returns logsumexp(row).
double softmax_row(const double* row, double* probs, int64_t K) {
  const ShiftedExp e = exp_shifted(row, probs, K);
  const double inv = 1.0 / e.sum;
  for (int64_t k = 0; k < K; ++k) probs[k] *= inv;
  return e.logsumexp();
}
}  // namespace

Tensor D3pm::dense_bound_terms(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t,
                               const std::vector<int64_t>& t, const std::vector<int64_t>& s, bool one_step) const {
  const int64_t B = x0.size(0), L = x0.size(1), K = num_states();
  const D3pmStates& states = process_.states();
  const std::vector<int64_t> xv = token_ids(x0), yv = token_ids(x_t);
  const D3pmTransitionKind& kind = process_.transition();
  const DenseProducts products = prepare_products(kind, s, t, one_step);
  const LogRowTables log_columns = log_product_columns(kind, products, s, t, one_step);
  const LogRowTables log_qbar = log_qbar_rows(kind, s);
  const Tensor logits = model_logits.contiguous();
  // Rows [row0, row0 + rows) of the logits into out, widened to double.
  auto read_rows = [&](int64_t row0, int64_t rows, double* out) {
    if (logits.dtype() == DType::F32) std::copy_n(logits.data<float>() + row0 * K, rows * K, out);
    else std::copy_n(logits.data<double>() + row0 * K, rows * K, out);
  };
  const bool ptilde_decoder = config().decoder == D3pmDecoder::Ptilde;

  constexpr int64_t kBlock = 64;  // positions: 4 arrays of 64 x 256 doubles = 512 KiB
  const int64_t blocks = (L + kBlock - 1) / kBlock;
  std::vector<double> terms(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const size_t bi = static_cast<size_t>(b);
    const double* qbar = process_.cached_qbar(s[bi]).a.data();  // [K, K]
    std::vector<double> block_sums(static_cast<size_t>(blocks));
    kernels::parallel_for(blocks, 1, [&](int64_t j0, int64_t j1) {
      std::vector<double> logit(static_cast<size_t>(kBlock * K)), pt(logit.size()), pq(logit.size()),
          lse_pt(static_cast<size_t>(kBlock)), lpq(static_cast<size_t>(K)), scratch(static_cast<size_t>(K));
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t l0 = j * kBlock, n = std::min(kBlock, L - l0);
        // ptilde = softmax(logits) for the block's positions
        read_rows(b * L + l0, n, logit.data());
        for (int64_t i = 0; i < n; ++i) {
          double* row = logit.data() + i * K;
          if (states.has_extra_mask()) row[states.mask] = -std::numeric_limits<double>::infinity();
          lse_pt[static_cast<size_t>(i)] = softmax_row(row, pt.data() + i * K, K);
        }
        // ptilde Qbar_s: [n, K] x [K, K]
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(K),
                    static_cast<int>(K), 1.0, pt.data(), static_cast<int>(K), qbar, static_cast<int>(K), 0.0, pq.data(),
                    static_cast<int>(K));
        double sum = 0;
        for (int64_t i = 0; i < n; ++i) {
          const size_t r = static_cast<size_t>(b * L + l0 + i);
          const int64_t x = xv[r];
          const double* column = log_columns.row(b, yv[r]);  // log(x_t P^T + eps)
          const double* pq_row = pq.data() + i * K;
          for (int64_t k = 0; k < K; ++k) lpq[static_cast<size_t>(k)] = pq_row[k] + kEps;
          vec::log_inplace(lpq.data(), K);
          // log p_k = column_k + lpq_k - lse_p
          for (int64_t k = 0; k < K; ++k) scratch[static_cast<size_t>(k)] = column[k] + lpq[static_cast<size_t>(k)];
          const double lse_p = exp_shifted(scratch.data(), scratch.data(), K).logsumexp();
          if (s[bi] == 0) {
            sum -= ptilde_decoder ? logit[static_cast<size_t>(i * K + x)] - lse_pt[static_cast<size_t>(i)]
                                  : column[x] + lpq[static_cast<size_t>(x)] - lse_p;
            continue;
          }
          // log q_k = column_k + qrow_k - lse_q, so log q_k - log p_k = qrow_k - lpq_k - lse_q + lse_p and
          // KL(q || p) = sum_k q_k (qrow_k - lpq_k) + lse_p - lse_q.
          const double* qrow = log_qbar.row(b, x);  // log(x0 Qbar_s + eps)
          double* q = scratch.data();
          for (int64_t k = 0; k < K; ++k) q[k] = column[k] + qrow[k];
          const double lse_q = softmax_row(q, q, K);
          double kl = lse_p - lse_q;
          for (int64_t k = 0; k < K; ++k) kl += q[k] * (qrow[k] - lpq[static_cast<size_t>(k)]);
          sum += std::max(kl, 0.0);
        }
        block_sums[static_cast<size_t>(j)] = sum;
      }
    });
    for (double v : block_sums) terms[bi] += v;
  }
  return Tensor::from_vector(terms, {B});
}

}  // namespace diffuse::diffusion
