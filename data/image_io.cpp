#include "data/image_io.hpp"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>

#include "data/file_io.hpp"

namespace diffuse::data {

// ---- layout conversions --------------------------------------------------------------------------

namespace {
void check_images(const U8Array& images, const char* who) {
  if (images.shape.size() != 4)
    throw std::invalid_argument(std::string(who) + ": expected images [N, C, H, W], got shape " + to_string(images.shape));
  images.check(who);
}
}  // namespace

U8Array nchw_to_nhwc(const U8Array& images) {
  check_images(images, "nchw_to_nhwc");
  const int64_t N = images.shape[0], C = images.shape[1], H = images.shape[2], W = images.shape[3];
  U8Array out{{N, H, W, C}, std::vector<uint8_t>(images.bytes.size())};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          out.bytes[((n * H + y) * W + x) * C + c] = images.bytes[((n * C + c) * H + y) * W + x];
  return out;
}

U8Array nhwc_to_nchw(const U8Array& images) {
  check_images(images, "nhwc_to_nchw");
  const int64_t N = images.shape[0], H = images.shape[1], W = images.shape[2], C = images.shape[3];
  U8Array out{{N, C, H, W}, std::vector<uint8_t>(images.bytes.size())};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          out.bytes[((n * C + c) * H + y) * W + x] = images.bytes[((n * H + y) * W + x) * C + c];
  return out;
}

U8Array tensor_to_u8(const Tensor& images) {
  if (images.dtype() == DType::I32) throw std::invalid_argument("tensor_to_u8: expected a floating tensor, got " + describe(images));
  const Tensor x = images.to(DType::F64).contiguous();
  const double* p = x.data<double>();
  U8Array out{x.shape(), std::vector<uint8_t>(static_cast<size_t>(x.numel()))};
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = std::nearbyint((p[i] + 1.0) * 127.5);  // round half to even, as numpy / TF round
    out.bytes[i] = std::isnan(v) ? 0 : static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
  }
  return out;
}

// ---- PNG grid ------------------------------------------------------------------------------------

U8Array make_image_grid(const U8Array& images, int64_t columns, int64_t padding, int64_t scale) {
  check_images(images, "make_image_grid");
  const int64_t N = images.shape[0], C = images.shape[1], H = images.shape[2], W = images.shape[3];
  if (N == 0) throw std::invalid_argument("make_image_grid: no images");
  if (C != 1 && C != 3) throw std::invalid_argument("make_image_grid: " + std::to_string(C) + " channels; a grid takes 1 (gray) or 3 (RGB)");
  if (padding < 0) throw std::invalid_argument("make_image_grid: padding " + std::to_string(padding));
  if (scale < 1) throw std::invalid_argument("make_image_grid: scale " + std::to_string(scale) + " (need >= 1)");
  if (columns <= 0) columns = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(N))));
  columns = std::min(columns, N);
  const int64_t rows = (N + columns - 1) / columns, SH = scale * H, SW = scale * W;  // a tile's size
  const int64_t GH = rows * (SH + padding) + padding, GW = columns * (SW + padding) + padding;
  U8Array grid{{GH, GW, C}, std::vector<uint8_t>(static_cast<size_t>(GH * GW * C), 0)};
  for (int64_t n = 0; n < N; ++n) {
    const int64_t top = padding + (n / columns) * (SH + padding), left = padding + (n % columns) * (SW + padding);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < SH; ++y)
        for (int64_t x = 0; x < SW; ++x)
          grid.bytes[((top + y) * GW + left + x) * C + c] = images.bytes[((n * C + c) * H + y / scale) * W + x / scale];
  }
  return grid;
}

int64_t grid_scale_for_width(int64_t columns, int64_t width, int64_t padding, int64_t min_width) {
  if (columns < 1 || width < 1) return 1;
  const int64_t per_scale = columns * width, fixed = (columns + 1) * padding;  // grid width = per_scale * s + fixed
  return std::max<int64_t>(1, (min_width - fixed + per_scale - 1) / per_scale);
}

void write_png_grid(const std::string& path, const U8Array& images, int64_t columns, int64_t padding, int64_t scale) {
  U8Array grid;
  try {
    grid = make_image_grid(images, columns, padding, scale);
  } catch (const std::invalid_argument& e) {
    file_error(path, e.what());
  }
  const int64_t GH = grid.shape[0], GW = grid.shape[1], C = grid.shape[2];
  if (GH > 0x7fffffff / 4 || GW * C > 0x7fffffff / 4) file_error(path, "grid " + to_string(grid.shape) + " is too large for one PNG");

  // libpng's simplified API: describe the image, then encode the whole buffer in one call (no setjmp).
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(GW);
  image.height = static_cast<png_uint_32>(GH);
  image.format = C == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  std::vector<uint8_t> png(PNG_IMAGE_PNG_SIZE_MAX(image));  // an upper bound on the encoded size
  png_alloc_size_t size = png.size();
  if (!png_image_write_to_memory(&image, png.data(), &size, 0, grid.bytes.data(), 0, nullptr)) {
    const std::string msg = image.message;
    png_image_free(&image);
    file_error(path, "PNG encoding failed (libpng: " + msg + ")");
  }
  png.resize(size);
  write_file_atomic(path, png);
}

// ---- .npy / .npz ---------------------------------------------------------------------------------

void NpyArray::check(const char* who) const {
  for (const int64_t d : shape)
    if (d < 0) throw std::invalid_argument(std::string(who) + ": negative dimension in shape " + to_string(shape));
  const int64_t item = descr == "|u1" ? 1 : descr == "<i8" ? 8 : 0;
  if (item == 0) throw std::invalid_argument(std::string(who) + ": unsupported numpy type '" + descr + "' ('|u1' or '<i8')");
  if (static_cast<int64_t>(bytes.size()) != numel(shape) * item)
    throw std::invalid_argument(std::string(who) + ": shape " + to_string(shape) + " of '" + descr + "' needs " +
                                std::to_string(numel(shape) * item) + " bytes but the array holds " + std::to_string(bytes.size()));
}

NpyArray npy_int64(const std::vector<int64_t>& values) {
  NpyArray a;
  a.shape = {static_cast<int64_t>(values.size())};
  a.descr = "<i8";
  for (const int64_t v : values)
    for (int byte = 0; byte < 8; ++byte) a.bytes.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * byte)));
  return a;
}

std::string npy_header(const Shape& shape, const std::string& descr) {
  // The shape as a Python tuple: "()", "(5,)", "(5, 32, 32, 3)".
  std::string tuple = "(";
  for (size_t i = 0; i < shape.size(); ++i) tuple += (i ? ", " : "") + std::to_string(shape[i]);
  tuple += shape.size() == 1 ? ",)" : ")";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + tuple + ", }";
  // magic (6) + version (2) + HEADER_LEN (2) + dict + spaces + '\n' must be a multiple of 64.
  const size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  const uint16_t len = static_cast<uint16_t>(dict.size());
  std::string h = "\x93NUMPY";
  h += '\x01';
  h += '\x00';
  h += static_cast<char>(len & 0xff);
  h += static_cast<char>(len >> 8);
  return h + dict;
}

std::vector<uint8_t> encode_npy(const U8Array& array) {
  array.check("encode_npy");
  const std::string h = npy_header(array.shape);
  std::vector<uint8_t> out(h.begin(), h.end());
  out.insert(out.end(), array.bytes.begin(), array.bytes.end());
  return out;
}

namespace {
// Little-endian integers into a byte buffer.
void put16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, v & 0xffff);
  put16(b, v >> 16);
}

// Fields shared by a member's local header and its central-directory entry.
struct ZipMember {
  std::string name;      // "x.npy"
  uint32_t crc = 0;      // CRC-32 of the member's bytes
  uint32_t size = 0;     // stored = uncompressed size
  uint32_t offset = 0;   // of its local header, from the start of the archive
};

constexpr uint16_t kZipVersion = 20;        // "2.0": what numpy's zipfile writes, readable by every unzip
constexpr uint16_t kDosTime = 0;            // 00:00:00
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01: a fixed stamp keeps files reproducible

std::vector<uint8_t> local_header(const ZipMember& m) {
  std::vector<uint8_t> b;
  put32(b, 0x04034b50);  // local file header signature "PK\3\4"
  put16(b, kZipVersion);  // version needed to extract
  put16(b, 0);            // flags: none (sizes and CRC are in this header, no data descriptor)
  put16(b, 0);            // method 0: stored
  put16(b, kDosTime);
  put16(b, kDosDate);
  put32(b, m.crc);
  put32(b, m.size);  // compressed size
  put32(b, m.size);  // uncompressed size
  put16(b, static_cast<uint32_t>(m.name.size()));
  put16(b, 0);  // extra field length
  b.insert(b.end(), m.name.begin(), m.name.end());
  return b;
}

std::vector<uint8_t> central_entry(const ZipMember& m) {
  std::vector<uint8_t> b;
  put32(b, 0x02014b50);  // central directory signature "PK\1\2"
  put16(b, (3 << 8) | kZipVersion);  // version made by: Unix (3), 2.0
  put16(b, kZipVersion);
  put16(b, 0);  // flags
  put16(b, 0);  // stored
  put16(b, kDosTime);
  put16(b, kDosDate);
  put32(b, m.crc);
  put32(b, m.size);
  put32(b, m.size);
  put16(b, static_cast<uint32_t>(m.name.size()));
  put16(b, 0);                // extra field length
  put16(b, 0);                // comment length
  put16(b, 0);                // disk number start
  put16(b, 0);                // internal attributes
  put32(b, 0100644u << 16);   // external attributes: a regular file, rw-r--r-- (Unix mode in the high half)
  put32(b, m.offset);
  b.insert(b.end(), m.name.begin(), m.name.end());
  return b;
}
}  // namespace

void write_npz(const std::string& path, const std::vector<std::pair<std::string, NpyArray>>& arrays) {
  if (arrays.empty()) file_error(path, "write_npz: no arrays to write");
  if (arrays.size() > 0xfffe) file_error(path, "write_npz: too many arrays for a ZIP without ZIP64");
  std::set<std::string> names;
  for (const auto& [name, a] : arrays) {
    if (name.empty() || name.find('/') != std::string::npos || name.size() > 1000)
      file_error(path, "write_npz: invalid array name '" + name + "'");
    if (!names.insert(name).second) file_error(path, "write_npz: array name '" + name + "' is repeated");
    try {
      a.check("write_npz");
    } catch (const std::invalid_argument& e) {
      file_error(path, std::string(e.what()) + " (array '" + name + "')");
    }
  }

  AtomicFile f(path);
  std::vector<ZipMember> members;
  for (const auto& [name, a] : arrays) {
    // The member is the .npy header followed by the array's bytes; its CRC runs over both, in order.
    const std::string header = npy_header(a.shape, a.descr);
    const uint64_t size = header.size() + a.bytes.size();
    if (size > 0xffffffffull || f.bytes_written() + size + 30 + name.size() + 4 > 0xffffffffull)
      file_error(path, "write_npz: array '" + name + "' would take the archive past 4 GiB, which needs ZIP64 (not supported)");
    ZipMember m;
    m.name = name + ".npy";
    m.offset = static_cast<uint32_t>(f.bytes_written());
    m.size = static_cast<uint32_t>(size);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(header.data()), static_cast<uInt>(header.size()));
    for (size_t done = 0; done < a.bytes.size();) {  // crc32 takes at most 4 GiB - 1 per call
      const size_t n = std::min<size_t>(a.bytes.size() - done, 1u << 30);
      crc = crc32(crc, a.bytes.data() + done, static_cast<uInt>(n));
      done += n;
    }
    m.crc = static_cast<uint32_t>(crc);
    const std::vector<uint8_t> lh = local_header(m);
    f.write(lh.data(), lh.size());
    f.write(header.data(), header.size());
    f.write(a.bytes.data(), a.bytes.size());
    members.push_back(m);
  }
  const uint64_t cd_offset = f.bytes_written();
  std::vector<uint8_t> cd;
  for (const ZipMember& m : members) {
    const std::vector<uint8_t> e = central_entry(m);
    cd.insert(cd.end(), e.begin(), e.end());
  }
  if (cd_offset + cd.size() > 0xffffffffull) file_error(path, "write_npz: archive past 4 GiB needs ZIP64 (not supported)");
  std::vector<uint8_t> end;
  put32(end, 0x06054b50);  // end of central directory signature "PK\5\6"
  put16(end, 0);           // number of this disk
  put16(end, 0);           // disk where the central directory starts
  put16(end, static_cast<uint32_t>(members.size()));  // entries on this disk
  put16(end, static_cast<uint32_t>(members.size()));  // entries in total
  put32(end, static_cast<uint32_t>(cd.size()));
  put32(end, static_cast<uint32_t>(cd_offset));
  put16(end, 0);  // comment length
  f.write(cd.data(), cd.size());
  f.write(end.data(), end.size());
  f.commit();
}

}  // namespace diffuse::data
