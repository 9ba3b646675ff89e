// backtestd._native.decimal_values: a GetResult answer's DecimalColumn (backtest.v1, docs/api.md)
// decoded into doubles for the service client (decimal_column.cc).
#ifndef BACKTEST_SDK_NATIVE_DECIMAL_COLUMN_H_
#define BACKTEST_SDK_NATIVE_DECIMAL_COLUMN_H_

#include <nanobind/nanobind.h>

namespace backtest::sdk {

namespace nb = nanobind;

void BindDecimalColumn(nb::module_& m);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_DECIMAL_COLUMN_H_
