// PresetService over the gRPC callback API: named parameter presets, per owner.
//
// Thread-safe: handlers run on gRPC's threads, each with a pooled connection of its own. Every
// handler authenticates first (see auth.h); a caller only ever sees its own presets.
#ifndef BACKTEST_SERVER_API_PRESET_SERVICE_H_
#define BACKTEST_SERVER_API_PRESET_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "backtest/v1/preset_service.grpc.pb.h"
#include "server/api/auth.h"
#include "server/api/store_pool.h"
#include "server/jobs/strategy_catalog.h"

namespace backtest {
namespace db {
class Database;
class PresetStore;
}  // namespace db

namespace api {

// InvalidArgument unless `name` is 1-64 letters, digits, spaces, '.', '_' or '-', not starting or
// ending with a space. Names are only ever bound as SQL values, never used in paths or SQL text.
absl::Status ValidatePresetName(absl::string_view name);

class PresetServiceImpl final : public backtest::v1::PresetService::CallbackService {
 public:
  // Opens connections to the (already migrated) database at `db_path` as calls need them.
  // Presets are checked against the registry with the strategy folder's strategies when
  // `strategies` is given (it outlives the service), else against the built-ins.
  PresetServiceImpl(const std::string& db_path, Authenticator& auth,
                    const jobs::StrategyCatalog* strategies = nullptr);
  ~PresetServiceImpl() override;

  grpc::ServerUnaryReactor* ListPresets(grpc::CallbackServerContext* context,
                                        const backtest::v1::ListPresetsRequest* request,
                                        backtest::v1::ListPresetsResponse* response) override;
  grpc::ServerUnaryReactor* GetPreset(grpc::CallbackServerContext* context,
                                      const backtest::v1::GetPresetRequest* request,
                                      backtest::v1::GetPresetResponse* response) override;
  grpc::ServerUnaryReactor* UpsertPreset(grpc::CallbackServerContext* context,
                                         const backtest::v1::UpsertPresetRequest* request,
                                         backtest::v1::UpsertPresetResponse* response) override;
  grpc::ServerUnaryReactor* DeletePreset(grpc::CallbackServerContext* context,
                                         const backtest::v1::DeletePresetRequest* request,
                                         backtest::v1::DeletePresetResponse* response) override;

 private:
  struct Stores {
    std::unique_ptr<db::Database> db;
    std::unique_ptr<db::PresetStore> presets;
    ~Stores();
  };

  absl::Status Upsert(const Caller& caller, const backtest::v1::UpsertPresetRequest& request,
                      backtest::v1::UpsertPresetResponse* response);

  Authenticator& auth_;
  const jobs::StrategyCatalog* const strategies_;
  StorePool<Stores> pool_;
};

}  // namespace api
}  // namespace backtest

#endif  // BACKTEST_SERVER_API_PRESET_SERVICE_H_
