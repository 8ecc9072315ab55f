# gdb pretty-printers for diffuse's tensors (a debugging aid; the engine never runs Python).
#
#   gdb -x tools/gdb/diffuse_tensor.py --args build-debug/diffuse selfcheck --steps 3
#   (gdb) print g              Tensor float32 [768, 3] strides [3, 1] grad_fn=none  {0.0012, -0.0004, ...}
#   (gdb) tensor g 20          the first 20 values, row by row
#
# It reads TensorImpl's fields (tensor/tensor.hpp): storage, shape, strides, offset (elements), dtype,
# requires_grad, grad, grad_fn, walking the strides itself, so views print as what they show.
import gdb

DTYPES = {0: ("float32", "float"), 1: ("float64", "double"), 2: ("int32", "int")}


def _type_name(val):
    """The class name of a value, through references, const and typedefs ("diffuse::Tensor")."""
    t = val.type
    if t.code in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
        t = t.target()
    return str(t.unqualified().strip_typedefs())


def _shared_ptr_get(sp):
    """The raw pointer inside a libstdc++ std::shared_ptr (null if empty)."""
    return sp["_M_ptr"]


def _vector(v):
    start, finish = v["_M_impl"]["_M_start"], v["_M_impl"]["_M_finish"]
    return [int((start + i).dereference()) for i in range(int(finish - start))]


class TensorView:
    """What a Tensor (or TensorImpl) shows: dtype, shape, strides and a way to read element values."""

    def __init__(self, val):
        if val.type.code in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
            val = val.referenced_value()
        if val.type.code == gdb.TYPE_CODE_PTR:
            val = val.dereference()
        if _type_name(val) == "diffuse::Tensor":
            val = _shared_ptr_get(val["impl_"])
            self.impl = None if int(val) == 0 else val.dereference()
        else:
            self.impl = val
        if self.impl is None:
            return
        impl = self.impl
        self.shape = _vector(impl["shape"])
        self.strides = _vector(impl["strides"])
        self.offset = int(impl["offset"])
        self.dtype, ctype = DTYPES.get(int(impl["dtype"]), ("?", "float"))
        storage = _shared_ptr_get(impl["storage"])
        self.data = None
        if int(storage) != 0:
            self.data = storage.dereference()["data_"].cast(gdb.lookup_type(ctype).pointer())

    def numel(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def values(self, limit):
        """Up to `limit` values in row-major order of the view (strides walked, not the storage order)."""
        out = []
        if self.data is None:
            return out
        index = [0] * len(self.shape)
        for _ in range(min(limit, self.numel())):
            pos = self.offset + sum(i * s for i, s in zip(index, self.strides))
            out.append((self.data + pos).dereference())
            for d in reversed(range(len(index))):  # odometer increment
                index[d] += 1
                if index[d] < self.shape[d]:
                    break
                index[d] = 0
        return out

    def summary(self):
        if self.impl is None:
            return "Tensor (undefined)"
        impl = self.impl
        fn = _shared_ptr_get(impl["grad_fn"])
        op = fn.dereference()["op"].string() if int(fn) != 0 else "none"
        has_grad = int(_shared_ptr_get(impl["grad"])) != 0
        flags = (" requires_grad" if bool(impl["requires_grad"]) else "") + (" has .grad" if has_grad else "")
        return "Tensor %s %s strides %s offset %d%s grad_fn=%s" % (
            self.dtype, self.shape, self.strides, self.offset, flags, op)


def _format(values):
    return ", ".join("%.6g" % float(v) for v in values)


class TensorPrinter:
    def __init__(self, val):
        self.view = TensorView(val)

    def to_string(self):
        s = self.view.summary()
        if self.view.impl is not None:
            first = self.view.values(6)
            s += "  {" + _format(first) + (", ..." if self.view.numel() > len(first) else "") + "}"
        return s


class TensorCommand(gdb.Command):
    """tensor EXPR [N]: a tensor's summary and its first N values (default 64), one row of the last dimension per line."""

    def __init__(self):
        super().__init__("tensor", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        parts = gdb.string_to_argv(arg)
        if not parts:
            raise gdb.GdbError("usage: tensor EXPR [N]")
        view = TensorView(gdb.parse_and_eval(parts[0]))
        print(view.summary())
        if view.impl is None:
            return
        values = view.values(int(parts[1]) if len(parts) > 1 else 64)
        row = view.shape[-1] if view.shape else 1
        for i in range(0, len(values), max(row, 1)):
            print("  [" + _format(values[i:i + row]) + "]")
        if view.numel() > len(values):
            print("  ... (%d of %d values shown)" % (len(values), view.numel()))


def _lookup(val):
    name = _type_name(val)
    if name in ("diffuse::Tensor", "diffuse::TensorImpl"):
        return TensorPrinter(val)
    return None


gdb.pretty_printers.append(_lookup)
TensorCommand()
