// Evaluation (bits/dim, bits/char) of items [0, n) in batches, shared among the processes of an MPI job.
//
// Batch k draws its randomness (each t's x_t, the estimate's t) from a stream of its own,
// Philox(seed, kEval + (k + 1) * 2^32), so the figure does not depend on how many processes share the
// work: each process evaluates a contiguous run of batches (batch_slice), and the partial results are
// gathered and merged in batch order with the same merge that joins two batches. One process and N give
// the same figure up to the order of floating-point sums.
#pragma once
#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "apps/command_options.hpp"
#include "apps/process_group.hpp"
#include "tensor/random.hpp"

namespace diffuse {

inline Philox evaluation_stream(uint64_t seed, int64_t batch_index) {
  return Philox(seed, kEval + (static_cast<uint64_t>(batch_index + 1) << 32));
}

// How many of the batches of `batch` items out of n this process evaluates.
inline int64_t my_batches(int64_t n, int64_t batch) {
  const ProcessGroup& group = ProcessGroup::world();
  return batch_slice((n + batch - 1) / batch, group.rank(), group.size()).size();
}

// Result: a result type with to_json / from_json, merged by `merge(a, b)` (b's items after a's).
// evaluate_batch(begin, end, rng) evaluates items [begin, end) with batch k's stream.
template <class Result>
Result evaluate_sharded(int64_t n, int64_t batch, uint64_t seed,
                        const std::function<Result(int64_t begin, int64_t end, Philox& rng)>& evaluate_batch,
                        const std::function<Result(const Result&, const Result&)>& merge, const std::string& batch_flag) {
  const ProcessGroup& group = ProcessGroup::world();
  const int64_t batches = (n + batch - 1) / batch;
  if (batches < group.size())
    throw std::invalid_argument(batch_flag + ": " + std::to_string(batches) + " batches of " + std::to_string(batch) +
                                " cannot be shared by " + std::to_string(group.size()) + " processes; lower " + batch_flag);
  const BatchSlice mine = batch_slice(batches, group.rank(), group.size());
  Result partial;
  for (int64_t k = mine.begin; k < mine.end; ++k) {
    Philox rng = evaluation_stream(seed, k);
    Result r = evaluate_batch(k * batch, std::min(n, (k + 1) * batch), rng);
    partial = k == mine.begin ? std::move(r) : merge(partial, r);
  }
  if (!group.distributed()) return partial;
  const std::vector<std::string> parts = group.allgather(partial.to_json().dump());
  Result all = Result::from_json(nlohmann::json::parse(parts[0]));
  for (size_t r = 1; r < parts.size(); ++r) all = merge(all, Result::from_json(nlohmann::json::parse(parts[r])));
  return all;
}

}  // namespace diffuse
