// The differentiable ops. Each is a free function that computes its result eagerly and, when a tape is
// being recorded, attaches a Node whose backward adds the input gradients (see autograd.hpp).
// Binary elementwise ops broadcast like NumPy; their gradients are summed back to each input's shape.
// Results are new contiguous tensors unless the op is a view (see tensor.hpp).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse {

// ---- elementwise, binary with broadcasting (ops_elementwise.cpp) ---------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(const Tensor& a, double s);

// ---- elementwise, unary (ops_unary.cpp) -----------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);  // ln(1 + x), for x near 0
Tensor expm1(const Tensor& x);  // e^x - 1, for x near 0
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor silu(const Tensor& x);  // x * sigmoid(x)
enum class GeluForm { Erf, Tanh };
Tensor gelu(const Tensor& x, GeluForm form = GeluForm::Erf);
Tensor clamp(const Tensor& x, double lo, double hi);  // gradient passes where lo <= x <= hi

// ---- reductions (ops_reduce.cpp) ---------------------------------------------------------------
// `axes` empty means all axes. keepdim keeps reduced axes with size 1.
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
// Sums a broadcast gradient back to `shape` (the reverse of expand).
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- softmax and losses (ops_softmax.cpp) --------------------------------------------------------
Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);
enum class Reduction { None, Sum, Mean };
// Cross-entropy of logits [..., K] against int32 targets [...]. With `weight` (same shape as targets),
// element i contributes weight_i * ce_i and Mean divides by sum(weight) (a 0/1 mask gives the mean
// over the selected elements); without it Mean divides by the element count.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, Reduction reduction = Reduction::Mean,
                     const Tensor& weight = Tensor());

// ---- linear algebra on sgemm/dgemm (ops_matmul.cpp) --------------------------------------------
// a [..., M, K] @ b [..., K, N] -> [..., M, N], batch dims broadcast. Transposed views are passed to
// BLAS as transposes, without a copy.
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., in] , weight [out, in] (PyTorch layout), bias [out] or undefined -> [..., out]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- indexing and layout (ops_index.cpp) -------------------------------------------------------
// weight [V, D], ids int32 [...] -> [..., D]; backward scatter-adds into weight's gradient.
Tensor embedding(const Tensor& weight, const Tensor& ids);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);  // views
// cond is any dtype (non-zero = true); cond, a and b broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- training layers (ops_layers.cpp) ----------------------------------------------------------
class Philox;
// Zeroes each element with probability p and scales the rest by 1/(1-p); the identity when !training.
Tensor dropout(const Tensor& x, double p, bool training, Philox& rng);
// Normalises over the last axis (size C): weight and bias are [C] or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

// ---- in place, outside the tape (optimizers, gradient accumulation, initialisation) -----------------
void add_(const Tensor& dst, const Tensor& src, double alpha = 1.0);  // dst += alpha * src (broadcast src)
void scale_(const Tensor& dst, double s);                             // dst *= s

}  // namespace diffuse
