// The D3PM forward process of one configuration (Austin et al. 2021, eqs. 2-3; docs/math.md §3.2-§3.4): its kind, state
// space and schedule. The kind's unit (d3pm_kinds.hpp, one file per kind) holds every per-step constant in
// double precision and, for the kinds without a closed form (discretized Gaussian, nearest neighbour), the
// cached dense matrices Qbar_t for t = 0..T; this class checks the arguments and asks it. Index convention:
// d3pm_schedules.hpp (arrays indexed by the paper's t, T + 1 entries).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/d3pm_kinds.hpp"
#include "diffusion/d3pm_matrix.hpp"
#include "diffusion/d3pm_schedules.hpp"
#include "diffusion/d3pm_transitions.hpp"

namespace diffuse::diffusion {

enum class D3pmKind { Uniform, Absorbing, Gaussian, NearestNeighbor, MaskReplace };
D3pmKind parse_d3pm_kind(const std::string& name);  // "uniform" | "absorbing" | "gaussian" | "nn" | "mask_replace"
const char* d3pm_kind_name(D3pmKind kind);

// L_0 = -log p_theta(x0 | x1) (the papers leave the choice open; docs/math.md §3.8):
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
  // (e.g. its token-embedding weight's to_vector()) or from a file (data/text_matrix.hpp)
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

class D3pmProcess {
 public:
  explicit D3pmProcess(const D3pmConfig& config);

  const D3pmConfig& config() const { return config_; }
  D3pmKind kind() const { return config_.kind; }
  // The kind's unit: Q_t, Qbar_t, the posterior's column, the prior and the product with Qbar.
  const D3pmTransitionKind& transition() const { return *transition_; }
  const D3pmStates& states() const { return config_.states; }
  int64_t num_states() const { return config_.states.num_states; }
  int64_t timesteps() const { return config_.timesteps; }
  bool dense() const { return transition_->dense(); }
  bool spindle() const { return config_.schedule == D3pmScheduleKind::Spindle; }
  bool final_mask_step() const { return transition_->final_mask_step(); }

  // Per-step constants, T + 1 entries indexed by t (D3pmStepValues says which kind fills which).
  const std::vector<double>& betas() const { return transition_->values().betas; }          // beta_t
  const std::vector<double>& abar() const { return transition_->values().abar; }            // abar_t
  const std::vector<double>& exponents() const { return transition_->values().exponents; }  // e_t (nearest neighbour)
  const MaskReplaceSchedule& mask_replace() const { return transition_->values().mask_replace; }
  const DenseMatrix& rate_matrix() const { return transition_->rate_matrix(); }  // R (nearest neighbour)
  const std::vector<double>& spindle_weights() const { return transition_->spindle_weights(); }  // w (0 at the mask)

  // [Q_t]_ij for t = 1..T (any kind but spindle): Austin et al. eq. 2.
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
  const std::vector<double>& prior() const { return transition_->prior(); }

 private:
  void check_t(int64_t t, int64_t lo, const char* what) const;

  D3pmConfig config_;
  std::shared_ptr<const D3pmTransitionKind> transition_;
};

}  // namespace diffuse::diffusion
