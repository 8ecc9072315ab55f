// D3PM schedules in double precision; see d3pm_schedules.hpp for the index convention.
#include "diffusion/d3pm_schedules.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace diffuse::diffusion {

D3pmScheduleKind parse_d3pm_schedule(const std::string& name) {
  if (name == "linear") return D3pmScheduleKind::Linear;
  if (name == "cosine") return D3pmScheduleKind::Cosine;
  if (name == "jsd") return D3pmScheduleKind::Jsd;
  if (name == "mi" || name == "mutual_information") return D3pmScheduleKind::MutualInfo;
  if (name == "vq" || name == "vq_diffusion") return D3pmScheduleKind::VqDiffusion;
  if (name == "spindle") return D3pmScheduleKind::Spindle;
  throw std::invalid_argument("unknown D3PM schedule '" + name + "' (linear, cosine, jsd, mi, vq, spindle)");
}

const char* d3pm_schedule_name(D3pmScheduleKind kind) {
  switch (kind) {
    case D3pmScheduleKind::Linear: return "linear";
    case D3pmScheduleKind::Cosine: return "cosine";
    case D3pmScheduleKind::Jsd: return "jsd";
    case D3pmScheduleKind::MutualInfo: return "mi";
    case D3pmScheduleKind::VqDiffusion: return "vq";
    case D3pmScheduleKind::Spindle: return "spindle";
  }
  return "?";
}

namespace {
void check_timesteps(int64_t timesteps) {
  if (timesteps < 1) throw std::invalid_argument("D3PM schedule: need T >= 1, got " + std::to_string(timesteps));
}
}  // namespace

std::vector<double> d3pm_linear_betas(int64_t timesteps, double beta_start, double beta_end) {
  check_timesteps(timesteps);
  std::vector<double> b(static_cast<size_t>(timesteps + 1), 0.0);
  for (int64_t t = 1; t <= timesteps; ++t)
    b[static_cast<size_t>(t)] =
        timesteps == 1 ? beta_start
                       : beta_start + (beta_end - beta_start) * static_cast<double>(t - 1) / static_cast<double>(timesteps - 1);
  for (int64_t t = 1; t <= timesteps; ++t)
    if (!(b[static_cast<size_t>(t)] > 0 && b[static_cast<size_t>(t)] <= 1))
      throw std::invalid_argument("linear D3PM schedule: beta_" + std::to_string(t) + " outside (0, 1]");
  return b;
}

std::vector<double> d3pm_cosine_betas(int64_t timesteps, double cosine_s, double max_beta) {
  check_timesteps(timesteps);
  const double T = static_cast<double>(timesteps);
  auto f = [&](int64_t t) {
    return std::cos((static_cast<double>(t) / T + cosine_s) / (1 + cosine_s) * std::numbers::pi / 2);
  };
  std::vector<double> b(static_cast<size_t>(timesteps + 1), 0.0);
  for (int64_t t = 1; t <= timesteps; ++t) b[static_cast<size_t>(t)] = std::min(1 - f(t) / f(t - 1), max_beta);
  return b;
}

std::vector<double> d3pm_jsd_betas(int64_t timesteps) {
  check_timesteps(timesteps);
  std::vector<double> b(static_cast<size_t>(timesteps + 1), 0.0);
  for (int64_t t = 1; t <= timesteps; ++t) b[static_cast<size_t>(t)] = 1.0 / static_cast<double>(timesteps - t + 1);
  return b;
}

std::vector<double> cumulative_alphas(const std::vector<double>& betas) {
  std::vector<double> a(betas.size(), 1.0);
  for (size_t t = 1; t < betas.size(); ++t) a[t] = a[t - 1] * (1.0 - betas[t]);
  return a;
}

std::vector<double> cumulative_exponents(const std::vector<double>& betas) {
  std::vector<double> e(betas.size(), 0.0);
  for (size_t t = 1; t < betas.size(); ++t) e[t] = e[t - 1] + betas[t];
  return e;
}

double entropy_nats(const std::vector<double>& p) {
  double h = 0;
  for (double v : p)
    if (v > 0) h -= v * std::log(v);
  return h;
}

double mutual_information(const std::vector<double>& p, const DenseMatrix& qbar) {
  const int64_t K = qbar.n;
  if (static_cast<int64_t>(p.size()) != K) throw std::invalid_argument("mutual_information: p and Qbar sizes differ");
  std::vector<double> m(static_cast<size_t>(K), 0.0);  // p Qbar
  for (int64_t i = 0; i < K; ++i)
    if (p[static_cast<size_t>(i)] > 0)
      for (int64_t j = 0; j < K; ++j) m[static_cast<size_t>(j)] += p[static_cast<size_t>(i)] * qbar(i, j);
  double info = 0;
  for (int64_t i = 0; i < K; ++i) {
    const double pi = p[static_cast<size_t>(i)];
    if (pi <= 0) continue;
    double row = 0;
    for (int64_t j = 0; j < K; ++j) {
      const double q = qbar(i, j);
      if (q > 0) row += q * std::log(q / m[static_cast<size_t>(j)]);
    }
    info += pi * row;
  }
  return std::max(info, 0.0);
}

double uniform_mutual_information(const std::vector<double>& p, const std::vector<char>& is_data, double abar) {
  double kd = 0;
  for (char d : is_data) kd += d ? 1 : 0;
  const double u = (1 - abar) / kd;
  // m_j = (p Qbar)_j = abar p_j + u on data states. For x0 = i: Qbar_ii = abar + u, Qbar_ij = u (j != i).
  double lambda = 0;  // sum over data j of log(u / m_j)
  if (u > 0)
    for (size_t j = 0; j < p.size(); ++j)
      if (is_data[j]) lambda += std::log(u / (abar * p[j] + u));
  double info = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!is_data[i] || p[i] <= 0) continue;
    const double mi = abar * p[i] + u;
    double row = (abar + u) * std::log((abar + u) / mi);
    if (u > 0) row += u * (lambda - std::log(u / mi));
    info += p[i] * row;
  }
  return std::max(info, 0.0);
}

double absorbing_mutual_information(const std::vector<double>& p, int64_t mask, double abar) {
  const size_t m = static_cast<size_t>(mask);
  const double mm = abar * p[m] + (1 - abar);  // (p Qbar)_m
  double info = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    double row = 0;
    if (i == m) {
      row = std::log(1 / mm);  // Qbar_mm = 1
    } else {
      if (abar > 0) row += abar * std::log(1 / p[i]);  // Qbar_ii = abar, (p Qbar)_i = abar p_i
      if (abar < 1) row += (1 - abar) * std::log((1 - abar) / mm);
    }
    info += p[i] * row;
  }
  return std::max(info, 0.0);
}

std::vector<double> mutual_info_abar(const std::function<double(double)>& info, double entropy, int64_t timesteps) {
  check_timesteps(timesteps);
  const double T = static_cast<double>(timesteps);
  std::vector<double> abar(static_cast<size_t>(timesteps + 1), 0.0);
  abar[0] = 1.0;
  for (int64_t t = 1; t < timesteps; ++t) {
    const double target = (1.0 - static_cast<double>(t) / T) * entropy;
    double lo = 0.0, hi = abar[static_cast<size_t>(t - 1)];  // info(lo) <= target <= info(hi)
    for (int it = 0; it < 200 && hi - lo > 0; ++it) {
      const double mid = 0.5 * (lo + hi);
      if (mid <= lo || mid >= hi) break;
      (info(mid) < target ? lo : hi) = mid;
    }
    abar[static_cast<size_t>(t)] = 0.5 * (lo + hi);
  }
  abar[static_cast<size_t>(timesteps)] = 0.0;  // I = 0: every trace of x0 removed
  return abar;
}

std::vector<double> mutual_info_exponents(const std::function<double(double)>& info, double entropy,
                                          int64_t timesteps, int64_t last, double e_max) {
  check_timesteps(timesteps);
  if (last < 0 || last > timesteps) throw std::invalid_argument("mutual_info_exponents: last outside [0, T]");
  const double T = static_cast<double>(timesteps);
  std::vector<double> e(static_cast<size_t>(timesteps + 1), 0.0);
  const double info_max = info(e_max);
  for (int64_t t = 1; t <= last; ++t) {
    // I = 0 (t = T) needs e = infinity: aim at 1e-12 H instead, which a connected graph reaches at a
    // moderate exponent (I decays like exp(-2 gap e)), so expm needs few squarings.
    const double target = std::max((1.0 - static_cast<double>(t) / T) * entropy, 1e-12 * entropy);
    double lo = e[static_cast<size_t>(t - 1)];  // info(lo) >= target
    if (target <= info_max) {
      e[static_cast<size_t>(t)] = e_max;
      continue;
    }
    double hi = std::max(2 * lo, 1e-4);
    while (hi < e_max && info(hi) > target) {
      lo = hi;
      hi = std::min(2 * hi, e_max);
    }
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (lo + hi);
      if (mid <= lo || mid >= hi) break;
      (info(mid) > target ? lo : hi) = mid;
    }
    e[static_cast<size_t>(t)] = 0.5 * (lo + hi);
  }
  for (int64_t t = last + 1; t <= timesteps; ++t) e[static_cast<size_t>(t)] = e[static_cast<size_t>(last)];
  return e;
}

MaskReplaceSchedule vq_diffusion_schedule(int64_t timesteps, int64_t num_data, double abar_start, double abar_end,
                                          double gbar_start, double gbar_end) {
  check_timesteps(timesteps);
  const size_t n = static_cast<size_t>(timesteps + 1);
  const double kd = static_cast<double>(num_data);
  MaskReplaceSchedule mr;
  mr.abar.assign(n, 1.0);
  mr.gbar.assign(n, 0.0);
  mr.bbar.assign(n, 0.0);
  mr.alpha.assign(n, 1.0);
  mr.beta.assign(n, 0.0);
  mr.gamma.assign(n, 0.0);
  for (int64_t t = 1; t <= timesteps; ++t) {
    const double f = timesteps == 1 ? 0.0 : static_cast<double>(t - 1) / static_cast<double>(timesteps - 1);
    const size_t ti = static_cast<size_t>(t);
    mr.abar[ti] = abar_start + (abar_end - abar_start) * f;
    mr.gbar[ti] = gbar_start + (gbar_end - gbar_start) * f;
    mr.bbar[ti] = (1 - mr.abar[ti] - mr.gbar[ti]) / kd;
    mr.alpha[ti] = mr.abar[ti] / mr.abar[ti - 1];
    mr.gamma[ti] = 1 - (1 - mr.gbar[ti]) / (1 - mr.gbar[ti - 1]);
    mr.beta[ti] = (1 - mr.alpha[ti] - mr.gamma[ti]) / kd;
    if (mr.beta[ti] < 0 && mr.beta[ti] > -1e-15) mr.beta[ti] = 0;  // rounding
    if (!(mr.abar[ti] > 0 && mr.abar[ti] <= 1 && mr.gbar[ti] >= 0 && mr.gbar[ti] < 1 && mr.bbar[ti] >= -1e-15 &&
          mr.alpha[ti] >= 0 && mr.alpha[ti] <= 1 && mr.gamma[ti] >= 0 && mr.gamma[ti] <= 1 && mr.beta[ti] >= 0))
      throw std::invalid_argument("VQ-Diffusion schedule: t = " + std::to_string(t) +
                                  " is not a valid transition (abar " + std::to_string(mr.abar[ti]) + ", gammabar " +
                                  std::to_string(mr.gbar[ti]) + ", beta " + std::to_string(mr.beta[ti]) + ")");
    mr.bbar[ti] = std::max(mr.bbar[ti], 0.0);
  }
  return mr;
}

std::vector<double> spindle_weights(const std::vector<double>& counts) {
  double mx = 0;
  for (double c : counts) {
    if (!(c >= 0)) throw std::invalid_argument("spindle_weights: negative or NaN token count");
    mx = std::max(mx, std::log(c + 1));
  }
  if (!(mx > 0)) throw std::invalid_argument("spindle_weights: every token count is zero");
  std::vector<double> w(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) w[i] = std::log(counts[i] + 1) / mx;
  return w;
}

double spindle_mask_prob(int64_t t, int64_t timesteps, double lambda, double w, double c) {
  if (t >= timesteps) return 1.0;
  const double x = static_cast<double>(t) / static_cast<double>(timesteps);
  return std::clamp(x + lambda * std::sin(std::numbers::pi * x) * (w - c), 0.0, 0.999);
}

}  // namespace diffuse::diffusion
