#include "tensor/frozen_weights.hpp"

#include <map>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace diffuse {

namespace {
struct Kept {
  struct Entry {
    Tensor weight;  // keeps the address from being reused
    std::shared_ptr<const void> derived;
  };
  int depth = 0;  // nested scopes
  std::map<std::tuple<const void*, const void*, Shape>, Entry> entries;  // (address, tag, shape)
};

Kept& kept() {
  static Kept k;
  return k;
}
}  // namespace

FrozenWeights::FrozenWeights() { ++kept().depth; }

FrozenWeights::~FrozenWeights() {
  if (--kept().depth == 0) kept().entries.clear();
}

bool weights_frozen() { return kept().depth > 0; }

std::shared_ptr<const void> frozen_derived(const Tensor& weight, const void* tag,
                                           const std::function<std::shared_ptr<const void>()>& make) {
  if (!weights_frozen()) throw std::logic_error("frozen_derived: outside a FrozenWeights scope");
  auto& entries = kept().entries;
  const auto key = std::make_tuple(static_cast<const void*>(weight.data<float>()), tag, weight.shape());
  if (auto it = entries.find(key); it != entries.end()) return it->second.derived;
  return entries.emplace(key, Kept::Entry{weight, make()}).first->second.derived;
}

}  // namespace diffuse
