// Embedding, concat/split, narrow, where/masked_fill, dropout and layer norm.
#include <doctest/doctest.h>

#include <cmath>

#include "gradcheck.hpp"

using namespace diffuse;
using namespace diffuse::testing;

TEST_CASE("embedding looks up rows and scatter-adds its gradient") {
  const Tensor w = random_input({6, 3}, 1);
  const Tensor ids = Tensor::from_vector(std::vector<int32_t>{5, 0, 5, 2}, {2, 2});
  const Tensor y = embedding(w, ids);
  REQUIRE(y.shape() == Shape{2, 2, 3});
  CHECK(y.at({1, 0, 2}) == w.at({5, 2}));
  CHECK_GRADIENTS([&](auto& in) { return embedding(in[0], ids); }, {w}, strided());  // id 5 appears twice
  CHECK_THROWS_WITH_AS(embedding(w, Tensor::from_vector(std::vector<int32_t>{6}, {1})), doctest::Contains("id 6"),
                       std::invalid_argument);
}

TEST_CASE("concat and split") {
  const Tensor a = random_input({2, 3}, 2), b = random_input({2, 1}, 3);
  const Tensor c = concat({a, b, a}, 1);
  REQUIRE(c.shape() == Shape{2, 7});
  CHECK(c.at({1, 3}) == b.at({1, 0}));
  CHECK(c.at({0, 5}) == a.at({0, 1}));
  const auto parts = split(c, {3, 1, 3}, 1);
  CHECK(max_abs_diff(parts[1], b) == 0);
  CHECK(parts[2].storage() == c.storage());
  CHECK_GRADIENTS([](auto& in) { return concat({in[0], in[1], in[0]}, 0); }, {random_input({2, 3}, 4), random_input({1, 3}, 5)}, strided());
  CHECK_GRADIENTS([](auto& in) { auto p = split(in[0], {1, 2}, 1); return p[0] * p[1]; }, {random_input({2, 3}, 6)}, strided());
  CHECK_THROWS_WITH_AS(concat({a, random_input({3, 3}, 7)}, 1), doctest::Contains("concat"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(split(c, {3, 3}, 1), doctest::Contains("split"), std::invalid_argument);
}

TEST_CASE("narrow: each window's gradient lands in its place, overlapping windows and a full gradient added") {
  // Windows [0, 2), [1, 3) and [2, 4) of axis 1 overlap; (x * x) adds a gradient over all of x, before or after
  // the windows' (narrow's backward adds in place into a gradient x already holds).
  CHECK_GRADIENTS(
      [](auto& in) {
        const Tensor& x = in[0];
        return x.narrow(1, 0, 2) * x.narrow(1, 1, 2) + exp(x.narrow(1, 2, 2)) + (x * x).narrow(1, 3, 2);
      },
      {random_input({3, 5, 2}, 11)}, strided());
}

TEST_CASE("where and masked_fill") {
  const Tensor cond = Tensor::from_vector(std::vector<int32_t>{1, 0, 0, 1}, {4, 1});
  const Tensor a = random_input({4, 3}, 8), b = random_input({3}, 9);
  const Tensor y = where(cond, a, b);
  CHECK(y.at({0, 1}) == a.at({0, 1}));
  CHECK(y.at({1, 2}) == b.at({2}));
  CHECK_GRADIENTS([&](auto& in) { return where(cond, in[0], in[1]); }, {a, b}, strided());
  const Tensor m = masked_fill(a, cond, -1e9);
  CHECK(m.at({3, 0}) == -1e9);
  CHECK(m.at({2, 0}) == a.at({2, 0}));
}

TEST_CASE("dropout keeps 1-p of the elements, scaled, and is reproducible") {
  Philox rng(42);
  const Tensor x = Tensor::ones({100000});
  const Tensor y = dropout(x, 0.25, true, rng);
  const auto v = y.to_vector();
  double kept = 0;
  for (double e : v) {
    CHECK((e == 0 || std::abs(e - 1 / 0.75) < 1e-6));
    kept += e != 0;
  }
  CHECK(kept / v.size() == doctest::Approx(0.75).epsilon(0.01));
  Philox again(42);
  CHECK(max_abs_diff(dropout(x, 0.25, true, again), y) == 0);
  CHECK(dropout(x, 0.25, false, rng).impl() == x.impl());
  // The gradient uses the same mask as the forward: the harness re-runs f, so reset the stream each call.
  CHECK_GRADIENTS([](auto& in) { Philox r(7); return dropout(in[0], 0.4, true, r); }, {random_input({5, 4}, 10)}, strided());
}

TEST_CASE("layer norm against a naive computation, and its gradients") {
  const Tensor x = random_input({3, 7}, 11), w = add(random_input({7}, 12), 1.0), b = random_input({7}, 13);
  const Tensor y = layer_norm(x, w, b, 1e-5);
  for (int64_t i = 0; i < 3; ++i) {
    double mu = 0, var = 0;
    for (int64_t j = 0; j < 7; ++j) mu += x.at({i, j}) / 7;
    for (int64_t j = 0; j < 7; ++j) var += (x.at({i, j}) - mu) * (x.at({i, j}) - mu) / 7;
    for (int64_t j = 0; j < 7; ++j)
      CHECK(y.at({i, j}) == doctest::Approx((x.at({i, j}) - mu) / std::sqrt(var + 1e-5) * w.at({j}) + b.at({j})));
  }
  CHECK_GRADIENTS([](auto& in) { return layer_norm(in[0], in[1], in[2]); }, {random_input({2, 3, 6}, 14), w.narrow(0, 0, 6), b.narrow(0, 0, 6)}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return layer_norm(in[0], Tensor(), Tensor()); }, {random_input({4, 5}, 15)}, strided(kFourPoint));
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor::ones({6}, DType::F64), Tensor()), doctest::Contains("layer_norm"),
                       std::invalid_argument);
}
