// The same call paths as probe_nanobind.cc, bound with pybind11 (Debian's pybind11-dev).
#include <pybind11/pybind11.h>

#include <cstdint>

namespace py = pybind11;

namespace {

struct Bar {
  double close = 0;
  int64_t index = 0;
};

struct Cell {
  double value = 1.5;
  int sign = 1;
  double Get() const { return value; }
  void Set(double v) { value = v; }
};

void Drive(py::object callback, int64_t n) {
  Bar bar;
  py::object handle = py::cast(&bar, py::return_value_policy::reference);
  for (int64_t i = 0; i < n; ++i) {
    bar.index = i;
    bar.close = static_cast<double>(i);
    callback(handle);
  }
}

}  // namespace

PYBIND11_MODULE(probe_pybind11, m) {
  py::class_<Bar>(m, "Bar").def_readonly("close", &Bar::close).def_readonly("index", &Bar::index);
  py::class_<Cell>(m, "Cell")
      .def(py::init<>())
      .def_readwrite("value", &Cell::value)
      .def_readonly("sign", &Cell::sign)
      .def("get", &Cell::Get)
      .def("set", &Cell::Set);
  m.def("drive", &Drive);
}
