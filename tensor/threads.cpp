#include "tensor/threads.hpp"

#include <omp.h>
#include <sched.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace {
// OpenMP's wait policy, passive unless the user's environment says otherwise. libgomp's idle threads spin
// after each parallel region (300,000 spins by default) before they sleep, and OpenBLAS (Debian's pthreads
// build) keeps a pool of its own: on 2 cores a spinning OpenMP worker can take the core that an OpenBLAS
// worker needs, and the other way round. Paired whole-process runs on the 2-core development VM, default
// spin against passive: small-batch D3PM text sampling 2.40x and 1.04x faster passive (two windows),
// U-Net training 1.09x and 1.01x (README, Building). libgomp reads OMP_WAIT_POLICY once, in its
// constructor, before main(): hence .preinit_array, which the dynamic loader runs before any library's
// constructor (so this holds in every executable that links the engine, tests included).
void default_wait_policy(int, char**, char**) { setenv("OMP_WAIT_POLICY", "passive", /*overwrite=*/0); }
__attribute__((section(".preinit_array"), used)) void (*const wait_policy_first)(int, char**, char**) = default_wait_policy;
}  // namespace

namespace diffuse {

int hardware_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

void set_threads(int n) {
  if (n < 1) throw std::invalid_argument("--threads: must be at least 1, got " + std::to_string(n));
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace diffuse
