#include "diffusion/time_importance.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace diffuse::diffusion {

namespace {
constexpr int64_t kWarmupCount = 10;  // every t seen more than this many times before p_t is used
}

TimeImportance::TimeImportance(int64_t timesteps) {
  if (timesteps < 2) throw std::invalid_argument("importance sampling of t needs T >= 2, got " + std::to_string(timesteps));
  history_.assign(static_cast<size_t>(timesteps), 0.0);
  counts_.assign(static_cast<size_t>(timesteps), 0);
}

TimeImportance::TimeImportance(std::vector<double> history, std::vector<int64_t> counts)
    : history_(std::move(history)), counts_(std::move(counts)) {
  if (history_.size() < 2 || history_.size() != counts_.size())
    throw std::invalid_argument("importance sampling of t: a state of " + std::to_string(history_.size()) + " histories and " +
                                std::to_string(counts_.size()) + " counts");
  for (size_t i = 0; i < history_.size(); ++i)
    if (!(history_[i] >= 0) || !std::isfinite(history_[i]) || counts_[i] < 0)
      throw std::invalid_argument("importance sampling of t: a bad state entry at t = " + std::to_string(i + 1));
}

bool TimeImportance::warmed_up() const {
  return std::all_of(counts_.begin(), counts_.end(), [](int64_t c) { return c > kWarmupCount; });
}

std::vector<double> TimeImportance::probabilities() const {
  const size_t T = history_.size();
  std::vector<double> p(T, 1.0 / static_cast<double>(T));
  if (!warmed_up()) return p;
  for (size_t i = 0; i < T; ++i) p[i] = std::sqrt(history_[i] + 1e-10) + 1e-4;
  p[0] = p[1];  // t = 1: the decoder term, given the weight of t = 2
  double total = 0;
  for (const double v : p) total += v;
  for (double& v : p) v /= total;
  return p;
}

TimeImportance::Draw TimeImportance::sample(int64_t batch, Philox& rng) const {
  const std::vector<double> p = probabilities();
  const int64_t T = timesteps();
  std::vector<double> cdf(p.size());
  double run = 0;
  for (size_t i = 0; i < p.size(); ++i) cdf[i] = run += p[i];
  Draw d{Tensor::empty({batch}, DType::I32), Tensor::empty({batch}, DType::F64)};
  for (int64_t b = 0; b < batch; ++b) {
    const double u = rng.uniform() * run;
    const size_t i = std::min(static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin()), p.size() - 1);
    d.t.data<int32_t>()[b] = static_cast<int32_t>(i + 1);
    d.weight.data<double>()[b] = 1.0 / (static_cast<double>(T) * p[i]);
  }
  return d;
}

void TimeImportance::update(const Tensor& t, const Tensor& loss) {
  const Tensor tc = t.contiguous(), lc = loss.detach().to(DType::F64).contiguous();
  if (tc.dtype() != DType::I32 || tc.dim() != 1 || lc.dim() != 1 || lc.size(0) != tc.size(0))
    throw std::invalid_argument("importance sampling of t: update takes int32 t [n] and the losses [n], got " + describe(t) +
                                " and " + describe(loss));
  for (int64_t i = 0; i < tc.size(0); ++i) {
    const int64_t s = tc.data<int32_t>()[i];
    if (s < 1 || s > timesteps()) throw std::invalid_argument("importance sampling of t: t = " + std::to_string(s) + " outside 1..T");
    const double L = lc.data<double>()[i];
    if (!std::isfinite(L)) continue;  // the training loop stops on a non-finite loss; keep the history clean
    double& h = history_[static_cast<size_t>(s - 1)];
    h = 0.1 * L * L + 0.9 * h;
    ++counts_[static_cast<size_t>(s - 1)];
  }
}

}  // namespace diffuse::diffusion
