// OpenBLAS chooses its kernels once, when the library loads, from the CPU's CPUID. A CPU model that its
// table (0.3.21) does not know, as some virtual machines report, falls back to the oldest kernels
// ("Prescott", SSE3): 3-7x slower GEMMs on an AVX-512 machine (bench_matmul: 38 against 213 GFLOP/s at
// n = 2048 on 2 cores). The choice can only be overridden by OPENBLAS_CORETYPE in the environment before
// the library loads, so each program calls ensure_fast_blas_kernels(argv) first in main: when OpenBLAS has
// fallen back and the CPU supports AVX-512 (or AVX2), it sets OPENBLAS_CORETYPE=SkylakeX (or Haswell) and
// re-executes the program once with the same arguments. A user's own OPENBLAS_CORETYPE is never changed.
#pragma once
#include <string>

namespace diffuse {

void ensure_fast_blas_kernels(char** argv);
std::string blas_core_name();  // OpenBLAS's kernel family, e.g. "SkylakeX"

}  // namespace diffuse
