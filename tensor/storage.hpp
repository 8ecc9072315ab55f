// Storage: one 64-byte-aligned block of memory shared by a tensor and all of its views.
//
// Blocks of 256 KiB and more come from a cache of freed blocks (BlockCache in storage.cpp): training and
// sampling allocate the same activation sizes at every step, and handing a freed block back is free,
// while a fresh large block costs a page fault per 4 KiB page the first time it is touched. A block
// is reused only for a request of its exact (rounded) size. Cached and live blocks together never exceed
// twice the largest total that was once live at the same time: a request the cache cannot serve first
// frees cached blocks, largest first, until the new block fits under that bound. Twice, not once: with
// exact sizes, a network's working set of distinct sizes is larger than its peak live total, and a bound
// at the peak evicted the encoder's blocks while the decoder ran, so every step mapped and page-faulted
// them afresh (DDIM on 200 Fashion-MNIST images with CFG, 1 thread: 9.9 s with 3.4 s in the kernel, then
// 5.0 s and a smaller resident peak, 771 MB against 836).
//
// Blocks the cache frees go back to glibc's heap, never to the kernel: storage.cpp turns off glibc's mmap
// (by default it maps every block of 32 MiB and more afresh and unmaps it on free) and its trimming. So
// memory freed for one size serves the next request of any size without faulting its pages in again. Where
// the working set of sizes is larger still (VQ-Diffusion's sampler on 400 Fashion-MNIST grids, 1 thread,
// whose 40-80 MiB blocks came and went 6 times a step), this took 0.375 s per image to 0.147, with a
// resident peak of 1137 MB against 645.
#pragma once
#include <cstddef>
#include <memory>

namespace diffuse {

class Storage {
 public:
  explicit Storage(size_t nbytes);  // uninitialised memory, aligned to 64 bytes
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  size_t block_ = 0;  // the allocated size: nbytes rounded up (to 64 bytes, or to 4 KiB for cached blocks)
};

// The block cache's counters, for tests and benchmarks, and a way to give its memory back.
struct BlockCacheStats {
  size_t cached_bytes = 0;  // held for reuse now
  size_t hits = 0, misses = 0;
};
BlockCacheStats block_cache_stats();
void release_cached_blocks();

}  // namespace diffuse
