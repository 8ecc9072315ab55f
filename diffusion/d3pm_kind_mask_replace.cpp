// Mask-and-replace (VQ-Diffusion, Gu et al. 2022; docs/math.md §3.3.5 and §3.4.5), over K_d data states and an
// extra mask m: a data token stays with alpha_t + beta_t, moves to each other data token with beta_t and to
// the mask with gamma_t; the mask is absorbing. The cumulative matrix keeps the same form,
//   Qbar_t: stay abar_t + bbar_t, each other data token bbar_t, mask gbar_t,  bbar_t = (1 - abar_t - gbar_t)/K_d,
// with abar_t and gbar_t set linearly in t (vq_diffusion_schedule). Prior: all mask.
#include <algorithm>

#include "diffusion/d3pm_kinds.hpp"
#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_rows.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

class MaskReplaceKind final : public D3pmTransitionKind {
 public:
  explicit MaskReplaceKind(const D3pmConfig& config) : D3pmTransitionKind(config) {
    values_ = beta_schedule_values(config);
    const MaskReplaceSchedule& mr = values_.mask_replace =
        vq_diffusion_schedule(timesteps(), states().num_data(), config.vq_abar_start, config.vq_abar_end,
                              config.vq_gbar_start, config.vq_gbar_end);
    values_.abar = mr.abar;
    values_.betas = mr.beta;
    set_mask_prior();
  }

  double q_entry(int64_t t, int64_t i, int64_t j) const override {
    if (i == states().mask) return j == i ? 1.0 : 0.0;
    const MaskReplaceSchedule& mr = values_.mask_replace;
    const size_t ti = static_cast<size_t>(t);
    if (j == states().mask) return mr.gamma[ti];
    return mr.beta[ti] + (i == j ? mr.alpha[ti] : 0.0);
  }

  DenseMatrix qbar_matrix(int64_t t) const override {
    const size_t ti = static_cast<size_t>(t);
    return closed_form(values_.abar[ti], values_.mask_replace.gbar[ti]);
  }

  DenseMatrix q_product(int64_t s, int64_t t) const override {
    const size_t si = static_cast<size_t>(s), ti = static_cast<size_t>(t);
    if (!(values_.abar[si] > 0)) return D3pmTransitionKind::q_product(s, t);
    const std::vector<double>& gbar = values_.mask_replace.gbar;
    return closed_form(values_.abar[ti] / values_.abar[si], 1 - (1 - gbar[ti]) / (1 - gbar[si]));
  }

  void qbar_row_into(int64_t s, int64_t x, double, double* out) const override {
    const int64_t K = states().num_states, m = states().mask;
    const size_t si = static_cast<size_t>(s);
    std::fill(out, out + K, 0.0);
    if (x == m) {
      out[m] = 1.0;
      return;
    }
    for (int64_t k = 0; k < K; ++k)
      if (states().is_data(k)) out[k] = values_.mask_replace.bbar[si];
    out[x] += values_.abar[si];
    out[m] = values_.mask_replace.gbar[si];
  }

  void product_column_into(int64_t s, int64_t t, int64_t x, bool one_step, double, const DenseMatrix*,
                           double* out) const override {
    const int64_t K = states().num_states, m = states().mask;
    const MaskReplaceSchedule& mr = values_.mask_replace;
    const size_t si = static_cast<size_t>(s), ti = static_cast<size_t>(t);
    double stay, to_mask, to_each;  // P's stay, to-mask and to-each-data-token probabilities
    if (one_step) {
      stay = mr.alpha[ti];
      to_mask = mr.gamma[ti];
      to_each = mr.beta[ti];
    } else {
      const double as = values_.abar[si];
      if (!(as > 0)) throw std::logic_error("product_column: abar_s = 0 (nothing of x0 left to skip from)");
      stay = values_.abar[ti] / as;
      to_mask = 1.0 - (1.0 - mr.gbar[ti]) / (1.0 - mr.gbar[si]);
      to_each = std::max(0.0, (1.0 - stay - to_mask) / static_cast<double>(states().num_data()));
    }
    std::fill(out, out + K, 0.0);
    if (x == m) {
      for (int64_t k = 0; k < K; ++k)
        if (states().is_data(k)) out[k] = to_mask;
      out[m] = 1.0;
    } else {
      for (int64_t k = 0; k < K; ++k)
        if (states().is_data(k)) out[k] = to_each;
      out[x] += stay;
    }
  }

  // (abar x + bbar S) on the data states, gbar S + x_m at the mask, S = sum over the data states of x.
  Tensor dist_times_qbar(const Tensor& dist, const std::vector<int64_t>& s) const override {
    const int64_t K = states().num_states;
    const DType dt = dist.dtype();
    std::vector<double> abar(s.size()), bbar(s.size()), gbar(s.size());
    for (size_t b = 0; b < s.size(); ++b) {
      const size_t si = static_cast<size_t>(s[b]);
      abar[b] = values_.abar[si];
      bbar[b] = values_.mask_replace.bbar[si];
      gbar[b] = values_.mask_replace.gbar[si];
    }
    const Tensor on_data = d3pm_rows::state_indicator(K, dt, [&](int64_t k) { return states().is_data(k); });
    const Tensor at_mask = d3pm_rows::state_indicator(K, dt, [&](int64_t k) { return k == states().mask; });
    const Tensor S = sum(mul(dist, on_data), {-1}, true);
    const Tensor data_part =
        mul(add(mul(dist, d3pm_rows::per_example(abar, dt)), mul(S, d3pm_rows::per_example(bbar, dt))), on_data);
    const Tensor mask_part = mul(add(mul(S, d3pm_rows::per_example(gbar, dt)), sum(mul(dist, at_mask), {-1}, true)), at_mask);
    return add(data_part, mask_part);
  }

 private:
  // The cumulative matrix from its stay probability keep and its to-mask probability to_mask.
  DenseMatrix closed_form(double keep, double to_mask) const {
    const std::vector<int64_t> ids = states().data_ids();
    const double each = std::max(0.0, (1 - keep - to_mask) / static_cast<double>(ids.size()));
    DenseMatrix q(states().num_states);
    for (int64_t i : ids) {
      for (int64_t j : ids) q(i, j) = each;
      q(i, i) += keep;
      q(i, states().mask) = to_mask;
    }
    q(states().mask, states().mask) = 1.0;
    return q;
  }
};

}  // namespace

extern const D3pmKindUnit kMaskReplaceKind = {
    "mask_replace",
    [](const D3pmConfig& c) { return c.kind == D3pmKind::MaskReplace; },
    [](const D3pmConfig& c) {
      if (!c.states.has_extra_mask()) fail_d3pm_config(c, "mask_replace needs an extra mask state (not a data value)");
      if (c.schedule != D3pmScheduleKind::VqDiffusion) fail_d3pm_config(c, "mask_replace takes the vq schedule");
    },
    [](const D3pmConfig& c) -> std::unique_ptr<D3pmTransitionKind> { return std::make_unique<MaskReplaceKind>(c); },
};

}  // namespace diffuse::diffusion
