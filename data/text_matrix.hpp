// A matrix of numbers in a text file: one row per line, values separated by whitespace (the format numpy's
// savetxt writes), e.g. token embeddings for D3PM's nearest-neighbour kind (diffusion.nn_embeddings).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace diffuse::data {

// The rows x dim values, row-major. Blank lines are skipped. A missing file, a row whose length differs
// from the first's, or a file with no numbers is a std::runtime_error naming the path and the row.
std::vector<double> read_text_matrix(const std::string& path, int64_t* rows, int64_t* dim);

}  // namespace diffuse::data
