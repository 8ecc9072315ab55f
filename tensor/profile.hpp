// The per-op profile behind `diffuse benchmark --profile`: PyTorch's profiler table for this engine.
//
// Every op opens a ProfileScope with its name at the top of its forward function; autograd opens one per
// node it runs backward, named after the node's op; the optimiser, the tape's sort and layout reorders open
// their own. While a profile is being taken (start_profile .. stop_profile), each scope adds to its row:
//   - one call, and its self time: its wall time less that of the scopes opened inside it, so that the rows
//     of one step add up to the step (tested: within 5%) and nothing is counted twice;
//   - the FLOPs counted inside it (count_flops, tensor/flop_counter.hpp) and the bytes an op declares it
//     moves (ProfileScope::bytes: inputs read plus output written, for the memory-bound ops), not those of
//     the scopes inside it;
//   - the tensor storages allocated inside it (tensor/storage.cpp), not those of the scopes inside it.
// A row is an op and a phase. A scope takes its phase from the scope it is opened in (so the ops a backward
// function calls count as backward), or Forward at the top; autograd's nodes open Backward scopes and the
// optimiser Update ones.
//
// When no profile is being taken a scope costs one test of a flag. Scopes opened inside an OpenMP parallel
// region are ignored: the profile follows the thread that runs the step.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse {

enum class ProfilePhase { Inherit, Forward, Backward, Update };
const char* profile_phase_name(ProfilePhase phase);

struct ProfileRow {
  std::string op;
  ProfilePhase phase = ProfilePhase::Forward;
  int64_t calls = 0;
  double self_seconds = 0;
  int64_t flops = 0;
  int64_t bytes = 0;
  int64_t allocations = 0;
};

namespace profile_detail {
extern bool g_on;
}

class ProfileScope {
 public:
  explicit ProfileScope(const char* op, ProfilePhase phase = ProfilePhase::Inherit) {
    if (profile_detail::g_on) open(op, phase);
  }
  ~ProfileScope() {
    if (active_) close();
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;
  // The bytes this op reads and writes (a memory-bound op's traffic), added to its row.
  void bytes(int64_t n);

 private:
  void open(const char* op, ProfilePhase phase);
  void close();
  bool active_ = false;
  uint64_t generation_ = 0;
};

// A tensor's elements in bytes (0 when undefined): what an op declares it reads or writes.
inline int64_t bytes_of(const Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(dtype_size(t.dtype())) : 0; }

// Starts a profile (clearing the last one); stop_profile ends it and returns its rows, the largest self
// time first.
void start_profile();
std::vector<ProfileRow> stop_profile();
bool profiling();

// Runs `step` n times under a profile: the rows summed over the n steps, and the steps' wall time.
struct StepProfile {
  std::vector<ProfileRow> rows;
  double seconds = 0;  // the n steps' wall time, measured around them
  int64_t steps = 0;
  double rows_seconds() const;  // the rows' self times added up: the steps' time, less what no scope covers
};
StepProfile profile_steps(const std::function<void()>& step, int64_t n);

// Called by count_flops and by the tensor storage's allocation.
void profile_flops(int64_t flops);
void profile_allocation();

}  // namespace diffuse
