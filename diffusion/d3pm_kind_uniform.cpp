// The uniform kind (Austin et al. 2021 eq. 6, after Hoogeboom et al. 2021; docs/math.md §3.3.1):
//   Q_t = (1 - beta_t) I + beta_t / K_d 11^T over the K_d data states (an extra mask is isolated),
//   Qbar_t = abar_t I + (1 - abar_t) / K_d 11^T, prior uniform over the data states.
// Schedules: linear, cosine, jsd, or mutual information (abar_t solved so that I(x_t; x0) = (1 - t/T) H).
#include <algorithm>

#include "diffusion/d3pm_kinds.hpp"
#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_rows.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

// Row x of the uniform kind's matrix with stay probability keep: keep at x plus (1 - keep) spread evenly
// over the data tokens; a token outside the data (a mask) stays put. Symmetric, so also column x.
void keep_or_uniform(const D3pmStates& states, int64_t x, double keep, double* out) {
  std::fill(out, out + states.num_states, 0.0);
  if (!states.is_data(x)) {
    out[x] = 1.0;
    return;
  }
  const double spread = (1.0 - keep) / static_cast<double>(states.num_data());
  for (int64_t k = 0; k < states.num_states; ++k)
    if (states.is_data(k)) out[k] = spread;
  out[x] += keep;
}

class UniformKind final : public D3pmStayKind {
 public:
  explicit UniformKind(const D3pmConfig& config) : D3pmStayKind(config) {
    values_ = beta_schedule_values(config);
    if (config.schedule == D3pmScheduleKind::MutualInfo) {
      std::vector<char> is_data(static_cast<size_t>(states().num_states));
      for (int64_t i = 0; i < states().num_states; ++i) is_data[static_cast<size_t>(i)] = states().is_data(i) ? 1 : 0;
      solve_information_abar([&](const std::vector<double>& p, double a) { return uniform_mutual_information(p, is_data, a); });
    }
    set_uniform_prior();
  }

  double q_entry(int64_t t, int64_t i, int64_t j) const override {
    if (states().has_extra_mask() && i == states().mask) return j == i ? 1.0 : 0.0;
    if (!states().is_data(j)) return 0.0;
    const double beta = values_.betas[static_cast<size_t>(t)];
    return (i == j ? 1.0 - beta : 0.0) + beta / static_cast<double>(states().num_data());
  }

  void qbar_row_into(int64_t s, int64_t x, double, double* out) const override {
    keep_or_uniform(states(), x, values_.abar[static_cast<size_t>(s)], out);
  }

  void product_column_into(int64_t s, int64_t t, int64_t x, bool one_step, double, const DenseMatrix*,
                           double* out) const override {
    keep_or_uniform(states(), x, keep_between(s, t, one_step), out);
  }

  // abar x + (1 - abar)/K_d (sum_data x) on the data states.
  Tensor dist_times_qbar(const Tensor& dist, const std::vector<int64_t>& s) const override {
    const DType dt = dist.dtype();
    std::vector<double> a(s.size()), coef(s.size());
    for (size_t b = 0; b < s.size(); ++b) {
      a[b] = values_.abar[static_cast<size_t>(s[b])];
      coef[b] = (1.0 - a[b]) / static_cast<double>(states().num_data());
    }
    const Tensor on_data = d3pm_rows::state_indicator(states().num_states, dt, [&](int64_t k) { return states().is_data(k); });
    const Tensor S = sum(mul(dist, on_data), {-1}, true);
    return add(mul(dist, d3pm_rows::per_example(a, dt)), mul(mul(S, d3pm_rows::per_example(coef, dt)), on_data));
  }

 protected:
  // Qbar with stay probability keep (abar_t, or abar_t / abar_s for a product).
  DenseMatrix closed_form(double keep) const override {
    const std::vector<int64_t> ids = states().data_ids();
    const double kd = static_cast<double>(ids.size());
    DenseMatrix q(states().num_states);
    for (int64_t i : ids) {
      for (int64_t j : ids) q(i, j) = (1 - keep) / kd;
      q(i, i) += keep;
    }
    if (states().has_extra_mask()) q(states().mask, states().mask) = 1.0;
    return q;
  }
};

}  // namespace

extern const D3pmKindUnit kUniformKind = {
    "uniform",
    [](const D3pmConfig& c) { return c.kind == D3pmKind::Uniform; },
    [](const D3pmConfig& c) {
      if (!is_beta_schedule(c.schedule) && c.schedule != D3pmScheduleKind::MutualInfo) fail_d3pm_config(c, "uniform takes linear, cosine, jsd or mi");
    },
    [](const D3pmConfig& c) -> std::unique_ptr<D3pmTransitionKind> { return std::make_unique<UniformKind>(c); },
};

}  // namespace diffuse::diffusion
