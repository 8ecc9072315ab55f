// Scores of image samples in a clean image classifier's features (docs/math.md §10.3-§10.5):
//
//   diffuse evaluate --samples S.npz --classifier C [--data DIR] [--n N] [--k K] [--json]
//   diffuse evaluate --fd-floor --classifier C [--data DIR] [--n N] [--k K] [--json]
//
// The first N samples of S.npz ('arr_0', uint8 [N, H, W, C], as `diffuse sample` writes it; N defaults to all of
// them) and the first N test images of C's dataset go through C (apps/image_classifier.hpp, classifier.input =
// clean); its penultimate features give
//   FD-classifier: the Fréchet distance between Gaussians fitted to the two sets of features (never called FID:
//     Inception-v3's weights are not in the engine, and another network's features give other numbers; published
//     FIDs come from pytorch-fid or clean-fid on the .npz);
//   precision and recall (Kynkäänniemi et al. 2019) with k-NN radii, k = --k (3);
//   class accuracy, when S.npz holds 'labels' [N]: the share of samples C assigns the class that was asked for.
// --fd-floor puts the first N training images in the samples' place: the figures of real data, the floor that
// samples can approach (FD-classifier between train and test is not 0: two finite samples of one distribution).
// Samples of another resolution or number of channels than C's are refused, naming both.
#pragma once
#include "apps/command_options.hpp"

namespace diffuse {

// `evaluate --samples S.npz --classifier C` and `evaluate --fd-floor --classifier C`.
int run_image_sample_scores(const EvaluateOptions& options);

}  // namespace diffuse
