// backtestd._native.trade_messages and marker_messages: a GetResult answer's packed trades or
// markers (backtest.v1.TradeColumns, MarkerColumns) as the messages they stand for, all at once
// for the service client (packed_rows.cc).
#ifndef BACKTEST_SDK_NATIVE_PACKED_ROWS_H_
#define BACKTEST_SDK_NATIVE_PACKED_ROWS_H_

#include <nanobind/nanobind.h>

namespace backtest::sdk {

namespace nb = nanobind;

void BindPackedRows(nb::module_& m);

}  // namespace backtest::sdk

#endif  // BACKTEST_SDK_NATIVE_PACKED_ROWS_H_
