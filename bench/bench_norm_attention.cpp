// Times group norm, group norm + SiLU and attention, forward and forward + backward, in milliseconds
// per call; bench/norm_attention_torch.py is the PyTorch twin (same cases, same names, same protocol) and
// bench/norm_attention_vs_torch.sh prints the two side by side.
//
//   build/bench/bench_norm_attention [--threads N] [--min-time SECONDS] [--only SUBSTRING]
//
// Protocol (both programs): inputs requiring gradients, a fixed random output gradient, two warm-up
// calls, then timed calls until min-time has passed (at least 5); the median call is reported.
// Gradients accumulate into the inputs' existing .grad (an in-place add in both engines).
// Output: one line per case, "<case> <forward ms> <forward+backward ms>".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tensor/attention.hpp"
#include "tensor/autograd.hpp"
#include "tensor/group_norm.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"
#include "tensor/threads.hpp"
#include "tensor/blas_kernels.hpp"

using namespace diffuse;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median milliseconds per call of f.
double time_ms(const std::function<void()>& f, double min_time_s) {
  f();
  f();
  std::vector<double> times;
  const double start = now_ms();
  while (times.size() < 5 || now_ms() - start < min_time_s * 1000) {
    const double t0 = now_ms();
    f();
    times.push_back(now_ms() - t0);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

Tensor input(const Shape& shape, uint64_t seed) {
  Philox rng(seed);
  Tensor t = randn(shape, rng);
  t.set_requires_grad(true);
  return t;
}

std::string key(const std::string& name, const Shape& s) {
  std::string k = name + "_";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0) k += 'x';
    k += std::to_string(s[i]);
  }
  return k;
}

// forward(): the op on the benchmark's inputs; times it alone and with backward from a fixed gradient.
std::string g_only;  // --only: run the cases whose name contains it

void run_case(const std::string& name, const std::function<Tensor()>& forward, double min_time_s) {
  if (name.find(g_only) == std::string::npos) return;
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = forward();
  }
  Philox rng(99);
  const Tensor seed = randn(probe.shape(), rng);
  const double fwd = time_ms(
      [&] {
        NoGradGuard no_grad;
        forward();
      },
      min_time_s);
  const double both = time_ms([&] { forward().backward(seed); }, min_time_s);
  std::printf("%-36s %9.3f %9.3f\n", name.c_str(), fwd, both);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  diffuse::ensure_blas_environment(argv);
  int threads = hardware_threads();
  double min_time_s = 1.0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--min-time") && i + 1 < argc) {
      min_time_s = std::atof(argv[++i]);
    } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
      g_only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--threads N] [--min-time SECONDS] [--only SUBSTRING]\n", argv[0]);
      return 2;
    }
  }
  set_threads(threads);
  std::printf("# diffuse, %d threads; columns: case, forward ms, forward+backward ms\n", threads);

  // Group norm, 32 groups, eps 1e-6: the U-Net's 32x32, 16x16 and 8x8 levels at batch 32.
  for (const Shape& s : {Shape{32, 64, 32, 32}, Shape{32, 128, 16, 16}, Shape{32, 256, 8, 8}}) {
    const Tensor x = input(s, 1), w = input({s[1]}, 2), b = input({s[1]}, 3);
    run_case(key("group_norm", s), [&] { return group_norm(x, 32, w, b, 1e-6); }, min_time_s);
    run_case(key("group_norm_silu", s), [&] { return group_norm_silu(x, 32, w, b, 1e-6); }, min_time_s);
  }

  // Attention: the U-Net's 16x16 self-attention with 128 channels (one head), and a transformer's
  // 8 heads of width 32; 256 tokens, batch 32.
  for (const Shape& s : {Shape{32, 1, 256, 128}, Shape{32, 8, 256, 32}}) {
    const Tensor q = input(s, 4), k = input(s, 5), v = input(s, 6);
    run_case(key("attention", s), [&] { return attention(q, k, v); }, min_time_s);
  }
  return 0;
}
