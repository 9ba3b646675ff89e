// A result dict (the API's result JSON shape) → the engine's RunResult (result_dict.cc).
#ifndef BACKTEST_SDK_NATIVE_RESULT_DICT_H_
#define BACKTEST_SDK_NATIVE_RESULT_DICT_H_

#include <nanobind/nanobind.h>

#include "server/engine/run_result.h"

namespace backtest::sdk {

namespace nb = nanobind;

// Raises ValueError naming the key (`trades[3].exit_reason: must be one of …`).
engine::RunResult ResultFromDict(nb::handle result);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_RESULT_DICT_H_
