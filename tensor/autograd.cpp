#include "tensor/autograd.hpp"

#include <unordered_set>

#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
EnableGradGuard::EnableGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { g_grad_enabled = previous_; }

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs,
              std::function<void(const Tensor& grad_out)> backward) {
  if (!needs_grad(inputs)) return out;
  std::erase_if(inputs, [](const Tensor& t) { return !t.defined() || !t.requires_grad(); });
  out.impl()->requires_grad = true;
  out.impl()->grad_fn = std::make_shared<Node>(Node{op, std::move(inputs), std::move(backward)});
  return out;
}

namespace {
// Whether nothing but its holder sees this gradient, so that adding into it in place changes no other.
bool sole_owner(const std::shared_ptr<TensorImpl>& grad) {
  return grad.use_count() == 1 && grad->storage.use_count() == 1;
}
}  // namespace

// A leaf's gradient is the user's (and a parameter's is a view into the gradient arena): it is private and
// added into in place. An intermediate tensor's is only read, by its node's backward, then dropped: it keeps
// g itself, which may be shared (both operands of add receive one), and a second part makes a new sum unless
// it alone holds its gradient (copy on write).
void accumulate_grad(const Tensor& x, const Tensor& g) {
  if (!x.defined() || !x.requires_grad()) return;
  if (g.shape() != x.shape())
    shape_error("accumulate_grad", "gradient of shape " + to_string(g.shape()) + " for a tensor of shape " +
                                       to_string(x.shape()));
  TensorImpl* impl = x.impl();
  const bool leaf = !impl->grad_fn;
  if (impl->grad) {
    if (leaf || sole_owner(impl->grad))
      add_(Tensor(impl->grad), g);
    else
      impl->grad = add(Tensor(impl->grad), g).impl_ptr();
  } else if (g.is_contiguous() && !g.grad_fn() &&
             (!leaf || (g.impl_ptr().use_count() == 1 && g.storage().use_count() == 1))) {
    impl->grad = g.impl_ptr();  // an intermediate's, or a temporary that nothing else sees: no copy
  } else {
    impl->grad = g.clone().impl_ptr();
  }
}

void accumulate_grad_window(const Tensor& x, int64_t axis, int64_t start, const Tensor& g) {
  if (!x.defined() || !x.requires_grad()) return;
  if (TensorImpl* impl = x.impl(); impl->grad) {
    if (impl->grad_fn && !sole_owner(impl->grad)) impl->grad = Tensor(impl->grad).clone().impl_ptr();  // copy on write
    add_(Tensor(impl->grad).narrow(axis, start, g.shape()[axis]), g);
    return;
  }
  Tensor dx = Tensor::zeros(x.shape(), g.dtype());
  dx.narrow(axis, start, g.shape()[axis]).copy_(g);
  accumulate_grad(x, dx);
}

void run_backward(const Tensor& root, const Tensor& seed) {
  if (!root.requires_grad())
    throw std::invalid_argument("backward: the tensor does not require a gradient (no tape was recorded)");
  Tensor grad0 = seed;
  if (!grad0.defined()) {
    if (root.numel() != 1)
      shape_error("backward", "a seed gradient is needed for a tensor of shape " + to_string(root.shape()));
    grad0 = Tensor::ones(root.shape(), root.dtype());
  }
  if (grad0.shape() != root.shape())
    shape_error("backward", "seed of shape " + to_string(grad0.shape()) + " for a tensor of shape " +
                                to_string(root.shape()));

  // Topological order by iterative depth-first search: a tensor comes after all of its inputs.
  ProfileScope sweep_scope("autograd", ProfilePhase::Backward);  // the sort and the walk; the nodes have their own
  std::vector<std::shared_ptr<TensorImpl>> order;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack{{root.impl_ptr(), 0}};
  seen.insert(root.impl());
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    const Node* node = impl->grad_fn.get();
    if (node && next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (seen.insert(in.impl()).second) stack.emplace_back(in.impl_ptr(), 0);
    } else {
      order.push_back(impl);
      stack.pop_back();
    }
  }

  NoGradGuard no_grad;  // the backward functions themselves are not recorded
  accumulate_grad(root, grad0);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* impl = it->get();
    if (!impl->grad_fn) continue;  // a leaf: its .grad is the result
    std::shared_ptr<Node> node = std::move(impl->grad_fn);  // frees the graph as we go
    if (impl->grad) {
      ProfileScope scope(node->op, ProfilePhase::Backward);
      node->backward(Tensor(impl->grad));
    }
    impl->grad.reset();  // intermediate gradients are not kept
  }
}

}  // namespace diffuse
