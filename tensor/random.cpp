#include "tensor/random.hpp"

#include <cmath>
#include <limits>
#include <numbers>

#include "tensor/kernels.hpp"

namespace diffuse {

std::array<uint32_t, 4> Philox::block(uint64_t index) const {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream_), c3 = static_cast<uint32_t>(stream_ >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed_), k1 = static_cast<uint32_t>(seed_ >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c0, p1 = static_cast<uint64_t>(kM1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return {c0, c1, c2, c3};
}

namespace {
// Maps random bits to the open interval (0, 1): 24 bits for float, 53 for double.
inline float to_unit_float(uint32_t w) { return (static_cast<float>(w >> 8) + 0.5f) * 0x1p-24f; }
inline double to_unit_double(uint32_t lo, uint32_t hi) {
  const uint64_t bits = ((static_cast<uint64_t>(hi) << 32) | lo) >> 11;
  return (static_cast<double>(bits) + 0.5) * 0x1p-53;
}
constexpr int64_t kGrain = 4096;

// out[i] = f(block(c + i)) for i in [0, n).
template <class T, class F>
void fill_blocks(const Philox& g, uint64_t c, T* out, int64_t n, F f) {
  kernels::parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) out[i] = f(g.block(c + i));
  });
}

// Two standard normals per block by Box-Muller: element 2k uses r cos(theta), 2k+1 uses r sin(theta).
template <class T>
void fill_normal_impl(const Philox& g, uint64_t c, T* out, int64_t n) {
  kernels::parallel_for((n + 1) / 2, kGrain, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const auto b = g.block(c + k);
      const double u1 = to_unit_double(b[0], b[1]), u2 = to_unit_double(b[2], b[3]);
      const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * std::numbers::pi * u2;
      out[2 * k] = static_cast<T>(r * std::cos(theta));
      if (2 * k + 1 < n) out[2 * k + 1] = static_cast<T>(r * std::sin(theta));
    }
  });
}
}  // namespace

void Philox::fill_uniform(float* out, int64_t n) {
  fill_blocks(*this, counter_, out, n, [](const auto& b) { return to_unit_float(b[0]); });
  counter_ += n;
}
void Philox::fill_uniform(double* out, int64_t n) {
  fill_blocks(*this, counter_, out, n, [](const auto& b) { return to_unit_double(b[0], b[1]); });
  counter_ += n;
}
void Philox::fill_normal(float* out, int64_t n) {
  fill_normal_impl(*this, counter_, out, n);
  counter_ += (n + 1) / 2;
}
void Philox::fill_normal(double* out, int64_t n) {
  fill_normal_impl(*this, counter_, out, n);
  counter_ += (n + 1) / 2;
}
void Philox::fill_gumbel(float* out, int64_t n) {
  fill_blocks(*this, counter_, out, n, [](const auto& b) { return -std::log(-std::log(to_unit_float(b[0]))); });
  counter_ += n;
}
void Philox::fill_gumbel(double* out, int64_t n) {
  fill_blocks(*this, counter_, out, n, [](const auto& b) { return -std::log(-std::log(to_unit_double(b[0], b[1]))); });
  counter_ += n;
}
void Philox::fill_int(int32_t* out, int64_t n, int64_t lo, int64_t hi) {
  if (hi <= lo) throw std::invalid_argument("randint: empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
  const uint64_t range = static_cast<uint64_t>(hi - lo);
  // Multiply-shift on 64 random bits: bias at most range / 2^64.
  fill_blocks(*this, counter_, out, n, [lo, range](const auto& b) {
    const uint64_t x = (static_cast<uint64_t>(b[1]) << 32) | b[0];
    return static_cast<int32_t>(lo + static_cast<int64_t>((static_cast<unsigned __int128>(x) * range) >> 64));
  });
  counter_ += n;
}

double Philox::uniform() {
  double u;
  fill_uniform(&u, 1);
  return u;
}
int64_t Philox::integer(int64_t lo, int64_t hi) {
  int32_t v;
  fill_int(&v, 1, lo, hi);
  return v;
}

Tensor rand_uniform(const Shape& shape, Philox& rng, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  dispatch_float(dtype, "rand_uniform", [&]<class T>() { rng.fill_uniform(t.data<T>(), t.numel()); });
  return t;
}

Tensor randn(const Shape& shape, Philox& rng, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  dispatch_float(dtype, "randn", [&]<class T>() { rng.fill_normal(t.data<T>(), t.numel()); });
  return t;
}

Tensor randint(const Shape& shape, int64_t lo, int64_t hi, Philox& rng) {
  Tensor t = Tensor::empty(shape, DType::I32);
  rng.fill_int(t.data<int32_t>(), t.numel(), lo, hi);
  return t;
}

Tensor sample_categorical(const Tensor& logits, Philox& rng) {
  if (logits.dim() < 1 || logits.shape().back() < 1)
    shape_error("sample_categorical", "logits " + describe(logits) + " need a last axis of categories");
  const int64_t K = logits.shape().back(), rows = logits.numel() / K;
  Tensor out = Tensor::empty(Shape(logits.shape().begin(), logits.shape().end() - 1), DType::I32);
  dispatch_float(logits.dtype(), "sample_categorical", [&]<class T>() {
    const Tensor x = logits.contiguous();
    Tensor noise = Tensor::empty({rows, K}, logits.dtype());
    rng.fill_gumbel(noise.data<T>(), rows * K);
    const T* xv = x.data<T>();
    const T* nv = noise.data<T>();
    int32_t* samples = out.data<int32_t>();
    kernels::parallel_for(rows, 256, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t best = 0;
        T best_v = -std::numeric_limits<T>::infinity();
        for (int64_t k = 0; k < K; ++k) {
          const T v = xv[r * K + k] + nv[r * K + k];
          if (v > best_v) { best_v = v; best = k; }
        }
        samples[r] = static_cast<int32_t>(best);
      }
    });
  });
  return out;
}

}  // namespace diffuse
