// Vector quantisation of the VQ-VAE (van den Oord et al. 2017, §3.1-3.2 and Appendix A.1; docs/math.md §12):
//
//   codes     k(n) = argmin_k ||z_e(n) - e_k||^2                                        (eq. 1; ties: lowest k)
//   z_q       forward e_{k(n)}, backward the identity onto z_e: the straight-through estimator       (§3.2)
//   loss      log p(x | z_q) + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2, beta = 0.25                (eq. 3)
//             here: MSE(x_hat, x) + codebook_loss + beta commitment_loss, each squared error a mean over the
//             elements of z_e (as the reference implementations; the paper's sums only rescale them)
//   EMA       N_k <- g N_k + (1 - g) n_k,  m_k <- g m_k + (1 - g) sum_{n: k(n) = k} z_e(n),  e_k = m_k / N~_k
//             (Appendix A.1 eqs. 6-8, g the decay 0.99), with Sonnet's Laplace smoothing of the counts
//             N~_k = (N_k + eps) / (sum_j N_j + K eps) * sum_j N_j; the codebook then takes no gradient
//   restart   a code not chosen for `after` steps is set to an encoder output of the current batch, drawn
//             uniformly (Dhariwal et al. 2020, Jukebox §3.2's random restarts); under EMA its N_k = 1, m_k = z
//
// All statistics (counts, sums) are in double; the codebook they write is the float32 parameter.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::nn {

inline constexpr double kCommitmentBeta = 0.25;  // beta of eq. 3 (§4.1: "beta = 0.25 in all our experiments")

// z [B, d, g, g] -> rows [B g g, d] in (b, i, j) order (differentiable: a permuted copy).
Tensor code_rows(const Tensor& z);

// argmin_k ||z_n - e_k||^2 for rows z [N, d] and codebook [K, d]: int32 [N], ties to the lowest k. No tape;
// the distances ||e_k||^2 - 2 z_n . e_k (||z_n||^2 is the same for every k) are summed in double.
Tensor nearest_codes(const Tensor& z_rows, const Tensor& codebook);

// The straight-through estimator (§3.2): forward a copy of e [N, d]; backward sends the output's gradient,
// unchanged, to z [N, d] and nothing to e.
Tensor straight_through(const Tensor& z, const Tensor& e);

struct Quantized {
  Tensor z_q;              // [B, d, g, g]: the chosen codes' vectors; gradient straight through to z_e
  Tensor codes;            // int32 [B, g, g]
  Tensor codebook_loss;    // [] mean over z_e's elements of (sg[z_e] - e)^2: gradient to the chosen codes only
  Tensor commitment_loss;  // [] mean of (z_e - sg[e])^2: gradient to z_e only (the loss weighs it by beta)
  Tensor rows;             // [N, d] z_e's rows (the EMA update and restarts read them)
};
// z_e [B, d, g, g], codebook [K, d] (d checked).
Quantized quantize(const Tensor& z_e, const Tensor& codebook);

// The EMA codebook (Appendix A.1): counts N_k and sums m_k in double, starting at N_k = 0 and m_k = e_k (as
// Sonnet's VectorQuantizerEMA, without its zero-debiasing).
class CodebookEma {
 public:
  CodebookEma(const Tensor& codebook, double decay, double epsilon);
  // One update from rows z [N, d] and their codes int32 [N]; writes e_k = m_k / N~_k into codebook (in place,
  // outside the tape). A code whose smoothed count is 0 (only before any update) is left as it is.
  void update(const Tensor& z_rows, const Tensor& codes, const Tensor& codebook);
  int64_t K, d;
  double decay, epsilon;
  std::vector<double> count;  // N_k [K]
  std::vector<double> sum;    // m_k [K, d] row-major
};

// Dead-code restart: steps since each code was last chosen.
class DeadCodeRestart {
 public:
  DeadCodeRestart(int64_t codebook_size, int64_t after);
  // Counts this step (codes int32 [N]: the chosen ones go to 0, the others up by 1); each code that has now gone
  // `after` steps unchosen is set to a row of z [N, d] drawn uniformly from rng (one draw per restarted code, in
  // order of k), and its counter reset; with ema, its N_k = 1 and m_k = that row. Returns the restarted codes.
  std::vector<int64_t> step(const Tensor& z_rows, const Tensor& codes, const Tensor& codebook, Philox& rng, CodebookEma* ema);
  int64_t after;
  std::vector<int64_t> unused;  // [K]
};

// The statistics as checkpoint metadata ("vq.ema_count", "vq.ema_sum", "vq.unused": hexadecimal bytes of the
// double or int64 values) and back; restore throws naming the key and the file when one is missing or has the
// wrong length.
void save_quantizer_state(const CodebookEma* ema, const DeadCodeRestart* restart, std::map<std::string, std::string>& meta);
void restore_quantizer_state(CodebookEma* ema, DeadCodeRestart* restart, const std::map<std::string, std::string>& meta,
                             const std::string& path);

// The usage of the codebook from a histogram of codes: the perplexity exp(-sum p_k log p_k) and the codes used.
struct CodeUsage {
  double perplexity = 0;
  int64_t used = 0;
};
CodeUsage code_usage(const std::vector<int64_t>& histogram);

}  // namespace diffuse::nn
