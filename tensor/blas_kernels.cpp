#include "tensor/blas_kernels.hpp"

#include <strings.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

extern "C" char* openblas_get_corename(void);

namespace diffuse {

std::string blas_core_name() { return openblas_get_corename(); }

void ensure_blas_environment(char** argv) {
  bool changed = false;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && strcasecmp(openblas_get_corename(), "prescott") == 0) {
    __builtin_cpu_init();
    const char* core = __builtin_cpu_supports("avx512f") ? "SkylakeX" : __builtin_cpu_supports("avx2") ? "Haswell" : nullptr;
    if (core != nullptr) {
      setenv("OPENBLAS_CORETYPE", core, 1);
      changed = true;
    }
  }
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") == nullptr) {
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    changed = true;
  }
  if (!changed) return;  // the user's settings, or our second run
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "note: could not re-run the program with OpenBLAS's settings; set OPENBLAS_THREAD_TIMEOUT=4 "
               "(and OPENBLAS_CORETYPE on a CPU OpenBLAS does not recognise) yourself\n");
}

}  // namespace diffuse
