// bench_allreduce: the data-parallel step's communication alone. MPI_Allreduce (sum, in place) of n
// floats, as the training loop sums the gradient arena; prints the median of --reps timings on rank 0.
//
//   mpirun -np 2 build/bench/bench_allreduce [n = 8952067, ddpm-cifar10-small's parameters] [reps = 20]
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const long long n = argc > 1 ? std::atoll(argv[1]) : 8952067;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  std::vector<float> grads(static_cast<size_t>(n), 1.0f);
  std::vector<double> ms;
  for (int i = -2; i < reps; ++i) {  // two untimed
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, grads.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    const double t1 = MPI_Wtime();
    if (i >= 0) ms.push_back(1000.0 * (t1 - t0));
  }
  std::sort(ms.begin(), ms.end());
  if (rank == 0)
    std::printf("allreduce of %lld floats (%.1f MB) over %d processes: median %.2f ms, min %.2f ms (%d reps)\n", n,
                4.0 * static_cast<double>(n) / 1e6, size, ms[ms.size() / 2], ms.front(), reps);
  MPI_Finalize();
  return 0;
}
