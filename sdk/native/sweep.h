// A sweep of an SDK strategy in the Python runner (docs/sweeps.md, "Strategy-folder strategies"):
// backtest-runner's RunSweep (server/runner/sweep_session.h) — the data loaded once, rows,
// progress, walk-forward, cancel — with the combinations run in worker processes forked from
// the runner once the data is loaded (the GIL allows one Python strategy at a time per process):
// a worker per core takes combinations one by one from a counter they share and sends each row
// back on a pipe of its own. A vectorized strategy (signals(data)) is called once per
// combination and the engine simulates its arrays without Python; a callback strategy (on_bar)
// is called on every bar, as in a single job. The workers inherit the runner's sandbox and
// limits; SIGTERM to the runner reaches them, and they die with it.
#ifndef BACKTEST_SDK_NATIVE_SWEEP_H_
#define BACKTEST_SDK_NATIVE_SWEEP_H_

#include <nanobind/nanobind.h>

#include <map>
#include <string>

#include "backtest/runner/v1/runner.pb.h"
#include "server/runner/runner_session.h"

namespace backtest::sdk {

namespace nb = nanobind;

// Runs `spec`'s sweep (RunSpec.sweep) of the SDK strategy that `prepare` makes runs of:
// prepare(params) — a combination's whole parameter set, the spec's with its values, as text —
// answers (start, the engine's parameters), start(session) binding the strategy, or a string
// saying why the values are refused (the row's error). `base` is the engine's share of the
// spec's parameters (its data and the run's settings). Called with the GIL held; returns the
// process's exit status, its frames written.
int RunSdkSweep(runner::EventWriter& writer, const backtest::runner::v1::RunSpec& spec,
                nb::object prepare, const std::map<std::string, std::string>& base);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_SWEEP_H_
