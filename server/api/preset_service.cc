#include "server/api/preset_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "db/database.h"
#include "db/preset_store.h"
#include "google/protobuf/util/time_util.h"
#include "server/api/value_conversion.h"
#include "server/engine/param_registry.h"

namespace backtest::api {
namespace {

constexpr size_t kMaxNameLength = 64;
// Connections kept open for preset calls between calls.
constexpr size_t kIdleConnections = 2;

// Values typed by `strategies`' registry (a folder strategy's own numbers and booleans) when given.
void ToPresetProto(const db::PresetRecord& record, backtest::v1::Preset* out,
                   const jobs::StrategyCatalog* strategies) {
  out->set_name(record.name);
  std::shared_ptr<const jobs::StrategySnapshot> snapshot;
  if (strategies != nullptr) snapshot = strategies->snapshot();
  TextToValues(record.values, out->mutable_values(),
               snapshot != nullptr ? snapshot->registry.get() : nullptr);
  *out->mutable_updated_at() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
      record.updated_ms);
}

}  // namespace

absl::Status ValidatePresetName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxNameLength;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != ' ' && c != '.' && c != '_' && c != '-') ok = false;
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name: must be 1-64 letters, digits, spaces, '.', '_' or '-', got \"",
        absl::CHexEscape(name.substr(0, kMaxNameLength)), "\""));
  }
  if (name.front() == ' ' || name.back() == ' ') {
    return absl::InvalidArgumentError(
        absl::StrCat("name: must not start or end with a space, got \"", name, "\""));
  }
  return absl::OkStatus();
}

PresetServiceImpl::Stores::~Stores() = default;

PresetServiceImpl::PresetServiceImpl(const std::string& db_path, Authenticator& auth,
                                     const jobs::StrategyCatalog* strategies)
    : auth_(auth),
      strategies_(strategies),
      pool_(
          [db_path]() -> absl::StatusOr<std::unique_ptr<Stores>> {
            auto stores = std::make_unique<Stores>();
            ASSIGN_OR_RETURN(stores->db, db::Database::Open(db_path));
            ASSIGN_OR_RETURN(stores->presets, db::PresetStore::Create(stores->db.get()));
            return stores;
          },
          kIdleConnections) {}

PresetServiceImpl::~PresetServiceImpl() = default;

grpc::ServerUnaryReactor* PresetServiceImpl::ListPresets(
    grpc::CallbackServerContext* context, const backtest::v1::ListPresetsRequest* request,
    backtest::v1::ListPresetsResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(auto stores, pool_.Acquire());
    ASSIGN_OR_RETURN(std::vector<std::string> names, stores->presets->ListNames(caller.user_id));
    for (std::string& name : names) response->add_names(std::move(name));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* PresetServiceImpl::GetPreset(
    grpc::CallbackServerContext* context, const backtest::v1::GetPresetRequest* request,
    backtest::v1::GetPresetResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) -> absl::Status {
    RETURN_IF_ERROR(ValidatePresetName(request->name()));
    ASSIGN_OR_RETURN(auto stores, pool_.Acquire());
    ASSIGN_OR_RETURN(db::PresetRecord record,
                     stores->presets->Get(caller.user_id, request->name()));
    ToPresetProto(record, response->mutable_preset(), strategies_);
    return absl::OkStatus();
  });
}

absl::Status PresetServiceImpl::Upsert(const Caller& caller,
                                       const backtest::v1::UpsertPresetRequest& request,
                                       backtest::v1::UpsertPresetResponse* response) {
  RETURN_IF_ERROR(ValidatePresetName(request.name()));
  ASSIGN_OR_RETURN(auto given, ValuesToText(request.values()));
  // Names and aliases resolved, values checked and made canonical; no defaults filled in.
  std::shared_ptr<const jobs::StrategySnapshot> snapshot;
  const engine::ParamRegistry* registry = &engine::ParamRegistry::Builtin();
  if (strategies_ != nullptr) {
    snapshot = strategies_->snapshot();
    registry = snapshot->registry.get();
  }
  ASSIGN_OR_RETURN(engine::ParamValues canonical, registry->ValidatePartial(given));
  std::map<std::string, std::string> values(canonical.begin(), canonical.end());
  ASSIGN_OR_RETURN(auto stores, pool_.Acquire());
  ASSIGN_OR_RETURN(bool created, stores->presets->Upsert(caller.user_id, request.name(), values));
  ASSIGN_OR_RETURN(db::PresetRecord stored, stores->presets->Get(caller.user_id, request.name()));
  ToPresetProto(stored, response->mutable_preset(), strategies_);
  response->set_created(created);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* PresetServiceImpl::UpsertPreset(
    grpc::CallbackServerContext* context, const backtest::v1::UpsertPresetRequest* request,
    backtest::v1::UpsertPresetResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Upsert(caller, *request, response);
  });
}

grpc::ServerUnaryReactor* PresetServiceImpl::DeletePreset(
    grpc::CallbackServerContext* context, const backtest::v1::DeletePresetRequest* request,
    backtest::v1::DeletePresetResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) -> absl::Status {
    RETURN_IF_ERROR(ValidatePresetName(request->name()));
    ASSIGN_OR_RETURN(auto stores, pool_.Acquire());
    return stores->presets->Delete(caller.user_id, request->name());
  });
}

}  // namespace backtest::api
