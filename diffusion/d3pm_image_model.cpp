#include "diffusion/d3pm_image_model.hpp"

#include <cmath>
#include <stdexcept>

#include "diffusion/discretized_logistic.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

ImageOutput parse_image_output(const std::string& name) {
  if (name == "logistic") return ImageOutput::Logistic;
  if (name == "logits") return ImageOutput::Logits;
  throw std::invalid_argument("model.output: 'logistic' or 'logits', got '" + name + "'");
}

int64_t image_output_channels(ImageOutput output, int64_t channels) {
  return output == ImageOutput::Logistic ? 2 * channels : kPixelValues * channels;
}

Tensor pixel_values_to_images(const Tensor& values, const Shape& image_shape) {
  return add(mul(values.to(DType::F32), 2.0 / (kPixelValues - 1)), -1.0).reshape(image_shape);
}

Tensor images_to_pixel_values(const Tensor& images) {
  const std::vector<double> f = images.contiguous().to_vector();
  std::vector<int32_t> v(f.size());
  for (size_t i = 0; i < f.size(); ++i) v[i] = static_cast<int32_t>(std::lround((f[i] + 1.0) * 127.5));
  return Tensor::from_vector(v, {images.size(0), images.numel() / images.size(0)});
}

X0Model image_x0_model(const nn::UNet& net, ImageOutput output, Philox& rng) {
  const int64_t C = net.config().in_channels, R = net.config().resolution;
  if (net.config().out_channels != image_output_channels(output, C))
    throw std::invalid_argument("model.out_channels: " + std::to_string(net.config().out_channels) +
                                " does not fit the output (needs " + std::to_string(image_output_channels(output, C)) + ")");
  return [&net, output, &rng, C, R](const Tensor& x_t, const Tensor& step) {
    const int64_t B = x_t.size(0);
    const Tensor x = pixel_values_to_images(x_t, {B, C, R, R});
    const Tensor h = net.forward(x, step, rng);  // [B, out, R, R]
    if (output == ImageOutput::Logistic) {
      const Tensor loc = tanh(add(h.narrow(1, 0, C), x)).reshape({B, C * R * R});
      const Tensor log_scale = h.narrow(1, C, C).reshape({B, C * R * R});
      return truncated_logistic_logits(loc, log_scale, kPixelValues);
    }
    return h.reshape({B, C, kPixelValues, R, R}).permute({0, 1, 3, 4, 2}).reshape({B, C * R * R, kPixelValues});
  };
}

}  // namespace diffuse::diffusion
