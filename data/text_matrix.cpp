// A matrix of numbers in a text file (see text_matrix.hpp).
#include "data/text_matrix.hpp"

#include <fstream>
#include <sstream>

#include "data/file_io.hpp"

namespace diffuse::data {

std::vector<double> read_text_matrix(const std::string& path, int64_t* rows, int64_t* dim) {
  std::ifstream in(path);
  if (!in) file_error(path, "cannot open the text matrix");
  std::vector<double> values;
  std::string line;
  int64_t r = 0, d = -1;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    double v;
    int64_t n = 0;
    while (s >> v) {
      values.push_back(v);
      ++n;
    }
    if (n == 0) continue;
    if (d >= 0 && n != d)
      file_error(path, "row " + std::to_string(r) + " has " + std::to_string(n) + " values, the first had " +
                           std::to_string(d));
    d = n;
    ++r;
  }
  if (r == 0) file_error(path, "holds no numbers");
  *rows = r;
  *dim = d;
  return values;
}

}  // namespace diffuse::data
