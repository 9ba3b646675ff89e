// backtestd._native.Channel and the runner's helpers (runner.cc).
#ifndef BACKTEST_SDK_NATIVE_RUNNER_H_
#define BACKTEST_SDK_NATIVE_RUNNER_H_

#include <nanobind/nanobind.h>

namespace backtest::sdk {

namespace nb = nanobind;

void BindRunner(nb::module_& m);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_RUNNER_H_
