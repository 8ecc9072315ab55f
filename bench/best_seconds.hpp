// The micro-benchmarks' timer: the best wall-clock seconds of `reps` calls of f, after one untimed warm-up call
// (which also creates any primitive f uses).
#pragma once
#include <algorithm>
#include <chrono>

template <class F>
double best_seconds(int reps, F f) {
  f();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}
