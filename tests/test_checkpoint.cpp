// Checkpoints: the safetensors layout, exact resume, atomic writes, and refusal of damaged files.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gradcheck.hpp"
#include "nn/checkpoint.hpp"
#include "nn/safetensors.hpp"
#include "tiny_model.hpp"

using namespace diffuse;
using namespace diffuse::testing;
namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("diffuse_test_checkpoint_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// A generator's whole state is (seed, stream, counter).
std::string rng_state(const Philox& g) {
  return std::to_string(g.seed()) + " " + std::to_string(g.stream()) + " " + std::to_string(g.counter());
}
Philox rng_from(const std::string& s) {
  uint64_t seed, stream, counter;
  REQUIRE(std::sscanf(s.c_str(), "%lu %lu %lu", &seed, &stream, &counter) == 3);
  return Philox(seed, stream, counter);
}
std::map<std::string, std::string> run_state(const TinyRun& r) {
  return {{"step", std::to_string(r.adam.updates())}, {"rng.data", rng_state(r.data_rng)}, {"rng.dropout", rng_state(r.dropout_rng)}};
}
void restore_state(TinyRun& r, const std::map<std::string, std::string>& meta) {
  r.data_rng = rng_from(meta.at("rng.data"));
  r.dropout_rng = rng_from(meta.at("rng.dropout"));
}
}  // namespace

TEST_CASE("a checkpoint is a safetensors file that other tools can read") {
  TinyRun run(1);
  run.step();
  const fs::path path = scratch("layout.safetensors");
  nn::save_checkpoint(path, run.arena, &run.adam, &run.ema, {{"preset", "tiny"}, {"config", "{\"width\": 16}"}});
  const std::string bytes = read_bytes(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  CHECK(header["__metadata__"]["format"] == "diffuse.checkpoint");
  CHECK(header["__metadata__"]["format_version"] == "1");
  CHECK(header["__metadata__"]["preset"] == "tiny");
  CHECK(header["__metadata__"]["adam_steps"] == "1");
  CHECK(header["fc1.weight"]["dtype"] == "F32");
  CHECK(header["fc1.weight"]["shape"] == nlohmann::json::array({16, 6}));
  // The raw little-endian floats at the stated offsets are the parameter's values.
  const uint64_t begin = header["fc1.weight"]["data_offsets"][0];
  float first;
  std::memcpy(&first, bytes.data() + 8 + n + begin, 4);
  CHECK(first == static_cast<float>(run.net.fc1->weight.at({0, 0})));
  CHECK(header.contains("ema/fc2.bias"));
  CHECK(header.contains("adam_v/norm.weight"));
  // Offsets tile the data section exactly.
  uint64_t total = 0;
  for (auto& [k, v] : header.items())
    if (k != "__metadata__") total += v["data_offsets"][1].get<uint64_t>() - v["data_offsets"][0].get<uint64_t>();
  CHECK(8 + n + total == bytes.size());
}

TEST_CASE("resuming from a checkpoint continues the run bit for bit") {
  std::vector<double> straight;
  {
    TinyRun a(7);
    for (int s = 0; s < 8; ++s) straight.push_back(a.step());
  }
  const fs::path path = scratch("resume.safetensors");
  std::vector<double> resumed;
  {
    TinyRun b(7);
    for (int s = 0; s < 4; ++s) resumed.push_back(b.step());
    nn::save_checkpoint(path, b.arena, &b.adam, &b.ema, run_state(b));
  }
  {
    TinyRun c(999);  // different initial weights and streams: everything must come from the file
    const auto meta = nn::load_checkpoint(path, c.arena, &c.adam, &c.ema);
    restore_state(c, meta);
    CHECK(c.adam.updates() == 4);
    for (int s = 0; s < 4; ++s) resumed.push_back(c.step());
  }
  REQUIRE(resumed.size() == straight.size());
  for (size_t i = 0; i < straight.size(); ++i) {
    CAPTURE(i);
    CHECK(resumed[i] == straight[i]);  // exact equality
  }
}

TEST_CASE("damaged or mismatched checkpoints are refused, naming the file and the problem, loading nothing") {
  TinyRun run(2);
  run.step();
  const fs::path good = scratch("good.safetensors"), bad = scratch("bad.safetensors");
  nn::save_checkpoint(good, run.arena, &run.adam, &run.ema, {});
  const std::string bytes = read_bytes(good);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);

  TinyRun victim(3);
  const Tensor before = victim.arena.values().clone();
  auto refused = [&](const std::string& contents, const std::string& expect) {
    write_bytes(bad, contents);
    CAPTURE(expect);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(bad, victim.arena, &victim.adam, &victim.ema),
                         doctest::Contains((bad.string() + ": ").c_str()), std::runtime_error);
    CHECK_THROWS_WITH_AS(nn::load_checkpoint(bad, victim.arena, &victim.adam, &victim.ema), doctest::Contains(expect.c_str()),
                         std::runtime_error);
    CHECK(max_abs_diff(victim.arena.values(), before) == 0);  // nothing loaded half-way
  };
  refused(bytes.substr(0, 5), "truncated");
  refused(bytes.substr(0, bytes.size() - 7), "outside");
  refused(bytes.substr(0, 8 + n / 2), "out of bounds");
  std::string huge = bytes;
  const uint64_t big = uint64_t{1} << 40;
  std::memcpy(huge.data(), &big, 8);
  refused(huge, "header length");
  std::string flipped = bytes;
  flipped[8 + 1] ^= 0x20;  // a bit flip inside the JSON: '"' becomes '\x02'
  refused(flipped, "not valid JSON");
  // A header that lies about a shape.
  std::string liar = bytes;
  const size_t at = liar.find("[16,6]");
  REQUIRE(at != std::string::npos);
  liar.replace(at, 6, "[16,7]");
  refused(liar, "fc1.weight");
  // A checkpoint of another model: a different width.
  struct Other : nn::Module {
    explicit Other(Philox& r) : fc1(register_module("fc1", std::make_shared<nn::Linear>(6, 8, nn::Init::Zero, r))) {}
    std::shared_ptr<nn::Linear> fc1;
  };
  Philox r(1);
  Other other(r);
  nn::ParameterArena other_arena(other);
  nn::save_checkpoint(bad, other_arena, nullptr, nullptr, {});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(bad, victim.arena, nullptr, nullptr),
                       doctest::Contains("tensor 'fc1.weight' has shape [8, 6] but the model expects [16, 6]"),
                       std::runtime_error);
  // Missing optimizer state, and an unknown version.
  nn::save_checkpoint(bad, run.arena, nullptr, nullptr, {});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(bad, victim.arena, &victim.adam, &victim.ema),
                       doctest::Contains("tensor 'ema/fc1.weight' is missing"), std::runtime_error);
  nn::write_safetensors(bad, {{"fc1.weight", run.net.fc1->weight}},
                        {{"format", nn::kCheckpointFormat}, {"format_version", "99"}});
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(bad, victim.arena, nullptr, nullptr),
                       doctest::Contains("unknown checkpoint format version '99'"), std::runtime_error);
  CHECK(max_abs_diff(victim.arena.values(), before) == 0);
  CHECK_THROWS_WITH_AS(nn::load_checkpoint(scratch("absent.safetensors"), victim.arena, nullptr, nullptr),
                       doctest::Contains("cannot open"), std::runtime_error);
}

TEST_CASE("a failed write (disk full) leaves the previous checkpoint intact") {
  TinyRun run(4);
  const fs::path path = scratch("atomic.safetensors");
  nn::save_checkpoint(path, run.arena, &run.adam, &run.ema, {{"step", "1"}});
  const std::string previous = read_bytes(path);
  run.step();
  // Simulate a full disk: cap the file size below the checkpoint's, so write() fails with EFBIG.
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 1000;
  setrlimit(RLIMIT_FSIZE, &small);
  CHECK_THROWS_WITH_AS(nn::save_checkpoint(path, run.arena, &run.adam, &run.ema, {{"step", "2"}}),
                       doctest::Contains("the previous file is intact"), std::runtime_error);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECK(read_bytes(path) == previous);
  for (const auto& e : fs::directory_iterator(path.parent_path()))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);  // no temporary left behind
  CHECK(nn::read_checkpoint_metadata(path).at("step") == "1");
}

TEST_CASE("a run directory keeps the last K checkpoints") {
  const fs::path dir = scratch("run");
  fs::create_directories(dir);
  TinyRun run(5);
  for (int64_t step : {100, 200, 300, 400, 500}) nn::save_checkpoint(nn::checkpoint_path(dir, step), run.arena, nullptr, nullptr, {});
  nn::prune_checkpoints(dir, 2);
  const auto left = nn::list_checkpoints(dir);
  REQUIRE(left.size() == 2);
  CHECK(left[0] == nn::checkpoint_path(dir, 400));
  CHECK(left[1] == nn::checkpoint_path(dir, 500));
  fs::remove_all(dir.parent_path());
}
