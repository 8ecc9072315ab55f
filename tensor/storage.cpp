#include "tensor/storage.hpp"

#include <malloc.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "tensor/profile.hpp"

namespace diffuse {

namespace {
// glibc keeps every block in its heap: no mmap (M_MMAP_MAX = 0; else blocks of 32 MiB and more, mallopt's
// largest threshold, are mapped afresh and unmapped on free) and no trimming, so memory freed by the cache
// or by other code serves the next request of any size without a page fault.
const bool g_malloc_tuned = [] {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);  // -1 disables trimming (mallopt(3))
  return true;
}();

constexpr size_t kCachedFrom = 256 << 10;  // blocks this large go through the cache
constexpr size_t kPage = 4096;

// Freed large blocks by size. All counters in bytes.
class BlockCache {
 public:
  void* take(size_t block) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ += block;
    peak_live_ = std::max(peak_live_, live_);
    auto it = free_.find(block);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      cached_ -= block;
      ++hits_;
      return p;
    }
    ++misses_;
    // A fresh block: first give back cached blocks (largest first) until live + cached stays within
    // twice the largest live total seen (see storage.hpp for why twice).
    while (cached_ > 0 && live_ + cached_ > 2 * peak_live_) evict_largest();
    return nullptr;
  }
  // Keeps the block for reuse, or returns false (the caller frees it) when the cache is full.
  bool give(void* p, size_t block) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ -= block;
    if (cached_ + block > 2 * peak_live_) return false;
    free_[block].push_back(p);
    cached_ += block;
    return true;
  }
  void evict_largest() {  // with mutex_ held
    auto largest = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (!it->second.empty() && (largest == free_.end() || it->first > largest->first)) largest = it;
    std::free(largest->second.back());
    largest->second.pop_back();
    cached_ -= largest->first;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }
  BlockCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {cached_, hits_, misses_};
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t live_ = 0, peak_live_ = 0, cached_ = 0, hits_ = 0, misses_ = 0;
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // never destroyed: Storage may outlive static destruction
  return *c;
}
}  // namespace

Storage::Storage(size_t nbytes) : nbytes_(nbytes) {
  profile_allocation();
  // aligned_alloc needs a size that is a multiple of the alignment; never zero bytes.
  const size_t rounded = nbytes == 0 ? 64 : (nbytes + 63) / 64 * 64;
  block_ = rounded >= kCachedFrom ? (rounded + kPage - 1) / kPage * kPage : rounded;
  if (block_ >= kCachedFrom) data_ = cache().take(block_);
  if (!data_) data_ = std::aligned_alloc(block_ >= kCachedFrom ? kPage : 64, block_);
  if (!data_) throw std::bad_alloc();
}

Storage::~Storage() {
  if (block_ >= kCachedFrom && cache().give(data_, block_)) return;
  std::free(data_);
}

BlockCacheStats block_cache_stats() { return cache().stats(); }
void release_cached_blocks() { cache().release(); }

}  // namespace diffuse
