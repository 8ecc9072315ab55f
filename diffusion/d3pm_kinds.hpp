// A D3PM transition kind (Austin et al. 2021 eqs. 2-3 and 6-9; docs/math.md §3.3): everything one kind of
// forward process knows, in one unit per kind:
//   uniform          d3pm_kind_uniform.cpp           absorbing (mask)    d3pm_kind_absorbing.cpp
//   discretized Gaussian  d3pm_kind_gaussian.cpp     nearest neighbour   d3pm_kind_nearest_neighbor.cpp
//   mask-and-replace (VQ-Diffusion)  d3pm_kind_mask_replace.cpp
//   absorbing with DiffusionBERT's token-dependent spindle schedule  d3pm_kind_spindle.cpp
// Each unit computes its per-step values from the configuration's schedule and answers the five questions
// the rest of D3PM asks: an entry of Q_t, a row of Qbar_t, the column of Q_{s+1} ... Q_t a posterior needs,
// the prior p(x_T), and the differentiable product of a distribution with Qbar_s. d3pm_kinds.cpp holds the
// one table that picks the unit for a configuration (make_d3pm_kind); D3pmProcess owns the unit and
// d3pm_diffusion.cpp builds eq. 3 (the posterior) and eq. 4 (the reverse step) from its answers.
//
// Conventions: [Q]_ij = q(x_t = j | x_{t-1} = i) (rows sum to 1); per-step arrays have T + 1 entries
// indexed by the paper's t (d3pm_schedules.hpp); everything here is double precision.
//
// Adding a kind: a D3pmKind value and its names (d3pm_kinds.cpp), a new d3pm_kind_<name>.cpp defining a
// D3pmKindUnit, and one line in the table of d3pm_kinds.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/d3pm_matrix.hpp"
#include "diffusion/d3pm_schedules.hpp"
#include "diffusion/d3pm_transitions.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

struct D3pmConfig;

// The schedule's per-step values, T + 1 entries each indexed by t. Every kind fills betas and abar; the
// nearest-neighbour kind the exponents (zero for the others), mask-and-replace its own schedule.
struct D3pmStepValues {
  std::vector<double> betas;      // beta_t, betas[0] = 0
  std::vector<double> abar;       // abar_t = prod_{s <= t} (1 - beta_s), abar[0] = 1
  std::vector<double> exponents;  // e_t with Qbar_t = expm(e_t R) (nearest neighbour)
  MaskReplaceSchedule mask_replace;
};

// The two factors of the x0-parameterised reverse step (Austin et al. eq. 4) for a model distribution
// ptilde over x0, per position: log(x_t (Q_{s+1} ... Q_t)^T + eps) and ptilde Qbar_s. [B, L, K] each.
struct ReverseFactors {
  Tensor log_column;  // log(x_t P^T + eps), constant (or, for spindle, differentiable in ptilde)
  Tensor dist_qbar;   // ptilde Qbar_s, differentiable in ptilde
};

class D3pmTransitionKind {
 public:
  explicit D3pmTransitionKind(const D3pmConfig& config);
  virtual ~D3pmTransitionKind() = default;

  const D3pmStates& states() const;
  int64_t num_states() const { return states().num_states; }
  int64_t timesteps() const;
  const D3pmStepValues& values() const { return values_; }
  // The prior p(x_T) over the K states: the mask, or uniform over the data states.
  const std::vector<double>& prior() const { return prior_; }
  // Whether Q_t and Qbar_t are dense K x K matrices cached in double (Gaussian, nearest neighbour).
  virtual bool dense() const { return false; }
  // Whether a position's rows depend on its sequence (spindle: through the sequence's mean weight c), so
  // that they cannot be tabulated by token value.
  virtual bool depends_on_sequence() const { return false; }

  // [Q_t]_ij for t = 1..T (checked by the caller).
  virtual double q_entry(int64_t t, int64_t i, int64_t j) const = 0;
  // Q_t materialised; the default fills it from q_entry.
  virtual DenseMatrix q_matrix(int64_t t) const;
  // Qbar_t = Q_1 ... Q_t, t = 0..T.
  virtual DenseMatrix qbar_matrix(int64_t t) const = 0;
  // Q_{s+1} ... Q_t for 0 <= s < t <= T; the default multiplies the q_matrix(u) in double.
  virtual DenseMatrix q_product(int64_t s, int64_t t) const;
  // The cached Qbar_t of a dense kind, without a copy (the others throw).
  virtual const DenseMatrix& cached_qbar(int64_t t) const;

  // Row x of Qbar_s into out[K]: q(x_s | x0 = x) (c: the sequence's mean weight, spindle only).
  virtual void qbar_row_into(int64_t s, int64_t x, double c, double* out) const = 0;
  // Column x of P = Q_{s+1} ... Q_t into out[K], out[k] = P[k, x], i.e. the vector x P^T: the first factor
  // of the posterior (eq. 3) and of the reverse step (eq. 4). one_step: P = Q_t from its one-step values
  // (s = t - 1). product: the prepared dense P for the dense kinds (prepare_products), else null.
  virtual void product_column_into(int64_t s, int64_t t, int64_t x, bool one_step, double c,
                                   const DenseMatrix* product, double* out) const = 0;
  // dist Qbar_{s_b} for a distribution dist [B, L, K] (rows summing to 1, zero at an extra mask) and the
  // s_b of each example: [B, L, K], differentiable in dist.
  virtual Tensor dist_times_qbar(const Tensor& dist, const std::vector<int64_t>& s) const = 0;
  // The factors of eq. 4 for ptilde [B, L, K] at x_t int32 [B, L] and each example's t and s. The default
  // tabulates the columns by token value (log_product_columns) and calls dist_times_qbar.
  virtual ReverseFactors reverse_factors(const Tensor& ptilde, const Tensor& x_t, const std::vector<int64_t>& t,
                                         const std::vector<int64_t>& s, bool one_step) const;
  // Each sequence's mean weight c from its ids x0 [B * L] (spindle); zeros for the other kinds.
  virtual std::vector<double> sequence_weights(const std::vector<int64_t>& x0, int64_t B, int64_t L) const;

  // Kind-specific values, for tests and tools:
  virtual const DenseMatrix& rate_matrix() const;              // nearest neighbour's R (empty otherwise)
  virtual bool final_mask_step() const { return false; }       // nearest neighbour's all-to-mask Q_T
  virtual const std::vector<double>& spindle_weights() const;  // spindle's w over the K states (empty otherwise)

 protected:
  const D3pmConfig& config() const { return *config_; }
  // beta_t of the linear, cosine or 1/(T - t + 1) schedule, abar_t from them, zero exponents: the values
  // every kind starts from (the mutual-information schedule leaves betas at 0 for the kind to solve).
  static D3pmStepValues beta_schedule_values(const D3pmConfig& config);
  // The mutual-information schedule's target: the unigram over the K states (normalised) and its entropy.
  struct InformationTarget {
    std::vector<double> unigram;
    double entropy = 0;
  };
  static InformationTarget information_target(const D3pmConfig& config);
  // The MI schedule of a kind whose Qbar_t is set by abar_t alone (uniform, absorbing): abar_t solved so that
  // info(unigram, abar_t) = (1 - t/T) H, then beta_t = 1 - abar_t / abar_{t-1}.
  void solve_information_abar(const std::function<double(const std::vector<double>& unigram, double abar)>& info);
  // The prior all at the mask, or uniform over the data states.
  void set_mask_prior();
  void set_uniform_prior();
  // Stay probability of a closed-form kind between s and t: 1 - beta_t (one step) or abar_t / abar_s.
  double keep_between(int64_t s, int64_t t, bool one_step) const;

  std::shared_ptr<const D3pmConfig> config_;  // a copy: the kind outlives no one's configuration
  D3pmStepValues values_;
  std::vector<double> prior_;
};

// The kinds whose Qbar_t (and any product Q_{s+1} ... Q_t) is a closed form of one stay probability
// (uniform, absorbing): abar_t, or abar_t / abar_s for a product.
class D3pmStayKind : public D3pmTransitionKind {
 public:
  using D3pmTransitionKind::D3pmTransitionKind;
  DenseMatrix qbar_matrix(int64_t t) const override { return closed_form(values_.abar[static_cast<size_t>(t)]); }
  DenseMatrix q_product(int64_t s, int64_t t) const override;

 protected:
  virtual DenseMatrix closed_form(double keep) const = 0;
};

// The dense kinds (Gaussian, nearest neighbour): Qbar_t cached for t = 0..T; rows, columns and the product
// with a distribution read the cached matrices.
class D3pmDenseKind : public D3pmTransitionKind {
 public:
  using D3pmTransitionKind::D3pmTransitionKind;
  bool dense() const override { return true; }
  DenseMatrix qbar_matrix(int64_t t) const override { return qbar_[static_cast<size_t>(t)]; }
  const DenseMatrix& cached_qbar(int64_t t) const override { return qbar_[static_cast<size_t>(t)]; }
  void qbar_row_into(int64_t s, int64_t x, double c, double* out) const override;
  void product_column_into(int64_t s, int64_t t, int64_t x, bool one_step, double c, const DenseMatrix* product,
                           double* out) const override;
  Tensor dist_times_qbar(const Tensor& dist, const std::vector<int64_t>& s) const override;

 protected:
  std::vector<DenseMatrix> qbar_;  // [t], t = 0..T
};

// One kind's entry in the table of d3pm_kinds.cpp.
struct D3pmKindUnit {
  const char* name;                                  // for messages: "uniform", "absorbing (spindle)", ...
  bool (*serves)(const D3pmConfig& config);          // whether this unit is the configuration's kind
  void (*validate)(const D3pmConfig& config);        // throws std::invalid_argument naming the bad field
  std::unique_ptr<D3pmTransitionKind> (*make)(const D3pmConfig& config);
};

// linear, cosine or jsd: a schedule of beta_t.
inline bool is_beta_schedule(D3pmScheduleKind schedule) {
  return schedule == D3pmScheduleKind::Linear || schedule == D3pmScheduleKind::Cosine || schedule == D3pmScheduleKind::Jsd;
}

// The unit that serves the configuration (the first in the table); throws if none does.
const D3pmKindUnit& d3pm_kind_unit(const D3pmConfig& config);
// The configuration's kind, built.
std::unique_ptr<D3pmTransitionKind> make_d3pm_kind(const D3pmConfig& config);
// "D3PM config (absorbing, jsd): <why>" as std::invalid_argument.
[[noreturn]] void fail_d3pm_config(const D3pmConfig& config, const std::string& why);

}  // namespace diffuse::diffusion
