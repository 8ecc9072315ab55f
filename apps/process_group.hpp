// Data parallelism over MPI: the processes of one training or evaluation job, and the few collective
// operations the job needs (sum, logical or, gather). Built on Open MPI from Debian when CMake finds MPI
// (DIFFUSE_WITH_MPI); without it, or when the program was not started by mpirun / mpiexec, the group is
// this one process and every collective is the identity.
//
// Failure model: MPI's default error handler (MPI_ERRORS_ARE_FATAL) ends the whole job on a
// communication error, and Open MPI's launcher ends it when any process dies (mpirun reports which rank
// and which signal). A process that fails on its own (a bad file, a NaN) calls abort_job so the others
// do not wait forever in the next collective.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace diffuse {

class ProcessGroup {
 public:
  // Joins the MPI job if this process was launched by an MPI launcher (it sets OMPI_COMM_WORLD_SIZE,
  // PMI_SIZE or PMIX_RANK); otherwise the group is this process alone. Call once, first thing in main.
  static void init(int* argc, char*** argv);
  static void finalize();
  static ProcessGroup& world();
  // This process by itself (rank 0 of 1, every collective the identity), whatever the job: for work that
  // process 0 does while the others wait, such as a training run's periodic evaluation.
  static const ProcessGroup& alone();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  int local_size() const { return local_size_; }  // processes of this job on this machine
  bool distributed() const { return size_ > 1; }

  // In-place sums over all processes (every process gets the total).
  void allreduce_sum(float* data, int64_t n) const;
  void allreduce_sum(double* data, int64_t n) const;
  // True on every process if `flag` is true on any.
  bool any(bool flag) const;
  // Every process's value, in rank order.
  std::vector<uint64_t> allgather(uint64_t value) const;
  std::vector<std::string> allgather(const std::string& value) const;
  void barrier() const;
  // Ends every process of the job with this exit code (after the caller printed why). Alone: std::exit.
  [[noreturn]] void abort_job(int code) const;

 private:
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

// The rows [begin, end) of a global batch that process `rank` of `size` computes: balanced, in rank order.
struct BatchSlice {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};
BatchSlice batch_slice(int64_t batch, int rank, int size);

}  // namespace diffuse
