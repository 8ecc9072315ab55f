// A count of the floating-point operations of the engine's GEMMs and convolutions, for benchmarks:
// every cblas GEMM adds 2 M N K when it runs, and every convolution primitive (forward, backward-data,
// backward-weights) adds 2 N OC OH OW C KH KW. Elementwise ops, norms and softmax are not counted (they
// are a few percent of the FLOPs of these networks). Thread-safe; costs one atomic add per call.
#pragma once
#include <cstdint>

namespace diffuse {

void count_flops(int64_t flops);
int64_t counted_flops();
void reset_flop_count();

}  // namespace diffuse
