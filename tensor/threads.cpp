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
// build) keeps a pool of its own: with both on 2 cores, a spinning OpenMP worker takes the core that an
// OpenBLAS worker needs, and the other way round. Measured on the 2-core development machine, 2 threads,
// whole processes (medians of 7 and 4 runs): `sample --n 4 --steps 100` of a D3PM text checkpoint 1.31 s
// -> 0.50 s, `benchmark --workload unet-train --steps 2` 8.75 s -> 8.06 s. libgomp reads OMP_WAIT_POLICY
// once, in its constructor, before main(): hence .preinit_array, which the dynamic loader runs before any
// library's constructor (so this works in every executable that links the engine, tests included).
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
