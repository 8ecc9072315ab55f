// The tests' main: OpenBLAS's fast kernels first (tensor/blas_kernels.hpp), then doctest.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tensor/blas_kernels.hpp"

int main(int argc, char** argv) {
  diffuse::ensure_blas_environment(argv);
  return doctest::Context(argc, argv).run();
}
