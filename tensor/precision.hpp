// Mixed precision, in the autocast manner: the one place that says whether float32 products run in bfloat16.
//
// With the mode at bf16, the ops that multiply (conv2d, linear, matmul, the attention GEMMs) round their
// float32 operands to bfloat16 (8 significant bits, round to nearest even) and accumulate and write in
// float32, forward and backward. Everything else stays as it is: weights, gradients, Adam's moments, the
// EMA, norms, softmax, losses and the diffusion constants are float32 (or double), and float64 tensors
// (gradient checks) never change precision. Master weights stay float32; each op converts its weight once
// per step and its backward reads that copy (conv2d: the forward's bf16 copy in the primitive's layout;
// linear: a Bf16Matrix, gemm.hpp). While a FrozenWeights scope lives (sampling) the copies are kept.
//
// Two ways to compute the same products:
//   native    oneDNN's bf16 primitives (AVX512-BF16's vdpbf16ps, or AMX), float32 accumulation;
//   emulated  the operands rounded to bf16 values in float32 buffers, then the float32 kernels. The
//             products are exactly those of the native path (a bf16 x bf16 product is exact in float32);
//             only the order of the float32 sums differs. Slower than float32: for CPUs without native
//             bf16 (--allow-emulated) and for tests.
//
// Error bound (what test_precision checks): each operand is rounded with relative error at most
// u = 2^-8, so a product a*b picks up at most (1+u)^2 - 1 ~ 2u, and a dot product sum_k a_k b_k computed
// in bf16 with float32 accumulation differs from the float32 one by at most
//   |err| <= (2u + u^2) sum_k |a_k| |b_k|  + (float32 accumulation, ~K 2^-24 sum_k |a_k| |b_k|).
#pragma once
#include <cstdint>
#include <string>

#include "tensor/tensor.hpp"

namespace diffuse {

enum class Precision : uint8_t { F32, BF16 };

const char* precision_name(Precision p);  // "fp32", "bf16": the spelling of --precision and the config key
// "fp32" (or "float32") and "bf16" (or "bfloat16"); throws std::invalid_argument naming `where` otherwise.
Precision parse_precision(const std::string& name, const std::string& where);

struct PrecisionMode {
  Precision precision = Precision::F32;
  bool emulated = false;  // bf16 by rounding into float32 kernels (see above), not oneDNN's bf16 primitives
  bool bf16() const { return precision == Precision::BF16; }
  bool bf16_native() const { return precision == Precision::BF16 && !emulated; }
  bool bf16_emulated() const { return precision == Precision::BF16 && emulated; }
};

// The process's mode (float32 unless a PrecisionScope says otherwise). One thread sets it; the ops read it.
PrecisionMode precision_mode();

// Sets the mode while it lives, then restores the previous one.
class PrecisionScope {
 public:
  explicit PrecisionScope(PrecisionMode mode);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  PrecisionMode saved_;
};

// ---- the CPU ----------------------------------------------------------------------------------------
// oneDNN's effective ISA, e.g. "avx512_core_bf16", "avx512_core_amx", "avx512_core", "avx2" (it honours
// ONEDNN_MAX_CPU_ISA, so a test can take bf16 away).
std::string onednn_cpu_isa();
// Empty where oneDNN multiplies bf16 natively here (avx512_core_bf16 or AMX); else what is missing, e.g.
// "the CPU feature avx512_bf16 (AVX512-BF16) or amx_bf16 (AMX)".
std::string bf16_missing_feature();

// The mode for --precision p: float32 as it is; bf16 native where the CPU has it, emulated where it has
// not and allow_emulated, else std::invalid_argument naming the missing CPU feature.
PrecisionMode resolve_precision(Precision p, bool allow_emulated);

// ---- conversions (round to nearest even; NaN stays NaN) ---------------------------------------------
uint16_t to_bf16(float x);
float from_bf16(uint16_t b);
inline float round_to_bf16(float x) { return from_bf16(to_bf16(x)); }
void to_bf16(const float* in, uint16_t* out, int64_t n);
void round_to_bf16(const float* in, float* out, int64_t n);  // in == out allowed
// A fresh contiguous float32 copy of t (float32) whose values are those of t rounded to bf16; no tape.
Tensor round_to_bf16(const Tensor& t);

}  // namespace diffuse
