// Reductions over axes: sum, mean, max, and sum_to (the gradient of broadcasting).
// Shapes: x [...] -> y with the reduced axes removed (or kept as size 1 with keepdim).
// Sums accumulate in double whatever the tensor's type.
#include <limits>
#include <numeric>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {
// Which axes are reduced, and the output shapes with and without the reduced axes.
struct ReducePlan {
  std::vector<bool> reduced;
  Shape keep_shape;  // reduced axes as 1
  Shape out_shape;   // reduced axes removed
  int64_t rows = 1;  // number of outputs
  int64_t cols = 1;  // elements reduced into each output
};

ReducePlan plan_reduce(const Tensor& x, const std::vector<int64_t>& axes, const char* op) {
  ReducePlan p;
  p.reduced.assign(x.dim(), axes.empty());
  for (int64_t a : axes) {
    const int64_t w = wrap_axis(a, x.dim(), op);
    if (p.reduced[w]) shape_error(op, "axis " + std::to_string(a) + " is listed twice");
    p.reduced[w] = true;
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    p.keep_shape.push_back(p.reduced[d] ? 1 : x.shape()[d]);
    if (p.reduced[d]) p.cols *= x.shape()[d];
    else {
      p.out_shape.push_back(x.shape()[d]);
      p.rows *= x.shape()[d];
    }
  }
  return p;
}

// x permuted to (kept axes..., reduced axes...) and made contiguous: each output reduces one row.
Tensor rows_layout(const Tensor& x, const ReducePlan& p) {
  std::vector<int64_t> order;
  for (int64_t d = 0; d < x.dim(); ++d) if (!p.reduced[d]) order.push_back(d);
  for (int64_t d = 0; d < x.dim(); ++d) if (p.reduced[d]) order.push_back(d);
  NoGradGuard no_grad;  // an internal copy, not a tape op
  return x.permute(order).contiguous();
}

bool reduces_leading_axes(const Tensor& x, const ReducePlan& p) {
  int64_t d = 0;
  while (d < x.dim() && p.reduced[d]) ++d;
  for (int64_t e = d; e < x.dim(); ++e) if (p.reduced[e]) return false;
  return d > 0;
}

Tensor sum_kernel(const Tensor& x, const ReducePlan& p) {
  return dispatch_float(x.dtype(), "sum", [&]<class T>() {
    Tensor y = Tensor::empty(p.out_shape, x.dtype());
    T* out = y.data<T>();
    if (x.is_contiguous() && reduces_leading_axes(x, p) && p.rows > 1) {
      // Column sums: x is [cols, rows] in memory, out[r] = sum_c x[c, r] (bias gradients).
      const T* in = x.data<T>();
      kernels::parallel_for(p.rows, 256, [&](int64_t r0, int64_t r1) {
        std::vector<double> acc(r1 - r0, 0.0);
        for (int64_t c = 0; c < p.cols; ++c) {
          const T* row = in + c * p.rows;
          for (int64_t r = r0; r < r1; ++r) acc[r - r0] += row[r];
        }
        for (int64_t r = r0; r < r1; ++r) out[r] = static_cast<T>(acc[r - r0]);
      });
      return y;
    }
    const Tensor xr = rows_layout(x, p);
    const T* in = xr.data<T>();
    kernels::parallel_for(p.rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(p.cols, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        double acc = 0;
        const T* row = in + r * p.cols;
        for (int64_t c = 0; c < p.cols; ++c) acc += row[c];
        out[r] = static_cast<T>(acc);
      }
    });
    return y;
  });
}
}  // namespace

// y = sum of x over `axes`; dx = dy broadcast back over the reduced axes.
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  ProfileScope scope("sum");
  const ReducePlan p = plan_reduce(x, axes, "sum");
  Tensor y = sum_kernel(x, p);
  if (keepdim) y = y.detach().view(p.keep_shape);
  return record("sum", y, {x}, [x, keep = p.keep_shape](const Tensor& g) {
    accumulate_grad(x, g.reshape(keep).expand(x.shape()));
  });
}

// y = sum / count; dx = dy / count broadcast back.
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  ProfileScope scope("mean");
  const ReducePlan p = plan_reduce(x, axes, "mean");
  if (p.cols == 0) shape_error("mean", "mean over zero elements of shape " + to_string(x.shape()));
  Tensor y = sum_kernel(x, p);
  scale_(y, 1.0 / static_cast<double>(p.cols));
  if (keepdim) y = y.detach().view(p.keep_shape);
  return record("mean", y, {x}, [x, keep = p.keep_shape, n = p.cols](const Tensor& g) {
    accumulate_grad(x, mul(g.reshape(keep), 1.0 / static_cast<double>(n)).expand(x.shape()));
  });
}

// y = max of x over `axes`; dx = dy at the (first) maximising element, 0 elsewhere.
Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  ProfileScope scope("max");
  const ReducePlan p = plan_reduce(x, axes, "max");
  if (p.cols == 0) shape_error("max", "max over zero elements of shape " + to_string(x.shape()));
  const Tensor xr = rows_layout(x, p);
  std::vector<int64_t> argmax(p.rows);
  Tensor y = dispatch_float(x.dtype(), "max", [&]<class T>() {
    Tensor out = Tensor::empty(p.out_shape, x.dtype());
    const T* in = xr.data<T>();
    T* maxima = out.data<T>();
    kernels::parallel_for(p.rows, std::max<int64_t>(1, 32768 / p.cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = in + r * p.cols;
        int64_t best = 0;
        for (int64_t c = 1; c < p.cols; ++c) if (row[c] > row[best]) best = c;
        argmax[r] = best;
        maxima[r] = row[best];
      }
    });
    return out;
  });
  if (keepdim) y = y.detach().view(p.keep_shape);
  return record("max", y, {x}, [x, p, argmax = std::move(argmax), permuted = xr.shape()](const Tensor& g) {
    // Scatter dy into a [rows, cols] zero tensor at the argmax, then undo the permutation.
    const Tensor gc = g.contiguous();
    Tensor dr = Tensor::zeros(permuted, g.dtype());
    dispatch_float(g.dtype(), "max", [&]<class T>() {
      const T* gv = gc.data<T>();
      T* d = dr.data<T>();
      for (int64_t r = 0; r < p.rows; ++r) d[r * p.cols + argmax[r]] = gv[r];
    });
    std::vector<int64_t> order, inverse(x.dim());
    for (int64_t d = 0; d < x.dim(); ++d) if (!p.reduced[d]) order.push_back(d);
    for (int64_t d = 0; d < x.dim(); ++d) if (p.reduced[d]) order.push_back(d);
    for (int64_t i = 0; i < x.dim(); ++i) inverse[order[i]] = i;
    accumulate_grad(x, dr.permute(inverse));
  });
}

// Sums x over the axes that broadcasting added to (or expanded in) `shape`.
Tensor sum_to(const Tensor& x, const Shape& shape) {
  ProfileScope scope("sum_to");
  if (x.shape() == shape) return x;
  if (shape.size() > x.shape().size())
    shape_error("sum_to", "cannot reduce shape " + to_string(x.shape()) + " to " + to_string(shape));
  const size_t lead = x.shape().size() - shape.size();
  std::vector<int64_t> axes;
  for (size_t d = 0; d < x.shape().size(); ++d) {
    if (d < lead) axes.push_back(static_cast<int64_t>(d));
    else if (shape[d - lead] == 1 && x.shape()[d] != 1) axes.push_back(static_cast<int64_t>(d));
    else if (shape[d - lead] != x.shape()[d])
      shape_error("sum_to", "cannot reduce shape " + to_string(x.shape()) + " to " + to_string(shape));
  }
  return sum(x, axes, true).reshape(shape);
}

}  // namespace diffuse
