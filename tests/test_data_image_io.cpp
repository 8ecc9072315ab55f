// PNG grids (read back with libpng) and .npz archives (read back by parsing the ZIP and .npy headers
// byte by byte, with zlib's crc32), layout conversions, and atomic writes.
#include <doctest/doctest.h>
#include <png.h>
#include <zlib.h>

#include <cstring>

#include "data/image_io.hpp"
#include "data_testing.hpp"

using namespace diffuse;
using namespace diffuse::data;
using namespace diffuse::testing;

namespace {
U8Array make_images(int64_t n, int64_t c, int64_t h, int64_t w) {
  U8Array a{{n, c, h, w}, {}};
  for (int64_t i = 0; i < a.numel(); ++i) a.bytes.push_back(static_cast<uint8_t>(1 + i % 250));  // never 0 (the background)
  return a;
}

// A PNG decoded by libpng's simplified reader into 8-bit channels: [height, width, channels].
U8Array read_png(const std::string& path, bool color) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_file(&image, path.c_str()));
  const png_uint_32 file_format = image.format;
  image.format = color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  U8Array out{{image.height, image.width, color ? 3 : 1}, std::vector<uint8_t>(PNG_IMAGE_SIZE(image))};
  REQUIRE(png_image_finish_read(&image, nullptr, out.bytes.data(), 0, nullptr));
  CHECK((file_format & PNG_FORMAT_FLAG_COLOR) == (color ? PNG_FORMAT_FLAG_COLOR : 0u));
  return out;
}

uint32_t get16(const std::vector<uint8_t>& b, size_t at) { return b.at(at) | (b.at(at + 1) << 8); }
uint32_t get32(const std::vector<uint8_t>& b, size_t at) { return get16(b, at) | (get16(b, at + 2) << 16); }
}  // namespace

TEST_CASE("NCHW <-> NHWC") {
  const U8Array x = make_images(2, 3, 4, 5);
  const U8Array y = nchw_to_nhwc(x);
  CHECK(y.shape == Shape{2, 4, 5, 3});
  // (n=1, c=2, h=3, w=4) in both layouts.
  CHECK(y.bytes[((1 * 4 + 3) * 5 + 4) * 3 + 2] == x.bytes[((1 * 3 + 2) * 4 + 3) * 5 + 4]);
  CHECK(nhwc_to_nchw(y).bytes == x.bytes);
  CHECK_THROWS_AS(nchw_to_nhwc(U8Array{{2, 3}, std::vector<uint8_t>(6)}), std::invalid_argument);
}

TEST_CASE("model output in [-1, 1] to bytes: round((x + 1) * 127.5), clipped") {
  const Tensor x = Tensor::from_vector(std::vector<float>{-1, 1, 0, 2, -3, 0.5f, -0.996f}, {7});
  CHECK(tensor_to_u8(x).bytes == std::vector<uint8_t>{0, 255, 128, 255, 0, 191, 1});
  CHECK(tensor_to_u8(x).shape == Shape{7});
}

TEST_CASE("a PNG grid at scale s: each pixel an s x s block, the border still 2 pixels; the scale for 512 wide") {
  TempDir dir("png");
  const U8Array rgb = make_images(5, 3, 4, 3);  // 5 tiles of 4 x 3, 2 columns -> 3 rows
  const int64_t s = 3;
  write_png_grid(dir.file("big.png"), rgb, 2, 2, s);
  const U8Array back = read_png(dir.file("big.png"), true);
  REQUIRE(back.shape == Shape{3 * (s * 4 + 2) + 2, 2 * (s * 3 + 2) + 2, 3});
  auto px = [&](int64_t y, int64_t x, int64_t c) { return back.bytes[(y * back.shape[1] + x) * 3 + c]; };
  auto src = [&](int64_t n, int64_t c, int64_t y, int64_t x) { return rgb.bytes[((n * 3 + c) * 4 + y) * 3 + x]; };
  // Tile 3 (row 1, column 1) starts at (2 + 14, 2 + 11); source pixel (y, x) covers rows 3y..3y+2, columns 3x..3x+2.
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 4 * s; ++y)
      for (int64_t x = 0; x < 3 * s; ++x) REQUIRE(px(16 + y, 13 + x, c) == src(3, c, y / s, x / s));
  for (int64_t c = 0; c < 3; ++c) {
    CHECK(px(14, 13, c) == 0);  // the 2-pixel padding row between tile rows is not magnified
    CHECK(px(15, 13, c) == 0);
  }
  CHECK_THROWS_AS(make_image_grid(rgb, 2, 2, 0), std::invalid_argument);
  // 36 Fashion-MNIST samples in 6 columns: 182 pixels wide at scale 1, 350 at 2, 518 (>= 512) at 3.
  CHECK(grid_scale_for_width(6, 28, 2, 512) == 3);
  CHECK(6 * (2 * 28 + 2) + 2 < 512);
  CHECK(6 * (3 * 28 + 2) + 2 >= 512);
  CHECK(grid_scale_for_width(8, 32, 2, 512) == 2);  // 64 CIFAR-10 samples: 274 -> 530
  CHECK(grid_scale_for_width(8, 256, 2, 512) == 1);
}

TEST_CASE("a PNG grid: tiles in row order with a 2-pixel border, RGB and grayscale") {
  TempDir dir("png");
  const U8Array rgb = make_images(5, 3, 4, 3);  // 5 tiles of 4 rows x 3 columns, 2 columns -> 3 rows
  const std::string p = dir.file("grid.png");
  write_png_grid(p, rgb, 2, 2);
  const U8Array back = read_png(p, true);
  REQUIRE(back.shape == Shape{3 * (4 + 2) + 2, 2 * (3 + 2) + 2, 3});
  CHECK(back.bytes == make_image_grid(rgb, 2, 2).bytes);
  auto px = [&](int64_t y, int64_t x, int64_t c) { return back.bytes[(y * back.shape[1] + x) * 3 + c]; };
  auto src = [&](int64_t n, int64_t c, int64_t y, int64_t x) { return rgb.bytes[((n * 3 + c) * 4 + y) * 3 + x]; };
  // Tile 3 is row 1, column 1: its top-left pixel at (2 + 6, 2 + 5).
  for (int64_t c = 0; c < 3; ++c) {
    CHECK(px(8, 7, c) == src(3, c, 0, 0));
    CHECK(px(8 + 3, 7 + 2, c) == src(3, c, 3, 2));
    CHECK(px(0, 0, c) == 0);   // border
    CHECK(px(7, 7, c) == 0);   // the padding row between tile rows
    CHECK(px(14, 7, c) == 0);  // the empty sixth slot
  }
  const U8Array gray = make_images(3, 1, 28, 28);
  write_png_grid(dir.file("gray.png"), gray, 3, 2);
  const U8Array g = read_png(dir.file("gray.png"), false);
  REQUIRE(g.shape == Shape{32, 3 * 30 + 2, 1});
  CHECK(g.bytes[(2 + 5) * g.shape[1] + (2 + 30) + 6] == gray.bytes[(1 * 28 + 5) * 28 + 6]);
  CHECK(list_dir(dir.path()).size() == 2);  // no temporaries left behind

  CHECK_THROWS_WITH_AS(write_png_grid(dir.file("x.png"), make_images(2, 2, 4, 4)), contains("x.png"), std::runtime_error);
  const std::string nodir = dir.file("no/such/dir/grid.png");
  CHECK_THROWS_WITH_AS(write_png_grid(nodir, rgb), contains(nodir), std::runtime_error);
}

TEST_CASE("the .npy header: version 1.0, '|u1', padded with spaces and a newline to 64 bytes") {
  const std::string h = npy_header({50000, 32, 32, 3});
  REQUIRE(h.size() % 64 == 0);
  CHECK(h.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  CHECK(static_cast<size_t>(static_cast<uint8_t>(h[8]) | static_cast<uint8_t>(h[9]) << 8) == h.size() - 10);
  const std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (50000, 32, 32, 3), }";
  CHECK(h.substr(10, dict.size()) == dict);
  CHECK(h.back() == '\n');
  CHECK(h.find_first_not_of(' ', 10 + dict.size()) == h.size() - 1);
  CHECK(npy_header({7}).find("'shape': (7,), }") != std::string::npos);
  CHECK(npy_header({}).find("'shape': (), }") != std::string::npos);
}

TEST_CASE("an .npz: stored ZIP members with correct CRC-32 and sizes, central directory and end record") {
  TempDir dir("npz");
  const std::string p = dir.file("samples.npz");
  const U8Array samples = nchw_to_nhwc(make_images(3, 3, 32, 32));
  const U8Array labels{{3}, {4, 0, 9}};
  write_npz(p, {{"arr_0", samples}, {"labels", labels}});
  const std::vector<uint8_t> z = read_bytes(p);

  // End of central directory: the last 22 bytes (we write no comment).
  const size_t eocd = z.size() - 22;
  REQUIRE(get32(z, eocd) == 0x06054b50u);
  CHECK(get16(z, eocd + 8) == 2);
  CHECK(get16(z, eocd + 10) == 2);
  const uint32_t cd_size = get32(z, eocd + 12), cd_offset = get32(z, eocd + 16);
  CHECK(cd_offset + cd_size == eocd);

  const std::vector<std::pair<std::string, const U8Array*>> expected = {{"arr_0.npy", &samples}, {"labels.npy", &labels}};
  size_t cd = cd_offset;
  for (const auto& [name, array] : expected) {
    CAPTURE(name);
    REQUIRE(get32(z, cd) == 0x02014b50u);
    CHECK(get16(z, cd + 10) == 0);  // stored
    const uint32_t crc = get32(z, cd + 16), csize = get32(z, cd + 20), usize = get32(z, cd + 24);
    const uint32_t name_len = get16(z, cd + 28), extra = get16(z, cd + 30), comment = get16(z, cd + 32);
    const uint32_t local = get32(z, cd + 42);
    CHECK(std::string(z.begin() + cd + 46, z.begin() + cd + 46 + name_len) == name);
    CHECK(csize == usize);

    // The local header repeats the method, CRC, sizes and name; the member's bytes follow it.
    REQUIRE(get32(z, local) == 0x04034b50u);
    CHECK(get16(z, local + 8) == 0);
    CHECK(get32(z, local + 14) == crc);
    CHECK(get32(z, local + 18) == csize);
    CHECK(get32(z, local + 22) == usize);
    REQUIRE(get16(z, local + 26) == name_len);
    CHECK(std::string(z.begin() + local + 30, z.begin() + local + 30 + name_len) == name);
    const size_t data = local + 30 + name_len + get16(z, local + 28);
    CHECK(crc32(crc32(0L, Z_NULL, 0), z.data() + data, usize) == crc);

    // The member is an .npy: header, then the array bytes in C order.
    const std::vector<uint8_t> npy(z.begin() + data, z.begin() + data + usize);
    REQUIRE(std::string(npy.begin(), npy.begin() + 6) == "\x93NUMPY");
    const size_t header_len = get16(npy, 8);
    CHECK((10 + header_len) % 64 == 0);
    const std::string header(npy.begin() + 10, npy.begin() + 10 + header_len);
    CHECK(header == npy_header(array->shape).substr(10));
    CHECK(std::vector<uint8_t>(npy.begin() + 10 + header_len, npy.end()) == array->bytes);
    cd += 46 + name_len + extra + comment;
  }
  CHECK(cd == eocd);
  CHECK(std::string(z.begin(), z.end()).find("'shape': (3, 32, 32, 3)") != std::string::npos);

  CHECK_THROWS_WITH_AS(write_npz(p, {{"a", labels}, {"a", labels}}), contains("repeated"), std::runtime_error);
  CHECK_THROWS_WITH_AS(write_npz(p, {{"a", U8Array{{4}, {1, 2}}}}), contains(p), std::runtime_error);
  CHECK(read_bytes(p) == z);  // failed writes left the previous file untouched
  CHECK(list_dir(dir.path()).size() == 1);
}

TEST_CASE("an .npz member of int64 labels: '<i8' in its header, little-endian values after it; other types refused") {
  const NpyArray labels = npy_int64({4, 0, -1, 300});
  CHECK(labels.shape == Shape{4});
  CHECK(labels.bytes == std::vector<uint8_t>{4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             255, 255, 255, 255, 255, 255, 255, 255, 44, 1, 0, 0, 0, 0, 0, 0});
  const std::string h = npy_header({4}, "<i8");
  CHECK(h.find("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }") == 10);
  CHECK(h.size() % 64 == 0);
  TempDir dir("npz-labels");
  const std::string p = dir.file("samples.npz");
  write_npz(p, {{"arr_0", nchw_to_nhwc(make_images(4, 1, 2, 2))}, {"labels", labels}});
  const std::vector<uint8_t> z = read_bytes(p);
  const std::string text(z.begin(), z.end());
  const size_t at = text.find(h);  // the labels' .npy header, then its 32 bytes, then the central directory
  REQUIRE(at != std::string::npos);
  CHECK(std::vector<uint8_t>(z.begin() + at + h.size(), z.begin() + at + h.size() + 32) == labels.bytes);
  CHECK(get32(z, at + h.size() + 32) == 0x02014b50u);
  NpyArray odd = labels;
  odd.descr = "<f4";
  CHECK_THROWS_WITH_AS(write_npz(p, {{"x", odd}}), contains("unsupported numpy type '<f4'"), std::runtime_error);
  odd.descr = "<i8";
  odd.bytes.pop_back();
  CHECK_THROWS_WITH_AS(write_npz(p, {{"x", odd}}), contains("needs 32 bytes but the array holds 31"), std::runtime_error);
}
