#include "data/npz_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>
#include <limits>

#include "data/file_io.hpp"
#include "data/image_io.hpp"

namespace diffuse::data {

namespace {

uint32_t get16(const std::vector<uint8_t>& b, size_t at) { return b[at] | (b[at + 1] << 8); }
uint32_t get32(const std::vector<uint8_t>& b, size_t at) { return get16(b, at) | (get16(b, at + 2) << 16); }

// The value of `key` in an .npy header dict: what follows "'key':" up to the next ',' outside brackets, trimmed.
std::string header_value(const std::string& header, const std::string& key, const std::string& where) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) file_error(where, ".npy header has no '" + key + "': " + header);
  size_t i = header.find(':', k);
  if (i == std::string::npos) file_error(where, "malformed .npy header: " + header);
  ++i;
  int depth = 0;
  size_t end = i;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if ((c == ',' && depth == 0) || (c == '}' && depth == 0)) break;
  }
  std::string v = header.substr(i, end - i);
  const auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  v.erase(v.begin(), std::find_if_not(v.begin(), v.end(), blank));
  v.erase(std::find_if_not(v.rbegin(), v.rend(), blank).base(), v.end());
  return v;
}

Shape parse_shape(const std::string& tuple, const std::string& where) {
  if (tuple.size() < 2 || tuple.front() != '(' || tuple.back() != ')') file_error(where, ".npy shape is not a tuple: " + tuple);
  Shape shape;
  std::string digits;
  for (size_t i = 1; i < tuple.size(); ++i) {
    const char c = tuple[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits += c;
    } else if (c == ',' || c == ')') {
      if (!digits.empty()) shape.push_back(std::stoll(digits));
      digits.clear();
    } else if (c != ' ' && c != 'L') {
      file_error(where, ".npy shape is not a tuple of integers: " + tuple);
    }
  }
  return shape;
}

}  // namespace

int64_t NpyIntegers::at(int64_t i) const {
  const uint8_t* p = data.data() + i * item_size;
  uint64_t u = 0;
  for (int b = item_size - 1; b >= 0; --b) u = (u << 8) | p[b];
  if (kind == 'u') {
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) throw std::runtime_error("npy: an unsigned value above 2^63 - 1");
    return static_cast<int64_t>(u);
  }
  const int bits = 8 * item_size;  // sign-extend
  if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~uint64_t{0} << bits;
  return static_cast<int64_t>(u);
}

NpyIntegers parse_npy(const std::vector<uint8_t>& b, const std::string& where) {
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (b.size() < 10 || !std::equal(magic, magic + 6, b.begin())) file_error(where, "not an .npy file (no \\x93NUMPY magic)");
  const int major = b[6];
  if (major < 1 || major > 3) file_error(where, ".npy format version " + std::to_string(major) + " (1 to 3 are read)");
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t header_length = major == 1 ? get16(b, 8) : get32(b, 8);
  const size_t data_start = 8 + length_bytes + header_length;
  if (b.size() < data_start) file_error(where, ".npy header runs past the end of the member");
  const std::string header(b.begin() + 8 + static_cast<int64_t>(length_bytes), b.begin() + static_cast<int64_t>(data_start));
  NpyIntegers a;
  std::string descr = header_value(header, "descr", where);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"')) file_error(where, ".npy descr is not a string: " + descr);
  a.descr = descr = descr.substr(1, descr.size() - 2);
  const bool sized = descr.size() == 3 && (descr[1] == 'u' || descr[1] == 'i') && std::string("1248").find(descr[2]) != std::string::npos;
  const bool little = descr[0] == '<' || descr[0] == '|' || (descr[0] == '=' && std::endian::native == std::endian::little);
  if (!sized || !little)
    file_error(where, "dtype '" + descr + "' is not read: integers in little-endian or single bytes ('|u1', '<i4', '<i8', ...)");
  a.kind = descr[1];
  a.item_size = descr[2] - '0';
  if (header_value(header, "fortran_order", where) != "False") file_error(where, "Fortran-ordered .npy arrays are not read (C order only)");
  a.shape = parse_shape(header_value(header, "shape", where), where);
  const uint64_t bytes = static_cast<uint64_t>(a.numel()) * static_cast<uint64_t>(a.item_size);
  if (b.size() - data_start != bytes)
    file_error(where, "shape " + to_string(a.shape) + " of '" + descr + "' needs " + with_commas(static_cast<int64_t>(bytes)) +
                          " bytes, the member holds " + with_commas(static_cast<int64_t>(b.size() - data_start)));
  a.data.assign(b.begin() + static_cast<int64_t>(data_start), b.end());
  return a;
}

bool is_npz(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char magic[4] = {0, 0, 0, 0};
  const size_t got = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return got == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

std::map<std::string, NpyIntegers> read_npz(const std::string& path) {
  const std::vector<uint8_t> b = read_file_bytes(path, ".npz archive");
  // The end-of-central-directory record: 22 bytes plus a comment of at most 65535, at the end.
  size_t eocd = std::string::npos;
  const size_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (size_t i = b.size() >= 22 ? b.size() - 21 : 0; i-- > lowest;)
    if (get32(b, i) == 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) file_error(path, "not a ZIP archive (.npz): no end-of-central-directory record");
  const uint32_t entries = get16(b, eocd + 10), cd_offset = get32(b, eocd + 16);
  if (entries == 0xffff || cd_offset == 0xffffffffu) file_error(path, "a ZIP64 archive (over 4 GiB): not read");
  std::map<std::string, NpyIntegers> arrays;
  size_t at = cd_offset;
  for (uint32_t e = 0; e < entries; ++e) {
    if (at + 46 > b.size() || get32(b, at) != 0x02014b50) file_error(path, "corrupt ZIP central directory (entry " + std::to_string(e) + ")");
    const uint32_t method = get16(b, at + 10), crc = get32(b, at + 16), size = get32(b, at + 20), local = get32(b, at + 42);
    const uint32_t name_length = get16(b, at + 28), extra = get16(b, at + 30), comment = get16(b, at + 32);
    if (at + 46 + name_length > b.size()) file_error(path, "corrupt ZIP central directory (entry " + std::to_string(e) + ")");
    const std::string name(b.begin() + static_cast<int64_t>(at + 46), b.begin() + static_cast<int64_t>(at + 46 + name_length));
    at += 46 + name_length + extra + comment;
    const std::string where = path + ": member " + name;
    if (method != 0) file_error(where, "is compressed (ZIP method " + std::to_string(method) + "): save with numpy.savez, not savez_compressed");
    if (size == 0xffffffffu || local == 0xffffffffu) file_error(where, "has ZIP64 sizes (over 4 GiB): not read");
    if (static_cast<uint64_t>(local) + 30 > b.size() || get32(b, local) != 0x04034b50) file_error(where, "has no local header");
    const uint64_t start = static_cast<uint64_t>(local) + 30 + get16(b, local + 26) + get16(b, local + 28);
    if (start + size > b.size()) file_error(where, "runs past the end of the file (truncated?)");
    const std::vector<uint8_t> member(b.begin() + static_cast<int64_t>(start), b.begin() + static_cast<int64_t>(start + size));
    if (static_cast<uint32_t>(crc32(crc32(0L, Z_NULL, 0), member.data(), static_cast<uInt>(member.size()))) != crc)
      file_error(where, "CRC-32 mismatch: the archive is damaged");
    if (name.size() < 5 || name.substr(name.size() - 4) != ".npy") continue;  // not an array
    arrays.emplace(name.substr(0, name.size() - 4), parse_npy(member, where));
  }
  return arrays;
}

SampleArchive read_sample_npz(const std::string& path) {
  std::map<std::string, NpyIntegers> arrays = read_npz(path);
  auto images = arrays.find("arr_0");
  if (images == arrays.end()) {
    std::string keys;
    for (const auto& [k, v] : arrays) keys += (keys.empty() ? "" : ", ") + k;
    file_error(path, "holds no 'arr_0' (the samples, uint8 [N, H, W, C]); its arrays: " + (keys.empty() ? "none" : keys));
  }
  const NpyIntegers& x = images->second;
  if (x.kind != 'u' || x.item_size != 1 || (x.shape.size() != 3 && x.shape.size() != 4))
    file_error(path, "'arr_0' is '" + x.descr + "' " + to_string(x.shape) + ": samples must be uint8 [N, H, W, C] or [N, H, W]");
  SampleArchive s;
  s.source = path;
  U8Array nhwc{x.shape, x.data};
  if (nhwc.shape.size() == 3) nhwc.shape.push_back(1);
  s.images = nhwc_to_nchw(nhwc);
  const auto labels = arrays.find("labels");
  if (labels != arrays.end()) {
    const NpyIntegers& l = labels->second;
    if (l.shape.size() != 1 || l.shape[0] != nhwc.shape[0])
      file_error(path, "'labels' is " + to_string(l.shape) + ", not [N] for the " + std::to_string(nhwc.shape[0]) + " samples");
    for (int64_t i = 0; i < l.numel(); ++i) {
      s.labels.push_back(l.at(i));
      if (s.labels.back() < 0) file_error(path, "'labels' holds " + std::to_string(s.labels.back()) + " at " + std::to_string(i) + ": classes are >= 0");
    }
  }
  return s;
}

}  // namespace diffuse::data
