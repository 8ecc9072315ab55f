#include "tensor/onednn.hpp"

#include <memory>

#include "tensor/storage.hpp"
#include "tensor/profile.hpp"

namespace diffuse::onednn {

// Never destroyed: primitives kept in static caches (conv2d's plans) refer to the engine, and static
// destructors run in an order we do not control.
const dnnl::engine& engine() {
  static const dnnl::engine* cpu = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *cpu;
}

dnnl::stream& stream() {
  static dnnl::stream* s = new dnnl::stream(engine());
  return *s;
}

dnnl::memory::dims dims_of(const Shape& shape) { return dnnl::memory::dims(shape.begin(), shape.end()); }

dnnl::memory::desc plain_desc(const Shape& shape, dnnl::memory::format_tag tag) {
  return dnnl::memory::desc(dims_of(shape), dnnl::memory::data_type::f32, tag);
}

dnnl::memory wrap(const Tensor& t, const dnnl::memory::desc& md) {
  // oneDNN takes a non-const handle for every argument; it writes only into destinations.
  return dnnl::memory(md, engine(), static_cast<void*>(t.data<float>()));
}

Memory allocate(const dnnl::memory::desc& md) {
  auto buffer = std::make_shared<Storage>(md.get_size());  // Storage counts itself for the profile
  return {dnnl::memory(md, engine(), buffer->data()), buffer};
}

Reorder::Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) : from_(from), to_(to) {
  if (from != to) primitive_ = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), from, engine(), to));
}

void Reorder::operator()(const dnnl::memory& from, const dnnl::memory& to) const {
  ProfileScope scope("reorder");
  scope.bytes(static_cast<int64_t>(from_.get_size() + to_.get_size()));
  dnnl::memory src = from, dst = to;
  primitive_.execute(stream(), src, dst);
  stream().wait();
}

Memory Reorder::apply(const dnnl::memory& from) const {
  if (!needed()) return {from, nullptr};
  Memory out = allocate(to_);
  (*this)(from, out.memory);
  return out;
}

dnnl::primitive_attr primitive_attr_with_user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute(const dnnl::primitive& primitive, const dnnl::primitive_desc_base& pd,
             std::unordered_map<int, dnnl::memory> args) {
  // One buffer for every primitive's scratchpad, kept across calls (one thread at a time, see the header).
  static std::unique_ptr<Storage> buffer;
  const dnnl::memory::desc md = pd.scratchpad_desc();
  if (md.get_size() > 0) {
    if (!buffer || buffer->nbytes() < md.get_size()) {
      buffer.reset();  // free the old one first: peak memory is the larger size, not the sum
      buffer = std::make_unique<Storage>(md.get_size());
    }
    args.insert({DNNL_ARG_SCRATCHPAD, dnnl::memory(md, engine(), buffer->data())});
  }
  primitive.execute(stream(), args);
  stream().wait();
}

}  // namespace diffuse::onednn
