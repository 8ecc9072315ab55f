// Token-grid files (data/token_grids.hpp).
#include "data/token_grids.hpp"

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "data/file_io.hpp"

namespace diffuse::data {

namespace {
std::string header_text(const TokenGridHeader& h) {
  std::ostringstream s;
  s << kTokenGridMagic << " " << kTokenGridVersion << "\n"
    << "vqvae_hash " << h.vqvae_hash << "\n"
    << "vqvae_checkpoint " << h.vqvae_checkpoint << "\n"
    << "codebook_size " << h.codebook_size << "\n"
    << "grid " << h.height << " " << h.width << "\n"
    << "count " << h.count << "\n"
    << "dataset " << h.dataset << "\n"
    << "split " << h.split << "\n"
    << "end\n";
  return s.str();
}

void check_sizes(const TokenGrids& g, const std::string& path) {
  const TokenGridHeader& h = g.header;
  if (h.codebook_size < 1 || h.codebook_size > 65536 || h.height < 1 || h.width < 1 || h.count < 0)
    file_error(path, "token grids: bad header (codebook_size " + std::to_string(h.codebook_size) + ", grid " + std::to_string(h.height) +
                         " x " + std::to_string(h.width) + ", count " + std::to_string(h.count) + ")");
  if (static_cast<int64_t>(g.codes.size()) != h.count * h.height * h.width || static_cast<int64_t>(g.labels.size()) != h.count)
    file_error(path, "token grids: " + std::to_string(g.codes.size()) + " codes and " + std::to_string(g.labels.size()) +
                         " labels for " + std::to_string(h.count) + " grids of " + std::to_string(h.height) + " x " + std::to_string(h.width));
  for (size_t i = 0; i < g.codes.size(); ++i)
    if (g.codes[i] >= h.codebook_size)
      file_error(path, "token grids: code " + std::to_string(g.codes[i]) + " at " + std::to_string(i) + " is not below codebook_size " +
                           std::to_string(h.codebook_size));
}
}  // namespace

void write_token_grids(const std::string& path, const TokenGrids& g) {
  for (const std::string* s : {&g.header.vqvae_hash, &g.header.vqvae_checkpoint, &g.header.dataset, &g.header.split})
    if (s->find('\n') != std::string::npos) throw std::invalid_argument(path + ": token grids: a header value holds a newline");
  try {
    check_sizes(g, path);
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(e.what());
  }
  const std::string text = header_text(g.header);
  AtomicFile f(path);
  f.write(text.data(), text.size());
  f.write(g.codes.data(), g.codes.size() * sizeof(uint16_t));  // little-endian hosts (x86-64, aarch64)
  f.write(g.labels.data(), g.labels.size() * sizeof(int32_t));
  f.commit();
}

TokenGrids read_token_grids(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, "token-grid file");
  TokenGrids g;
  size_t at = 0;
  auto line = [&]() {
    const size_t end = std::string(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.end()).find('\n');
    if (end == std::string::npos) file_error(path, "token grids: the header ends early (no 'end' line)");
    std::string l(bytes.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin() + static_cast<std::ptrdiff_t>(at + end));
    at += end + 1;
    return l;
  };
  const std::string magic = line();
  if (magic != std::string(kTokenGridMagic) + " " + std::to_string(kTokenGridVersion))
    file_error(path, "not a token-grid file of version " + std::to_string(kTokenGridVersion) + " (first line '" + magic.substr(0, 40) +
                         "'; write one with `diffuse tokenize`)");
  TokenGridHeader& h = g.header;
  for (std::string l = line(); l != "end"; l = line()) {
    const size_t space = l.find(' ');
    const std::string key = l.substr(0, space), value = space == std::string::npos ? "" : l.substr(space + 1);
    std::istringstream v(value);
    if (key == "vqvae_hash") h.vqvae_hash = value;
    else if (key == "vqvae_checkpoint") h.vqvae_checkpoint = value;
    else if (key == "codebook_size") v >> h.codebook_size;
    else if (key == "grid") v >> h.height >> h.width;
    else if (key == "count") v >> h.count;
    else if (key == "dataset") h.dataset = value;
    else if (key == "split") h.split = value;
    else file_error(path, "token grids: unknown header line '" + l.substr(0, 60) + "'");
    if (v.fail()) file_error(path, "token grids: bad header line '" + l.substr(0, 60) + "'");
  }
  if (h.codebook_size < 1 || h.height < 1 || h.width < 1 || h.count < 0) check_sizes(g, path);
  const size_t n_codes = static_cast<size_t>(h.count * h.height * h.width), n_labels = static_cast<size_t>(h.count);
  const size_t need = n_codes * sizeof(uint16_t) + n_labels * sizeof(int32_t);
  if (bytes.size() - at != need)
    file_error(path, "token grids: " + std::to_string(bytes.size() - at) + " bytes after the header, " + std::to_string(need) + " expected for " +
                         std::to_string(h.count) + " grids of " + std::to_string(h.height) + " x " + std::to_string(h.width));
  g.codes.resize(n_codes);
  g.labels.resize(n_labels);
  std::memcpy(g.codes.data(), bytes.data() + at, n_codes * sizeof(uint16_t));
  std::memcpy(g.labels.data(), bytes.data() + at + n_codes * sizeof(uint16_t), n_labels * sizeof(int32_t));
  check_sizes(g, path);
  return g;
}

void require_token_grids_of(const TokenGridHeader& h, const std::string& path, const std::string& hash, const std::string& checkpoint,
                            int64_t codebook_size, int64_t height, int64_t width) {
  if (h.vqvae_hash != hash)
    throw std::invalid_argument(path + ": made by the VQ-VAE " + h.vqvae_checkpoint + " (hash " + h.vqvae_hash + "), not by " + checkpoint +
                                " (hash " + hash + "): tokenize the data again with " + checkpoint);
  if (h.height != height || h.width != width || h.codebook_size != codebook_size)
    throw std::invalid_argument(path + ": grids of " + std::to_string(h.height) + " x " + std::to_string(h.width) + " over " +
                                std::to_string(h.codebook_size) + " codes, but " + checkpoint + " makes " + std::to_string(height) + " x " +
                                std::to_string(width) + " over " + std::to_string(codebook_size));
}

}  // namespace diffuse::data
