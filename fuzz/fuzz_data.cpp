// libFuzzer target: arbitrary bytes as a dataset file. The first byte picks the reader (CIFAR-10 binary
// batch, IDX / gzipped IDX, text8), the rest is the file. Each must refuse malformed input with an
// exception naming the file (and the offset where it matters), never crash or read out of bounds.
// Build and run: docs/fuzzing.md.
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "data/cifar10.hpp"
#include "data/idx.hpp"
#include "data/text8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<uint8_t> bytes(data + 1, data + size);
  try {
    switch (data[0] % 3) {
      case 0: diffuse::data::parse_cifar10_batch(bytes, "fuzz.bin"); break;
      case 1: diffuse::data::parse_idx(bytes, "fuzz-idx"); break;
      default: {
        const auto corpus = diffuse::data::make_text8_corpus(std::string(bytes.begin(), bytes.end()), "fuzz.txt");
        for (auto split : {diffuse::data::Text8Split::Train, diffuse::data::Text8Split::Test})
          if (corpus.split(split).size() >= 8) diffuse::data::text8_chunks(corpus.split(split), 8);
      }
    }
  } catch (const std::exception&) {
  }
  return 0;
}
