// The call paths an SDK strategy takes on every bar, bound with nanobind (see run.sh).
#include <nanobind/nanobind.h>

#include <cstdint>

namespace nb = nanobind;

namespace {

// What on_bar receives: one object, its fields rewritten in place before every call.
struct Bar {
  double close = 0;
  int64_t index = 0;
};

// An indicator value read from Python.
struct Cell {
  double value = 1.5;
  int sign = 1;
  double Get() const { return value; }
  void Set(double v) { value = v; }
};

// Calls `callback(bar)` n times from C++ (the per-bar path of a callback strategy).
void Drive(nb::object callback, int64_t n) {
  Bar bar;
  nb::object handle = nb::cast(&bar, nb::rv_policy::reference);
  for (int64_t i = 0; i < n; ++i) {
    bar.index = i;
    bar.close = static_cast<double>(i);
    callback(handle);
  }
}

}  // namespace

NB_MODULE(probe_nanobind, m) {
  nb::class_<Bar>(m, "Bar").def_ro("close", &Bar::close).def_ro("index", &Bar::index);
  nb::class_<Cell>(m, "Cell")
      .def(nb::init<>())
      .def_rw("value", &Cell::value)
      .def_ro("sign", &Cell::sign)
      .def("get", &Cell::Get)
      .def("set", &Cell::Set);
  m.def("drive", &Drive);
}
