// The D3PM bound in bits per token, exact (all T terms) or estimated (T * L_{t-1} at random t).
#include "diffusion/d3pm_elbo.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "diffusion/d3pm_sampler.hpp"
#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

void check_data(const char* what, const Tensor& x0, int64_t& batch_size) {
  if (!x0.defined() || x0.dtype() != DType::I32 || x0.dim() != 2 || x0.size(0) < 1 || x0.size(1) < 1)
    throw std::invalid_argument(std::string(what) + ": expected int32 [N, L] sequences");
  if (batch_size <= 0 || batch_size > x0.size(0)) batch_size = x0.size(0);
}

// Fills the summary fields from the per-sequence totals (nats).
void summarise(D3pmElboResult& r, const std::vector<double>& totals) {
  const double to_bits = 1.0 / (static_cast<double>(r.seq_len) * std::numbers::ln2);
  const double n = static_cast<double>(totals.size());
  double sum = 0, sum_bits = 0;
  r.per_sequence_bits.clear();
  for (double v : totals) {
    sum += v;
    r.per_sequence_bits.push_back(v * to_bits);
    sum_bits += v * to_bits;
  }
  r.total_nats = sum / n;
  r.bits_per_token = sum_bits / n;
  double var = 0;
  for (double b : r.per_sequence_bits) var += (b - r.bits_per_token) * (b - r.bits_per_token);
  r.stderr_bits = totals.size() > 1 ? std::sqrt(var / (n - 1) / n) : 0.0;
}

D3pmElboResult start(const char* method, const D3pm& d3pm, const Tensor& x0) {
  D3pmElboResult r;
  r.method = method;
  r.kind = d3pm_kind_name(d3pm.process().kind());
  r.decoder = d3pm_decoder_name(d3pm.config().decoder);
  r.num_sequences = x0.size(0);
  r.seq_len = x0.size(1);
  r.timesteps = d3pm.timesteps();
  return r;
}

// The bound's term at t for one batch, in float64: [n] nats. s_batch: the next visited t below t (undefined:
// t - 1).
std::vector<double> term(const X0Model& model, const D3pm& d3pm, const Tensor& xb, const Tensor& x_t,
                         const Tensor& t_batch, const Tensor& s_batch = {}) {
  return d3pm.vb_terms_f64(model(x_t, D3pm::model_step(t_batch)), xb, x_t, t_batch, s_batch).to_vector();
}

// Adds each sequence's prior term KL(q(x_T | x0) || p(x_T)) of the batch xb, which starts at sequence b0,
// to totals; returns their sum (nats).
double add_prior(const D3pm& d3pm, const Tensor& xb, int64_t b0, std::vector<double>& totals) {
  double sum = 0;
  const std::vector<double> prior = d3pm.prior_kl(xb, DType::F64).to_vector();
  for (size_t i = 0; i < prior.size(); ++i) {
    totals[static_cast<size_t>(b0) + i] += prior[i];
    sum += prior[i];
  }
  return sum;
}

}  // namespace

nlohmann::json D3pmElboResult::to_json() const {
  return nlohmann::json{{"method", method},
                        {"kind", kind},
                        {"decoder", decoder},
                        {"num_sequences", num_sequences},
                        {"seq_len", seq_len},
                        {"timesteps", timesteps},
                        {"steps", steps},
                        {"draws", draws},
                        {"term_t", term_t},
                        {"network_evaluations", network_evaluations},
                        {"terms_nats", terms_nats},
                        {"prior_nats", prior_nats},
                        {"total_nats", total_nats},
                        {"bits_per_token", bits_per_token},
                        {"stderr_bits", stderr_bits},
                        {"per_sequence_bits", per_sequence_bits}};
}

D3pmElboResult D3pmElboResult::from_json(const nlohmann::json& j) {
  D3pmElboResult r;
  j.at("method").get_to(r.method);
  j.at("kind").get_to(r.kind);
  j.at("decoder").get_to(r.decoder);
  j.at("num_sequences").get_to(r.num_sequences);
  j.at("seq_len").get_to(r.seq_len);
  j.at("timesteps").get_to(r.timesteps);
  j.at("steps").get_to(r.steps);
  j.at("draws").get_to(r.draws);
  j.at("term_t").get_to(r.term_t);
  j.at("network_evaluations").get_to(r.network_evaluations);
  j.at("terms_nats").get_to(r.terms_nats);
  j.at("prior_nats").get_to(r.prior_nats);
  j.at("total_nats").get_to(r.total_nats);
  j.at("bits_per_token").get_to(r.bits_per_token);
  j.at("stderr_bits").get_to(r.stderr_bits);
  j.at("per_sequence_bits").get_to(r.per_sequence_bits);
  return r;
}

D3pmElboResult merge_d3pm_elbo(const D3pmElboResult& a, const D3pmElboResult& b) {
  if (a.method != b.method || a.kind != b.kind || a.decoder != b.decoder || a.seq_len != b.seq_len ||
      a.timesteps != b.timesteps || a.steps != b.steps || a.draws != b.draws || a.term_t != b.term_t)
    throw std::invalid_argument("merge_d3pm_elbo: results of different methods or settings (" + a.method + " " + a.kind +
                                ", T " + std::to_string(a.timesteps) + " vs " + b.method + " " + b.kind + ", T " +
                                std::to_string(b.timesteps) + ")");
  D3pmElboResult r = a;
  const double na = static_cast<double>(a.num_sequences), nb = static_cast<double>(b.num_sequences), n = na + nb;
  r.num_sequences = a.num_sequences + b.num_sequences;
  r.network_evaluations = a.network_evaluations + b.network_evaluations;
  for (size_t i = 0; i < r.terms_nats.size(); ++i) r.terms_nats[i] = (na * a.terms_nats[i] + nb * b.terms_nats[i]) / n;
  r.prior_nats = (na * a.prior_nats + nb * b.prior_nats) / n;
  const double to_nats = static_cast<double>(r.seq_len) * std::numbers::ln2;
  std::vector<double> totals;
  for (const D3pmElboResult* part : {&a, &b})
    for (double bits : part->per_sequence_bits) totals.push_back(bits * to_nats);
  summarise(r, totals);
  return r;
}

D3pmElboResult d3pm_elbo_exact(const X0Model& model, const D3pm& d3pm, const Tensor& x0, Philox& rng,
                               int64_t batch_size, const D3pmElboObserver& observer, int64_t reverse_steps) {
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  check_data("d3pm_elbo_exact", x0, batch_size);
  D3pmElboResult r = start("exact", d3pm, x0);
  const int64_t N = x0.size(0), T = d3pm.timesteps();
  r.steps = reverse_steps > 0 ? reverse_steps : T;
  const std::vector<int64_t> visited = d3pm_reverse_steps(T, r.steps);  // T first
  r.term_t.assign(visited.rbegin(), visited.rend());
  r.terms_nats.assign(visited.size(), 0.0);
  std::vector<double> totals(static_cast<size_t>(N), 0.0);
  double prior_sum = 0;
  for (int64_t b0 = 0; b0 < N; b0 += batch_size) {
    const int64_t n = std::min(batch_size, N - b0);
    const Tensor xb = x0.narrow(0, b0, n).contiguous();
    prior_sum += add_prior(d3pm, xb, b0, totals);
    for (size_t j = 0; j < visited.size(); ++j) {
      const int64_t t = visited[j], s = j + 1 < visited.size() ? visited[j + 1] : 0;
      const Tensor t_batch = D3pm::t_tensor(n, t);
      const Tensor x_t = d3pm.q_sample(xb, t_batch, rng);
      if (observer) observer(b0, t_batch, x_t);
      const std::vector<double> v = term(model, d3pm, xb, x_t, t_batch, t - s == 1 ? Tensor() : D3pm::t_tensor(n, s));
      ++r.network_evaluations;
      const size_t slot = visited.size() - 1 - j;
      for (int64_t i = 0; i < n; ++i) {
        totals[static_cast<size_t>(b0 + i)] += v[static_cast<size_t>(i)];
        r.terms_nats[slot] += v[static_cast<size_t>(i)];
      }
    }
  }
  for (double& v : r.terms_nats) v /= static_cast<double>(N);
  r.prior_nats = prior_sum / static_cast<double>(N);
  summarise(r, totals);
  return r;
}

D3pmElboResult d3pm_elbo_estimate(const X0Model& model, const D3pm& d3pm, const Tensor& x0, Philox& rng,
                                  int64_t draws, int64_t batch_size, const D3pmElboObserver& observer) {
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  check_data("d3pm_elbo_estimate", x0, batch_size);
  if (draws < 1) throw std::invalid_argument("d3pm_elbo_estimate: draws must be >= 1");
  D3pmElboResult r = start("estimate", d3pm, x0);
  r.draws = draws;
  const int64_t N = x0.size(0), T = d3pm.timesteps();
  std::vector<double> totals(static_cast<size_t>(N), 0.0);
  double prior_sum = 0;
  for (int64_t b0 = 0; b0 < N; b0 += batch_size) {
    const int64_t n = std::min(batch_size, N - b0);
    const Tensor xb = x0.narrow(0, b0, n).contiguous();
    prior_sum += add_prior(d3pm, xb, b0, totals);
    auto terms_at = [&](const Tensor& t_batch) {
      const Tensor x_t = d3pm.q_sample(xb, t_batch, rng);
      if (observer) observer(b0, t_batch, x_t);
      ++r.network_evaluations;
      return term(model, d3pm, xb, x_t, t_batch);
    };
    const std::vector<double> decoder = terms_at(D3pm::t_tensor(n, 1));  // L_0, exactly
    for (int64_t i = 0; i < n; ++i) totals[static_cast<size_t>(b0 + i)] += decoder[static_cast<size_t>(i)];
    for (int64_t d = 0; T > 1 && d < draws; ++d) {
      const std::vector<double> v = terms_at(randint({n}, 2, T + 1, rng));  // t ~ U{2..T}, one per sequence
      for (int64_t i = 0; i < n; ++i)
        totals[static_cast<size_t>(b0 + i)] += static_cast<double>(T - 1) * v[static_cast<size_t>(i)] / static_cast<double>(draws);
    }
  }
  r.prior_nats = prior_sum / static_cast<double>(N);
  summarise(r, totals);
  return r;
}

}  // namespace diffuse::diffusion
