// Parameter values between their proto form (google.protobuf.Value, as JSON clients send them) and
// the registry's text form. Used by RunBacktest, Job.params and presets.
//
// Thread-safe: pure functions.
#ifndef BACKTEST_SERVER_API_VALUE_CONVERSION_H_
#define BACKTEST_SERVER_API_VALUE_CONVERSION_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"
#include "google/protobuf/struct.pb.h"
#include "server/engine/param_registry.h"

namespace backtest::api {

using ProtoValues = google::protobuf::Map<std::string, google::protobuf::Value>;

// One value as text: numbers in the shortest form that reads back exactly (integral values as
// integers: 100000000, not 1e+08), bools as true/false, strings as they are, null (or unset) as
// empty. Lists and structs are InvalidArgument naming `name`; so are NaN and infinities.
absl::StatusOr<std::string> ValueToText(absl::string_view name,
                                        const google::protobuf::Value& value);

// Every value as text (names untouched: the registry resolves them). InvalidArgument naming the
// first parameter whose value is not a number, string, bool or null.
absl::StatusOr<std::map<std::string, std::string>> ValuesToText(const ProtoValues& values);

// A canonical text value back as a Value by the parameter's type: int and double → number_value,
// bool → bool_value, anything else (and names the registry does not know) → string_value. Empty
// text → null_value ("not set"). The type is the definition `registry` has for `name` in a run of
// `strategy` (a strategy folder's own parameters included), else the built-in registry's.
void TextToValue(absl::string_view name, absl::string_view text, google::protobuf::Value* out,
                 const engine::ParamRegistry* registry = nullptr,
                 absl::string_view strategy = "");

// Every value back as a Value (see TextToValue), typed for the values' own `strategy`; `out` is
// cleared first.
void TextToValues(const engine::ParamValues& values, ProtoValues* out,
                  const engine::ParamRegistry* registry = nullptr);
void TextToValues(const std::map<std::string, std::string>& values, ProtoValues* out,
                  const engine::ParamRegistry* registry = nullptr);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_VALUE_CONVERSION_H_
