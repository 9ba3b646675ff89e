// Converts the engine's RunResult into the stored result message (backtest.runner.v1.RunOutput).
#ifndef BACKTEST_SERVER_RUNNER_RESULT_CONVERSION_H_
#define BACKTEST_SERVER_RUNNER_RESULT_CONVERSION_H_

#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/run_result.h"

namespace backtest::runner {

void ToRunOutput(const engine::RunResult& result, backtest::runner::v1::RunOutput* out);

}  // namespace backtest::runner

#endif  // BACKTEST_SERVER_RUNNER_RESULT_CONVERSION_H_
