#include "tensor/threads.hpp"

#include <omp.h>
#include <sched.h>

#include <stdexcept>
#include <string>
#include <thread>

extern "C" void openblas_set_num_threads(int);

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
