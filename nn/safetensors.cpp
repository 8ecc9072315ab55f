#include "nn/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian machine");

namespace diffuse::nn {

namespace {
const char* st_dtype(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
  }
  return "?";
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// Writes all of buf to fd or throws with errno's message.
void write_all(int fd, const char* buf, size_t n, const std::string& tmp) {
  while (n > 0) {
    const ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::strerror(errno));
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
}
}  // namespace

const Tensor* SafetensorsContents::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  std::vector<Tensor> blobs;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name)) fail(path, "tensor name '" + name + "' is reserved or repeated");
    const Tensor c = t.contiguous();
    const size_t bytes = static_cast<size_t>(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", st_dtype(c.dtype())}, {"shape", c.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    blobs.push_back(c);
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data start 8-byte aligned (as the Python writer does)
  const uint64_t n = h.size();

  const std::filesystem::path final_path(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, std::string("cannot create ") + tmp + " (" + std::strerror(errno) + "); the previous file is intact");
  try {
    write_all(fd, reinterpret_cast<const char*>(&n), 8, tmp);
    write_all(fd, h.data(), h.size(), tmp);
    for (const Tensor& c : blobs)
      write_all(fd, static_cast<const char*>(c.storage()->data()) + c.offset() * dtype_size(c.dtype()),
                static_cast<size_t>(c.numel()) * dtype_size(c.dtype()), tmp);
    if (::fsync(fd) != 0) throw std::runtime_error(std::strerror(errno));
    if (::close(fd) != 0) {
      ::unlink(tmp.c_str());
      fail(path, std::string("write failed (") + std::strerror(errno) + "); the previous file is intact");
    }
  } catch (const std::runtime_error& e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(path, std::string("write failed (") + e.what() + "); the previous file is intact");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    fail(path, "rename failed (" + err + "); the previous file is intact");
  }
  // Make the rename itself durable.
  const std::string dir = final_path.has_parent_path() ? final_path.parent_path().string() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace {
// Why a file whose first bytes are `head` (up to 4 KiB) and whose size is `size` is not a safetensors file,
// e.g. "it looks like a PNG image"; empty when it starts as one does: the 8-byte header length, then the
// header's '{' (the format requires it), or nothing after the length, which must then be below 2^32.
std::string not_safetensors_reason(const std::string& path, std::string_view head, uint64_t size) {
  if (size == 0) return "it is empty (0 bytes)";
  const auto starts = [&](std::string_view magic, size_t at = 0) {
    return head.size() >= at + magic.size() && head.substr(at, magic.size()) == magic;
  };
  using namespace std::string_view_literals;
  // Binary formats by their magic numbers.
  if (starts("\x89PNG\r\n\x1a\n"sv)) return "it looks like a PNG image";
  if (starts("\xff\xd8\xff"sv)) return "it looks like a JPEG image";
  if (starts("GIF87a"sv) || starts("GIF89a"sv)) return "it looks like a GIF image";
  if (starts("\x1f\x8b"sv)) return "it looks like a gzip archive";
  if (starts("\xfd" "7zXZ\0"sv)) return "it looks like an xz archive";
  if (starts("BZh"sv) && head.size() >= 10 && head[3] >= '1' && head[3] <= '9' && starts("1AY&SY"sv, 4))
    return "it looks like a bzip2 archive";
  if (starts("\x28\xb5\x2f\xfd"sv)) return "it looks like a zstd archive";
  if (starts("7z\xbc\xaf\x27\x1c"sv)) return "it looks like a 7-Zip archive";
  if (starts("PK\x03\x04"sv) || starts("PK\x05\x06"sv)) {
    // The first member's name (local file header: name length at 26, name at 30) says what the zip holds.
    std::string first;
    if (head.size() >= 30) {
      const size_t len = static_cast<unsigned char>(head[26]) | static_cast<unsigned char>(head[27]) << 8;
      first = std::string(head.substr(30, len));
    }
    if (first.ends_with(".npy") || path.ends_with(".npz")) return "it looks like a NumPy .npz archive (a zip of .npy arrays)";
    if (first.ends_with("data.pkl")) return "it looks like a PyTorch torch.save file (a zip holding a pickle)";
    return "it looks like a zip archive";
  }
  if (starts("\x93NUMPY"sv)) return "it looks like a NumPy .npy array";
  if (head.size() >= 2 && head[0] == '\x80' && head[1] >= 2 && head[1] <= 5)
    return "it looks like a Python pickle (an old-style torch.save file?)";
  if (starts("\x89HDF\r\n\x1a\n"sv)) return "it looks like an HDF5 file (a Keras .h5?)";
  if (starts("GGUF"sv) && head.size() >= 8 && head.substr(5, 3) == "\0\0\0"sv) return "it looks like a GGUF file";
  if (starts("\x7f" "ELF"sv)) return "it looks like an ELF executable";
  if (starts("ustar"sv, 257)) return "it looks like a tar archive";

  // Text: no byte below 0x20 other than tab, newline, vertical tab, form feed, carriage return and escape
  // (bytes from 0x80 up are taken as UTF-8 or another 8-bit encoding). A safetensors file's header length
  // always holds zero bytes, so it never reads as text.
  const bool text = std::all_of(head.begin(), head.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == 0x1b;
  });
  if (text) {
    std::string_view t = head;
    if (t.substr(0, 3) == "\xef\xbb\xbf"sv) t.remove_prefix(3);  // a UTF-8 byte-order mark
    const auto skip_space = [](std::string_view v) {
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
      return v;
    };
    t = skip_space(t);
    if (t.starts_with("version https://git-lfs.github.com/spec/"))
      return "it is a Git LFS pointer, not the file itself (fetch the file with git lfs pull)";
    std::string lower(t.substr(0, 14));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.starts_with("<!doctype html") || lower.starts_with("<html")) return "it looks like an HTML page (a failed download?)";
    if (!t.empty() && (t[0] == '{' || t[0] == '[')) {
      const std::string_view rest = skip_space(t.substr(1));
      const std::string_view json_next = t[0] == '{' ? "\"}"sv : "{[\"]-0123456789"sv;
      if (rest.empty() || json_next.find(rest[0]) != std::string_view::npos ||
          (t[0] == '[' && (rest.starts_with("true") || rest.starts_with("false") || rest.starts_with("null"))))
        return "it looks like JSON text (a config.json?)";
    }
    std::string line(t.substr(0, std::min(t.find_first_of("\r\n"), size_t{40})));
    for (char& c : line)
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return "it looks like plain text" + (line.empty() ? std::string() : " (it starts \"" + line + "\")");
  }
  uint64_t n = 0;
  if (size >= 8) std::memcpy(&n, head.data(), 8);
  if (size > 8 ? head[8] == '{' : size == 8 && (n >> 32) == 0) return "";
  if (size < 8)
    return std::to_string(size) + " bytes are too few to hold even the 8-byte header length a safetensors file starts "
           "with (a truncated file?)";
  std::string hex;
  char byte[4];
  for (size_t i = 0; i < std::min<size_t>(head.size(), 12); ++i) {
    std::snprintf(byte, sizeof(byte), "%02x ", static_cast<unsigned char>(head[i]));
    hex += byte;
  }
  hex.pop_back();
  return "unrecognised binary data (it starts " + hex +
         "; a safetensors file starts with an 8-byte little-endian header length, then the JSON header's '{')";
}
}  // namespace

SafetensorsContents read_safetensors(const std::string& path) {
  if (std::filesystem::is_directory(path))
    fail(path, "not a safetensors checkpoint: it is a directory (pass a file, such as a run directory's "
               "ckpt-<step>.safetensors)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  in.seekg(0, std::ios::end);
  const int64_t size = in.tellg();
  in.seekg(0);
  // Recognise the file before trusting its first 8 bytes as a length.
  std::string head(static_cast<size_t>(std::min<int64_t>(size, 4096)), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const std::string reason = not_safetensors_reason(path, head, static_cast<uint64_t>(size));
  if (!reason.empty()) fail(path, "not a safetensors checkpoint: " + reason);
  uint64_t n = 0;
  std::memcpy(&n, head.data(), 8);
  in.clear();
  in.seekg(8);
  if (n > static_cast<uint64_t>(size - 8) || n > (100u << 20))
    fail(path, "truncated or corrupt safetensors file: header length " + std::to_string(n) + " is out of bounds (the file has " +
                   std::to_string(size) + " bytes" + (n > (100u << 20) ? ", and a header is at most 100 MiB)" : ")"));
  std::string h(n, '\0');
  in.read(h.data(), static_cast<std::streamsize>(n));
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(h);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");
  const uint64_t data_size = static_cast<uint64_t>(size) - 8 - n;

  SafetensorsContents out;
  struct Span { uint64_t begin, end; std::string name; };
  std::vector<Span> spans;
  std::vector<std::pair<std::string, std::pair<DType, Shape>>> layout;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(path, "__metadata__ value '" + k + "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      fail(path, where + "needs dtype, shape and data_offsets");
    const std::string dt = entry["dtype"].is_string() ? entry["dtype"].get<std::string>() : "";
    DType dtype;
    if (dt == "F32") dtype = DType::F32;
    else if (dt == "F64") dtype = DType::F64;
    else if (dt == "I32") dtype = DType::I32;
    else fail(path, where + "unsupported dtype '" + dt + "' (F32, F64 and I32 are read)");
    Shape shape;
    if (!entry["shape"].is_array()) fail(path, where + "shape is not an array");
    uint64_t count = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40)) fail(path, where + "shape has an invalid dimension");
      shape.push_back(d.get<int64_t>());
      count *= d.get<uint64_t>();
      if (count > (uint64_t{1} << 40)) fail(path, where + "shape is too large");
    }
    const auto& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(path, where + "data_offsets is not a pair of non-negative integers");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      fail(path, "truncated or corrupt safetensors file: " + where + "data_offsets [" + std::to_string(b) + ", " +
                     std::to_string(e) + "] lie outside the " + std::to_string(data_size) + " data bytes (the file has " +
                     std::to_string(size) + " bytes)");
    if (e - b != count * dtype_size(dtype))
      fail(path, where + "shape " + to_string(shape) + " needs " + std::to_string(count * dtype_size(dtype)) +
                     " bytes but data_offsets span " + std::to_string(e - b));
    spans.push_back({b, e, name});
    layout.push_back({name, {dtype, shape}});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end) fail(path, "tensors '" + spans[i - 1].name + "' and '" + spans[i].name + "' overlap");

  std::vector<char> data(data_size);
  in.read(data.data(), static_cast<std::streamsize>(data_size));
  if (!in) fail(path, "read failed");
  for (size_t i = 0; i < layout.size(); ++i) {
    const auto& [name, dl] = layout[i];
    const uint64_t b = header[name]["data_offsets"][0].get<uint64_t>();
    Tensor t = Tensor::empty(dl.second, dl.first);
    std::memcpy(t.storage()->data(), data.data() + b, static_cast<size_t>(t.numel()) * dtype_size(dl.first));
    out.tensors.emplace_back(name, t);
  }
  return out;
}

}  // namespace diffuse::nn
