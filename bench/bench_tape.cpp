// The tape's overhead per op: 10,000 small adds (4 floats each) with and without recording, and the
// backward sweep over them. What remains per op beyond the no-grad time is the cost of a Node.
// Usage: bench_tape [--ops N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tensor/threads.hpp"
#include "tensor/blas_kernels.hpp"

using namespace diffuse;

int main(int argc, char** argv) {
  diffuse::ensure_blas_environment(argv);
  int ops = 10000;
  if (argc == 3 && !std::strcmp(argv[1], "--ops")) ops = std::stoi(argv[2]);
  set_threads(1);
  auto now = [] { return std::chrono::steady_clock::now(); };
  auto us = [](auto d) { return std::chrono::duration<double, std::micro>(d).count(); };
  Tensor w = Tensor::ones({4});
  w.set_requires_grad();
  const Tensor one = Tensor::ones({4});

  double best_plain = 1e30, best_record = 1e30, best_backward = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    {
      NoGradGuard no_grad;
      Tensor x = w;
      const auto t0 = now();
      for (int i = 0; i < ops; ++i) x = add(x, one);
      best_plain = std::min(best_plain, us(now() - t0));
    }
    Tensor x = w;
    const auto t0 = now();
    for (int i = 0; i < ops; ++i) x = add(x, one);
    const auto t1 = now();
    sum(x).backward();
    const auto t2 = now();
    best_record = std::min(best_record, us(t1 - t0));
    best_backward = std::min(best_backward, us(t2 - t1));
    w.zero_grad();
  }
  std::printf("%d adds of 4 floats (best of 5, 1 thread)\n", ops);
  std::printf("  forward, no tape:    %8.3f us/op\n", best_plain / ops);
  std::printf("  forward, recording:  %8.3f us/op (tape overhead %.3f us/op)\n", best_record / ops,
              (best_record - best_plain) / ops);
  std::printf("  backward sweep:      %8.3f us/op\n", best_backward / ops);
  return 0;
}
