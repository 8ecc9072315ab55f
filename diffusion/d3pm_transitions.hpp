// D3PM one-step transition matrices (Austin et al. 2021, Appendix A.2; docs/math.md §3.3), dense and in
// double precision.
// Convention: [Q]_ij = q(x_t = j | x_{t-1} = i), so every row sums to 1 and a distribution (a row vector)
// moves forward as p Q.
//
// The state space (D3pmStates) has K states. One of them may be the mask (absorbing) state m:
//   * an EXTRA mask (text: 27 characters + the mask = 28, m = 27): m is not a data value; x0 never takes it
//     and the reverse process forces ptilde's logit at m to -inf. The other kinds (uniform, Gaussian,
//     nearest neighbour) then act on the K - 1 data states only and leave m isolated (its row is e_m),
//     except the nearest-neighbour kind's optional final all-to-mask step.
//   * a mask that IS a data value (images: K = 256, absorbing state 128 = K/2, mask_is_data = true): m is an
//     ordinary state that the data and ptilde may take; only the absorbing kind treats it specially.
// "Data states" are all states but an extra mask, in increasing id order; the Gaussian kind's ordinal
// index is the position among them.
#pragma once
#include <cstdint>
#include <vector>

#include "diffusion/d3pm_matrix.hpp"

namespace diffuse::diffusion {

struct D3pmStates {
  int64_t num_states = 28;    // K: every id the chain visits (= the network's output size)
  int64_t mask = 27;          // the mask / absorbing state's id, or -1 for none
  bool mask_is_data = false;  // true: the mask id is also a data value (the image absorbing state 128)

  bool has_mask() const { return mask >= 0; }
  bool has_extra_mask() const { return mask >= 0 && !mask_is_data; }
  int64_t num_data() const { return num_states - (has_extra_mask() ? 1 : 0); }  // K_d
  bool is_data(int64_t id) const { return !(has_extra_mask() && id == mask); }
  std::vector<int64_t> data_ids() const;  // the K_d data states in increasing order
  void validate() const;                  // throws std::invalid_argument naming the problem
};

// Uniform: Q = (1 - beta) I + beta/K_d 11^T over the data states; an extra mask is isolated. Austin et al.
// eq. 6.
DenseMatrix uniform_matrix(const D3pmStates& states, double beta);
// Absorbing: Q = (1 - beta) I + beta 1 e_m^T (needs a mask). Austin et al. eq. 7.
DenseMatrix absorbing_matrix(const D3pmStates& states, double beta);
// Discretized Gaussian over the K_d ordinal data states (an extra mask is isolated): for i != j
//   [Q]_ij = exp(-4 (i-j)^2 / ((K_d-1)^2 beta)) / sum_{n=-(K_d-1)..K_d-1} exp(-4 n^2 / ((K_d-1)^2 beta)),
// and the diagonal makes each row sum to 1. Symmetric, hence doubly stochastic. Austin et al. eq. 8.
DenseMatrix gaussian_matrix(const D3pmStates& states, double beta);
// The off-diagonal values of the Gaussian kind by distance: g[d] = [Q]_{i, i+d} for d = 1..K_d-1 (g[0] = 0).
// Austin et al. eq. 8, first case.
std::vector<double> gaussian_offdiagonal(int64_t num_data, double beta);
// Mask-and-replace (VQ-Diffusion; needs an extra mask): a data token stays with alpha + beta, moves to each
// other data token with beta and to the mask with gamma; the mask is absorbing. alpha = 1 - K_d beta - gamma.
// Gu et al. 2022 (VQ-Diffusion); docs/math.md §3.3.5.
DenseMatrix mask_replace_matrix(const D3pmStates& states, double alpha, double beta, double gamma);
// Every state goes to the mask: Q = 1 e_m^T (the nearest-neighbour kind's optional final step).
DenseMatrix all_to_mask_matrix(const D3pmStates& states);

// ---- nearest neighbour ----------------------------------------------------------------------------------
// Embeddings: rows x dim doubles, row-major, one row per data state (rows = K_d), or one per state (rows = K;
// the extra mask's row is then ignored).
// Each data token's k nearest other data tokens by Euclidean distance between the unit-normalised embeddings
// (self excluded; ties go to the lower id) give A' (A'_ij = 1 for j among i's neighbours); then
// A = (A' + A'^T) / (2k) and the rate matrix R = A - diag(A 1): symmetric, rows summing to 0, zero on the
// extra mask's row and column. Returned as K x K. Austin et al. eq. 9 (Appendix A.2.4).
DenseMatrix nearest_neighbor_rate(const D3pmStates& states, const std::vector<double>& embeddings, int64_t rows,
                                  int64_t dim, int64_t knn);

}  // namespace diffuse::diffusion
