// Reading NumPy .npz archives of samples: what `diffuse sample` writes (data/image_io.hpp: uint8 images
// [N, H, W, C] under 'arr_0', class labels [N] under 'labels' when the samples were conditional) and what
// numpy.savez writes from other code.
//
// The archive is read through its central directory (ZIP's end record at the end of the file points to it),
// whose sizes are right even where numpy.savez's force_zip64 leaves 0xffffffff in a member's local header.
// Members must be stored (method 0, as numpy.savez and write_npz write them): a compressed member
// (numpy.savez_compressed) and ZIP64 archives (over 4 GiB) are refused, saying so. Each member's CRC-32 is
// checked. A member is an .npy file, versions 1.0 to 3.0: integer dtypes ('|u1', '<i4', '<i8', ...) in C order,
// little-endian or byte-sized; floats, Fortran order and big-endian data are refused, naming the member and its
// descr. Every error is a std::runtime_error naming the file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/image_set.hpp"

namespace diffuse::data {

// One .npy array of integers.
struct NpyIntegers {
  Shape shape;
  char kind = 'u';      // 'u' unsigned, 'i' signed
  int item_size = 1;    // bytes per element: 1, 2, 4 or 8
  std::string descr;    // as the header gives it, for messages: "<i8"
  std::vector<uint8_t> data;  // numel * item_size bytes, little-endian, C order

  int64_t numel() const { return diffuse::numel(shape); }
  int64_t at(int64_t i) const;  // element i in C order, as an integer (an unsigned 8-byte value above 2^63 is refused)
};

// Parses one .npy file's bytes; `where` names it in errors ("S.npz: member labels.npy").
NpyIntegers parse_npy(const std::vector<uint8_t>& bytes, const std::string& where);

// Whether the file starts as a ZIP archive (an .npz) does: "PK\3\4". False for a missing or short file.
bool is_npz(const std::string& path);

// Every member of an .npz, by array name (the member's name without ".npy").
std::map<std::string, NpyIntegers> read_npz(const std::string& path);

// Samples as `diffuse sample` writes them: 'arr_0' uint8 [N, H, W, C] (or [N, H, W], one channel) as images
// [N, C, H, W], and 'labels' [N] (any integer dtype, each >= 0) when the archive holds it.
struct SampleArchive {
  U8Array images;               // [N, C, H, W]
  std::vector<int64_t> labels;  // empty when the archive has no 'labels'
  std::string source;           // the path
};
SampleArchive read_sample_npz(const std::string& path);

}  // namespace diffuse::data
