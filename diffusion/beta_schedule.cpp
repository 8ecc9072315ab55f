#include "diffusion/beta_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

namespace diffuse::diffusion {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("beta schedule: " + what); }

// numpy.linspace(a, b, n): a + i (b - a)/(n - 1), with the last point exactly b.
std::vector<double> linspace(double a, double b, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  const double spacing = n > 1 ? (b - a) / static_cast<double>(n - 1) : 0.0;
  for (int64_t i = 0; i < n; ++i) v[i] = a + spacing * static_cast<double>(i);
  if (n > 1) v[n - 1] = b;
  return v;
}

}  // namespace

BetaScheduleKind parse_beta_schedule(const std::string& name) {
  if (name == "linear") return BetaScheduleKind::Linear;
  if (name == "cosine") return BetaScheduleKind::Cosine;
  if (name == "quad") return BetaScheduleKind::Quad;
  if (name == "const") return BetaScheduleKind::Const;
  if (name == "jsd") return BetaScheduleKind::Jsd;
  if (name == "sqrt") return BetaScheduleKind::Sqrt;
  fail("unknown schedule \"" + name + "\" (expected linear, cosine, quad, const, jsd or sqrt)");
}

const char* beta_schedule_name(BetaScheduleKind kind) {
  switch (kind) {
    case BetaScheduleKind::Linear: return "linear";
    case BetaScheduleKind::Cosine: return "cosine";
    case BetaScheduleKind::Quad: return "quad";
    case BetaScheduleKind::Const: return "const";
    case BetaScheduleKind::Jsd: return "jsd";
    case BetaScheduleKind::Sqrt: return "sqrt";
  }
  return "?";
}

std::vector<double> make_betas(const BetaScheduleConfig& c) {
  const int64_t T = c.timesteps;
  if (T < 2) fail("timesteps must be at least 2 (the clipped log-variance at t = 1 borrows beta~_2), got " +
                  std::to_string(T));
  switch (c.kind) {
    case BetaScheduleKind::Linear: return linspace(c.beta_start, c.beta_end, T);
    case BetaScheduleKind::Quad: {
      std::vector<double> b = linspace(std::sqrt(c.beta_start), std::sqrt(c.beta_end), T);
      for (double& v : b) v = v * v;
      return b;
    }
    case BetaScheduleKind::Const: return std::vector<double>(static_cast<size_t>(T), c.beta_end);
    case BetaScheduleKind::Jsd: {
      std::vector<double> b(static_cast<size_t>(T));
      for (int64_t t = 1; t <= T; ++t) b[t - 1] = 1.0 / static_cast<double>(T - t + 1);
      return b;
    }
    case BetaScheduleKind::Cosine: {
      // f(u) = cos^2(((u + s)/(1 + s)) pi/2), s = cosine_s, at u = t/T; abar_t = f(t/T)/f(0), and the ratio
      // abar_t/abar_{t-1} = f(t/T)/f((t-1)/T) does not need f(0).
      const double cosine_s = c.cosine_s;
      auto f = [cosine_s](double u) {
        const double v = std::cos((u + cosine_s) / (1.0 + cosine_s) * std::numbers::pi / 2.0);
        return v * v;
      };
      std::vector<double> b(static_cast<size_t>(T));
      for (int64_t t = 1; t <= T; ++t) {
        const double ratio = f(static_cast<double>(t) / T) / f(static_cast<double>(t - 1) / T);
        b[t - 1] = std::min(1.0 - ratio, c.max_beta);
      }
      return b;
    }
    case BetaScheduleKind::Sqrt: {
      // abar(u) = 1 - sqrt(u + s); beta_t = 1 - abar(t/T)/abar((t-1)/T), clipped (at t = T the ratio is
      // negative, abar(1) < 0, so that step takes max_beta).
      if (!(c.sqrt_s > 0 && c.sqrt_s < 1)) fail("sqrt schedule: s must be in (0, 1), got " + std::to_string(c.sqrt_s));
      auto abar = [&c](double u) { return 1.0 - std::sqrt(u + c.sqrt_s); };
      std::vector<double> b(static_cast<size_t>(T));
      for (int64_t t = 1; t <= T; ++t) {
        const double ratio = abar(static_cast<double>(t) / T) / abar(static_cast<double>(t - 1) / T);
        b[t - 1] = std::min(1.0 - ratio, c.max_beta);
      }
      return b;
    }
  }
  fail("unknown schedule kind");
}

BetaScheduleConfig scaled_linear(int64_t timesteps) {
  BetaScheduleConfig c;
  c.kind = BetaScheduleKind::Linear;
  c.timesteps = timesteps;
  const double scale = 1000.0 / static_cast<double>(timesteps);
  c.beta_start = 1e-4 * scale;
  c.beta_end = 0.02 * scale;
  return c;
}

VarianceType parse_variance_type(const std::string& name) {
  if (name == "large") return VarianceType::Large;
  if (name == "small") return VarianceType::Small;
  throw std::invalid_argument("variance type: unknown \"" + name + "\" (expected large or small)");
}

const char* variance_type_name(VarianceType type) { return type == VarianceType::Large ? "large" : "small"; }

const std::vector<double>& DiffusionSchedule::model_variance(VarianceType type) const {
  return type == VarianceType::Large ? betas : posterior_variance;
}

const std::vector<double>& DiffusionSchedule::model_log_variance(VarianceType type) const {
  return type == VarianceType::Large ? log_variance_large : posterior_log_variance_clipped;
}

DiffusionSchedule make_schedule(std::vector<double> betas) {
  const int64_t T = static_cast<int64_t>(betas.size());
  if (T < 2) fail("need at least 2 steps (the clipped log-variance at t = 1 borrows beta~_2), got " + std::to_string(T));
  for (int64_t step = 0; step < T; ++step)
    if (!(betas[step] > 0.0 && betas[step] <= 1.0))
      fail("beta_" + std::to_string(step + 1) + " = " + std::to_string(betas[step]) + " is outside (0, 1]");

  DiffusionSchedule schedule;
  schedule.timesteps = T;
  schedule.betas = std::move(betas);
  auto array = [T] { return std::vector<double>(static_cast<size_t>(T)); };
  schedule.alphas = array();
  schedule.alphas_cumprod = array();
  schedule.alphas_cumprod_prev = array();
  schedule.sqrt_alphas_cumprod = array();
  schedule.sqrt_one_minus_alphas_cumprod = array();
  schedule.log_one_minus_alphas_cumprod = array();
  schedule.sqrt_recip_alphas_cumprod = array();
  schedule.sqrt_recipm1_alphas_cumprod = array();
  schedule.sqrt_recip_alphas = array();
  schedule.eps_coef = array();
  schedule.posterior_variance = array();
  schedule.posterior_mean_coef1 = array();
  schedule.posterior_mean_coef2 = array();
  schedule.posterior_log_variance_clipped = array();
  schedule.log_variance_large = array();

  double abar = 1.0;  // abar_0
  for (int64_t step = 0; step < T; ++step) {  // step = t - 1
    const double beta = schedule.betas[step];
    const double alpha = 1.0 - beta;
    const double abar_prev = abar;
    abar *= alpha;
    schedule.alphas[step] = alpha;
    schedule.alphas_cumprod[step] = abar;
    schedule.alphas_cumprod_prev[step] = abar_prev;
    schedule.sqrt_alphas_cumprod[step] = std::sqrt(abar);
    schedule.sqrt_one_minus_alphas_cumprod[step] = std::sqrt(1.0 - abar);
    schedule.log_one_minus_alphas_cumprod[step] = std::log(1.0 - abar);
    schedule.sqrt_recip_alphas_cumprod[step] = std::sqrt(1.0 / abar);     // inf where abar_t = 0 (jsd's last step)
    schedule.sqrt_recipm1_alphas_cumprod[step] = std::sqrt(1.0 / abar - 1.0);
    schedule.sqrt_recip_alphas[step] = std::sqrt(1.0 / alpha);
    schedule.eps_coef[step] = beta / std::sqrt(1.0 - abar);
    schedule.posterior_variance[step] = beta * (1.0 - abar_prev) / (1.0 - abar);
    schedule.posterior_mean_coef1[step] = beta * std::sqrt(abar_prev) / (1.0 - abar);
    schedule.posterior_mean_coef2[step] = (1.0 - abar_prev) * std::sqrt(alpha) / (1.0 - abar);
  }
  // The clipped log-variances: step 0 (t = 1, where beta~_1 = 0) borrows beta~_2.
  for (int64_t step = 0; step < T; ++step) {
    schedule.posterior_log_variance_clipped[step] =
        std::log(step == 0 ? schedule.posterior_variance[1] : schedule.posterior_variance[step]);
    schedule.log_variance_large[step] = std::log(step == 0 ? schedule.posterior_variance[1] : schedule.betas[step]);
  }
  return schedule;
}

}  // namespace diffuse::diffusion
