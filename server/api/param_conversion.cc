#include "server/api/param_conversion.h"

#include "absl/strings/str_cat.h"

namespace backtest::api {

void ToParamDefinition(const engine::ParamDef& def, backtest::v1::ParamDefinition* out) {
  out->set_name(std::string(def.name));
  out->set_alias(std::string(def.alias));
  out->set_type(std::string(engine::ParamTypeName(def.type)));
  out->set_group(std::string(def.group));
  out->set_default_value(std::string(def.default_value));
  out->set_optional(def.optional);
  if (def.min) {
    out->set_min(def.min->value);
    out->set_min_exclusive(def.min->exclusive);
  }
  if (def.max) {
    out->set_max(def.max->value);
    out->set_max_exclusive(def.max->exclusive);
  }
  for (absl::string_view c : def.choices) out->add_choices(std::string(c));
  out->set_strategy(std::string(def.strategy));
  out->set_help(std::string(def.help));
  out->set_hidden(def.hidden);
}

absl::Status FillParamDefinitions(const engine::ParamRegistry& registry,
                                  absl::string_view strategy,
                                  backtest::v1::ListParamsResponse* response) {
  if (!strategy.empty() && !registry.HasStrategy(strategy)) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategy: unknown strategy \"", strategy.substr(0, 64), "\""));
  }
  for (const engine::ParamDef* listed : registry.ForStrategy(strategy)) {
    const engine::ParamDef& def = *listed;
    if (response->groups().empty() ||
        response->groups(response->groups_size() - 1) != def.group) {
      response->add_groups(std::string(def.group));
    }
    ToParamDefinition(def, response->add_params());
  }
  return absl::OkStatus();
}

}  // namespace backtest::api
