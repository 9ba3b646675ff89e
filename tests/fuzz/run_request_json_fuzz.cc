// Fuzz target: a RunBacktest request as JSON (the REST bridge's form of it) through the server's
// parameter path: JsonStringToMessage into backtest.v1.RunBacktestRequest, ValuesToText,
// ValidatePartialParams, the merge with the server's trace defaults and ValidateParams, in the
// order of BacktestServiceImpl::Run (which needs a database for presets, so it is not called).
//
// Invariants checked on every input:
// - a number value becomes text that reads back as the same double;
// - an accepted parameter set survives the way a job's parameters travel back to clients (Job.params
//   as google.protobuf.Value, also printed as JSON and parsed again) and validates to itself;
// - a parsed request prints as JSON that parses to an equal message.
#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "backtest/v1/backtest_service.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/api/value_conversion.h"
#include "server/engine/param_registry.h"
#include "tests/fuzz/fuzz_check.h"

namespace backtest::api {
namespace {

using fuzz::Shown;
using google::protobuf::util::JsonStringToMessage;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::MessageToJsonString;
using TextMap = std::map<std::string, std::string>;

constexpr int64_t kNow = 1700000000;

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  auto status = MessageToJsonString(m, &out);
  FUZZ_CHECK(status.ok(), status.ToString());
  return out;
}

void CheckNumbersReadBack(const backtest::v1::RunBacktestRequest& request, const TextMap& given) {
  for (const auto& [name, value] : request.params()) {
    if (value.kind_case() != google::protobuf::Value::kNumberValue) continue;
    const std::string& text = given.at(name);
    double back = 0;
    FUZZ_CHECK(absl::SimpleAtod(text, &back) && back == value.number_value(),
               absl::StrCat(name, ": ", value.number_value(), " -> \"", text, "\""));
  }
}

// The accepted set as Job.params carries it, through JSON and back to text, validated again.
void CheckJobParamsRoundTrip(const engine::ParamValues& params) {
  backtest::v1::RunBacktestRequest carrier;
  TextToValues(params, carrier.mutable_params());
  const std::string json = Json(carrier);
  backtest::v1::RunBacktestRequest parsed;
  auto status = JsonStringToMessage(json, &parsed);
  FUZZ_CHECK(status.ok(), absl::StrCat(status.ToString(), " in ", Shown(json, 400)));
  const absl::StatusOr<TextMap> text = ValuesToText(parsed.params());
  FUZZ_CHECK(text.ok(), text.status().ToString());
  const absl::StatusOr<engine::ParamValues> again = engine::ValidateParams(*text, kNow);
  FUZZ_CHECK(again.ok() && *again == params,
             absl::StrCat(again.ok() ? "a different set" : again.status().ToString(),
                          " from ", Shown(json, 400)));
}

}  // namespace
}  // namespace backtest::api

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace backtest::api;
  using namespace backtest;
  if (size > 16384) return -1;
  const std::string text(reinterpret_cast<const char*>(data), size);

  v1::RunBacktestRequest request;
  if (!JsonStringToMessage(text, &request).ok()) return 0;

  // JSON out and in again gives the same request.
  const std::string printed = Json(request);
  v1::RunBacktestRequest reparsed;
  FUZZ_CHECK(JsonStringToMessage(printed, &reparsed).ok(), Shown(printed, 400));
  FUZZ_CHECK(MessageDifferencer::Equals(request, reparsed),
             absl::StrCat(Shown(text, 400), " -> ", Shown(printed, 400)));

  // BacktestServiceImpl::Run, without the preset lookup.
  const absl::StatusOr<TextMap> given = ValuesToText(request.params());
  if (!given.ok()) return 0;
  CheckNumbersReadBack(request, *given);
  const absl::StatusOr<engine::ParamValues> overrides = engine::ValidatePartialParams(*given);
  if (!overrides.ok()) return 0;
  TextMap input(overrides->begin(), overrides->end());
  input.try_emplace("trace_enabled", "false");
  input.try_emplace("trace_sampling", "1");
  const absl::StatusOr<engine::ParamValues> params = engine::ValidateParams(input, kNow);
  if (!params.ok()) return 0;
  CheckJobParamsRoundTrip(*params);
  return 0;
}
