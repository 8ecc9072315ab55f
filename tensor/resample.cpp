// Nearest 2x upsampling and 2x2 average pooling, forward and backward.
//
// Both ops treat x [N, C, H, W] as R = N C independent planes. Two kernels do all the work:
//   repeat2x2: out [R, 2H, 2W] = scale * in [R, H, W], each value copied into its 2x2 window;
//   sum2x2:    out [R, H, W]   = scale * the sum of each 2x2 window of in [R, 2H, 2W].
// They are adjoint to each other (for equal scales), which gives the backward passes:
//   upsample_nearest2x: y = repeat2x2(x, 1)     dx = sum2x2(dy, 1)
//   avg_pool2x2:        y = sum2x2(x, 1/4)      dx = repeat2x2(dy, 1/4)
// Work is split by input / output row, so each thread streams whole rows.
#include "tensor/resample.hpp"

#include <algorithm>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace diffuse {

namespace {

// One row of the small grid per work item: row r of in [R H, W] fills rows 2r and 2r + 1 of out [2 R H, 2W].
template <class T>
void repeat2x2(const T* in, T* out, int64_t R, int64_t H, int64_t W, T scale) {
  kernels::parallel_for(R * H, std::max<int64_t>(1, 16384 / std::max<int64_t>(W, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* src = in + r * W;
      T* top = out + r * 4 * W;  // row 2r of the large grid
      T* bottom = top + 2 * W;   // row 2r + 1
#pragma omp simd
      for (int64_t j = 0; j < W; ++j) {
        const T v = scale * src[j];
        top[2 * j] = v;
        top[2 * j + 1] = v;
      }
      std::copy(top, top + 2 * W, bottom);
    }
  });
}

// One row of the small grid per work item: row r of out [R H, W] sums rows 2r and 2r + 1 of in [2 R H, 2W].
template <class T>
void sum2x2(const T* in, T* out, int64_t R, int64_t H, int64_t W, T scale) {
  kernels::parallel_for(R * H, std::max<int64_t>(1, 16384 / std::max<int64_t>(W, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* top = in + r * 4 * W;
      const T* bottom = top + 2 * W;
      T* dst = out + r * W;
#pragma omp simd
      for (int64_t j = 0; j < W; ++j)
        dst[j] = scale * ((top[2 * j] + top[2 * j + 1]) + (bottom[2 * j] + bottom[2 * j + 1]));
    }
  });
}

void check_4d(const char* op, const Tensor& x) {
  if (x.dim() != 4 || x.dtype() == DType::I32)
    shape_error(op, "input " + describe(x) + " must be a floating [N, C, H, W] tensor");
}

// The small grid [N, C, H, W] (fine = false) or the large one [N, C, 2H, 2W] (fine = true) of x's shape.
Shape scaled(const Shape& s, bool fine) {
  return fine ? Shape{s[0], s[1], 2 * s[2], 2 * s[3]} : Shape{s[0], s[1], s[2] / 2, s[3] / 2};
}

}  // namespace

// x [N, C, H, W] -> y [N, C, 2H, 2W]; y = repeat2x2(x), dx = sum2x2(dy).
Tensor upsample_nearest2x(const Tensor& x) {
  ProfileScope scope("upsample_nearest2x");
  check_4d("upsample_nearest2x", x);
  const int64_t R = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  Tensor xc;
  {
    NoGradGuard no_grad;
    xc = x.contiguous();
  }
  Tensor y = Tensor::empty(scaled(x.shape(), true), x.dtype());
  dispatch_float(x.dtype(), "upsample_nearest2x",
                 [&]<class T>() { repeat2x2<T>(xc.data<T>(), y.data<T>(), R, H, W, T(1)); });
  return record("upsample_nearest2x", y, {x}, [x, R, H, W](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), "upsample_nearest2x",
                   [&]<class T>() { sum2x2<T>(gc.data<T>(), dx.data<T>(), R, H, W, T(1)); });
    accumulate_grad(x, dx);
  });
}

// x [N, C, H, W] (H, W even) -> y [N, C, H/2, W/2]; y = sum2x2(x) / 4, dx = repeat2x2(dy) / 4.
Tensor avg_pool2x2(const Tensor& x) {
  ProfileScope scope("avg_pool2x2");
  check_4d("avg_pool2x2", x);
  if (x.shape()[2] % 2 != 0 || x.shape()[3] % 2 != 0)
    shape_error("avg_pool2x2", "input " + describe(x) + " needs an even height and width");
  const int64_t R = x.shape()[0] * x.shape()[1], H = x.shape()[2] / 2, W = x.shape()[3] / 2;
  Tensor xc;
  {
    NoGradGuard no_grad;
    xc = x.contiguous();
  }
  Tensor y = Tensor::empty(scaled(x.shape(), false), x.dtype());
  dispatch_float(x.dtype(), "avg_pool2x2",
                 [&]<class T>() { sum2x2<T>(xc.data<T>(), y.data<T>(), R, H, W, T(0.25)); });
  return record("avg_pool2x2", y, {x}, [x, R, H, W](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch_float(x.dtype(), "avg_pool2x2",
                   [&]<class T>() { repeat2x2<T>(gc.data<T>(), dx.data<T>(), R, H, W, T(0.25)); });
    accumulate_grad(x, dx);
  });
}

}  // namespace diffuse
