// The absorbing kind (Austin et al. 2021 eq. 7; docs/math.md §3.3.2): each token moves to the mask m with
// probability beta_t and stays otherwise,
//   Q_t = (1 - beta_t) I + beta_t 1 e_m^T,   Qbar_t = abar_t I + (1 - abar_t) 1 e_m^T,   prior: all mask.
// The mask may be an extra state (text) or a data value (the image absorbing state 128).
// Schedules: linear, cosine, jsd (1/(T - t + 1), the paper's text8 choice) or mutual information. The
// spindle schedule, whose rows depend on the sequence, is its own unit (d3pm_kind_spindle.cpp).
#include <algorithm>

#include "diffusion/d3pm_kinds.hpp"
#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_rows.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

class AbsorbingKind final : public D3pmStayKind {
 public:
  explicit AbsorbingKind(const D3pmConfig& config) : D3pmStayKind(config) {
    values_ = beta_schedule_values(config);
    if (config.schedule == D3pmScheduleKind::MutualInfo) {
      const int64_t m = states().mask;
      solve_information_abar([m](const std::vector<double>& p, double a) { return absorbing_mutual_information(p, m, a); });
    }
    set_mask_prior();
  }

  double q_entry(int64_t t, int64_t i, int64_t j) const override {
    if (states().has_extra_mask() && i == states().mask) return j == i ? 1.0 : 0.0;
    const double beta = values_.betas[static_cast<size_t>(t)];
    return (i == j ? 1.0 - beta : 0.0) + (j == states().mask ? beta : 0.0);
  }

  void qbar_row_into(int64_t s, int64_t x, double, double* out) const override {
    const int64_t m = states().mask;
    const double a = values_.abar[static_cast<size_t>(s)];
    std::fill(out, out + states().num_states, 0.0);
    out[x] = a;
    out[m] += 1.0 - a;
  }

  void product_column_into(int64_t s, int64_t t, int64_t x, bool one_step, double, const DenseMatrix*,
                           double* out) const override {
    const int64_t K = states().num_states, m = states().mask;
    const double r = keep_between(s, t, one_step);
    std::fill(out, out + K, 0.0);
    if (x == m) {
      for (int64_t k = 0; k < K; ++k) out[k] = 1.0 - r;
      out[m] = 1.0;
    } else {
      out[x] = r;
    }
  }

  // x .* keep + (sum x .* (1 - keep)) e_m, keep = abar off the mask and 1 at it.
  Tensor dist_times_qbar(const Tensor& dist, const std::vector<int64_t>& s) const override {
    const int64_t B = dist.size(0), K = states().num_states, m = states().mask;
    const DType dt = dist.dtype();
    std::vector<double> keep(static_cast<size_t>(B * K));
    for (int64_t b = 0; b < B; ++b) {
      const double a = values_.abar[static_cast<size_t>(s[static_cast<size_t>(b)])];
      for (int64_t k = 0; k < K; ++k) keep[static_cast<size_t>(b * K + k)] = k == m ? 1.0 : a;
    }
    const Tensor at_mask = d3pm_rows::state_indicator(K, dt, [&](int64_t k) { return k == m; });
    const Tensor kt = Tensor::from_vector(keep, {B, 1, K}).to(dt);
    return add(mul(dist, kt), mul(sum(mul(dist, sub(Tensor::ones({}, dt), kt)), {-1}, true), at_mask));
  }

 protected:
  DenseMatrix closed_form(double keep) const override {
    const int64_t K = states().num_states;
    DenseMatrix q(K);
    for (int64_t i = 0; i < K; ++i) {
      q(i, i) = keep;
      q(i, states().mask) += 1 - keep;
    }
    return q;
  }
};

}  // namespace

extern const D3pmKindUnit kAbsorbingKind = {
    "absorbing",
    [](const D3pmConfig& c) { return c.kind == D3pmKind::Absorbing && c.schedule != D3pmScheduleKind::Spindle; },
    [](const D3pmConfig& c) {
      if (!c.states.has_mask()) fail_d3pm_config(c, "absorbing needs a mask state");
      if (!is_beta_schedule(c.schedule) && c.schedule != D3pmScheduleKind::MutualInfo)
        fail_d3pm_config(c, "absorbing takes linear, cosine, jsd, mi or spindle");
    },
    [](const D3pmConfig& c) -> std::unique_ptr<D3pmTransitionKind> { return std::make_unique<AbsorbingKind>(c); },
};

}  // namespace diffuse::diffusion
