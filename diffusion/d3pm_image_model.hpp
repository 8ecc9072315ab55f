// The x0-model of D3PM on images (Austin et al. 2021, §6): a U-Net reads x_t (pixel values scaled to
// [-1, 1], as the DDPM data) and gives, per subpixel, either the truncated discretized logistic's location
// and log-scale (discretized_logistic.hpp) or 256 plain logits. The D3PM code sees an image as a sequence
// of C*H*W categorical variables in CHW order, each with K = 256 values.
#pragma once
#include "diffusion/d3pm_diffusion.hpp"
#include "nn/unet.hpp"

namespace diffuse::diffusion {

constexpr int64_t kPixelValues = 256;

enum class ImageOutput {
  Logistic,  // 2C output channels: loc = tanh(h_loc + x_t scaled) (the reference's residual form), log_scale
  Logits,    // 256C output channels: channel c*256 + k holds the logit of value k of channel c
};
ImageOutput parse_image_output(const std::string& name);  // "logistic" | "logits"
int64_t image_output_channels(ImageOutput output, int64_t channels);

// int32 pixel values [B, C*H*W] -> float32 [B, C, H, W] in [-1, 1] (v * 2/255 - 1), and back (rounded).
Tensor pixel_values_to_images(const Tensor& values, const Shape& image_shape);
Tensor images_to_pixel_values(const Tensor& images);

// ptilde(x0 | x_t) logits [B, C*H*W, 256] from the U-Net; rng drives its dropout in training mode. The
// ptilde of Austin et al. eq. 4; with Logistic, the truncated logistic of their Appendix A.8 (docs/math.md
// §3.12).
X0Model image_x0_model(const nn::UNet& net, ImageOutput output, Philox& rng);

}  // namespace diffuse::diffusion
