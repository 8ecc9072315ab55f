#include "diffusion/masked_diffusion.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "diffusion/token_draw.hpp"
#include "tensor/autograd.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

void check_sequences(const char* what, const Tensor& x, int64_t max_id) {
  if (x.dtype() != DType::I32 || x.dim() != 2)
    throw std::invalid_argument(std::string(what) + ": expected int32 [B, L], got " + describe(x));
  const Tensor c = x.contiguous();
  const int32_t* p = c.data<int32_t>();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (p[i] < 0 || p[i] > max_id)
      throw std::invalid_argument(std::string(what) + ": id " + std::to_string(p[i]) + " at " + std::to_string(i) +
                                  " is outside 0.." + std::to_string(max_id));
}

void check_times(const char* what, const Tensor& t, int64_t batch) {
  if (t.dtype() != DType::F64 || t.dim() != 1 || t.size(0) != batch)
    throw std::invalid_argument(std::string(what) + ": expected float64 t [" + std::to_string(batch) + "], got " + describe(t));
}

}  // namespace

MaskedDiffusion::MaskedDiffusion(const MaskedSchedule& schedule, int64_t vocab) : schedule_(schedule), vocab_(vocab) {
  if (vocab < 2) throw std::invalid_argument("masked diffusion: the vocabulary needs at least 2 tokens");
}

Tensor MaskedDiffusion::sample_t(int64_t batch, Philox& rng) {
  const double u = rng.uniform();
  Tensor t = Tensor::empty({batch}, DType::F64);
  for (int64_t i = 0; i < batch; ++i) t.data<double>()[i] = std::fmod(u + static_cast<double>(i) / static_cast<double>(batch), 1.0);
  return t;
}

Tensor MaskedDiffusion::t_tensor(int64_t batch, double t) { return Tensor::full({batch}, t, DType::F64); }

Tensor MaskedDiffusion::q_sample(const Tensor& x0, const Tensor& t, Philox& rng, const Tensor& given) const {
  check_sequences("masked q_sample x0", x0, vocab_ - 1);
  const int64_t B = x0.size(0), L = x0.size(1);
  check_times("masked q_sample", t, B);
  std::vector<double> u(static_cast<size_t>(B * L));
  rng.fill_uniform(u.data(), B * L);
  Tensor x_t = x0.contiguous().clone();
  const Tensor given_c = given.defined() ? given.contiguous() : Tensor();
  const Tensor tc = t.contiguous();
  int32_t* out = x_t.data<int32_t>();
  for (int64_t b = 0; b < B; ++b) {
    const double alpha = schedule_.alpha(tc.data<double>()[b]);
    for (int64_t n = 0; n < L; ++n) {
      const int64_t i = b * L + n;
      const bool fixed = given_c.defined() && given_c.data<int32_t>()[i] >= 0;
      if (!fixed && !(u[static_cast<size_t>(i)] < alpha)) out[i] = mask_id();
    }
  }
  return x_t;
}

Tensor MaskedDiffusion::masked_cross_entropy(const Tensor& logits, const Tensor& x0, const Tensor& x_t) const {
  if (logits.dim() != 3 || logits.size(0) != x0.size(0) || logits.size(1) != x0.size(1) || logits.size(2) != vocab_)
    throw std::invalid_argument("masked diffusion: logits must be [B, L, " + std::to_string(vocab_) + "] for x0 " +
                                describe(x0) + ", got " + describe(logits));
  // 1 where x_t holds the mask: the positions the bound counts (SUBS: the others carry x0 over).
  Tensor masked = Tensor::zeros(x_t.shape(), logits.dtype());
  const Tensor xt = x_t.contiguous();
  for (int64_t i = 0; i < xt.numel(); ++i) {
    const bool m = xt.data<int32_t>()[i] == mask_id();
    if (logits.dtype() == DType::F64) masked.data<double>()[i] = m;
    else masked.data<float>()[i] = m;
  }
  return sum(cross_entropy(logits, x0, Reduction::None, masked), {1});
}

MaskedLoss MaskedDiffusion::loss_from_logits(const Tensor& logits, const Tensor& x0, const Tensor& x_t, const Tensor& t) const {
  check_times("masked loss", t, x0.size(0));
  MaskedLoss out;
  out.masked_ce = masked_cross_entropy(logits, x0, x_t);
  Tensor w = Tensor::empty({x0.size(0)}, logits.dtype());
  const Tensor tc = t.contiguous();
  for (int64_t b = 0; b < x0.size(0); ++b) {
    const double wb = schedule_.weight(tc.data<double>()[b]);
    if (logits.dtype() == DType::F64) w.data<double>()[b] = wb;
    else w.data<float>()[b] = static_cast<float>(wb);
  }
  out.per_example = mul(out.masked_ce, w);
  out.loss = mul(mean(out.per_example), 1.0 / (static_cast<double>(x0.size(1)) * std::numbers::ln2));
  return out;
}

MaskedLoss MaskedDiffusion::training_loss_at(const MaskedX0Model& model, const Tensor& x0, const Tensor& t, const Tensor& x_t) const {
  return loss_from_logits(model(x_t, t), x0, x_t, t);
}

double MaskedDiffusion::prior_nats(int64_t length) const {
  return static_cast<double>(length) * schedule_.alpha(1.0) * std::log(static_cast<double>(vocab_));
}

double MaskedDiffusion::reconstruction_nats(int64_t length) const {
  return static_cast<double>(length) * (1.0 - schedule_.alpha(0.0)) * std::log(static_cast<double>(vocab_));
}

double MaskedDiffusion::discrete_weight(int64_t i, int64_t timesteps) const {
  if (timesteps < 1 || i < 1 || i > timesteps)
    throw std::invalid_argument("masked diffusion: step " + std::to_string(i) + " outside 1.." + std::to_string(timesteps));
  const double T = static_cast<double>(timesteps);
  const double alpha_t = schedule_.alpha(static_cast<double>(i) / T), alpha_s = schedule_.alpha(static_cast<double>(i - 1) / T);
  return (alpha_s - alpha_t) / (1.0 - alpha_t);
}

double MaskedDiffusion::grid_time(MaskedSamplingGrid grid, int64_t k, int64_t steps) {
  const double u = static_cast<double>(steps - k) / static_cast<double>(steps);
  return grid == MaskedSamplingGrid::Uniform ? u : std::sin(std::numbers::pi / 2 * u);
}

MaskedSampleResult MaskedDiffusion::sample(const MaskedX0Model& model, int64_t batch, int64_t length, Philox& rng,
                                           const MaskedSampleOptions& options) const {
  if (options.steps < 1) throw std::invalid_argument("masked sampling: --steps must be at least 1");
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const int64_t B = batch, L = length, V = vocab_, K = options.steps;
  MaskedSampleResult r;
  r.x0 = Tensor::full({B, L}, mask_id(), DType::I32);
  int32_t* x = r.x0.data<int32_t>();
  if (options.given.defined()) {
    const Tensor g = options.given.contiguous();
    const bool per_row = g.dim() == 2;
    if (g.dtype() != DType::I32 || (per_row ? (g.size(0) != B || g.size(1) != L) : (g.dim() != 1 || g.size(0) != L)))
      throw std::invalid_argument("masked sampling: the given tokens must be int32 [" + std::to_string(L) + "] or [" +
                                  std::to_string(B) + ", " + std::to_string(L) + "], got " + describe(g));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n) {
        const int32_t v = g.data<int32_t>()[(per_row ? b * L : 0) + n];
        if (v >= V) throw std::invalid_argument("masked sampling: given token " + std::to_string(v) + " is not a data token");
        if (v >= 0) x[b * L + n] = v;
      }
  }
  const bool reuse = options.reuse_outputs && !options.model_reads_t;
  // mu_theta(x_t) as logits, the rows' latest outputs: a position's distribution is formed only when it is
  // unmasked, once in the whole run (token_draw.hpp).
  std::vector<float> logits(static_cast<size_t>(B * L * V));
  std::vector<float> scratch;
  std::vector<bool> stale(static_cast<size_t>(B), true);      // the row changed since its output
  std::vector<double> u(static_cast<size_t>(2 * B * L));
  auto record = [&](double t) {
    r.recorded_t.push_back(t);
    r.recorded.push_back(r.x0.clone());
  };
  if (options.record_every > 0) record(1.0);
  for (int64_t k = 0; k < K; ++k) {
    const double t = grid_time(options.grid, k, K), s = grid_time(options.grid, k + 1, K);
    const double alpha_t = schedule_.alpha(t), alpha_s = schedule_.alpha(s);
    const double unmask = k + 1 == K ? 1.0 : (alpha_s - alpha_t) / (1.0 - alpha_t);
    // The rows to run: every row, or only those that changed since their last output.
    std::vector<int64_t> rows;
    for (int64_t b = 0; b < B; ++b)
      if (!reuse || stale[static_cast<size_t>(b)]) rows.push_back(b);
    r.network_evaluations += static_cast<int64_t>(rows.size());
    r.evaluations_saved += B - static_cast<int64_t>(rows.size());
    if (!rows.empty()) {
      Tensor x_rows = Tensor::empty({static_cast<int64_t>(rows.size()), L}, DType::I32);
      for (size_t i = 0; i < rows.size(); ++i)
        std::copy(x + rows[i] * L, x + (rows[i] + 1) * L, x_rows.data<int32_t>() + static_cast<int64_t>(i) * L);
      const Tensor out = model(x_rows, t_tensor(static_cast<int64_t>(rows.size()), t)).to(DType::F32).contiguous();
      if (out.dim() != 3 || out.size(1) != L || out.size(2) != V)
        throw std::invalid_argument("masked sampling: the network returned " + describe(out) + ", expected [" +
                                    std::to_string(rows.size()) + ", " + std::to_string(L) + ", " + std::to_string(V) + "]");
      for (size_t i = 0; i < rows.size(); ++i) {
        const float* row_logits = out.data<float>() + static_cast<int64_t>(i) * L * V;
        std::copy(row_logits, row_logits + L * V, logits.begin() + rows[i] * L * V);
        stale[static_cast<size_t>(rows[i])] = false;
      }
    }
    rng.fill_uniform(u.data(), 2 * B * L);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n) {
        const int64_t i = b * L + n;
        if (x[i] != mask_id() || !(u[static_cast<size_t>(2 * i)] < unmask)) continue;
        x[i] = draw_token(logits.data() + i * V, V, u[static_cast<size_t>(2 * i + 1)], scratch).token;  // mu_theta's inverse CDF
        stale[static_cast<size_t>(b)] = true;
      }
    if (options.record_every > 0 && ((k + 1) % options.record_every == 0 || k + 1 == K)) record(s);
    if (options.on_step) options.on_step();
  }
  return r;
}

}  // namespace diffuse::diffusion
