// Image sampling in chunks that survive being stopped: `sample --batch B --journal DIR` (the DDPM and
// VQ-Diffusion families; SampleChunks below runs the chunks for both).
//
// N images are drawn B at a time. Chunk k draws images [kB, min(N, (k + 1) B)) with a stream of its own,
// Philox(seed, kSamples + ((k + 1) << 32)), so its images depend only on k and the settings: not on which
// chunks ran before, nor in which process. With one chunk (no --batch, or B >= N) the stream is
// Philox(seed, kSamples), as sampling has always drawn.
//
// The journal DIR holds settings.json (what the images depend on: the checkpoint, its weights, the sampler,
// the classes and guidance, the seed, N and B) and chunk-<k>.npz for each finished chunk, written as `sample`
// writes its .npz (uint8 'arr_0', int64 'labels') under a temporary name and then renamed, so a kill leaves
// no half chunk. Run the same command again and the chunks found are read back, not drawn again; a journal
// written for other settings is refused, naming the first that differs. Images survive the round trip
// exactly: every byte u comes back as round(((u / 127.5 - 1) + 1) 127.5) = u.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

// The stream of chunk k of `chunks`.
Philox sample_chunk_stream(uint64_t seed, int64_t chunk, int64_t chunks);

class SampleJournal {
 public:
  // dir empty: no journal (nothing is read or written). Otherwise creates dir and writes settings.json, or
  // checks the one there: std::invalid_argument "--journal DIR: written for other settings: KEY ...".
  SampleJournal(const std::string& dir, const nlohmann::json& settings);
  // Chunk k's images [n, C, H, W] (float32 in [-1, 1]) if it is in the journal; throws naming the file when
  // it is unreadable or holds another number of images or labels than `labels` (int32 [n], or undefined).
  std::optional<Tensor> finished(int64_t chunk, int64_t n, const Tensor& labels) const;
  void record(int64_t chunk, const Tensor& images, const Tensor& labels) const;
  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string chunk_path(int64_t chunk) const;
  std::string dir_;
};

// N images drawn `batch` at a time (all at once when batch <= 0), chunk k from sample_chunk_stream(seed, k,
// chunks) and with its own slice of the labels; with a journal, the chunks found there are read back and
// each one drawn is recorded as it finishes. `settings` are what the images depend on besides N and the batch
// (the journal adds those two).
class SampleChunks {
 public:
  SampleChunks(int64_t n, int64_t batch, Tensor labels, const std::string& journal_dir, nlohmann::json settings);

  struct Chunk {
    int64_t index = 0, n = 0;
    Tensor labels;  // int32 [n], or undefined
    Philox rng;
  };
  struct Drawn {
    Tensor images;         // [N, ...], in chunk order
    int64_t drawn = 0;     // images this run drew (the others came from the journal)
    double seconds = 0.0;  // spent drawing them
  };
  // draw(chunk) gives the chunk's images [chunk.n, ...] in [-1, 1].
  Drawn run(uint64_t seed, const std::function<Tensor(Chunk&)>& draw) const;

  int64_t count() const { return chunks_; }
  int64_t to_draw() const;
  // "" for one chunk, else "; C chunks of up to B[, F of them found in DIR]", for the command's summary line.
  std::string summary() const;

 private:
  Tensor labels_of(int64_t k) const;
  int64_t size_of(int64_t k) const { return std::min(n_, (k + 1) * batch_) - k * batch_; }
  int64_t n_, batch_, chunks_;
  Tensor labels_;
  SampleJournal journal_;
  std::vector<std::optional<Tensor>> found_;
};

}  // namespace diffuse
