// ParameterArena: every parameter of a module tree, and every gradient, in one contiguous buffer each.
//
// Building the arena copies each parameter's values into `values` and rebinds the parameter's tensor
// (all handles to it, since they share one TensorImpl) to a view of that buffer; its .grad becomes the
// matching view of `grads`. Backward then accumulates straight into the arena, and the optimizer, EMA,
// clipping and checkpoints see two flat float arrays. Each parameter starts on a 64-byte boundary; the
// few padding floats between parameters are zero in both arrays and stay zero.
#pragma once
#include <string>
#include <vector>

#include "nn/module.hpp"
#include "tensor/profile.hpp"

namespace diffuse::nn {

struct ArenaEntry {
  std::string name;  // dotted name
  Tensor param;      // view of `values`
  int64_t offset;    // first element in the arena
};

class ParameterArena {
 public:
  explicit ParameterArena(Module& root);

  const Tensor& values() const { return values_; }  // [size], float32
  const Tensor& grads() const { return grads_; }    // [size], float32
  const std::vector<ArenaEntry>& entries() const { return entries_; }
  int64_t size() const { return values_.numel(); }
  int64_t parameter_count() const { return count_; }
  void zero_grad() const {
    ProfileScope scope("zero_grad", ProfilePhase::Update);
    grads_.fill_(0.0);
  }
  // The view of a flat arena-shaped buffer (values, grads, optimizer moments, EMA) for one entry.
  Tensor view_of(const Tensor& flat, const ArenaEntry& e) const;

 private:
  Tensor values_, grads_;
  std::vector<ArenaEntry> entries_;
  int64_t count_ = 0;
};

}  // namespace diffuse::nn
