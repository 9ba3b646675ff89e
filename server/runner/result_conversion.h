// Converts the engine's RunResult into the stored result message (backtest.runner.v1.RunOutput)
// and the datasets it refers to.
#ifndef BACKTEST_SERVER_RUNNER_RESULT_CONVERSION_H_
#define BACKTEST_SERVER_RUNNER_RESULT_CONVERSION_H_

#include <span>
#include <string>
#include <vector>

#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/run_result.h"

namespace backtest::runner {

// The run's stats as the result carries them (and a sweep's rows).
void ToStats(const engine::Stats& in, backtest::runner::v1::Stats* out);

// Results format 3: the whole result in one message, every symbol's candles included (what
// runners wrote before datasets; the server still reads it).
void ToRunOutput(const engine::RunResult& result, backtest::runner::v1::RunOutput* out);

// Results format 4, what runners write: `out` refers to each symbol's candles by their dataset
// hash (engine::DatasetHash) when `known` has it for that symbol, and otherwise a DatasetEvent
// for it is appended to `datasets` (sent before the result; its hash is the server's to
// compute). Trades and markers as columns, the equity as pieces where the engine keeps them. The
// digest is the caller's to set. Hashes only the symbols that `known` names, and those only when
// `hashes` (by symbol index; may be empty) does not have their hash already.
void ToResultFrames(const engine::RunResult& result,
                    const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known,
                    std::vector<v1::RunnerEvent>* datasets, v1::RunOutput* out,
                    std::span<const std::string> hashes = {});

}  // namespace backtest::runner

#endif  // BACKTEST_SERVER_RUNNER_RESULT_CONVERSION_H_
