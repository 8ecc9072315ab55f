#include "tensor/precision.hpp"

#include <oneapi/dnnl/dnnl.h>

#include <cstring>
#include <stdexcept>

#include "tensor/autograd.hpp"
#include "tensor/kernels.hpp"

namespace diffuse {

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "fp32"; }

Precision parse_precision(const std::string& name, const std::string& where) {
  if (name == "fp32" || name == "float32") return Precision::F32;
  if (name == "bf16" || name == "bfloat16") return Precision::BF16;
  throw std::invalid_argument(where + ": unknown precision '" + name + "' (fp32 or bf16)");
}

namespace {
PrecisionMode& current_mode() {
  static PrecisionMode mode;
  return mode;
}
}  // namespace

PrecisionMode precision_mode() { return current_mode(); }

PrecisionScope::PrecisionScope(PrecisionMode mode) : saved_(current_mode()) { current_mode() = mode; }
PrecisionScope::~PrecisionScope() { current_mode() = saved_; }

// ---- the CPU ----------------------------------------------------------------------------------------

std::string onednn_cpu_isa() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "all";
  }
}

std::string bf16_missing_feature() {
  const unsigned isa = dnnl_get_effective_cpu_isa();
  // The ISA values are bit sets: avx512_core_bf16 (0xe7) is contained in avx512_core_amx (0x3e7).
  if (isa != dnnl_cpu_isa_all && (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16) return "";
  __builtin_cpu_init();
  const bool cpu_has = __builtin_cpu_supports("avx512bf16");
  std::string what = "the CPU feature avx512_bf16 (AVX512-BF16: Intel Cooper Lake, AMD Zen 4 and later) or amx_bf16 "
                     "(Intel Sapphire Rapids and later)";
  if (cpu_has)  // the CPU has it, but oneDNN was told not to use it
    what = "oneDNN's avx512_core_bf16 ISA: the CPU has avx512_bf16, but oneDNN runs at most " + onednn_cpu_isa() +
           " (ONEDNN_MAX_CPU_ISA?)";
  return what;
}

PrecisionMode resolve_precision(Precision p, bool allow_emulated) {
  if (p == Precision::F32) return {};
  const std::string missing = bf16_missing_feature();
  if (missing.empty()) return {Precision::BF16, false};
  if (!allow_emulated)
    throw std::invalid_argument("--precision bf16: this machine does not multiply bfloat16 natively: it lacks " + missing +
                                " (oneDNN's ISA here: " + onednn_cpu_isa() +
                                "); --allow-emulated runs the same arithmetic by rounding into float32 kernels, "
                                "slower than float32");
  return {Precision::BF16, true};
}

// ---- conversions ------------------------------------------------------------------------------------
// Round to nearest even on the upper 16 bits: add 0x7fff plus the lowest kept bit, then truncate. An
// overflow of the mantissa carries into the exponent, which is the correct rounding (up to infinity at
// the top). NaN is kept a (quiet) NaN, which the addition could otherwise turn into infinity.

uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float from_bf16(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

void to_bf16(const float* in, uint16_t* out, int64_t n) {
  const auto* bits = reinterpret_cast<const uint32_t*>(in);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = bits[i];
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    out[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40 : rounded);
  }
}

void round_to_bf16(const float* in, float* out, int64_t n) {
  const auto* bits = reinterpret_cast<const uint32_t*>(in);
  auto* obits = reinterpret_cast<uint32_t*>(out);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = bits[i];
    const uint32_t rounded = ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16) << 16;
    obits[i] = (u & 0x7fffffffu) > 0x7f800000u ? u | 0x400000u : rounded;
  }
}

Tensor round_to_bf16(const Tensor& t) {
  if (t.dtype() != DType::F32) throw std::invalid_argument("round_to_bf16: expected float32, got " + describe(t));
  NoGradGuard no_grad;
  const Tensor src = t.contiguous();
  Tensor out = Tensor::empty(t.shape());
  const float* in = src.data<float>();
  float* o = out.data<float>();
  kernels::parallel_for(out.numel(), 1 << 16, [&](int64_t i0, int64_t i1) { round_to_bf16(in + i0, o + i0, i1 - i0); });
  return out;
}

}  // namespace diffuse
