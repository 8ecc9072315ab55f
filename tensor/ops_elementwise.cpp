// Binary elementwise ops with NumPy broadcasting, and the in-place helpers used outside the tape.
// Shapes: a [A...], b [B...] -> y [broadcast(A, B)]; each input's gradient is summed back to its shape.
#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  if (!a.defined() || !b.defined()) shape_error(op, "an operand is undefined");
  if (a.dtype() != b.dtype()) shape_error(op, "dtype mismatch: " + describe(a) + " and " + describe(b));
}

template <class F>
Tensor binary(const Tensor& a, const Tensor& b, const char* op, F f) {
  check_same_dtype(a, b, op);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  return dispatch_float(a.dtype(), op, [&]<class T>() { return kernels::map_binary<T>(a, b, shape, f); });
}
}  // namespace

// y = a + b; da = dy, db = dy (each summed to its shape)
Tensor add(const Tensor& a, const Tensor& b) {
  ProfileScope scope("add");
  Tensor y = binary(a, b, "add", [](auto x, auto z) { return x + z; });
  scope.bytes(bytes_of(a) + bytes_of(b) + bytes_of(y));
  return record("add", y, {a, b}, [a, b](const Tensor& g) {
    accumulate_grad(a, sum_to(g, a.shape()));
    accumulate_grad(b, sum_to(g, b.shape()));
  });
}

// y = a - b; da = dy, db = -dy
Tensor sub(const Tensor& a, const Tensor& b) {
  ProfileScope scope("sub");
  Tensor y = binary(a, b, "sub", [](auto x, auto z) { return x - z; });
  scope.bytes(bytes_of(a) + bytes_of(b) + bytes_of(y));
  return record("sub", y, {a, b}, [a, b](const Tensor& g) {
    accumulate_grad(a, sum_to(g, a.shape()));
    if (b.requires_grad()) accumulate_grad(b, neg(sum_to(g, b.shape())));
  });
}

// y = a * b; da = dy * b, db = dy * a. The backward reads the values of detached a and b and accumulates
// into the inputs themselves (a_input, b_input).
Tensor mul(const Tensor& a, const Tensor& b) {
  ProfileScope scope("mul");
  Tensor y = binary(a, b, "mul", [](auto x, auto z) { return x * z; });
  scope.bytes(bytes_of(a) + bytes_of(b) + bytes_of(y));
  return record("mul", y, {a, b}, [a = a.detach(), b = b.detach(), a_input = a, b_input = b](const Tensor& g) {
    if (a_input.requires_grad()) accumulate_grad(a_input, sum_to(mul(g, b), a.shape()));
    if (b_input.requires_grad()) accumulate_grad(b_input, sum_to(mul(g, a), b.shape()));
  });
}

// y = a / b; da = dy / b, db = -dy * a / b^2 = -dy * y / b
Tensor div(const Tensor& a, const Tensor& b) {
  ProfileScope scope("div");
  Tensor y = binary(a, b, "div", [](auto x, auto z) { return x / z; });
  scope.bytes(bytes_of(a) + bytes_of(b) + bytes_of(y));
  return record("div", y, {a, b}, [a_input = a, b_input = b, b = b.detach(), y = y.detach()](const Tensor& g) {
    const Tensor g_over_b = div(g, b);
    if (a_input.requires_grad()) accumulate_grad(a_input, sum_to(g_over_b, a_input.shape()));
    if (b_input.requires_grad()) accumulate_grad(b_input, neg(sum_to(mul(g_over_b, y), b_input.shape())));
  });
}

// y = a + s; da = dy
Tensor add(const Tensor& a, double s) {
  ProfileScope scope("add_scalar");
  Tensor y = dispatch_float(a.dtype(), "add", [&]<class T>() {
    const T c = static_cast<T>(s);
    return kernels::map_unary<T>(a, [c](T x) { return x + c; });
  });
  scope.bytes(2 * bytes_of(y));
  return record("add_scalar", y, {a}, [a](const Tensor& g) { accumulate_grad(a, g); });
}

// y = a * s; da = dy * s
Tensor mul(const Tensor& a, double s) {
  ProfileScope scope("mul_scalar");
  Tensor y = dispatch_float(a.dtype(), "mul", [&]<class T>() {
    const T c = static_cast<T>(s);
    return kernels::map_unary<T>(a, [c](T x) { return x * c; });
  });
  scope.bytes(2 * bytes_of(y));
  return record("mul_scalar", y, {a}, [a, s](const Tensor& g) { accumulate_grad(a, mul(g, s)); });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double s) { return add(a, s); }
Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }

// ---- in place, outside the tape --------------------------------------------------------------------

void add_(const Tensor& dst, const Tensor& src, double alpha) {
  ProfileScope scope("add_");
  scope.bytes(2 * bytes_of(dst) + bytes_of(src));
  check_same_dtype(dst, src, "add_");
  if (broadcast_shapes(dst.shape(), src.shape(), "add_") != dst.shape())
    shape_error("add_", "cannot add a tensor of shape " + to_string(src.shape()) + " into " + to_string(dst.shape()));
  dispatch_float(dst.dtype(), "add_", [&]<class T>() {
    const T c = static_cast<T>(alpha);
    kernels::strided_map<T, T, 2>(dst.data<T>(), dst.strides(), dst.shape(), {dst.data<T>(), src.data<T>()},
                                  {dst.strides(), kernels::broadcast_strides(src, dst.shape())},
                                  [c](T d, T s) { return d + c * s; });
  });
}

void scale_(const Tensor& dst, double s) {
  ProfileScope scope("scale_");
  scope.bytes(2 * bytes_of(dst));
  dispatch_float(dst.dtype(), "scale_", [&]<class T>() {
    const T c = static_cast<T>(s);
    kernels::strided_map<T, T, 1>(dst.data<T>(), dst.strides(), dst.shape(), {dst.data<T>()}, {dst.strides()},
                                  [c](T d) { return d * c; });
  });
}

}  // namespace diffuse
