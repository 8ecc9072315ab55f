// Reverse-mode autograd on an eager tape.
//
// Every op that has an input with requires_grad (while grad mode is on) gives its output a Node:
// the op's name, the inputs it depends on, and a backward function that receives d(loss)/d(output)
// and adds the input gradients with accumulate_grad (+=). backward() sorts the tensors reachable from
// the root topologically and runs the nodes in reverse order. Nothing is hidden: set a breakpoint in
// any op's backward lambda and step.
//
// The backward function captures exactly what it needs (saved inputs, outputs or statistics), never the
// output handle itself, so the graph has no cycles and is freed as soon as backward has run.
#pragma once
#include <functional>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse {

struct Node {
  const char* op;                                      // e.g. "matmul", for debugging
  std::vector<Tensor> inputs;                          // the tensors this node sends gradients to
  std::function<void(const Tensor& grad_out)> backward;  // adds d(loss)/d(input) into each input's grad
};

// Grad mode: on by default. NoGradGuard turns it off in a scope, so nothing is recorded
// (sampling and evaluation build no tape).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Turns grad mode on in a scope (inside a NoGradGuard): a sampler's guidance differentiates a classifier
// in the middle of a loop that records nothing else.
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

// True when grad mode is on and any of the inputs requires a gradient.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to `out` if needs_grad(inputs); returns out either way.
Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs,
              std::function<void(const Tensor& grad_out)> backward);

// x.grad += g (g has x's shape). Does nothing if x does not require a gradient.
void accumulate_grad(const Tensor& x, const Tensor& g);
// x.grad[window] += g, the window being [start, start + g.shape[axis]) along axis (narrow's backward): in place
// when x already holds a gradient (the q, k and v windows of one projection then share one buffer), else
// into a fresh zero gradient.
void accumulate_grad_window(const Tensor& x, int64_t axis, int64_t start, const Tensor& g);

// The sweep behind Tensor::backward.
void run_backward(const Tensor& root, const Tensor& seed);

}  // namespace diffuse
