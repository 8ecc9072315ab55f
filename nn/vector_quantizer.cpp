// Vector quantisation, its losses, the EMA codebook and dead-code restart (nn/vector_quantizer.hpp;
// van den Oord et al. 2017 eqs. 1, 3 and 6-8; docs/math.md §12).
#include "nn/vector_quantizer.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse::nn {

// z [B, d, g, g] -> [B, g, g, d] -> [B g g, d]
Tensor code_rows(const Tensor& z) { return z.permute({0, 2, 3, 1}).contiguous().reshape({-1, z.size(1)}); }

// Eq. 1: z [N, d], codebook [K, d] -> int32 [N]. No tape.
Tensor nearest_codes(const Tensor& z_rows, const Tensor& codebook) {
  if (z_rows.dim() != 2 || codebook.dim() != 2 || z_rows.size(1) != codebook.size(1))
    throw std::invalid_argument("nearest_codes: rows [N, d] and codebook [K, d] expected, got " + to_string(z_rows.shape()) +
                                " and " + to_string(codebook.shape()));
  NoGradGuard no_grad;
  const int64_t N = z_rows.size(0), K = codebook.size(0), d = codebook.size(1);
  const Tensor z = z_rows.to(DType::F64).contiguous(), e = codebook.to(DType::F64).contiguous();
  const Tensor dots = matmul(z, e.transpose(0, 1)).contiguous();  // [N, K] z_n . e_k in double
  std::vector<double> norms(static_cast<size_t>(K), 0.0);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < d; ++j) norms[static_cast<size_t>(k)] += e.data<double>()[k * d + j] * e.data<double>()[k * d + j];
  Tensor codes = Tensor::empty({N}, DType::I32);
  for (int64_t n = 0; n < N; ++n) {
    const double* row = dots.data<double>() + n * K;
    int64_t best = 0;
    double best_value = std::numeric_limits<double>::infinity();
    for (int64_t k = 0; k < K; ++k) {
      const double v = norms[static_cast<size_t>(k)] - 2.0 * row[k];
      if (v < best_value) best_value = v, best = k;
    }
    codes.data<int32_t>()[n] = static_cast<int32_t>(best);
  }
  return codes;
}

// §3.2: z [N, d], e [N, d] -> [N, d] = e; backward: dz += dout (e gets nothing).
Tensor straight_through(const Tensor& z, const Tensor& e) {
  if (z.shape() != e.shape())
    throw std::invalid_argument("straight_through: z and e must have one shape, got " + to_string(z.shape()) + " and " + to_string(e.shape()));
  Tensor out;
  {
    NoGradGuard no_grad;
    out = e.contiguous().clone();
  }
  return record("straight_through", out, {z}, [z](const Tensor& grad_out) { accumulate_grad(z, grad_out); });
}

Quantized quantize(const Tensor& z_e, const Tensor& codebook) {
  if (z_e.dim() != 4 || codebook.dim() != 2 || z_e.size(1) != codebook.size(1))
    throw std::invalid_argument("quantize: z_e [B, d, g, g] and codebook [K, d] expected, got " + to_string(z_e.shape()) + " and " +
                                to_string(codebook.shape()));
  const int64_t B = z_e.size(0), d = z_e.size(1), g1 = z_e.size(2), g2 = z_e.size(3);
  Quantized q;
  q.rows = code_rows(z_e);                                      // [N, d]
  const Tensor codes = nearest_codes(q.rows, codebook);         // [N]
  const Tensor e = embedding(codebook, codes);                  // [N, d], differentiable in the codebook
  q.codebook_loss = mean(square(q.rows.detach() - e));          // ||sg[z_e] - e||^2
  q.commitment_loss = mean(square(q.rows - e.detach()));        // ||z_e - sg[e]||^2
  q.z_q = straight_through(q.rows, e.detach()).reshape({B, g1, g2, d}).permute({0, 3, 1, 2}).contiguous();
  q.codes = codes.reshape({B, g1, g2});
  return q;
}

CodebookEma::CodebookEma(const Tensor& codebook, double decay, double epsilon)
    : K(codebook.size(0)), d(codebook.size(1)), decay(decay), epsilon(epsilon), count(static_cast<size_t>(K), 0.0) {
  if (!(decay > 0 && decay < 1)) throw std::invalid_argument("model.ema_decay: in (0, 1), got " + std::to_string(decay));
  if (!(epsilon > 0)) throw std::invalid_argument("model.ema_epsilon: must be positive, got " + std::to_string(epsilon));
  const Tensor e = codebook.detach().to(DType::F64).contiguous();
  sum.assign(e.data<double>(), e.data<double>() + K * d);
}

// Appendix A.1 eqs. 6-8 with Laplace-smoothed counts.
void CodebookEma::update(const Tensor& z_rows, const Tensor& codes, const Tensor& codebook) {
  const Tensor z = z_rows.detach().to(DType::F64).contiguous();
  const int64_t N = z.size(0);
  std::vector<double> n_k(static_cast<size_t>(K), 0.0), batch_sum(static_cast<size_t>(K * d), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t k = codes.data<int32_t>()[n];
    n_k[static_cast<size_t>(k)] += 1;
    for (int64_t j = 0; j < d; ++j) batch_sum[static_cast<size_t>(k * d + j)] += z.data<double>()[n * d + j];
  }
  double total = 0;
  for (int64_t k = 0; k < K; ++k) {
    count[static_cast<size_t>(k)] = decay * count[static_cast<size_t>(k)] + (1 - decay) * n_k[static_cast<size_t>(k)];  // eq. 6
    for (int64_t j = 0; j < d; ++j) {
      double& m = sum[static_cast<size_t>(k * d + j)];
      m = decay * m + (1 - decay) * batch_sum[static_cast<size_t>(k * d + j)];  // eq. 7
    }
    total += count[static_cast<size_t>(k)];
  }
  float* e = codebook.data<float>();
  for (int64_t k = 0; k < K; ++k) {
    const double smoothed = (count[static_cast<size_t>(k)] + epsilon) / (total + static_cast<double>(K) * epsilon) * total;
    if (!(smoothed > 0)) continue;
    for (int64_t j = 0; j < d; ++j) e[k * d + j] = static_cast<float>(sum[static_cast<size_t>(k * d + j)] / smoothed);  // eq. 8
  }
}

DeadCodeRestart::DeadCodeRestart(int64_t codebook_size, int64_t after) : after(after), unused(static_cast<size_t>(codebook_size), 0) {
  if (after < 1) throw std::invalid_argument("model.restart_after: at least 1 step (0 turns restarts off), got " + std::to_string(after));
}

std::vector<int64_t> DeadCodeRestart::step(const Tensor& z_rows, const Tensor& codes, const Tensor& codebook, Philox& rng, CodebookEma* ema) {
  const int64_t K = static_cast<int64_t>(unused.size()), N = codes.numel(), d = codebook.size(1);
  std::vector<bool> chosen(static_cast<size_t>(K), false);
  for (int64_t n = 0; n < N; ++n) chosen[static_cast<size_t>(codes.data<int32_t>()[n])] = true;
  const Tensor z = z_rows.detach().contiguous().to(DType::F32).contiguous();
  float* e = codebook.data<float>();
  std::vector<int64_t> restarted;
  for (int64_t k = 0; k < K; ++k) {
    int64_t& u = unused[static_cast<size_t>(k)];
    u = chosen[static_cast<size_t>(k)] ? 0 : u + 1;
    if (u < after) continue;
    const int64_t n = std::min<int64_t>(N - 1, static_cast<int64_t>(rng.uniform() * static_cast<double>(N)));
    std::memcpy(e + k * d, z.data<float>() + n * d, static_cast<size_t>(d) * sizeof(float));
    if (ema) {
      ema->count[static_cast<size_t>(k)] = 1.0;
      for (int64_t j = 0; j < d; ++j) ema->sum[static_cast<size_t>(k * d + j)] = z.data<float>()[n * d + j];
    }
    u = 0;
    restarted.push_back(k);
  }
  return restarted;
}

namespace {
template <class T>
std::string to_hex(const std::vector<T>& v) {
  static const char* digits = "0123456789abcdef";
  const auto* bytes = reinterpret_cast<const unsigned char*>(v.data());
  std::string s(v.size() * sizeof(T) * 2, '0');
  for (size_t i = 0; i < v.size() * sizeof(T); ++i) s[2 * i] = digits[bytes[i] >> 4], s[2 * i + 1] = digits[bytes[i] & 15];
  return s;
}
template <class T>
void from_hex(const std::map<std::string, std::string>& meta, const std::string& key, std::vector<T>& v, const std::string& path) {
  const auto it = meta.find(key);
  if (it == meta.end()) throw std::runtime_error(path + ": the checkpoint has no '" + key + "' (the VQ-VAE's codebook statistics)");
  if (it->second.size() != v.size() * sizeof(T) * 2)
    throw std::runtime_error(path + ": '" + key + "' holds " + std::to_string(it->second.size() / 2) + " bytes, this model needs " +
                             std::to_string(v.size() * sizeof(T)));
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw std::runtime_error(path + ": '" + key + "' is not hexadecimal");
  };
  auto* bytes = reinterpret_cast<unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(T); ++i)
    bytes[i] = static_cast<unsigned char>(nibble(it->second[2 * i]) * 16 + nibble(it->second[2 * i + 1]));
}
}  // namespace

void save_quantizer_state(const CodebookEma* ema, const DeadCodeRestart* restart, std::map<std::string, std::string>& meta) {
  if (ema) meta["vq.ema_count"] = to_hex(ema->count), meta["vq.ema_sum"] = to_hex(ema->sum);
  if (restart) meta["vq.unused"] = to_hex(restart->unused);
}

void restore_quantizer_state(CodebookEma* ema, DeadCodeRestart* restart, const std::map<std::string, std::string>& meta,
                             const std::string& path) {
  if (ema) from_hex(meta, "vq.ema_count", ema->count, path), from_hex(meta, "vq.ema_sum", ema->sum, path);
  if (restart) from_hex(meta, "vq.unused", restart->unused, path);
}

CodeUsage code_usage(const std::vector<int64_t>& histogram) {
  CodeUsage u;
  double total = 0, entropy = 0;
  for (int64_t c : histogram) total += static_cast<double>(c), u.used += c > 0;
  for (int64_t c : histogram)
    if (c > 0) entropy -= static_cast<double>(c) / total * std::log(static_cast<double>(c) / total);
  u.perplexity = total > 0 ? std::exp(entropy) : 0.0;
  return u;
}

}  // namespace diffuse::nn
