// A file passed where a checkpoint belongs that is not a safetensors file is recognised and named for
// what it is (JSON, an image, an archive, text, empty, too short), before its first 8 bytes are taken as a
// header length; a file that starts as safetensors does but is cut short is called truncated or corrupt,
// with the sizes.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "data/image_io.hpp"
#include "nn/checkpoint.hpp"
#include "nn/safetensors.hpp"
#include "tiny_model.hpp"

using namespace diffuse;
namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("diffuse_test_checkpoint_files_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The message read_safetensors (and through it every checkpoint reader) throws for `path`.
std::string refusal(const fs::path& path) {
  try {
    nn::read_safetensors(path.string());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string expected(const fs::path& path, const std::string& why) {
  return path.string() + ": not a safetensors checkpoint: " + why;
}

// A zip's first local file header naming `member` (what the reader looks at), then a few bytes of it.
std::string zip_with(const std::string& member) {
  std::string z = "PK\x03\x04";
  z += std::string(22, '\0');  // version, flags, method, time, date, crc, sizes: all zero (stored, empty)
  z += static_cast<char>(member.size());
  z += '\0';
  z += std::string(2, '\0');  // extra field length
  return z + member + std::string(16, '\0');
}
}  // namespace

TEST_CASE("a JSON file (config.json) passed as a checkpoint is called JSON text, not a bad header length") {
  const fs::path config = scratch("config.json");
  write_bytes(config, "{\n  \"diffusion\": {\"kind\": \"absorbing\"},\n  \"model\": {\"width\": 64}\n}\n");
  CHECK(refusal(config) == expected(config, "it looks like JSON text (a config.json?)"));
  CHECK_THROWS_WITH_AS(nn::read_checkpoint_metadata(config.string()),
                       expected(config, "it looks like JSON text (a config.json?)").c_str(), std::runtime_error);
  const fs::path array = scratch("list.json");
  write_bytes(array, "[1, 2, 3]");
  CHECK(refusal(array) == expected(array, "it looks like JSON text (a config.json?)"));
}

TEST_CASE("an empty file, and one too short for a header length, say so") {
  const fs::path empty = scratch("empty.safetensors");
  write_bytes(empty, "");
  CHECK(refusal(empty) == expected(empty, "it is empty (0 bytes)"));
  const fs::path short_file = scratch("short.safetensors");
  write_bytes(short_file, std::string("\xa8\x01\x00\x00\x00", 5));
  CHECK(refusal(short_file) ==
        expected(short_file, "5 bytes are too few to hold even the 8-byte header length a safetensors file starts with "
                             "(a truncated file?)"));
}

TEST_CASE("images and archives are named by their magic numbers") {
  data::U8Array image{{1, 3, 4, 4}, std::vector<uint8_t>(48, 200)};
  const fs::path png = scratch("samples.png");
  data::write_png_grid(png.string(), image, 1, 0);
  CHECK(refusal(png) == expected(png, "it looks like a PNG image"));

  const fs::path npz = scratch("samples.npz");
  data::write_npz(npz.string(), {{"arr_0", image}});
  CHECK(refusal(npz) == expected(npz, "it looks like a NumPy .npz archive (a zip of .npy arrays)"));
  const fs::path npy = scratch("arr_0.npy");
  const std::vector<uint8_t> npy_bytes = data::encode_npy(image);
  write_bytes(npy, std::string(npy_bytes.begin(), npy_bytes.end()));
  CHECK(refusal(npy) == expected(npy, "it looks like a NumPy .npy array"));

  const fs::path gz = scratch("ckpt.safetensors.gz");
  gzFile g = gzopen(gz.c_str(), "wb");
  REQUIRE(g != nullptr);
  gzputs(g, "some bytes to compress");
  gzclose(g);
  CHECK(refusal(gz) == expected(gz, "it looks like a gzip archive"));

  const fs::path xz = scratch("ckpt.safetensors.xz");
  write_bytes(xz, std::string("\xfd" "7zXZ\0\0\x04\xe6\xd6\xb4\x46", 12));
  CHECK(refusal(xz) == expected(xz, "it looks like an xz archive"));

  const fs::path zip = scratch("weights.zip");
  write_bytes(zip, zip_with("notes.txt"));
  CHECK(refusal(zip) == expected(zip, "it looks like a zip archive"));
  const fs::path torch_zip = scratch("model.pt");
  write_bytes(torch_zip, zip_with("archive/data.pkl"));
  CHECK(refusal(torch_zip) == expected(torch_zip, "it looks like a PyTorch torch.save file (a zip holding a pickle)"));
  const fs::path pickle = scratch("model.pth");
  write_bytes(pickle, std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14));
  CHECK(refusal(pickle) == expected(pickle, "it looks like a Python pickle (an old-style torch.save file?)"));
}

TEST_CASE("text files: plain text quoted, an HTML page, a Git LFS pointer") {
  const fs::path text = scratch("notes.txt");
  write_bytes(text, "hello world\nsecond line\n");
  CHECK(refusal(text) == expected(text, "it looks like plain text (it starts \"hello world\")"));
  const fs::path ini = scratch("setup.cfg");
  write_bytes(ini, "[tool]\nname = x\n");  // a bracket that does not open JSON
  CHECK(refusal(ini) == expected(ini, "it looks like plain text (it starts \"[tool]\")"));
  const fs::path html = scratch("download.safetensors");
  write_bytes(html, "<!DOCTYPE html>\n<html><body>Not Found</body></html>\n");
  CHECK(refusal(html) == expected(html, "it looks like an HTML page (a failed download?)"));
  const fs::path lfs = scratch("lfs.safetensors");
  write_bytes(lfs, "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 4242\n");
  CHECK(refusal(lfs) == expected(lfs, "it is a Git LFS pointer, not the file itself (fetch the file with git lfs pull)"));
}

TEST_CASE("a directory, and binary data of no known kind") {
  const fs::path dir = scratch("a-run");
  fs::create_directories(dir);
  CHECK(refusal(dir) == expected(dir, "it is a directory (pass a file, such as a run directory's ckpt-<step>.safetensors)"));
  const fs::path blob = scratch("blob.bin");
  write_bytes(blob, std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e", 14));
  CHECK(refusal(blob) == expected(blob, "unrecognised binary data (it starts 01 02 03 04 05 06 07 08 09 0a 0b 0c; a "
                                        "safetensors file starts with an 8-byte little-endian header length, then "
                                        "the JSON header's '{')"));
}

TEST_CASE("a safetensors file cut short is called truncated or corrupt, with the sizes") {
  testing::TinyRun run(1);
  const fs::path good = scratch("good.safetensors");
  nn::save_checkpoint(good.string(), run.arena, nullptr, nullptr, {{"step", "1"}});
  const std::string bytes = read_bytes(good);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(refusal(good) == "(no error)");

  const fs::path cut = scratch("cut.safetensors");
  write_bytes(cut, bytes.substr(0, 100));  // inside the header
  CHECK(refusal(cut) == cut.string() + ": truncated or corrupt safetensors file: header length " + std::to_string(n) +
                            " is out of bounds (the file has 100 bytes)");
  write_bytes(cut, bytes.substr(0, 8));  // the length alone
  CHECK(refusal(cut) == cut.string() + ": truncated or corrupt safetensors file: header length " + std::to_string(n) +
                            " is out of bounds (the file has 8 bytes)");
  write_bytes(cut, bytes.substr(0, bytes.size() - 4));  // inside the tensor data
  const std::string data_cut = refusal(cut);
  CHECK(data_cut.rfind(cut.string() + ": truncated or corrupt safetensors file: tensor '", 0) == 0);
  CHECK(data_cut.find("data bytes (the file has " + std::to_string(bytes.size() - 4) + " bytes)") != std::string::npos);
}
