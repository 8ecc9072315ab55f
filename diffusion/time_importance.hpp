// Importance sampling of the training timestep by the running L_t, as VQ-Diffusion trains (Gu et al. 2022, its
// code; after Nichol & Dhariwal 2021 §3.3, eq. 17):
//
//   p_t  ∝ sqrt(E[L_t^2]) + 1e-4,   with p_1 taken as p_2 (the decoder term L_0 is not a KL)
//   E[L_t^2] per t: an exponential moving average, 0.1 L_t^2 + 0.9 (the previous), of each example's L_t
//   weight of an example drawn at t: 1 / (T p_t), so that E_{t ~ p}[weight L_t] = (1/T) sum_t L_t, the
//   uniform draw's expectation: the loss stays unbiased, its variance falls.
//
// Until every t has been seen more than 10 times, t is uniform and every weight 1. The draw inverts the
// cumulative distribution with one uniform number per example from the caller's stream. Where VQ-Diffusion's
// code writes a batch's examples of the same t at once (one of them wins), this updates them one after the
// other, in batch order.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

class TimeImportance {
 public:
  explicit TimeImportance(int64_t timesteps);
  // A saved state (history and counts of T entries each, for t = 1..T); throws std::invalid_argument otherwise.
  TimeImportance(std::vector<double> history, std::vector<int64_t> counts);

  int64_t timesteps() const { return static_cast<int64_t>(history_.size()); }
  bool warmed_up() const;  // every t seen more than 10 times
  std::vector<double> probabilities() const;  // p_t for t = 1..T (uniform before the warm-up)

  struct Draw {
    Tensor t;       // int32 [batch], in 1..T
    Tensor weight;  // float64 [batch]: 1 / (T p_t)
  };
  Draw sample(int64_t batch, Philox& rng) const;
  // Records each example's L_t (t int32 [n] in 1..T, loss [n] in nats, float32 or float64).
  void update(const Tensor& t, const Tensor& loss);

  const std::vector<double>& history() const { return history_; }
  const std::vector<int64_t>& counts() const { return counts_; }

 private:
  std::vector<double> history_;  // E[L_t^2]
  std::vector<int64_t> counts_;
};

}  // namespace diffuse::diffusion
