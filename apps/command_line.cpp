// Unknown verbs and flags named first (see command_line.hpp).
#include "apps/command_line.hpp"

#include <algorithm>
#include <vector>

namespace diffuse {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

namespace {
// " (did you mean X?)" for the candidate nearest to word, when it is near enough to be a slip.
std::string suggestion(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_distance = 0;
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (!best || d < best_distance) {
      best = &c;
      best_distance = d;
    }
  }
  if (!best || best_distance > std::max<size_t>(2, word.size() / 3)) return "";
  return "; did you mean " + *best + "?";
}

// True when arg is one of the program's own long options that takes a value ("--threads", not "--allow-emulated")
// written without "=": the next word is its value.
bool takes_value(const CLI::App& app, const std::string& arg) {
  if (arg.rfind("--", 0) != 0 || arg.find('=') != std::string::npos) return false;
  const CLI::Option* option = app.get_option_no_throw(arg);
  return option == nullptr || option->get_type_size() != 0;
}

std::vector<std::string> long_flags(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* option : app.get_options())
    for (const std::string& name : option->get_lnames()) out.push_back("--" + name);
  return out;
}
}  // namespace

std::optional<std::string> unknown_flag(const CLI::App& app, int argc, const char* const* argv) {
  const std::vector<std::string> global = long_flags(app);
  const CLI::App* verb = nullptr;
  std::vector<std::string> flags = global;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) == 0) {
      const std::string name = arg.substr(0, arg.find('='));
      if (std::find(flags.begin(), flags.end(), name) != flags.end()) continue;
      const std::string where = verb ? verb->get_name() : std::string("diffuse");
      return where + ": unknown flag " + name + suggestion(name, flags) +
             " (`diffuse " + (verb ? verb->get_name() + " " : std::string()) + "--help` lists the flags)";
    }
    if (verb != nullptr || arg.empty() || arg[0] == '-') continue;  // a value, or a short flag
    // The first word that is not a flag's value is the verb. A word after a flag that takes a value is that
    // value: the program's own flags (--threads N) are the only ones before the verb.
    if (i > 1 && takes_value(app, argv[i - 1])) continue;
    std::vector<std::string> verbs;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      verbs.push_back(sub->get_name());
      if (sub->get_name() == arg) verb = sub;
    }
    if (!verb) return "unknown command '" + arg + "'" + suggestion(arg, verbs) + " (`diffuse --help` lists the commands)";
    flags = global;
    for (const std::string& f : long_flags(*verb)) flags.push_back(f);
  }
  return std::nullopt;
}

}  // namespace diffuse
