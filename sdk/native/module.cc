// backtestd._native: the backtestd engine as a Python module (nanobind). The Python layer
// (sdk/backtestd/) declares strategies and parameters; the engine does the rest.
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>

#include "sdk/native/decimal_column.h"
#include "sdk/native/packed_rows.h"
#include "sdk/native/run.h"
#include "sdk/native/runner.h"
#include "sdk/native/session.h"
#include "sdk/native/ta.h"
#include "server/engine/param_registry.h"

namespace nb = nanobind;
namespace bt = backtest;

namespace {

// The registry's parameters (name, alias, type, group, default, strategy), for the Python layer's
// checks of a strategy's own parameter names.
nb::list EngineParams() {
  nb::list out;
  for (const bt::engine::ParamDef& p : bt::engine::AllParams()) {
    nb::dict d;
    d["name"] = std::string(p.name);
    d["alias"] = std::string(p.alias);
    d["type"] = std::string(bt::engine::ParamTypeName(p.type));
    d["group"] = std::string(p.group);
    d["default"] = std::string(p.default_value);
    d["strategy"] = std::string(p.strategy);
    out.append(d);
  }
  return out;
}

}  // namespace

NB_MODULE(_native, m) {
  m.doc() = "The backtestd engine (C++), bound for the backtestd package.";
  bt::sdk::BindSession(m);
  bt::sdk::BindTa(m);
  bt::sdk::BindRunner(m);
  bt::sdk::BindResult(m);
  bt::sdk::BindDecimalColumn(m);
  bt::sdk::BindPackedRows(m);
  m.def("run",
        [](nb::object start, const std::string& name,
           const std::map<std::string, std::string>& params, nb::object data, int64_t now,
           bool digest, int64_t max_log_lines, int64_t trace_max_rows) {
          bt::sdk::LocalRunOptions options;
          options.digest = digest;
          options.max_log_lines = max_log_lines;
          options.trace_max_rows = trace_max_rows;
          return bt::sdk::ResultToPython(
              bt::sdk::RunLocal(std::move(start), name, params, std::move(data), now, options));
        },
        nb::arg("start"), nb::arg("name"), nb::arg("params"), nb::arg("data").none(),
        nb::arg("now"), nb::arg("digest") = true, nb::arg("max_log_lines") = 1000,
        nb::arg("trace_max_rows") = 0);
  m.def("engine_params", &EngineParams);
  m.def("validate_params",
        [](const std::map<std::string, std::string>& params, int64_t now) {
          auto values = bt::engine::ValidateParams(params, now);
          if (!values.ok()) throw nb::value_error(std::string(values.status().message()).c_str());
          return std::map<std::string, std::string>(values->begin(), values->end());
        },
        nb::arg("params"), nb::arg("now"),
        "The registry's validation (the server's): the full canonical set, or ValueError naming "
        "the parameter.");
  m.def("format_number", [](double v) { return bt::engine::FormatNumber(v); },
        "A number's canonical text, as the parameter registry writes it.");
}
