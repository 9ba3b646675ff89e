#include "sdk/native/packed_rows.h"

#include <string>

#include "backtest/v1/backtest_service.pb.h"
#include "server/api/packed_trades.h"

namespace backtest::sdk {
namespace {

namespace v1 = backtest::v1;

// A GetResultResponse holding the rows of serialized `Columns` (TradeColumns, MarkerColumns)
// unpacked by `unpack` into its `field` (trades, markers), serialized.
template <typename Columns, typename Unpack, typename Field>
nb::bytes Messages(nb::bytes columns, const char* type, Unpack&& unpack, Field&& field) {
  Columns c;
  if (!c.ParseFromArray(columns.c_str(), static_cast<int>(columns.size()))) {
    throw nb::value_error((std::string("columns: not a ") + type).c_str());
  }
  v1::GetResultResponse out;
  if (absl::Status s = unpack(c, field(out)); !s.ok()) {
    throw nb::value_error(std::string(s.message()).c_str());
  }
  const std::string bytes = out.SerializeAsString();
  return nb::bytes(bytes.data(), bytes.size());
}

}  // namespace

void BindPackedRows(nb::module_& m) {
  m.def(
      "trade_messages",
      [](nb::bytes columns) {
        return Messages<v1::TradeColumns>(columns, "TradeColumns", api::UnpackTrades,
                                          [](v1::GetResultResponse& r) { return r.mutable_trades(); });
      },
      nb::arg("columns"),
      "A serialized GetResultResponse whose trades are the rows of a serialized TradeColumns "
      "(the messages a per-point answer carries, bit for bit). ValueError naming a malformed "
      "column.");
  m.def(
      "marker_messages",
      [](nb::bytes columns) {
        return Messages<v1::MarkerColumns>(
            columns, "MarkerColumns", api::UnpackMarkers,
            [](v1::GetResultResponse& r) { return r.mutable_markers(); });
      },
      nb::arg("columns"), "The same for the markers of a serialized MarkerColumns.");
}

}  // namespace backtest::sdk
