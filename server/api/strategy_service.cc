#include "server/api/strategy_service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/api/param_conversion.h"

namespace backtest::api {
namespace {

// The built-ins' one-line descriptions (the `strategy` parameter's help says the same).
absl::string_view BuiltinDescription(absl::string_view name) {
  if (name == "sr_breakout") return "Support/resistance breakout and retest.";
  if (name == "sma_cross") return "Reference SMA crossover.";
  return "";
}

}  // namespace

absl::Status ToStrategyProto(const jobs::StrategySnapshot& snapshot, absl::string_view name,
                             backtest::v1::Strategy* out) {
  const engine::ParamRegistry& registry = *snapshot.registry;
  if (!registry.HasStrategy(name)) {
    if (const jobs::StrategyProblem* problem = snapshot.FindProblem(name); problem != nullptr) {
      out->set_name(problem->name);
      out->set_kind(problem->kind);
      out->set_source_hash(problem->source_hash);
      out->set_error(problem->error);
      return absl::OkStatus();
    }
    return absl::NotFoundError(absl::StrCat("no strategy \"", name.substr(0, 64), "\""));
  }
  out->set_name(std::string(name));
  if (const jobs::StrategyInfo* info = snapshot.Find(name); info != nullptr) {
    out->set_kind(info->kind);
    out->set_description(info->description);
    out->set_source_hash(info->source_hash);
    out->set_sdk_version(info->sdk_version);
    out->set_entry(info->entry);
  } else {
    out->set_kind("builtin");
    out->set_description(std::string(BuiltinDescription(name)));
  }
  for (const engine::ParamDef* def : registry.ForStrategy(name)) {
    if (def->strategy == name) ToParamDefinition(*def, out->add_parameters());
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* StrategyServiceImpl::ListStrategies(
    grpc::CallbackServerContext* context, const backtest::v1::ListStrategiesRequest*,
    backtest::v1::ListStrategiesResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller&) -> absl::Status {
    const std::shared_ptr<const jobs::StrategySnapshot> snapshot = strategies_.snapshot();
    // The built-ins, then the folder's by name: those that run and those that do not.
    std::vector<std::string> builtins, folder;
    for (const std::string& name : snapshot->registry->strategies()) {
      (snapshot->Find(name) == nullptr ? builtins : folder).push_back(name);
    }
    for (const jobs::StrategyProblem& problem : snapshot->problems) {
      if (!snapshot->registry->HasStrategy(problem.name)) folder.push_back(problem.name);
    }
    std::sort(folder.begin(), folder.end());
    for (const std::vector<std::string>* names : {&builtins, &folder}) {
      for (const std::string& name : *names) {
        if (auto s = ToStrategyProto(*snapshot, name, response->add_strategies()); !s.ok()) {
          return s;
        }
      }
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StrategyServiceImpl::GetStrategy(
    grpc::CallbackServerContext* context, const backtest::v1::GetStrategyRequest* request,
    backtest::v1::GetStrategyResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller&) -> absl::Status {
    return ToStrategyProto(*strategies_.snapshot(), request->name(),
                           response->mutable_strategy());
  });
}

}  // namespace backtest::api
