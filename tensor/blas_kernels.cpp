#include "tensor/blas_kernels.hpp"

#include <strings.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

extern "C" char* openblas_get_corename(void);

namespace diffuse {

std::string blas_core_name() { return openblas_get_corename(); }

void ensure_fast_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or our second run
  if (strcasecmp(openblas_get_corename(), "prescott") != 0) return;
  __builtin_cpu_init();
  const char* core = __builtin_cpu_supports("avx512f") ? "SkylakeX" : __builtin_cpu_supports("avx2") ? "Haswell" : nullptr;
  if (core == nullptr) return;
  setenv("OPENBLAS_CORETYPE", core, 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "note: OpenBLAS runs its slow Prescott kernels on this CPU; run with OPENBLAS_CORETYPE=%s\n", core);
}

}  // namespace diffuse
