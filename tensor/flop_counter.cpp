#include "tensor/flop_counter.hpp"

#include <atomic>

#include "tensor/profile.hpp"

namespace diffuse {

namespace {
std::atomic<int64_t> g_flops{0};
}

void count_flops(int64_t flops) {
  g_flops.fetch_add(flops, std::memory_order_relaxed);
  profile_flops(flops);
}
int64_t counted_flops() { return g_flops.load(std::memory_order_relaxed); }
void reset_flop_count() { g_flops.store(0, std::memory_order_relaxed); }

}  // namespace diffuse
