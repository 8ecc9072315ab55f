// oneDNN (2.6) plumbing shared by the ops that run on it: one CPU engine and stream for the process,
// memory descriptors and memory objects over our plain float32 tensors, reorders created once and
// reused, and one scratchpad buffer that every primitive borrows.
//
// How an op uses it (conv2d.cpp is the worked example):
//   1. Describe the operation with format_tag::any for its big tensors, so the primitive picks the layout
//      it computes fastest in (on AVX2: channels blocked by 8, "nChw8c" / "OIhw8i8o"), and create the
//      primitive descriptor with primitive_attr_with_user_scratchpad().
//   2. Build a Reorder from our plain layout (nchw, oihw) to the one the primitive chose, and back for its
//      outputs. A Reorder between equal layouts is a no-op and costs nothing.
//   3. Wrap our tensors with wrap(), reorder them in, execute with execute(), reorder the results out.
//
// Everything here assumes one thread calls into it at a time (the engine's own kernels are parallel).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <unordered_map>

#include "tensor/storage.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::onednn {

// The process's CPU engine and its in-order stream (created on first use).
const dnnl::engine& engine();
dnnl::stream& stream();

// Our shapes as oneDNN dims.
dnnl::memory::dims dims_of(const Shape& shape);

// The descriptor of a plain row-major float32 tensor of `shape`; `tag` names the meaning of its axes
// for the primitive (nchw for activations, oihw for convolution weights, x for a vector).
dnnl::memory::desc plain_desc(const Shape& shape, dnnl::memory::format_tag tag);

// A memory object over the elements of `t` (float32, contiguous), without a copy. The tensor's storage
// must outlive every use of the memory object.
dnnl::memory wrap(const Tensor& t, const dnnl::memory::desc& md);

// A memory object with the buffer it reads and writes: either a tensor's (wrap: kept alive by the tensor,
// not by this) or a fresh one of ours (allocate: held here). Ours come from storage.hpp's block cache, not
// from oneDNN's allocator, so a large layout (a batch of 200 images at 28 x 28 x 64 is 40 MB, above glibc's
// 32 MiB mmap threshold) is reused step after step instead of being mapped, page-faulted and unmapped at
// every call: sampling 200 Fashion-MNIST images spent 40% of its time in the kernel that way.
struct Memory {
  dnnl::memory memory;
  std::shared_ptr<Storage> buffer;  // empty when `memory` is over a buffer someone else keeps
  explicit operator bool() const { return static_cast<bool>(memory); }
};

// A fresh (uninitialised) buffer laid out as `md`.
Memory allocate(const dnnl::memory::desc& md);

// A reorder from one layout of a tensor to another, created once and run many times. When the two
// layouts are equal it is empty, and apply() hands its input back untouched.
class Reorder {
 public:
  Reorder() = default;
  Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to);

  bool needed() const { return static_cast<bool>(primitive_); }
  const dnnl::memory::desc& from() const { return from_; }
  const dnnl::memory::desc& to() const { return to_; }

  // Copies `from` (laid out as the `from` desc) into `to` (laid out as the `to` desc).
  void operator()(const dnnl::memory& from, const dnnl::memory& to) const;
  // `from` itself when no reorder is needed, else a fresh buffer in the target layout holding its values.
  Memory apply(const dnnl::memory& from) const;

 private:
  dnnl::memory::desc from_, to_;
  dnnl::reorder primitive_;
};

// Attributes every primitive of ours is created with: the scratchpad is ours (see execute), so oneDNN
// never allocates temporary memory inside a call.
dnnl::primitive_attr primitive_attr_with_user_scratchpad();

// Runs `primitive` (created with the attributes above) on `args`, lending it the shared scratchpad,
// which grows to the largest size any primitive has asked for and is then reused; waits for the result.
void execute(const dnnl::primitive& primitive, const dnnl::primitive_desc_base& pd,
             std::unordered_map<int, dnnl::memory> args);

}  // namespace diffuse::onednn
