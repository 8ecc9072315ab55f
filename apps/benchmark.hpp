// `diffuse benchmark`: the time of one training step (forward, loss, backward, gradient clipping, Adam)
// and of one sampling network evaluation (eval mode, no tape) of the U-Net and the transformer at the
// sizes of the speed issue, with the FLOPs of their GEMMs and convolutions counted as they run
// (tensor/flop_counter.hpp), the machine's FMA peak measured by a register-only FMA loop, and the
// process's peak RSS. bench/compare_with_torch.sh runs the same workloads in PyTorch beside it.
//
// Workloads (sizes: ddpm-cifar10-small's U-Net and d3pm-text8-small's transformer):
//   unet-train          U-Net ch 64, mult (1,2,2,2), 2 res blocks, attention at 16, dropout 0.1, 3x32x32,
//                       batch 32: MSE against a random target (as L_simple), clip 1.0, Adam
//   unet-sample         the same U-Net, batch 64, one forward
//   transformer-train   6 layers, width 256, 8 heads, MLP 1024, sequence 256, batch 32: cross-entropy of
//                       the 28 logits against random characters, clip 0.25, Adam
//   transformer-sample  the same transformer, batch 32, one forward
// Inputs are random (Philox, fixed seed); the time does not depend on their values.
//
// --profile N runs N more steps under the per-op profile (tensor/profile.hpp) after the timed ones, and prints
// its rows per step: op and phase, calls, self ms and share of the profiled step, GFLOP/s where FLOPs are
// counted, GB/s where an op declares its bytes, allocations; then the rows' sum against the step's wall time.
#pragma once
#include <cstdint>
#include <string>

namespace diffuse {

struct BenchmarkOptions {
  std::string workload = "unet-train";
  int64_t batch = 0;   // 0: the workload's
  int64_t steps = 5;   // timed steps, after `warmup` untimed ones
  int64_t warmup = 2;
  bool peak = false;   // also measure the FMA peak (about a second)
  int64_t profile_steps = 0;  // > 0: then profile that many more steps (tensor/profile.hpp) and print the table
  bool json = false;
};
int run_benchmark(const BenchmarkOptions& options);

}  // namespace diffuse
