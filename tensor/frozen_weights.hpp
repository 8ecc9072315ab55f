// Weights taken as constant for a while (sampling, evaluation), so that the ops that read them keep what
// they derive from them instead of deriving it at every call: conv2d its weight in the primitive's layout
// (as bf16 in bf16 mode; Winograd's transformed weight), linear its weight's bf16 copy in bf16 mode.
#pragma once
#include <functional>
#include <memory>

#include "tensor/tensor.hpp"

namespace diffuse {

// While one lives, the weights given to conv2d and linear without a tape are taken as constant: the
// caller promises that none changes while the scope lives (sampling and evaluation open one). Scopes
// nest; what the ops keep is freed when the outermost ends.
class FrozenWeights {
 public:
  FrozenWeights();
  ~FrozenWeights();
  FrozenWeights(const FrozenWeights&) = delete;
  FrozenWeights& operator=(const FrozenWeights&) = delete;
};

// Whether a FrozenWeights scope lives.
bool weights_frozen();

// What an op keeps for `weight` under its own `tag` (a plan, or a marker of the op's), by the weight's
// address and shape: made by `make` on the first call in the scope, handed back after. The entry holds the weight tensor, so its
// address cannot be reused by another tensor while the entry exists. Only inside a FrozenWeights scope.
std::shared_ptr<const void> frozen_derived(const Tensor& weight, const void* tag,
                                           const std::function<std::shared_ptr<const void>()>& make);

template <class T, class Make>
const T& frozen_derived(const Tensor& weight, const void* tag, Make make) {
  return *static_cast<const T*>(
      frozen_derived(weight, tag, [&]() -> std::shared_ptr<const void> { return std::make_shared<const T>(make()); })
          .get());
}

}  // namespace diffuse
