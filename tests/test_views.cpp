// Views share storage and never copy; each is checked against a materialised copy built by index loops.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "tensor/storage.hpp"

using namespace diffuse;
using diffuse::testing::random_input;

namespace {
// x[idx] by explicit index arithmetic on shape/strides/offset.
double element(const Tensor& t, const std::vector<int64_t>& idx) { return t.at(idx); }

// Every element of t (in row-major order over t's shape) via at(), which walks the strides.
std::vector<double> walk(const Tensor& t) {
  std::vector<double> out;
  std::vector<int64_t> idx(t.dim(), 0);
  for (int64_t n = 0; n < t.numel(); ++n) {
    out.push_back(element(t, idx));
    for (int64_t d = t.dim() - 1; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
}  // namespace

TEST_CASE("storage is 64-byte aligned and shared by views") {
  const Tensor a = Tensor::empty({3, 5});
  CHECK(reinterpret_cast<uintptr_t>(a.storage()->data()) % 64 == 0);
  const Tensor v = a.transpose(0, 1);
  CHECK(v.storage() == a.storage());
  CHECK(a.narrow(1, 1, 3).storage() == a.storage());
  CHECK(a.reshape({15}).storage() == a.storage());
  CHECK(a.unsqueeze(0).expand({4, 3, 5}).storage() == a.storage());
}

TEST_CASE("permute and transpose match a materialised copy") {
  const Tensor x = random_input({2, 3, 4}, 1);
  const Tensor p = x.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK_FALSE(p.is_contiguous());
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t k = 0; k < 3; ++k) CHECK(p.at({i, j, k}) == x.at({j, k, i}));
  const Tensor c = p.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.storage() != x.storage());
  CHECK(c.to_vector() == walk(p));
  CHECK(x.transpose(0, 2).at({3, 1, 0}) == x.at({0, 1, 3}));
}

TEST_CASE("contiguous copies only when it has to") {
  const Tensor x = random_input({4, 6}, 2);
  CHECK(x.contiguous().impl() == x.impl());
  CHECK(x.narrow(0, 1, 2).contiguous().storage() == x.storage());  // rows of a row-major matrix stay contiguous
  CHECK(x.narrow(1, 1, 2).contiguous().storage() != x.storage());  // a column window does not
}

TEST_CASE("narrow and slice select the right window") {
  const Tensor x = random_input({3, 7}, 3);
  const Tensor w = x.slice(1, 2, 6);
  CHECK(w.shape() == Shape{3, 4});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) CHECK(w.at({i, j}) == x.at({i, j + 2}));
  CHECK_THROWS_WITH_AS(x.narrow(1, 5, 3), doctest::Contains("narrow"), std::invalid_argument);
}

TEST_CASE("view and reshape") {
  const Tensor x = random_input({2, 3, 4}, 4);
  const Tensor v = x.view({6, -1});
  CHECK(v.shape() == Shape{6, 4});
  CHECK(v.storage() == x.storage());
  CHECK(v.to_vector() == x.to_vector());
  // A permuted tensor cannot be viewed flat, but it can be reshaped (with a copy).
  const Tensor p = x.permute({1, 0, 2});
  CHECK_THROWS_WITH_AS(p.view({24}), doctest::Contains("view"), std::invalid_argument);
  const Tensor r = p.reshape({24});
  CHECK(r.to_vector() == walk(p));
  // Splitting a dim of a transposed tensor is still a view.
  const Tensor t = random_input({4, 6}, 5).transpose(0, 1);  // [6, 4], strides [1, 6]
  const Tensor s = t.view({2, 3, 4});
  CHECK(s.storage() == t.storage());
  CHECK(walk(s) == walk(t));
  CHECK_THROWS_WITH_AS(x.view({5, 5}), doctest::Contains("[5, 5]"), std::invalid_argument);
}

TEST_CASE("expand, squeeze and unsqueeze") {
  const Tensor x = random_input({3, 1}, 6);
  const Tensor e = x.expand({2, 3, 4});
  CHECK(e.strides()[0] == 0);
  CHECK(e.strides()[2] == 0);
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 4; ++j) CHECK(e.at({a, i, j}) == x.at({i, 0}));
  CHECK(e.contiguous().to_vector() == walk(e));
  CHECK_THROWS_WITH_AS(x.expand({3, 2, 2}), doctest::Contains("expand"), std::invalid_argument);
  const Tensor s = x.squeeze(1);
  CHECK(s.shape() == Shape{3});
  CHECK(s.unsqueeze(0).shape() == Shape{1, 3});
  CHECK(s.unsqueeze(-1).shape() == Shape{3, 1});
  CHECK_THROWS_WITH_AS(x.squeeze(0), doctest::Contains("squeeze"), std::invalid_argument);
  CHECK(x.flatten().shape() == Shape{3});
}

TEST_CASE("copy_ writes through a strided view") {
  const Tensor x = Tensor::zeros({3, 4});
  x.narrow(1, 1, 2).copy_(Tensor::ones({3, 2}));
  const std::vector<double> expect = {0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0};
  CHECK(x.to_vector() == expect);
  x.transpose(0, 1).narrow(0, 3, 1).copy_(Tensor::full({1, 3}, 7));
  CHECK(x.at({2, 3}) == 7);
}

TEST_CASE("gradients flow through every view") {
  using namespace diffuse::testing;
  CHECK_GRADIENTS([](auto& in) { return in[0].permute({2, 0, 1}).reshape({4, 6}) * in[1]; },
                  {random_input({2, 3, 4}, 7), random_input({4, 6}, 8)}, strided());
  CHECK_GRADIENTS([](auto& in) { return in[0].narrow(1, 1, 3).transpose(0, 1) * in[1]; },
                  {random_input({2, 5}, 9), random_input({3, 2}, 10)}, strided());
  CHECK_GRADIENTS([](auto& in) { return in[0].unsqueeze(0).expand({3, 2, 4}) * in[1]; },
                  {random_input({2, 4}, 11), random_input({3, 2, 4}, 12)}, strided());
  CHECK_GRADIENTS([](auto& in) { return in[0].view({3, 1, 2}).squeeze(1).unsqueeze(0) * in[1]; },
                  {random_input({6}, 13), random_input({1, 3, 2}, 16)}, strided());
  CHECK_GRADIENTS([](auto& in) { return in[0].transpose(0, 1).contiguous().flatten() * in[1]; },
                  {random_input({3, 4}, 14), random_input({12}, 15)}, strided());
}

TEST_CASE("large blocks are reused from the cache at their exact size, and live + cached stays within twice the peak live bytes") {
  release_cached_blocks();
  const BlockCacheStats start = block_cache_stats();
  const void* first = nullptr;
  {
    const Tensor a = Tensor::empty({256, 1024});  // 1 MiB
    first = a.data<float>();
  }
  CHECK(block_cache_stats().cached_bytes == (1 << 20));
  {
    const Tensor b = Tensor::empty({1024, 256});  // the same size: the same block
    CHECK(b.data<float>() == first);
    CHECK(block_cache_stats().hits == start.hits + 1);
    CHECK(block_cache_stats().cached_bytes == 0);
    const Tensor c = Tensor::empty({3, 1024, 256});  // another size: a fresh block
    CHECK(block_cache_stats().misses == start.misses + 2);
  }
  // The peak live total is 4 MiB (1 + 3, this binary's largest), so the bound on live + cached is 8 MiB.
  CHECK(block_cache_stats().cached_bytes == (4 << 20));
  { const Tensor d = Tensor::empty({2, 1024, 256}); }  // 2 MiB: live 2 + cached 4 fit, then 6 MiB cached
  CHECK(block_cache_stats().cached_bytes == (6 << 20));
  {
    // A new size must not raise live + cached above 8 MiB: the cache frees blocks, largest first.
    const Tensor e = Tensor::empty({5, 512, 256});  // 2.5 MiB: frees the 3 MiB block, keeps 1 and 2
    CHECK(block_cache_stats().cached_bytes == (3 << 20));
  }
  CHECK(block_cache_stats().cached_bytes == (11 << 19));  // 5.5 MiB
  release_cached_blocks();
  CHECK(block_cache_stats().cached_bytes == 0);
  const Tensor small = Tensor::empty({10});  // small blocks bypass the cache
  CHECK(block_cache_stats().misses == start.misses + 4);
}
