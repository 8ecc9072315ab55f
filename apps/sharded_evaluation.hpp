// Evaluation (bits/dim, bits/char) of items [0, n) in batches, shared among the processes of an MPI job,
// and resumable through a journal.
//
// Batch k draws its randomness (each t's x_t, the estimate's t) from a stream of its own,
// Philox(seed, kEval + (k + 1) * 2^32), so a batch's result depends only on k: not on how many processes
// share the work, nor on which ran before. The batches still to do are shared in contiguous runs
// (batch_slice), and all the results are gathered and merged in batch order with the same merge that
// joins two batches: one process and N give the same figure up to the grouping of floating-point sums.
//
// The journal (--journal DIR) makes a long evaluation (the exact bound of a DDPM on 1,000 images is 10^6
// network evaluations) survive being stopped: each process appends every finished batch's result to
// DIR/part-<rank>.jsonl, one JSON line, after a first line holding the evaluation's settings. Run the same
// command again, with any number of processes, and the batches found in DIR/part-*.jsonl are not redone.
// A journal written for other settings (checkpoint, split, items, batch, method, seed) is refused.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/command_options.hpp"
#include "apps/process_group.hpp"
#include "tensor/random.hpp"

namespace diffuse {

inline Philox evaluation_stream(uint64_t seed, int64_t batch_index) {
  return Philox(seed, kEval + (static_cast<uint64_t>(batch_index + 1) << 32));
}

// The processes that share an evaluation: the job's, or this process alone (options.alone).
inline const ProcessGroup& evaluation_group(const EvaluateOptions& options) {
  return options.alone ? ProcessGroup::alone() : ProcessGroup::world();
}

// The batches' results found in a journal directory, after checking its settings; creates the directory.
std::map<int64_t, nlohmann::json> read_journal(const std::string& dir, const nlohmann::json& settings);

// What a journal must agree with to be resumed: the checkpoint, split, items, batch, method, steps, seed
// and weights of an evaluation.
nlohmann::json evaluation_settings(const EvaluateOptions& options, int64_t items, int64_t batch);

// Appends to this process's journal file: the settings line when the file is new, then one line per batch.
// A last line cut short by a kill is removed first.
class JournalWriter {
 public:
  JournalWriter(const std::string& dir, const nlohmann::json& settings);
  void record(int64_t batch_index, const nlohmann::json& result);

 private:
  std::string path_;
  nlohmann::json settings_;
};

// Result: a result type with to_json / from_json, merged by `merge(a, b)` (b's items after a's).
// evaluate_batch(begin, end, rng) evaluates items [begin, end) with batch k's stream. `progress_batches`
// receives how many batches this process will evaluate, before it starts. `group`: the processes that share
// the work (evaluation_group).
template <class Result>
Result evaluate_sharded(int64_t n, int64_t batch, uint64_t seed,
                        const std::function<Result(int64_t begin, int64_t end, Philox& rng)>& evaluate_batch,
                        const std::function<Result(const Result&, const Result&)>& merge, const std::string& journal,
                        const nlohmann::json& settings, const std::function<void(int64_t)>& progress_batches,
                        const ProcessGroup& group) {
  const int64_t batches = (n + batch - 1) / batch;
  // Process 0 reads the journal and every process takes its reading, so all share out the same batches.
  std::map<int64_t, nlohmann::json> done;
  if (!journal.empty()) {
    nlohmann::json found = nlohmann::json::object();
    if (group.is_root())
      for (const auto& [k, r] : read_journal(journal, settings)) found[std::to_string(k)] = r;
    const nlohmann::json root_found = nlohmann::json::parse(group.allgather(found.dump())[0]);
    for (const auto& item : root_found.items()) done[std::stoll(item.key())] = item.value();
  }
  std::vector<int64_t> todo;
  for (int64_t k = 0; k < batches; ++k)
    if (!done.count(k)) todo.push_back(k);
  if (!todo.empty() && static_cast<int64_t>(todo.size()) < group.size())
    throw std::invalid_argument("--batch: " + std::to_string(todo.size()) + " batches of " + std::to_string(batch) +
                                " to evaluate cannot be shared by " + std::to_string(group.size()) +
                                " processes; lower --batch or run fewer processes");
  const BatchSlice mine = batch_slice(static_cast<int64_t>(todo.size()), group.rank(), group.size());
  if (progress_batches) progress_batches(todo.empty() ? 0 : mine.size());
  std::unique_ptr<JournalWriter> writer = journal.empty() ? nullptr : std::make_unique<JournalWriter>(journal, settings);
  nlohmann::json fresh = nlohmann::json::object();  // batch index -> result, this process's
  for (int64_t i = mine.begin; i < mine.end && !todo.empty(); ++i) {
    const int64_t k = todo[static_cast<size_t>(i)];
    Philox rng = evaluation_stream(seed, k);
    const nlohmann::json r = evaluate_batch(k * batch, std::min(n, (k + 1) * batch), rng).to_json();
    if (writer) writer->record(k, r);
    fresh[std::to_string(k)] = r;
  }
  for (const std::string& part : group.allgather(fresh.dump())) {
    const nlohmann::json results = nlohmann::json::parse(part);  // (items() of a temporary would dangle)
    for (const auto& item : results.items()) done[std::stoll(item.key())] = item.value();
  }
  Result all = Result::from_json(done.at(0));
  for (int64_t k = 1; k < batches; ++k) all = merge(all, Result::from_json(done.at(k)));
  return all;
}

}  // namespace diffuse
