// OpenBLAS reads two settings from the environment once, when the library loads, before main() runs (a
// setenv from a .preinit_array function is too early: libc sets up its environment after it, and OpenBLAS
// and libgomp then see the original one). So each program calls ensure_blas_environment(argv) first in main,
// and when a setting is missing it sets it and re-executes the program once with the same arguments:
//   - OPENBLAS_CORETYPE. A CPU model that OpenBLAS 0.3.21's table does not know, as some virtual machines
//     report, falls back to the oldest kernels ("Prescott", SSE3): 3-7x slower GEMMs on an AVX-512 machine
//     (bench_matmul: 38 against 213 GFLOP/s at n = 2048 on 2 cores). When OpenBLAS has fallen back and the
//     CPU supports AVX-512 (or AVX2), it is set to SkylakeX (or Haswell).
//   - OPENBLAS_THREAD_TIMEOUT=4. After each threaded call, the workers of OpenBLAS's own pool (Debian's
//     pthreads build) yield the core in a loop for 2^28 cycles before they sleep; 4, the smallest, is 2^4.
//     The engine's OpenMP threads (its kernels and oneDNN) run between those calls, and on 2 cores the
//     yielding workers took turns with them: 17% of the cycles of a U-Net sampling step were the kernel's
//     side of sched_yield. Paired runs of `diffuse benchmark --threads 2 --steps 4`, OpenBLAS's default
//     against 4, two rounds: unet-sample 807 and 849 ms against 545 and 542; unet-train 1746 and 1745
//     against 1228 and 1249; transformer-train the same either way (1368 and 1556 against 1366 and 1482).
// A user's own value of either is never changed.
#pragma once
#include <string>

namespace diffuse {

void ensure_blas_environment(char** argv);
std::string blas_core_name();  // OpenBLAS's kernel family, e.g. "SkylakeX"

}  // namespace diffuse
