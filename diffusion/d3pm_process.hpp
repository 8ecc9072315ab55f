// The D3PM forward process of one configuration (Austin et al. 2021; REFERENCE.md §2): its kind, state
// space and schedule, every per-step constant in double precision, and for the kinds without a closed form
// (discretized Gaussian, nearest neighbour) the cached dense matrices Qbar_t for t = 0..T. Index convention:
// d3pm_schedules.hpp (arrays indexed by the paper's t, T + 1 entries).
//
// Kinds and what is stored:
//   uniform, absorbing:  beta_t and abar_t (closed forms; no K x K matrix is ever built outside tests)
//   mask-and-replace:    alpha_t, beta_t, gamma_t and abar_t, gammabar_t, betabar_t (closed form)
//   Gaussian:            the off-diagonal values of each Q_t (it is Toeplitz off the diagonal) and the dense
//                        Qbar_t = Qbar_{t-1} Q_t, (T + 1) K^2 doubles (0.5 GB at K = 256, T = 1000)
//   nearest neighbour:   the rate matrix R, the exponents e_t, Q_t = expm((e_t - e_{t-1}) R) and
//                        Qbar_t = expm(e_t R) (computed directly, not as a product), both dense.
// Final mask step (nearest neighbour, our choice): with an extra mask state and nn_final_mask (the default
// then, as the reference "nearest-neighbor-cached" code), Q_T = 1 e_m^T sends every token to the mask, the
// exponents cover t = 1..T-1 only, and the prior is the mask; the MI schedule targets
// I(x_t; x0) = (1 - t/T) H for t = 1..T-1 and the mask step makes I = 0 at T, so I stays linear in t
// throughout. Without it, the prior is uniform over the data states and the MI schedule's e_T solves
// I = 1e-12 H (I = 0 needs e = infinity), capped at e_max = 1e5 (the reference's largest exponent); a
// disconnected kNN graph never loses all information and stops at e_max.
// Under a beta schedule the exponents are e_t = sum_{s<=t} beta_s (the reference code's), so Q_t = expm(beta_t R).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/d3pm_matrix.hpp"
#include "diffusion/d3pm_schedules.hpp"
#include "diffusion/d3pm_transitions.hpp"

namespace diffuse::diffusion {

enum class D3pmKind { Uniform, Absorbing, Gaussian, NearestNeighbor, MaskReplace };
D3pmKind parse_d3pm_kind(const std::string& name);  // "uniform" | "absorbing" | "gaussian" | "nn" | "mask_replace"
const char* d3pm_kind_name(D3pmKind kind);

// L_0 = -log p_theta(x0 | x1) (REFERENCE.md §2 leaves the choice open):
//   Posterior (our default, the text code's): p(x0 | x1) proportional to (x_1 Q_1^T) .* (ptilde Qbar_0), Qbar_0 = I,
//             the same formula as every other reverse step (for absorbing, an unmasked x_1 gives x0 = x_1);
//   Ptilde    (the image code's and nanoDD's): p(x0 | x1) = ptilde(x0 | x1).
// The choice applies alike to training, the bound and the sampler's last step.
enum class D3pmDecoder { Posterior, Ptilde };
D3pmDecoder parse_d3pm_decoder(const std::string& name);  // "posterior" | "ptilde"
const char* d3pm_decoder_name(D3pmDecoder decoder);

struct D3pmConfig {
  D3pmKind kind = D3pmKind::Absorbing;
  D3pmStates states;  // K = 28, mask 27 (text8) by default
  int64_t timesteps = 1000;
  D3pmScheduleKind schedule = D3pmScheduleKind::Jsd;
  double beta_start = 1e-4, beta_end = 0.02;  // linear
  double cosine_s = 0.008, max_beta = 0.999;  // cosine
  // mutual information: the data's unigram distribution over the K states (zero at an extra mask) or over
  // the K_d data states; normalised here.
  std::vector<double> unigram;
  double mi_max_exponent = 1e5;  // nearest neighbour: the largest exponent the MI bisection may use
  // mask-and-replace (VQ-Diffusion's cumulative schedule)
  double vq_abar_start = 0.99999, vq_abar_end = 0.000009, vq_gbar_start = 0.000009, vq_gbar_end = 0.99999;
  // spindle: training-set counts of the K states (an extra mask's count is ignored) or of the K_d data states
  std::vector<double> token_counts;
  double spindle_lambda = 0.3;
  // nearest neighbour: embeddings (rows x dim, row-major; rows = K_d or K), from the model
  // (e.g. its token-embedding weight's to_vector()) or from a file (load_embedding_matrix)
  std::vector<double> nn_embeddings;
  int64_t nn_embedding_dim = 0;
  int64_t nn_knn = 10;
  bool nn_final_mask = true;  // used only when there is an extra mask state
  // objective
  double hybrid_lambda = 0.0;  // L_lambda = L_vb + lambda * CE(ptilde, x0); text8 paper: 0.01, images: 0.001
  // The training loss's scale, each reference code's own (their gradient clipping, 1.0 for images and 0.25
  // for text8, is set for it): true, bits per position, as the image code trains (meanflat / log 2); false,
  // nats summed over the positions, as the text code trains (one denominator per sequence).
  bool loss_bits_per_dim = false;
  D3pmDecoder decoder = D3pmDecoder::Posterior;

  void validate() const;  // throws std::invalid_argument naming the bad field
};

// Reads a whitespace-separated text matrix (one embedding per line) as rows x dim doubles.
std::vector<double> load_embedding_matrix(const std::string& path, int64_t* rows, int64_t* dim);

class D3pmProcess {
 public:
  explicit D3pmProcess(const D3pmConfig& config);

  const D3pmConfig& config() const { return config_; }
  D3pmKind kind() const { return config_.kind; }
  const D3pmStates& states() const { return config_.states; }
  int64_t num_states() const { return config_.states.num_states; }
  int64_t timesteps() const { return config_.timesteps; }
  bool dense() const { return kind() == D3pmKind::Gaussian || kind() == D3pmKind::NearestNeighbor; }
  bool spindle() const { return config_.schedule == D3pmScheduleKind::Spindle; }
  bool final_mask_step() const { return final_mask_; }

  // Per-step constants, T + 1 entries indexed by t (see the header comment for which kind fills which).
  const std::vector<double>& betas() const { return betas_; }      // beta_t (uniform/absorbing/Gaussian)
  const std::vector<double>& abar() const { return abar_; }        // abar_t (uniform/absorbing/mask-replace)
  const std::vector<double>& exponents() const { return exponents_; }  // e_t (nearest neighbour)
  const MaskReplaceSchedule& mask_replace() const { return mr_; }
  const DenseMatrix& rate_matrix() const { return rate_; }         // R (nearest neighbour)
  const std::vector<double>& spindle_weights() const { return spindle_w_; }  // w over the K states (0 at the mask)

  // [Q_t]_ij for t = 1..T (any kind but spindle).
  double q_entry(int64_t t, int64_t i, int64_t j) const;
  // Q_t, t = 1..T, materialised (closed-form kinds too; for tests, skipping and small K).
  DenseMatrix q_matrix(int64_t t) const;
  // Qbar_t, t = 0..T: the cached matrix for the dense kinds, the closed form otherwise.
  DenseMatrix qbar_matrix(int64_t t) const;
  // The cached Qbar_t of a dense kind, without a copy.
  const DenseMatrix& cached_qbar(int64_t t) const;
  // Q_{s+1} Q_{s+2} ... Q_t for 0 <= s <= t <= T (I when s = t): the closed form for the closed-form kinds
  // (ratios of cumulative values), dense products of the cached Q_t otherwise.
  DenseMatrix q_product(int64_t s, int64_t t) const;
  // The prior p(x_T) over the K states: the mask (absorbing, mask-and-replace, nearest neighbour with the
  // final mask step) or uniform over the data states (uniform, Gaussian, nearest neighbour without it).
  const std::vector<double>& prior() const { return prior_; }

  // Spindle only: the masking probability of state j at step t in a sequence of mean weight c
  // (spindle_mask_prob with this process's w and lambda); 0 for the mask state itself.
  double spindle_mask(int64_t t, int64_t j, double c) const;

 private:
  void check_t(int64_t t, int64_t lo, const char* what) const;

  D3pmConfig config_;
  bool final_mask_ = false;
  std::vector<double> betas_, abar_, exponents_;
  MaskReplaceSchedule mr_;
  std::vector<std::vector<double>> gauss_offdiag_;  // [t][d], Gaussian
  std::vector<DenseMatrix> q_;                      // [t], nearest neighbour (entry 0 unused)
  std::vector<DenseMatrix> qbar_;                   // [t], dense kinds
  DenseMatrix rate_;
  std::vector<double> prior_;
  std::vector<double> spindle_w_;
};

}  // namespace diffuse::diffusion
