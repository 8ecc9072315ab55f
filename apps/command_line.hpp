// Checks of a command line that CLI11 does not make in the order a person needs: an unknown verb or flag
// is named first, with the nearest known one suggested, before any complaint about a missing flag.
#pragma once
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

namespace diffuse {

// The message for the first unknown verb or long flag of argv, e.g.
//   "sample: unknown flag --chekpoint; did you mean --checkpoint? (...)", or nothing when all are known.
// Flags are the verb's and the program's own; "--name=value" counts as --name; what follows "--" is not read.
std::optional<std::string> unknown_flag(const CLI::App& app, int argc, const char* const* argv);

// The number of single-character edits (insertions, deletions, substitutions) between a and b.
size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace diffuse
