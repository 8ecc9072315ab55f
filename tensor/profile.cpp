#include "tensor/profile.hpp"

#include <omp.h>

#include <algorithm>
#include <map>

namespace diffuse {

namespace profile_detail {
bool g_on = false;
}

namespace {

using Clock = std::chrono::steady_clock;

struct Frame {
  size_t row;
  ProfilePhase phase;
  Clock::time_point start;
  double child_seconds = 0;
};

struct Profile {
  std::vector<ProfileRow> rows;
  std::map<std::pair<std::string, ProfilePhase>, size_t> index;  // (op, phase) -> rows
  std::vector<Frame> open;                        // the scopes open now, innermost last
  uint64_t generation = 0;                        // one per profile: a scope outliving its profile is dropped
};

Profile& the_profile() {
  static Profile p;
  return p;
}

size_t row_of(Profile& p, const char* op, ProfilePhase phase) {
  const auto [it, added] = p.index.emplace(std::make_pair(std::string(op), phase), p.rows.size());
  if (added) p.rows.push_back(ProfileRow{.op = op, .phase = phase});
  return it->second;
}

}  // namespace

const char* profile_phase_name(ProfilePhase phase) {
  switch (phase) {
    case ProfilePhase::Forward: return "forward";
    case ProfilePhase::Backward: return "backward";
    case ProfilePhase::Update: return "update";
    case ProfilePhase::Inherit: break;
  }
  return "";
}

void ProfileScope::open(const char* op, ProfilePhase phase) {
  if (omp_in_parallel()) return;
  Profile& p = the_profile();
  if (phase == ProfilePhase::Inherit) phase = p.open.empty() ? ProfilePhase::Forward : p.open.back().phase;
  p.open.push_back(Frame{row_of(p, op, phase), phase, Clock::now()});
  generation_ = p.generation;
  active_ = true;
}

void ProfileScope::close() {
  Profile& p = the_profile();
  if (!profile_detail::g_on || generation_ != p.generation) return;
  const Frame f = p.open.back();
  p.open.pop_back();
  const double seconds = std::chrono::duration<double>(Clock::now() - f.start).count();
  ProfileRow& row = p.rows[f.row];
  row.calls += 1;
  row.self_seconds += seconds - f.child_seconds;
  if (!p.open.empty()) p.open.back().child_seconds += seconds;
}

void ProfileScope::bytes(int64_t n) {
  Profile& p = the_profile();
  if (!active_ || !profile_detail::g_on || generation_ != p.generation) return;
  p.rows[p.open.back().row].bytes += n;
}

void profile_flops(int64_t flops) {
  if (!profile_detail::g_on || omp_in_parallel()) return;
  Profile& p = the_profile();
  if (!p.open.empty()) p.rows[p.open.back().row].flops += flops;
}

void profile_allocation() {
  if (!profile_detail::g_on || omp_in_parallel()) return;
  Profile& p = the_profile();
  if (!p.open.empty()) p.rows[p.open.back().row].allocations += 1;
}

void start_profile() {
  Profile& p = the_profile();
  p.rows.clear();
  p.index.clear();
  p.open.clear();
  p.generation += 1;
  profile_detail::g_on = true;
}

std::vector<ProfileRow> stop_profile() {
  profile_detail::g_on = false;
  Profile& p = the_profile();
  std::vector<ProfileRow> rows;
  for (ProfileRow& r : p.rows)
    if (r.calls > 0) rows.push_back(std::move(r));  // a scope still open when the profile stops is not counted
  p.rows.clear();
  p.index.clear();
  p.open.clear();
  p.generation += 1;
  std::sort(rows.begin(), rows.end(), [](const ProfileRow& a, const ProfileRow& b) { return a.self_seconds > b.self_seconds; });
  return rows;
}

bool profiling() { return profile_detail::g_on; }

double StepProfile::rows_seconds() const {
  double total = 0;
  for (const ProfileRow& r : rows) total += r.self_seconds;
  return total;
}

StepProfile profile_steps(const std::function<void()>& step, int64_t n) {
  StepProfile p;
  p.steps = n;
  start_profile();
  const auto start = Clock::now();
  for (int64_t i = 0; i < n; ++i) step();
  p.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  p.rows = stop_profile();
  return p;
}

}  // namespace diffuse
