#include "apps/process_group.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <stdexcept>

#ifdef DIFFUSE_WITH_MPI
#include <mpi.h>
#endif

namespace diffuse {

namespace {
ProcessGroup g_world;
[[maybe_unused]] bool g_mpi_initialized = false;  // unused in a build without MPI

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

#ifdef DIFFUSE_WITH_MPI
// MPI counts are int: large buffers go in pieces.
template <class T>
void allreduce_in_pieces(T* data, int64_t n, MPI_Datatype type) {
  constexpr int64_t piece = int64_t{1} << 30;
  for (int64_t i = 0; i < n; i += piece)
    MPI_Allreduce(MPI_IN_PLACE, data + i, static_cast<int>(std::min(piece, n - i)), type, MPI_SUM, MPI_COMM_WORLD);
}
#endif
}  // namespace

void ProcessGroup::init(int* argc, char*** argv) {
#ifdef DIFFUSE_WITH_MPI
  if (!launched_by_mpi() || g_mpi_initialized) return;
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);  // only the main thread calls MPI
  g_mpi_initialized = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank_, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &g_world.local_size_);
  MPI_Comm_free(&local);
#else
  if (launched_by_mpi() && std::getenv("OMPI_COMM_WORLD_RANK") && std::string(std::getenv("OMPI_COMM_WORLD_SIZE")) != "1")
    throw std::runtime_error("this diffuse was built without MPI; every process would train alone. Rebuild with "
                             "libopenmpi-dev installed (scripts/setup.sh installs it)");
#endif
}

void ProcessGroup::finalize() {
#ifdef DIFFUSE_WITH_MPI
  if (g_mpi_initialized) MPI_Finalize();
  g_mpi_initialized = false;
#endif
}

ProcessGroup& ProcessGroup::world() { return g_world; }

const ProcessGroup& ProcessGroup::alone() {
  static const ProcessGroup self;  // the defaults: rank 0 of 1
  return self;
}

void ProcessGroup::allreduce_sum(float* data, int64_t n) const {
#ifdef DIFFUSE_WITH_MPI
  if (size_ > 1) allreduce_in_pieces(data, n, MPI_FLOAT);
#endif
}

void ProcessGroup::allreduce_sum(double* data, int64_t n) const {
#ifdef DIFFUSE_WITH_MPI
  if (size_ > 1) allreduce_in_pieces(data, n, MPI_DOUBLE);
#endif
}

bool ProcessGroup::any(bool flag) const {
#ifdef DIFFUSE_WITH_MPI
  if (size_ > 1) {
    int v = flag ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return v != 0;
  }
#endif
  return flag;
}

std::vector<uint64_t> ProcessGroup::allgather(uint64_t value) const {
  std::vector<uint64_t> all(static_cast<size_t>(size_), value);
#ifdef DIFFUSE_WITH_MPI
  if (size_ > 1) MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
#endif
  return all;
}

std::vector<std::string> ProcessGroup::allgather(const std::string& value) const {
  std::vector<std::string> all(static_cast<size_t>(size_), value);
#ifdef DIFFUSE_WITH_MPI
  if (size_ > 1) {
    const std::vector<uint64_t> lengths = allgather(static_cast<uint64_t>(value.size()));
    std::vector<int> counts(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[r] = static_cast<int>(total);
      counts[r] = static_cast<int>(lengths[r]);
      total += static_cast<int64_t>(lengths[r]);
    }
    if (total > std::numeric_limits<int>::max()) throw std::runtime_error("allgather: more than 2 GiB of strings");
    std::string joined(static_cast<size_t>(total), '\0');
    MPI_Allgatherv(value.data(), static_cast<int>(value.size()), MPI_CHAR, joined.data(), counts.data(), offsets.data(),
                   MPI_CHAR, MPI_COMM_WORLD);
    for (int r = 0; r < size_; ++r) all[r] = joined.substr(static_cast<size_t>(offsets[r]), static_cast<size_t>(counts[r]));
  }
#endif
  return all;
}

void ProcessGroup::barrier() const {
#ifdef DIFFUSE_WITH_MPI
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void ProcessGroup::abort_job(int code) const {
#ifdef DIFFUSE_WITH_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

BatchSlice batch_slice(int64_t batch, int rank, int size) {
  const int64_t base = batch / size, extra = batch % size;  // the first `extra` ranks take one more
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace diffuse
