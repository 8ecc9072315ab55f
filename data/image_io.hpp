// Writing images for people and for other tools: a PNG grid to look at, and NumPy .npz archives that
// FID / Inception-score tools read. Both writes are atomic (data/file_io.hpp: a temporary file in the
// same directory, fsync, rename), and every error is a std::runtime_error naming the file.
//
// PNG grid. N images [N, C, H, W] (C = 1: grayscale, C = 3: RGB) are tiled row by row into
// `columns` columns, as torchvision.utils.make_grid does: every tile is surrounded by `padding` pixels
// of background (black), so the grid is columns*(W + padding) + padding pixels wide and
// rows*(H + padding) + padding high, rows = ceil(N / columns). Written by libpng (its simplified API),
// 8 bits per channel.
//
// NumPy .npz. An .npz is a ZIP archive with one .npy file per array ("x.npy" for the array named x).
// We store the members uncompressed (ZIP method 0, as numpy.savez does), so the layout is simply:
//
//   for each array:  local file header (30 bytes + name) | .npy bytes
//   central directory: one 46-byte entry + name per array
//   end of central directory record (22 bytes)
//
// all integers little-endian, each member's CRC-32 (zlib's crc32) and size in both headers. Member
// sizes and offsets must fit in 32 bits (no ZIP64): about 4 GB, far above 50,000 CIFAR-sized samples
// (153.6 MB); a larger archive is refused with a clear error.
//
// An .npy file (format version 1.0) is:
//
//   \x93NUMPY  0x01 0x00  HEADER_LEN (uint16, little-endian)  HEADER  data
//
// HEADER is a Python dict literal, {'descr': '|u1', 'fortran_order': False, 'shape': (N, 32, 32, 3), }
// padded with spaces and ended with '\n' so that 10 + HEADER_LEN is a multiple of 64 (numpy's own
// alignment); the data follow in C order. '|u1' is uint8 (byte order irrelevant): the images; '<i8' is
// little-endian int64, numpy's default integer: the class labels of conditional samples.
//
// Channels. The engine works channels first, [N, C, H, W]; image files and FID tools are channels last,
// [N, H, W, C] (the shape (N, 32, 32, 3) above). nchw_to_nhwc converts.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/image_set.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::data {

// Writes images [N, C, H, W] uint8 (C = 1 or 3) as one PNG grid. columns <= 0 picks ceil(sqrt(N)). Each
// image is drawn `scale` times larger by nearest neighbour (each pixel a scale x scale block); the padding
// between images stays `padding` pixels.
void write_png_grid(const std::string& path, const U8Array& images, int64_t columns = 8, int64_t padding = 2,
                    int64_t scale = 1);

// The grid itself, channels last: [grid_height, grid_width, C] (what write_png_grid encodes):
// rows*(scale*H + padding) + padding high and columns*(scale*W + padding) + padding wide.
U8Array make_image_grid(const U8Array& images, int64_t columns = 8, int64_t padding = 2, int64_t scale = 1);

// The smallest scale >= 1 at which a grid of `columns` images of width W is at least min_width pixels wide.
int64_t grid_scale_for_width(int64_t columns, int64_t width, int64_t padding, int64_t min_width);

// One member of an .npz: its shape, numpy's type string ('|u1' uint8 or '<i8' little-endian int64) and its
// bytes in C order. A U8Array converts to one ('|u1'); npy_int64 makes an int64 one.
struct NpyArray {
  Shape shape;
  std::string descr = "|u1";
  std::vector<uint8_t> bytes;
  NpyArray() = default;
  NpyArray(U8Array a) : shape(std::move(a.shape)), bytes(std::move(a.bytes)) {}  // NOLINT: implicit, as uint8
  // Throws std::invalid_argument naming `who` for another descr, or bytes that are not numel(shape) items.
  void check(const char* who) const;
};
NpyArray npy_int64(const std::vector<int64_t>& values);  // shape [n]

// Writes arrays into one .npz, each as "<name>.npy". Names must be non-empty, unique and free of '/'.
void write_npz(const std::string& path, const std::vector<std::pair<std::string, NpyArray>>& arrays);

// The bytes of one .npy (version 1.0, '|u1'), and the header alone (magic through the '\n') of an array of
// numpy type `descr`.
std::vector<uint8_t> encode_npy(const U8Array& array);
std::string npy_header(const Shape& shape, const std::string& descr = "|u1");

// [N, C, H, W] -> [N, H, W, C], and back.
U8Array nchw_to_nhwc(const U8Array& images);
U8Array nhwc_to_nchw(const U8Array& images);

// Model output in [-1, 1] (float32 or float64, [N, C, H, W], any layout) -> bytes, as the DDPM code
// does: round((x + 1) * 127.5), clipped to 0..255. NaN becomes 0.
U8Array tensor_to_u8(const Tensor& images);

}  // namespace diffuse::data
