// A sweep job in the runner (docs/sweeps.md): the base parameters' market data loaded once, then
// every combination of RunSpec.sweep run on it by a thread per core, each a normal engine run
// without markers, trace or digest; rows of stats go out as SweepRowsEvents (gathered: every
// 100 ms or 512 rows) with a progress event (bars_done/bars_total: combinations), then a
// SweepDoneEvent. SIGTERM stops every worker at its next block of bars; the rows sent so far
// stand.
#ifndef BACKTEST_SERVER_RUNNER_SWEEP_SESSION_H_
#define BACKTEST_SERVER_RUNNER_SWEEP_SESSION_H_

#include <functional>
#include <vector>

#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/engine.h"
#include "server/runner/runner_session.h"

namespace backtest::runner {

// Runs combinations `rows` of `sweep` (each `base` with the combination's values) on `data` with
// `threads` threads (the calling one among them), calling `done` from those threads with each
// run's result; stops taking combinations once CancelRequested() (a cancelled run is not
// reported). Returns when every thread has stopped.
void ForEachCombination(
    const v1::SweepSpec& sweep, const engine::ParamValues& base, const engine::MarketData& data,
    const engine::RunOptions& options, int threads, const std::vector<int>& rows,
    const std::function<void(int, const absl::StatusOr<engine::RunResult>&)>& done);

// Runs the spec's sweep; returns the process's exit status (0 after SweepDoneEvent).
int RunSweep(EventWriter& writer, const v1::RunSpec& spec);

}  // namespace backtest::runner

#endif  // BACKTEST_SERVER_RUNNER_SWEEP_SESSION_H_
