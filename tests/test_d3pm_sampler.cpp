// D3PM ancestral sampling: skipping at k = 1 (the product path) equals ordinary sampling on the same random
// stream for every kind; k > 1 takes ceil(T/k) steps with progressive output at the visited t; a perfect
// ptilde reproduces its target from the prior for every kind, with and without skipping; argmax decoding
// ignores the noise.
#include <doctest/doctest.h>

#include <string>

#include "d3pm_testing.hpp"
#include "diffusion/d3pm_sampler.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {

constexpr int64_t B = 3, L = 5;

// A deterministic stand-in network that depends on x_t and on the step.
X0Model toy_model(const D3pm& d) {
  const int64_t K = d.num_states();
  Philox init(41);
  const Tensor w = randn({L, K}, init);
  return [w, K](const Tensor& x_t, const Tensor& step) {
    std::vector<double> lg(static_cast<size_t>(x_t.size(0) * L * K));
    const std::vector<double> wv = w.to_vector(), xv = x_t.to_vector(), sv = step.to_vector();
    for (int64_t b = 0; b < x_t.size(0); ++b)
      for (int64_t l = 0; l < L; ++l)
        for (int64_t k = 0; k < K; ++k)
          lg[static_cast<size_t>((b * L + l) * K + k)] = wv[static_cast<size_t>(l * K + k)] +
                                                         0.7 * (xv[static_cast<size_t>(b * L + l)] == k) +
                                                         0.05 * sv[static_cast<size_t>(b)] * (k % 2);
    return Tensor::from_vector(lg, {x_t.size(0), L, K}).to(DType::F32);
  };
}

}  // namespace

TEST_CASE("sampling with step skipping at k = 1 equals ordinary sampling for the same random stream") {
  for (const NamedConfig& nc : every_kind()) {
    INFO(nc.name);
    const D3pm d(nc.config);
    const X0Model model = toy_model(d);
    Philox rng_a(5, 1);
    D3pmSampleOptions opt;
    opt.record_every = 1;
    const D3pmSampleResult a = d3pm_sample(model, d, B, L, rng_a, opt);  // one-step formula (p_logits)
    // The same loop through the product path p_logits_skip with s = t - 1.
    Philox rng_b(5, 1);
    Tensor x = d.prior_sample(B, L, rng_b);
    std::vector<Tensor> states{x};
    for (int64_t t = d.timesteps(); t >= 1; --t) {
      const Tensor t_batch = D3pm::t_tensor(B, t);
      const Tensor logits = model(x, D3pm::model_step(t_batch));
      x = sample_categorical(d.p_logits_skip(logits, x, t_batch, D3pm::t_tensor(B, t - 1)), rng_b);
      states.push_back(x);
    }
    REQUIRE(a.recorded.size() == states.size());
    for (size_t i = 0; i < states.size(); ++i) CHECK(a.recorded[i].to_vector() == states[i].to_vector());
    CHECK(a.x0.to_vector() == x.to_vector());
    CHECK(a.network_evaluations == d.timesteps());
    CHECK(rng_a.counter() == rng_b.counter());
  }
}

TEST_CASE("k > 1 takes ceil(T/k) steps, records the visited t asked for, and starts from the prior") {
  const D3pm d(small_config(D3pmKind::Absorbing, D3pmScheduleKind::Jsd, 6, true, 10));
  Philox rng(6);
  D3pmSampleOptions opt;
  opt.skip = 3;
  opt.record_every = 2;
  opt.record_at = {7};
  const D3pmSampleResult r = d3pm_sample(toy_model(d), d, B, L, rng, opt);
  CHECK(r.visited == std::vector<int64_t>{10, 7, 4, 1});
  CHECK(r.network_evaluations == 4);
  CHECK(r.recorded_t == std::vector<int64_t>{10, 7, 4, 0});
  for (double v : r.recorded[0].to_vector()) CHECK(v == 6);  // x_T: all mask
  for (double v : r.x0.to_vector()) CHECK(v != 6);            // x_0: no mask left
  CHECK(r.recorded.back().to_vector() == r.x0.to_vector());

  const D3pm u(small_config(D3pmKind::Uniform, D3pmScheduleKind::Cosine, 6, true, 10));
  const Tensor prior = u.prior_sample(50, 4, rng);
  for (double v : prior.to_vector()) CHECK((v >= 0 && v < 6));  // uniform over the data states, never the mask
}

TEST_CASE("a number of steps visits floor(i T / steps), i = steps..1: jumps that differ by at most one") {
  CHECK(d3pm_reverse_steps(10, 10) == std::vector<int64_t>{10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  CHECK(d3pm_reverse_steps(10, 4) == std::vector<int64_t>{10, 7, 5, 2});
  const std::vector<int64_t> v = d3pm_reverse_steps(1000, 256);
  REQUIRE(v.size() == 256);
  CHECK(v.front() == 1000);
  CHECK(v.back() == 3);
  for (size_t i = 1; i < v.size(); ++i) CHECK((v[i - 1] - v[i] == 3 || v[i - 1] - v[i] == 4));
  CHECK_THROWS_AS(d3pm_reverse_steps(10, 11), std::invalid_argument);
  CHECK_THROWS_AS(d3pm_reverse_steps(10, 0), std::invalid_argument);

  const D3pm d(small_config(D3pmKind::Absorbing, D3pmScheduleKind::Jsd, 6, true, 10));
  Philox rng(7);
  D3pmSampleOptions opt;
  opt.steps = 4;
  const D3pmSampleResult r = d3pm_sample(toy_model(d), d, B, L, rng, opt);
  CHECK(r.visited == std::vector<int64_t>{10, 7, 5, 2});
  for (double x : r.x0.to_vector()) CHECK(x != 6);  // no mask left
}

TEST_CASE("a perfect ptilde reproduces its target from the prior, for every kind, skipping or not") {
  for (const NamedConfig& nc : every_kind()) {
    INFO(nc.name);
    const D3pm d(nc.config);
    const int64_t K = d.num_states();
    const std::vector<int64_t> ids = d.process().states().data_ids();
    std::vector<int32_t> target(static_cast<size_t>(B * L));
    for (size_t i = 0; i < target.size(); ++i) target[i] = static_cast<int32_t>(ids[(i * 5 + 1) % ids.size()]);
    const X0Model perfect = [&](const Tensor& x_t, const Tensor&) {
      std::vector<double> lg(static_cast<size_t>(B * L * K), 0.0);
      for (int64_t r = 0; r < B * L; ++r) lg[static_cast<size_t>(r * K + target[static_cast<size_t>(r)])] = 40.0;
      return Tensor::from_vector(lg, {x_t.size(0), L, K}).to(DType::F32);
    };
    for (int64_t k : {1, 4}) {
      for (bool argmax : {false, true}) {
        Philox rng(7);
        D3pmSampleOptions opt;
        opt.skip = k;
        opt.argmax = argmax;
        const D3pmSampleResult r = d3pm_sample(perfect, d, B, L, rng, opt);
        std::vector<double> want(target.begin(), target.end());
        CHECK(r.x0.to_vector() == want);
      }
    }
  }
}

TEST_CASE("argmax decoding does not depend on the random stream once x_T is fixed") {
  const D3pm d(small_config(D3pmKind::Absorbing, D3pmScheduleKind::Jsd, 6, true, 10));
  D3pmSampleOptions opt;
  opt.argmax = true;
  opt.skip = 2;
  Philox r1(1), r2(2);
  const D3pmSampleResult a = d3pm_sample(toy_model(d), d, B, L, r1, opt);
  const D3pmSampleResult b = d3pm_sample(toy_model(d), d, B, L, r2, opt);
  CHECK(a.x0.to_vector() == b.x0.to_vector());
  // A given x_T is used as it is.
  opt.x_T = Tensor::from_vector(std::vector<int32_t>(B * L, 6), {B, L});
  const D3pmSampleResult c = d3pm_sample(toy_model(d), d, B, L, r1, opt);
  CHECK(c.x0.to_vector() == a.x0.to_vector());
}
