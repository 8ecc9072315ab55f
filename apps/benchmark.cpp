#include "apps/benchmark.hpp"

#include <immintrin.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "apps/presets.hpp"
#include "nn/optim.hpp"
#include "nn/transformer.hpp"
#include "nn/unet.hpp"
#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/flop_counter.hpp"
#include "tensor/ops.hpp"
#include "tensor/precision.hpp"
#include "tensor/profile.hpp"
#include "tensor/threads.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// GFLOP/s of single-precision FMAs on all threads: 12 independent accumulator chains per thread, so
// the FMA units never wait on a result; 2 FLOPs per lane per FMA.
double measure_fma_peak() {
#if defined(__AVX512F__)
  using Vec = __m512;
  constexpr int kLanes = 16;
  auto fma = [](Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); };
  auto set1 = [](float v) { return _mm512_set1_ps(v); };
  auto first = [](Vec v) { return _mm512_cvtss_f32(v); };
#else
  using Vec = __m256;
  constexpr int kLanes = 8;
  auto fma = [](Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); };
  auto set1 = [](float v) { return _mm256_set1_ps(v); };
  auto first = [](Vec v) { return _mm256_cvtss_f32(v); };
#endif
  constexpr int64_t kIters = 50'000'000;
  float sink = 0;
  const auto start = Clock::now();
  int threads = 1;
#pragma omp parallel reduction(+ : sink)
  {
#pragma omp single
    threads = omp_get_num_threads();
    Vec acc[12];
    for (int i = 0; i < 12; ++i) acc[i] = set1(0.001f * static_cast<float>(i));
    const Vec a = set1(0.999999f), b = set1(1e-7f);
    for (int64_t it = 0; it < kIters; ++it)
      for (int i = 0; i < 12; ++i) acc[i] = fma(acc[i], a, b);
    for (int i = 0; i < 12; ++i) sink += first(acc[i]);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (sink == 12345.f) std::printf(" ");  // keep the loop
  return 2.0 * kLanes * 12.0 * static_cast<double>(kIters) * threads / seconds / 1e9;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

struct Workload {
  std::string items;        // "images" or "tokens"
  int64_t items_per_batch;  // per step
  int64_t parameters;
  std::function<void()> step;
};

// A training step (zero the gradients, forward, loss, backward, clip, Adam) or, for sampling, one
// forward in eval mode without a tape. The caller's lambdas own the network and its inputs.
template <class Net>
std::function<void()> step_of(bool train, const std::shared_ptr<Net>& net, double clip, std::function<Tensor()> forward,
                              std::function<Tensor(const Tensor&)> loss) {
  if (!train) {
    net->eval();
    // As in sampling: the weights stay constant across the steps, so conv2d keeps them in its layouts.
    auto frozen = std::make_shared<FrozenWeights>();
    return [forward, frozen] {
      NoGradGuard no_grad;
      forward();
    };
  }
  net->train();
  auto arena = std::make_shared<nn::ParameterArena>(*net);
  auto adam = std::make_shared<nn::Adam>(*arena, nn::AdamConfig{});
  return [arena, adam, clip, forward, loss] {
    arena->zero_grad();
    loss(forward()).backward();
    nn::clip_grad_norm(*arena, clip);
    adam->step(2e-4);
  };
}

Workload unet_workload(bool train, int64_t batch, Philox& rng) {
  auto net = std::make_shared<nn::UNet>(nn::UNetConfig::from_json(preset_config("ddpm-cifar10-small").at("model")), rng);
  const Tensor x = randn({batch, 3, 32, 32}, rng), target = randn({batch, 3, 32, 32}, rng);
  std::vector<int32_t> tv(static_cast<size_t>(batch));
  for (int32_t& v : tv) v = static_cast<int32_t>(rng.integer(0, 1000));
  const Tensor t = Tensor::from_vector(tv, {batch});
  auto dropout = std::make_shared<Philox>(7);
  return {"images", batch, net->parameter_count(),
          step_of(
              train, net, 1.0, [=] { return net->forward(x, t, *dropout); },
              [=](const Tensor& out) { return mean(square(sub(out, target))); })};
}

Workload transformer_workload(bool train, int64_t batch, Philox& rng) {
  const nn::TransformerConfig config = nn::TransformerConfig::from_json(preset_config("d3pm-text8-small").at("model"));
  auto net = std::make_shared<nn::Transformer>(config, rng);
  const int64_t L = config.seq_len;
  std::vector<int32_t> xv(static_cast<size_t>(batch * L)), yv(xv.size()), tv(static_cast<size_t>(batch));
  for (int32_t& v : xv) v = static_cast<int32_t>(rng.integer(0, 28));
  for (int32_t& v : yv) v = static_cast<int32_t>(rng.integer(0, 27));
  for (int32_t& v : tv) v = static_cast<int32_t>(rng.integer(0, 1000));
  const Tensor x = Tensor::from_vector(xv, {batch, L}), y = Tensor::from_vector(yv, {batch, L}), t = Tensor::from_vector(tv, {batch});
  auto dropout = std::make_shared<Philox>(7);
  return {"tokens", batch * L, net->parameter_count(),
          step_of(
              train, net, 0.25, [=] { return net->forward(x, t, *dropout); },
              [=](const Tensor& logits) { return cross_entropy(logits, y); })};
}
// The profile's rows per step, as JSON.
json profile_json(const StepProfile& p) {
  const double n = static_cast<double>(p.steps);
  json rows = json::array();
  for (const ProfileRow& r : p.rows)
    rows.push_back({{"op", r.op}, {"phase", profile_phase_name(r.phase)}, {"calls", static_cast<double>(r.calls) / n},
                    {"ms", r.self_seconds * 1e3 / n}, {"share", r.self_seconds / p.seconds}, {"gflop", static_cast<double>(r.flops) / 1e9 / n},
                    {"bytes", static_cast<double>(r.bytes) / n}, {"allocations", static_cast<double>(r.allocations) / n}});
  return {{"steps", p.steps}, {"ms_per_step", p.seconds * 1e3 / n}, {"rows_ms_per_step", p.rows_seconds() * 1e3 / n}, {"rows", rows}};
}

// The table: one line per op and phase, the largest self time first.
void print_profile(const StepProfile& p) {
  const double n = static_cast<double>(p.steps);
  int64_t allocations = 0;
  std::printf("\n  profile of %lld step%s (self time: each op's own, less the ops it calls; per step)\n", static_cast<long long>(p.steps),
              p.steps == 1 ? "" : "s");
  std::printf("  %-22s %-8s %8s %10s %7s %9s %8s %8s\n", "op", "phase", "calls", "ms", "share", "GFLOP/s", "GB/s", "allocs");
  for (const ProfileRow& r : p.rows) {
    allocations += r.allocations;
    const double ms = r.self_seconds * 1e3 / n;
    char gflops[16] = "", gbs[16] = "";
    if (r.flops > 0 && r.self_seconds > 0) std::snprintf(gflops, sizeof gflops, "%.1f", static_cast<double>(r.flops) / r.self_seconds / 1e9);
    if (r.bytes > 0 && r.self_seconds > 0) std::snprintf(gbs, sizeof gbs, "%.1f", static_cast<double>(r.bytes) / r.self_seconds / 1e9);
    std::printf("  %-22s %-8s %8.1f %10.2f %6.1f%% %9s %8s %8.1f\n", r.op.c_str(), profile_phase_name(r.phase),
                static_cast<double>(r.calls) / n, ms, 100.0 * r.self_seconds / p.seconds, gflops, gbs,
                static_cast<double>(r.allocations) / n);
  }
  std::printf("  the rows add up to %.1f ms of the profiled step's %.1f ms (%.1f%%); %.0f allocations per step\n",
              p.rows_seconds() * 1e3 / n, p.seconds * 1e3 / n, 100.0 * p.rows_seconds() / p.seconds, static_cast<double>(allocations) / n);
}
}  // namespace

int run_benchmark(const BenchmarkOptions& options) {
  if (options.steps < 1) throw std::invalid_argument("--steps: must be at least 1");
  if (options.warmup < 0) throw std::invalid_argument("--warmup: must be at least 0");
  if (options.batch < 0) throw std::invalid_argument("--batch: must be at least 1");
  Philox rng(1);
  const bool unet = options.workload.rfind("unet-", 0) == 0, train = options.workload.find("-train") != std::string::npos;
  if (options.workload != "unet-train" && options.workload != "unet-sample" && options.workload != "transformer-train" &&
      options.workload != "transformer-sample")
    throw std::invalid_argument("--workload: unet-train, unet-sample, transformer-train or transformer-sample, got '" +
                                options.workload + "'");
  const int64_t batch = options.batch > 0 ? options.batch : (unet && !train ? 64 : 32);
  const Workload w = unet ? unet_workload(train, batch, rng) : transformer_workload(train, batch, rng);

  for (int64_t i = 0; i < options.warmup; ++i) w.step();
  std::vector<double> ms;
  int64_t flops = 0;
  for (int64_t i = 0; i < options.steps; ++i) {
    reset_flop_count();
    const auto start = Clock::now();
    w.step();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    flops = counted_flops();
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2], best = sorted.front();
  const double gflops = static_cast<double>(flops) / (median * 1e-3) / 1e9;
  const double peak = options.peak ? measure_fma_peak() : 0.0;
  const StepProfile profile = options.profile_steps > 0 ? profile_steps(w.step, options.profile_steps) : StepProfile{};
  json r{{"workload", options.workload},
         {"batch", batch},
         {"threads", num_threads()},
         {"precision", precision_name(precision_mode().precision)},
         {"bf16_emulated", precision_mode().bf16_emulated()},
         {"parameters", w.parameters},
         {"ms_per_step_median", median},
         {"ms_per_step_best", best},
         {"ms_per_step", ms},
         {w.items + "_per_second", static_cast<double>(w.items_per_batch) / (median * 1e-3)},
         {"gflop_per_step", static_cast<double>(flops) / 1e9},
         {"gflop_per_second", gflops},
         {"peak_rss_mib", peak_rss_mib()}};
  if (options.peak) {
    r["fma_peak_gflop_per_second"] = peak;
    r["share_of_peak"] = gflops / peak;
  }
  if (options.profile_steps > 0) r["profile"] = profile_json(profile);
  if (options.json) {
    std::cout << r.dump() << "\n";
    return 0;
  }
  std::printf("%s: batch %lld, %d threads, %s%s, %lld parameters\n  %.1f ms/step median (best %.1f) over %lld steps after %lld "
              "warm-up\n  %.1f %s/s\n  %.2f GFLOP per step (GEMM and convolution FLOPs, counted as they run): %.1f GFLOP/s\n"
              "  peak RSS %.0f MiB\n",
              options.workload.c_str(), static_cast<long long>(batch), num_threads(), precision_name(precision_mode().precision),
              precision_mode().bf16_emulated() ? " (emulated)" : "", static_cast<long long>(w.parameters), median,
              best, static_cast<long long>(options.steps), static_cast<long long>(options.warmup),
              static_cast<double>(w.items_per_batch) / (median * 1e-3), w.items.c_str(), static_cast<double>(flops) / 1e9,
              gflops, peak_rss_mib());
  if (options.peak) std::printf("  FMA peak %.1f GFLOP/s: %.0f%% of it\n", peak, 100.0 * gflops / peak);
  if (options.profile_steps > 0) print_profile(profile);
  return 0;
}

}  // namespace diffuse
