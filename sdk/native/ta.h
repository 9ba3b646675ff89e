// backtestd._native.ta: whole-array indicators (ta.cc).
#ifndef BACKTEST_SDK_NATIVE_TA_H_
#define BACKTEST_SDK_NATIVE_TA_H_

#include <nanobind/nanobind.h>

namespace backtest::sdk {

namespace nb = nanobind;

void BindTa(nb::module_& m);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_TA_H_
