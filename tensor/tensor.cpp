#include "tensor/tensor.hpp"

#include <cstring>
#include <iomanip>
#include <numeric>
#include <ostream>
#include <sstream>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

// ---- construction --------------------------------------------------------------------------------

Tensor make_view(std::shared_ptr<Storage> storage, DType dtype, const Shape& shape, const Shape& strides,
                 int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->dtype = dtype;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  return Tensor(std::move(impl));
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  return make_view(base.storage(), base.dtype(), shape, strides, offset);
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape)
    if (d < 0) shape_error("empty", "negative dimension in shape " + to_string(shape));
  auto storage = std::make_shared<Storage>(static_cast<size_t>(diffuse::numel(shape)) * dtype_size(dtype));
  return make_view(std::move(storage), dtype, shape, contiguous_strides(shape), 0);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.storage()->data(), 0, t.storage()->nbytes());
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

namespace {
template <class T>
Tensor from_values(const std::vector<T>& values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != numel(shape))
    shape_error("from_vector", std::to_string(values.size()) + " values for shape " + to_string(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}
}  // namespace

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) { return from_values(v, s); }
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s) { return from_values(v, s); }
Tensor Tensor::from_vector(const std::vector<int32_t>& v, const Shape& s) { return from_values(v, s); }

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::F32: t.data<float>()[i] = static_cast<float>(i); break;
      case DType::F64: t.data<double>()[i] = static_cast<double>(i); break;
      case DType::I32: t.data<int32_t>()[i] = static_cast<int32_t>(i); break;
    }
  }
  return t;
}

// ---- metadata --------------------------------------------------------------------------------------

int64_t Tensor::size(int64_t axis) const { return shape()[wrap_axis(axis, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void Tensor::check_dtype(DType expected) const {
  if (!impl_) throw std::invalid_argument("data: the tensor is undefined");
  if (impl_->dtype != expected)
    throw std::invalid_argument(std::string("data: tensor is ") + dtype_name(impl_->dtype) + ", asked for " +
                                dtype_name(expected));
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return std::string(dtype_name(t.dtype())) + to_string(t.shape());
}

// ---- element access --------------------------------------------------------------------------------

double Tensor::at(const std::vector<int64_t>& index) const {
  if (static_cast<int64_t>(index.size()) != dim())
    shape_error("at", std::to_string(index.size()) + " indices for shape " + to_string(shape()));
  int64_t off = 0;
  for (int64_t d = 0; d < dim(); ++d) {
    if (index[d] < 0 || index[d] >= shape()[d])
      shape_error("at", "index " + std::to_string(index[d]) + " out of range on axis " + std::to_string(d) +
                            " of shape " + to_string(shape()));
    off += index[d] * strides()[d];
  }
  switch (dtype()) {
    case DType::F32: return data<float>()[off];
    case DType::F64: return data<double>()[off];
    case DType::I32: return data<int32_t>()[off];
  }
  return 0;
}

double Tensor::item() const {
  if (numel() != 1) shape_error("item", "a tensor of shape " + to_string(shape()) + " has no single value");
  return at(std::vector<int64_t>(dim(), 0));
}

std::vector<double> Tensor::to_vector() const {
  Tensor c = to(DType::F64).contiguous();
  return std::vector<double>(c.data<double>(), c.data<double>() + c.numel());
}

// ---- autograd --------------------------------------------------------------------------------------

Tensor& Tensor::set_requires_grad(bool on) {
  if (on && dtype() == DType::I32) throw std::invalid_argument("set_requires_grad: an int32 tensor has no gradient");
  impl_->requires_grad = on;
  return *this;
}

void Tensor::zero_grad() {
  if (impl_->grad) Tensor(impl_->grad).fill_(0.0);  // in place: the gradient may be a view into an arena
}

void Tensor::backward(const Tensor& seed) const { run_backward(*this, seed); }

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

// ---- views -----------------------------------------------------------------------------------------

namespace {
// Strides for viewing a tensor of (shape, strides) as new_shape without copying, or {} if impossible.
// Each run of input dims that is contiguous in memory can be re-split freely.
Shape view_strides(const Shape& shape, const Shape& strides, const Shape& new_shape) {
  Shape out(new_shape.size());
  if (numel(shape) == 0 || shape.empty()) return contiguous_strides(new_shape);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= new_shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return {};
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return {};
  return out;
}

Shape infer_shape(const Shape& shape, int64_t n, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (infer >= 0) shape_error(op, "more than one -1 in " + to_string(shape));
      infer = static_cast<int64_t>(i);
    } else if (out[i] < 0) {
      shape_error(op, "negative dimension in " + to_string(shape));
    } else {
      known *= out[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || n % known != 0) shape_error(op, "cannot infer -1 in " + to_string(shape) + " for " + std::to_string(n) + " elements");
    out[infer] = n / known;
  }
  if (numel(out) != n)
    shape_error(op, "shape " + to_string(shape) + " is invalid for " + std::to_string(n) + " elements");
  return out;
}
}  // namespace

// view: y [new_shape] shares x's storage; backward: dx = dy viewed back as x's shape.
Tensor Tensor::view(const Shape& new_shape_in) const {
  const Shape new_shape = infer_shape(new_shape_in, numel(), "view");
  const Shape st = view_strides(shape(), strides(), new_shape);
  if (st.empty() && !new_shape.empty())
    shape_error("view", "cannot view a tensor of shape " + to_string(shape()) + " with strides " +
                            to_string(strides()) + " as " + to_string(new_shape) + "; use reshape");
  Tensor y = make_view(*this, new_shape, st, offset());
  const Shape in_shape = shape();
  return record("view", y, {*this}, [x = *this, in_shape](const Tensor& g) { accumulate_grad(x, g.reshape(in_shape)); });
}

Tensor Tensor::reshape(const Shape& new_shape_in) const {
  const Shape new_shape = infer_shape(new_shape_in, numel(), "reshape");
  if (!view_strides(shape(), strides(), new_shape).empty() || new_shape.empty()) return view(new_shape);
  return contiguous().view(new_shape);
}

// permute: y.shape[i] = x.shape[order[i]]; backward: dx = dy permuted by the inverse order.
Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  if (static_cast<int64_t>(order.size()) != dim())
    shape_error("permute", "order of length " + std::to_string(order.size()) + " for shape " + to_string(shape()));
  Shape s(dim()), st(dim());
  std::vector<int64_t> inverse(dim(), -1);
  for (int64_t i = 0; i < dim(); ++i) {
    const int64_t a = wrap_axis(order[i], dim(), "permute");
    if (inverse[a] != -1) shape_error("permute", "axis " + std::to_string(a) + " appears twice");
    inverse[a] = i;
    s[i] = shape()[a];
    st[i] = strides()[a];
  }
  Tensor y = make_view(*this, s, st, offset());
  return record("permute", y, {*this}, [x = *this, inverse](const Tensor& g) { accumulate_grad(x, g.permute(inverse)); });
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> order(dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_axis(a, dim(), "transpose")], order[wrap_axis(b, dim(), "transpose")]);
  return permute(order);
}

// narrow: y = x[..., start:start+length, ...] along `axis`; backward: dy lands in that window of x's gradient
// (zero outside it).
Tensor Tensor::narrow(int64_t axis_in, int64_t start, int64_t length) const {
  const int64_t axis = wrap_axis(axis_in, dim(), "narrow");
  if (start < 0 || length < 0 || start + length > shape()[axis])
    shape_error("narrow", "window [" + std::to_string(start) + ", " + std::to_string(start + length) +
                              ") is outside axis " + std::to_string(axis) + " of shape " + to_string(shape()));
  Shape s = shape();
  s[axis] = length;
  Tensor y = make_view(*this, s, strides(), offset() + start * strides()[axis]);
  return record("narrow", y, {*this}, [x = *this, axis, start](const Tensor& g) { accumulate_grad_window(x, axis, start, g); });
}

// expand: size-1 (or missing leading) dims are repeated with stride 0; backward: dx = sum_to(dy, x.shape).
Tensor Tensor::expand(const Shape& new_shape) const {
  if (new_shape.size() < shape().size())
    shape_error("expand", "cannot expand shape " + to_string(shape()) + " to " + to_string(new_shape));
  const size_t lead = new_shape.size() - shape().size();
  Shape st(new_shape.size(), 0);
  for (size_t i = 0; i < shape().size(); ++i) {
    if (shape()[i] == new_shape[lead + i]) {
      st[lead + i] = strides()[i];
    } else if (shape()[i] != 1) {
      shape_error("expand", "cannot expand shape " + to_string(shape()) + " to " + to_string(new_shape));
    }
  }
  Tensor y = make_view(*this, new_shape, st, offset());
  return record("expand", y, {*this}, [x = *this](const Tensor& g) { accumulate_grad(x, sum_to(g, x.shape())); });
}

Tensor Tensor::squeeze(int64_t axis_in) const {
  const int64_t axis = wrap_axis(axis_in, dim(), "squeeze");
  if (shape()[axis] != 1)
    shape_error("squeeze", "axis " + std::to_string(axis) + " of shape " + to_string(shape()) + " is not 1");
  Shape s = shape(), st = strides();
  s.erase(s.begin() + axis);
  st.erase(st.begin() + axis);
  Tensor y = make_view(*this, s, st, offset());
  return record("squeeze", y, {*this}, [x = *this](const Tensor& g) { accumulate_grad(x, g.reshape(x.shape())); });
}

Tensor Tensor::unsqueeze(int64_t axis_in) const {
  const int64_t axis = wrap_axis(axis_in, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  const int64_t stride = axis < dim() ? shape()[axis] * strides()[axis] : 1;
  s.insert(s.begin() + axis, 1);
  st.insert(st.begin() + axis, stride);
  Tensor y = make_view(*this, s, st, offset());
  return record("unsqueeze", y, {*this}, [x = *this](const Tensor& g) { accumulate_grad(x, g.reshape(x.shape())); });
}

Tensor Tensor::flatten(int64_t start_axis, int64_t end_axis) const {
  if (dim() == 0) return reshape({1});
  const int64_t a = wrap_axis(start_axis, dim(), "flatten"), b = wrap_axis(end_axis, dim(), "flatten");
  Shape s(shape().begin(), shape().begin() + a);
  s.push_back(numel() == 0 ? 0 : diffuse::numel(Shape(shape().begin() + a, shape().begin() + b + 1)));
  s.insert(s.end(), shape().begin() + b + 1, shape().end());
  return reshape(s);
}

// ---- copies ----------------------------------------------------------------------------------------

namespace {
// Copies (with conversion) every element of src, broadcast to dst's shape, into dst's layout.
void strided_copy(const Tensor& dst, const Tensor& src) {
  const Shape in_st = kernels::broadcast_strides(src, dst.shape());
  auto run = [&]<class TD, class TS>() {
    kernels::strided_map<TD, TS, 1>(dst.data<TD>(), dst.strides(), dst.shape(), {src.data<TS>()}, {in_st},
                                    [](TS v) { return static_cast<TD>(v); });
  };
  auto with_src = [&]<class TD>() {
    switch (src.dtype()) {
      case DType::F32: run.template operator()<TD, float>(); break;
      case DType::F64: run.template operator()<TD, double>(); break;
      case DType::I32: run.template operator()<TD, int32_t>(); break;
    }
  };
  switch (dst.dtype()) {
    case DType::F32: with_src.template operator()<float>(); break;
    case DType::F64: with_src.template operator()<double>(); break;
    case DType::I32: with_src.template operator()<int32_t>(); break;
  }
}
}  // namespace

void Tensor::copy_(const Tensor& src) const {
  if (broadcast_shapes(shape(), src.shape(), "copy_") != shape())
    shape_error("copy_", "cannot copy a tensor of shape " + to_string(src.shape()) + " into " + to_string(shape()));
  strided_copy(*this, src);
}

void Tensor::fill_(double value) const {
  copy_(Tensor::from_vector(std::vector<double>{value}, {}));
}

// contiguous: a row-major copy when needed; backward passes dy straight through.
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  ProfileScope scope("clone");
  Tensor y = Tensor::empty(shape(), dtype());
  strided_copy(y, *this);
  scope.bytes(2 * bytes_of(y));
  return record("clone", y, {*this}, [x = *this](const Tensor& g) { accumulate_grad(x, g); });
}

Tensor Tensor::to(DType target) const {
  if (dtype() == target) return *this;
  ProfileScope scope("to");
  Tensor y = Tensor::empty(shape(), target);
  strided_copy(y, *this);
  scope.bytes(bytes_of(*this) + bytes_of(y));
  return record("to", y, {*this}, [x = *this](const Tensor& g) { accumulate_grad(x, g.to(x.dtype())); });
}

// ---- printing --------------------------------------------------------------------------------------

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor(" << describe(t);
  const std::vector<double> v = t.to_vector();
  os << ", [";
  const size_t shown = std::min<size_t>(v.size(), 16);
  for (size_t i = 0; i < shown; ++i) os << (i ? ", " : "") << std::setprecision(6) << v[i];
  if (shown < v.size()) os << ", ... (" << v.size() << " values)";
  os << "]";
  if (t.requires_grad()) os << ", requires_grad";
  if (t.grad_fn()) os << ", grad_fn=" << t.grad_fn()->op;
  return os << ")";
}

}  // namespace diffuse
