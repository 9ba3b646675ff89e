// TraceService over the gRPC callback API: a job's decision trace (QueryTrace) and explanations
// of a bar or of the whole run (Explain).
//
// Thread-safe: handlers run on gRPC's threads, each with a pooled connection of its own. Every
// handler authenticates first (see auth.h); a job's trace is visible to its owner and staff only,
// and to anyone else the job does not exist (NOT_FOUND, also for malformed ids).
#ifndef BACKTEST_SERVER_API_TRACE_SERVICE_H_
#define BACKTEST_SERVER_API_TRACE_SERVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "server/api/auth.h"
#include "server/api/store_pool.h"

namespace backtest {
namespace db {
class Database;
class ReasonStore;
class TraceStore;
struct JobInfo;
}  // namespace db

namespace api {

class TraceServiceImpl final : public backtest::v1::TraceService::CallbackService {
 public:
  // Limits of QueryTrace's page size.
  static constexpr int kDefaultLimit = 100;
  static constexpr int kMaxLimit = 1000;

  // Opens connections to the (already migrated) database at `db_path` as calls need them.
  TraceServiceImpl(const std::string& db_path, Authenticator& auth);
  ~TraceServiceImpl() override;

  grpc::ServerUnaryReactor* QueryTrace(grpc::CallbackServerContext* context,
                                       const backtest::v1::QueryTraceRequest* request,
                                       backtest::v1::QueryTraceResponse* response) override;
  grpc::ServerUnaryReactor* Explain(grpc::CallbackServerContext* context,
                                    const backtest::v1::ExplainRequest* request,
                                    backtest::v1::ExplainResponse* response) override;

 private:
  struct Stores {
    std::unique_ptr<db::Database> db;
    std::unique_ptr<db::TraceStore> traces;
    std::unique_ptr<db::ReasonStore> reasons;
    ~Stores();
  };

  absl::Status Query(const Caller& caller, const backtest::v1::QueryTraceRequest& request,
                     backtest::v1::QueryTraceResponse* response);
  absl::Status DoExplain(const Caller& caller, const backtest::v1::ExplainRequest& request,
                         backtest::v1::ExplainResponse* response);

  Authenticator& auth_;
  StorePool<Stores> pool_;
};

}  // namespace api
}  // namespace backtest

#endif  // BACKTEST_SERVER_API_TRACE_SERVICE_H_
