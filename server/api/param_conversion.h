// Conversions between the parameter registry and its proto forms.
#ifndef BACKTEST_SERVER_API_PARAM_CONVERSION_H_
#define BACKTEST_SERVER_API_PARAM_CONVERSION_H_

#include "absl/status/status.h"
#include "backtest/v1/backtest_service.pb.h"
#include "server/engine/param_registry.h"

namespace backtest::api {

void ToParamDefinition(const engine::ParamDef& def, backtest::v1::ParamDefinition* out);

// Fills `response` with `registry`'s definitions: every one, or those a run of `strategy` reads
// when it is not empty (ParamRegistry::ForStrategy). InvalidArgument for an unknown strategy.
absl::Status FillParamDefinitions(const engine::ParamRegistry& registry,
                                  absl::string_view strategy,
                                  backtest::v1::ListParamsResponse* response);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_PARAM_CONVERSION_H_
