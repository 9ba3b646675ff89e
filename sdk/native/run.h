// A local run of a Python strategy (backtestd.run) and its result as Python objects.
#ifndef BACKTEST_SDK_NATIVE_RUN_H_
#define BACKTEST_SDK_NATIVE_RUN_H_

#include <nanobind/nanobind.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sdk/native/session.h"
#include "server/engine/run_result.h"
#include "server/engine/trace/trace_row.h"

namespace backtest::sdk {

struct LocalRunOptions {
  bool digest = true;
  int64_t max_log_lines = 1000;
  int64_t trace_max_rows = 0;  // 0: the engine's default
};

struct RunOutcome {
  std::shared_ptr<engine::RunResult> result;
  std::vector<std::pair<std::string, std::string>> logs;  // (level, text)
  std::vector<engine::TraceRow> trace;
  double run_seconds = 0;      // RunBacktest's wall time (data loading included)
  double run_cpu_seconds = 0;  // and its CPU time (the run's thread)
};

// Validates `params` (engine parameters by name, as text; `now` fills an empty end_date), loads
// the data (`data`: None for the data_source parameter, else {symbol: {time, open, high, low,
// close[, volume]} arrays}) and runs the strategy that `start(session)` binds. Raises ValueError
// for bad parameters or data, KeyError for a symbol without data, the strategy's own exception
// when it raised, KeyboardInterrupt on Ctrl-C.
RunOutcome RunLocal(nb::object start, const std::string& name,
                    const std::map<std::string, std::string>& params, nb::object data,
                    int64_t now, const LocalRunOptions& options);

// The result as plain Python objects (dicts, lists, numpy arrays): see backtestd/result.py. The
// markers and the equity curve are made when read (`lazy`: LazyResult.markers(), .equity()).
nb::dict ResultToPython(const RunOutcome& outcome);

// Binds LazyResult (module.cc calls it).
void BindResult(nb::module_& m);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_RUN_H_
