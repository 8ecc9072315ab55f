#include "tensor/shape.hpp"

#include <sstream>

namespace diffuse {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string to_string(const Shape& s) {
  std::ostringstream text;
  text << '[';
  for (size_t i = 0; i < s.size(); ++i) text << (i ? ", " : "") << s[i];
  text << ']';
  return text.str();
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      shape_error(op, "shapes " + to_string(a) + " and " + to_string(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t wrap_axis(int64_t axis, int64_t ndim, const char* op) {
  if (axis < -ndim || axis >= std::max<int64_t>(ndim, 1))
    shape_error(op, "axis " + std::to_string(axis) + " is out of range for a tensor with " +
                        std::to_string(ndim) + " dimensions");
  return axis < 0 ? axis + ndim : axis;
}

void shape_error(const char* op, const std::string& what) { throw std::invalid_argument(std::string(op) + ": " + what); }

}  // namespace diffuse
