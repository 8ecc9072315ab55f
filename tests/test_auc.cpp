// metrics/auc.hpp: the rank form of the AUC against its definition, counted pair by pair, on scores with ties.
#include <doctest/doctest.h>

#include <cmath>

#include "metrics/auc.hpp"
#include "tensor/random.hpp"

using namespace diffuse;

TEST_CASE("the AUC from ranks equals the share of (positive, negative) pairs the score orders right, ties one half") {
  Philox rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    CAPTURE(trial);
    std::vector<double> pos, neg;
    const int64_t p = 1 + rng.integer(0, 40), q = 1 + rng.integer(0, 40);
    // Scores on a grid of 8 values, so that ties across and within the two sides are common.
    for (int64_t i = 0; i < p; ++i) pos.push_back(static_cast<double>(rng.integer(0, 8)) + 0.5 * static_cast<double>(trial % 3));
    for (int64_t i = 0; i < q; ++i) neg.push_back(static_cast<double>(rng.integer(0, 8)));
    double pairs = 0;
    for (double a : pos)
      for (double b : neg) pairs += a > b ? 1.0 : a == b ? 0.5 : 0.0;
    CHECK(metrics::auc(pos, neg) == doctest::Approx(pairs / static_cast<double>(p * q)).epsilon(1e-14));
  }
  CHECK(metrics::auc({3, 4}, {1, 2}) == 1.0);
  CHECK(metrics::auc({1, 2}, {3, 4}) == 0.0);
  CHECK(metrics::auc({1, 1}, {1}) == 0.5);
  CHECK(std::isnan(metrics::auc({}, {1.0})));
}
