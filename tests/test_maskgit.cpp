// MaskGIT decoding (diffusion/maskgit_decoder.hpp): the masked count follows the cosine schedule with at
// least one position unmasked per step and none left after K steps, for every K from 1 to L; a perfect
// predictor reproduces its target in any number of steps; given positions never change.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/maskgit_decoder.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;

namespace {
constexpr int64_t V = 27, L = 12;

// Logits that put nearly all mass on target[n] at position n.
MaskedTokenModel perfect(const std::vector<int32_t>& target) {
  return [target](const Tensor& x) {
    const int64_t B = x.size(0);
    Tensor logits = Tensor::zeros({B, L, V});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n) logits.data<float>()[(b * L + n) * V + target[static_cast<size_t>(n)]] = 50.0f;
    return logits;
  };
}

MaskedTokenModel random_model(uint64_t seed) {
  return [seed](const Tensor& x) {
    Philox rng(seed);
    return randn({x.size(0), L, V}, rng);
  };
}
}  // namespace

TEST_CASE("the masked count follows floor(N cos(pi/2 k/K)), at least one unmasked per step, none after K, for K = 1..L") {
  for (int64_t K = 1; K <= L; ++K) {
    CAPTURE(K);
    Philox rng(static_cast<uint64_t>(K));
    MaskGitOptions options;
    options.steps = K;
    const MaskGitResult r = maskgit_decode(random_model(5), 2, L, V, rng, options);
    REQUIRE(r.masked_after_step.size() == static_cast<size_t>(K));
    CHECK(r.network_evaluations == K);
    int64_t before = L;
    for (int64_t k = 1; k <= K; ++k) {
      const int64_t expected = k == K ? 0 : std::min(maskgit_schedule(L, k, K), before - 1);
      for (int64_t b = 0; b < 2; ++b) CHECK(r.masked_after_step[static_cast<size_t>(k - 1)][static_cast<size_t>(b)] == expected);
      CHECK(expected <= before - 1);
      before = expected;
    }
    for (double v : r.x0.to_vector()) CHECK(v < V);
  }
  CHECK(maskgit_schedule(12, 0, 4) == 12);
  CHECK(maskgit_schedule(12, 2, 4) == 8);  // 12 cos(pi/4) = 8.49
  CHECK(maskgit_schedule(12, 4, 4) == 0);
}

TEST_CASE("a perfect predictor reproduces the target in any number of steps, drawn or argmax") {
  const std::vector<int32_t> target = {19, 7, 4, 26, 10, 8, 13, 6, 26, 18, 0, 8};
  for (int64_t K : {1, 2, 5, 12})
    for (bool argmax : {false, true}) {
      CAPTURE(K);
      Philox rng(1);
      MaskGitOptions options;
      options.steps = K;
      options.argmax_tokens = argmax;
      const MaskGitResult r = maskgit_decode(perfect(target), 3, L, V, rng, options);
      for (int64_t b = 0; b < 3; ++b)
        for (int64_t n = 0; n < L; ++n) CHECK(r.x0.data<int32_t>()[b * L + n] == target[static_cast<size_t>(n)]);
    }
}

TEST_CASE("given positions are never changed, and --steps beyond the positions to generate is refused") {
  std::vector<int32_t> given(L, -1);
  given[0] = 3;
  given[5] = 26;
  given[11] = 9;
  Philox rng(2);
  MaskGitOptions options;
  options.steps = 4;
  options.given = Tensor::from_vector(given, {L});
  const MaskGitResult r = maskgit_decode(random_model(7), 2, L, V, rng, options);
  for (int64_t b = 0; b < 2; ++b) {
    CHECK(r.x0.data<int32_t>()[b * L + 0] == 3);
    CHECK(r.x0.data<int32_t>()[b * L + 5] == 26);
    CHECK(r.x0.data<int32_t>()[b * L + 11] == 9);
    CHECK(r.masked_after_step[0][static_cast<size_t>(b)] == maskgit_schedule(9, 1, 4));
  }
  options.steps = 10;  // 9 positions to generate
  CHECK_THROWS_WITH_AS(maskgit_decode(random_model(7), 1, L, V, rng, options), doctest::Contains("more than the 9 positions"),
                       std::invalid_argument);
}

TEST_CASE("per-row given tokens (pairs' sources of different lengths): kept, and each row's count follows its own schedule") {
  std::vector<int32_t> given(2 * L, -1);
  for (int64_t n = 0; n < 3; ++n) given[static_cast<size_t>(n)] = static_cast<int32_t>(n + 1);      // row 0 gives 3
  for (int64_t n = 0; n < 7; ++n) given[static_cast<size_t>(L + n)] = static_cast<int32_t>(n + 10);  // row 1 gives 7
  for (int64_t K = 1; K <= L - 3; ++K) {
    CAPTURE(K);
    Philox rng(static_cast<uint64_t>(K));
    MaskGitOptions options;
    options.steps = K;
    options.given = Tensor::from_vector(given, {2, L});
    const MaskGitResult r = maskgit_decode(random_model(3), 2, L, V, rng, options);
    for (int64_t i = 0; i < 2 * L; ++i) {
      if (given[static_cast<size_t>(i)] >= 0) CHECK(r.x0.data<int32_t>()[i] == given[static_cast<size_t>(i)]);
      CHECK(r.x0.data<int32_t>()[i] < V);  // nothing left masked
    }
    // Row b generates N_b = L - given; its count after step k is min(floor(N_b cos(pi/2 k/K)), before - 1),
    // never below 0 (a row with fewer positions than steps finishes early), 0 after K.
    const int64_t N[2] = {L - 3, L - 7};
    for (int64_t b = 0; b < 2; ++b) {
      int64_t before = N[b];
      for (int64_t k = 1; k <= K; ++k) {
        const int64_t expected = k == K ? 0 : std::max<int64_t>(std::min(maskgit_schedule(N[b], k, K), before - 1), 0);
        CHECK(r.masked_after_step[static_cast<size_t>(k - 1)][static_cast<size_t>(b)] == expected);
        before = expected;
      }
    }
  }
}
