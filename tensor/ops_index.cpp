// Indexing and layout: embedding lookup, concat / split, where / masked_fill.
#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

// weight [V, D], ids int32 [...] -> y [..., D] with y[i] = weight[ids[i]]
// dweight[v] = sum of dy[i] over the positions i with ids[i] = v (scatter-add).
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  ProfileScope scope("embedding");
  if (weight.dim() != 2 || ids.dtype() != DType::I32)
    shape_error("embedding", "weight " + describe(weight) + " must be [V, D] and ids " + describe(ids) + " int32");
  const int64_t V = weight.shape()[0], D = weight.shape()[1], n = ids.numel();
  const Tensor idc = ids.contiguous();
  const int32_t* iv = idc.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    if (iv[i] < 0 || iv[i] >= V)
      shape_error("embedding", "id " + std::to_string(iv[i]) + " at position " + std::to_string(i) +
                                   " is outside [0, " + std::to_string(V) + ")");
  Shape out_shape = ids.shape();
  out_shape.push_back(D);
  Tensor y = Tensor::empty(out_shape, weight.dtype());
  const Tensor w = weight.contiguous();
  dispatch_float(weight.dtype(), "embedding", [&]<class T>() {
    const T* wv = w.data<T>();
    T* yv = y.data<T>();
    kernels::parallel_for(n, 64, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) std::copy(wv + iv[i] * D, wv + (iv[i] + 1) * D, yv + i * D);
    });
  });
  return record("embedding", y, {weight}, [weight, idc, V, D, n](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dw = Tensor::zeros({V, D}, g.dtype());
    dispatch_float(g.dtype(), "embedding", [&]<class T>() {
      const int32_t* iv = idc.data<int32_t>();
      const T* gv = gc.data<T>();
      T* d = dw.data<T>();
      for (int64_t i = 0; i < n; ++i)  // serial: two positions may share an id
        for (int64_t j = 0; j < D; ++j) d[iv[i] * D + j] += gv[i * D + j];
    });
    accumulate_grad(weight, dw);
  });
}

// xs[k] [..., n_k, ...] along `axis` -> y [..., sum n_k, ...]; dxs[k] = the matching window of dy.
Tensor concat(const std::vector<Tensor>& xs, int64_t axis_in) {
  ProfileScope scope("concat");
  if (xs.empty()) shape_error("concat", "no tensors to concatenate");
  const int64_t axis = wrap_axis(axis_in, xs[0].dim(), "concat");
  Shape shape = xs[0].shape();
  shape[axis] = 0;
  for (const Tensor& x : xs) {
    Shape s = x.shape();
    if (static_cast<int64_t>(s.size()) == xs[0].dim()) s[axis] = 0;
    if (s != Shape(shape.begin(), shape.end()) || x.dtype() != xs[0].dtype()) {
      std::string all;
      for (const Tensor& t : xs) all += (all.empty() ? "" : ", ") + describe(t);
      shape_error("concat", "shapes differ outside axis " + std::to_string(axis) + ": " + all);
    }
  }
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) {
    sizes.push_back(x.shape()[axis]);
    shape[axis] += x.shape()[axis];
  }
  Tensor y = Tensor::empty(shape, xs[0].dtype());
  {
    NoGradGuard no_grad;
    int64_t start = 0;
    for (const Tensor& x : xs) {
      y.narrow(axis, start, x.shape()[axis]).copy_(x);
      start += x.shape()[axis];
    }
  }
  return record("concat", y, xs, [xs, sizes, axis](const Tensor& g) {
    int64_t start = 0;
    for (size_t k = 0; k < xs.size(); ++k) {
      accumulate_grad(xs[k], g.narrow(axis, start, sizes[k]));
      start += sizes[k];
    }
  });
}

// Views of consecutive windows of x along `axis` with the given sizes (narrow records their gradients).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis_in) {
  ProfileScope scope("split");
  const int64_t axis = wrap_axis(axis_in, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != x.shape()[axis])
    shape_error("split", "sizes add up to " + std::to_string(total) + " but axis " + std::to_string(axis) +
                             " of shape " + to_string(x.shape()) + " has " + std::to_string(x.shape()[axis]));
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t s : sizes) {
    parts.push_back(x.narrow(axis, start, s));
    start += s;
  }
  return parts;
}

// y = cond ? a : b, all three broadcast together; da = dy where cond, db = dy elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  ProfileScope scope("where");
  if (a.dtype() != b.dtype()) shape_error("where", "dtype mismatch: " + describe(a) + " and " + describe(b));
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  const Tensor c = cond.to(a.dtype());  // non-zero = true
  Tensor y = dispatch_float(a.dtype(), "where", [&]<class T>() {
    Tensor out = Tensor::empty(shape, a.dtype());
    kernels::strided_map<T, T, 3>(out.data<T>(), out.strides(), shape, {c.data<T>(), a.data<T>(), b.data<T>()},
                                  {kernels::broadcast_strides(c, shape), kernels::broadcast_strides(a, shape),
                                   kernels::broadcast_strides(b, shape)},
                                  [](T cv, T av, T bv) { return cv != T(0) ? av : bv; });
    return out;
  });
  return record("where", y, {a, b}, [c, a, b](const Tensor& g) {
    const Tensor zero = Tensor::zeros({}, g.dtype());
    if (a.requires_grad()) accumulate_grad(a, sum_to(where(c, g, zero), a.shape()));
    if (b.requires_grad()) accumulate_grad(b, sum_to(where(c, zero, g), b.shape()));
  });
}

// y = mask ? value : x
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  ProfileScope scope("masked_fill");
  return where(mask, Tensor::full({}, value, x.dtype()), x);
}

}  // namespace diffuse
