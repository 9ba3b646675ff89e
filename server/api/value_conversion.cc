#include "server/api/value_conversion.h"

#include <charconv>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace backtest::api {
namespace {

// Names echoed in messages are clipped: they come from the caller.
std::string Shown(absl::string_view name) { return std::string(name.substr(0, 64)); }

template <typename Map>
void TextToValuesImpl(const Map& values, ProtoValues* out, const engine::ParamRegistry* registry) {
  out->clear();
  std::string strategy;
  if (auto it = values.find("strategy"); it != values.end()) strategy = it->second;
  for (const auto& [name, text] : values) {
    TextToValue(name, text, &(*out)[name], registry, strategy);
  }
}

}  // namespace

absl::StatusOr<std::string> ValueToText(absl::string_view name,
                                        const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      return std::string();
    case google::protobuf::Value::kBoolValue:
      return std::string(value.bool_value() ? "true" : "false");
    case google::protobuf::Value::kStringValue:
      return value.string_value();
    case google::protobuf::Value::kNumberValue:
      if (!std::isfinite(value.number_value())) {
        return absl::InvalidArgumentError(
            absl::StrCat(Shown(name), ": must be a finite number"));
      }
      return engine::FormatNumber(value.number_value());
    case google::protobuf::Value::kListValue:
      return absl::InvalidArgumentError(absl::StrCat(
          Shown(name), ": must be a number, string, bool or null, got a list"));
    case google::protobuf::Value::kStructValue:
      return absl::InvalidArgumentError(absl::StrCat(
          Shown(name), ": must be a number, string, bool or null, got an object"));
  }
  return absl::InvalidArgumentError(absl::StrCat(Shown(name), ": unsupported value"));
}

absl::StatusOr<std::map<std::string, std::string>> ValuesToText(const ProtoValues& values) {
  std::map<std::string, std::string> out;
  // protobuf's Map iterates in no fixed order; report the first bad name in sorted order.
  std::map<std::string, const google::protobuf::Value*> sorted;
  for (const auto& [name, value] : values) sorted.emplace(name, &value);
  for (const auto& [name, value] : sorted) {
    auto text = ValueToText(name, *value);
    if (!text.ok()) return text.status();
    out.emplace(name, *std::move(text));
  }
  return out;
}

void TextToValue(absl::string_view name, absl::string_view text, google::protobuf::Value* out,
                 const engine::ParamRegistry* registry, absl::string_view strategy) {
  if (text.empty()) {
    out->set_null_value(google::protobuf::NULL_VALUE);
    return;
  }
  // A strategy of the folder: its own definition (a strategy that has left the folder since:
  // the built-ins', else text).
  const engine::ParamDef* def =
      registry != nullptr && registry->HasStrategy(strategy) ? registry->Find(name, strategy)
                                                             : nullptr;
  if (def == nullptr) def = engine::FindParam(name);
  engine::ParamType type = def == nullptr ? engine::ParamType::kString : def->type;
  switch (type) {
    case engine::ParamType::kInt:
    case engine::ParamType::kDouble: {
      double d = 0;
      if (absl::SimpleAtod(text, &d) && std::isfinite(d)) {
        out->set_number_value(d);
        return;
      }
      break;
    }
    case engine::ParamType::kBool:
      if (text == "true" || text == "false") {
        out->set_bool_value(text == "true");
        return;
      }
      break;
    default:
      break;
  }
  out->set_string_value(std::string(text));
}

void TextToValues(const engine::ParamValues& values, ProtoValues* out,
                  const engine::ParamRegistry* registry) {
  TextToValuesImpl(values, out, registry);
}

void TextToValues(const std::map<std::string, std::string>& values, ProtoValues* out,
                  const engine::ParamRegistry* registry) {
  TextToValuesImpl(values, out, registry);
}

}  // namespace backtest::api
