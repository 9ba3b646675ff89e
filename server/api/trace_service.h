// TraceService over the gRPC callback API: a job's decision trace (QueryTrace) and explanations
// of a bar or of the whole run (Explain).
//
// Bars without stored rows (tracing off, sampled out, past the row limit) of a finished run are
// answered by a replay (jobs::TraceReplayer, docs/explain-replay.md): the handler hands the
// question on and the call finishes on the replay's thread (or at once from its cache).
//
// Thread-safe: handlers run on gRPC's threads, each with a pooled connection of its own. Every
// handler authenticates first (see auth.h); a job's trace is visible to its owner and staff only,
// and to anyone else the job does not exist (NOT_FOUND, also for malformed ids).
#ifndef BACKTEST_SERVER_API_TRACE_SERVICE_H_
#define BACKTEST_SERVER_API_TRACE_SERVICE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "server/api/auth.h"
#include "server/api/dataset_cache.h"
#include "server/api/store_pool.h"
#include "server/jobs/trace_replay.h"

namespace backtest {
namespace db {
class Database;
class DatasetStore;
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
  // `replayer` (may be null: bars without rows are then answered as untraced) answers bars
  // without stored rows; it must outlive the service's calls.
  TraceServiceImpl(const std::string& db_path, Authenticator& auth,
                   jobs::TraceReplayer* replayer = nullptr);
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
    std::unique_ptr<db::DatasetStore> datasets;
    ~Stores();
  };

  // A question the stored rows cannot answer: what to replay, and the rest of the answer (given
  // the replayed rows; its status finishes the call).
  struct ReplayAsk {
    jobs::ReplayQuestion question;
    std::function<absl::Status(jobs::TraceRows rows)> complete;
  };

  absl::StatusOr<std::optional<ReplayAsk>> Query(const Caller& caller,
                                                 const backtest::v1::QueryTraceRequest& request,
                                                 backtest::v1::QueryTraceResponse* response);
  absl::StatusOr<std::optional<ReplayAsk>> DoExplain(const Caller& caller,
                                                     const backtest::v1::ExplainRequest& request,
                                                     backtest::v1::ExplainResponse* response);
  // Finishes the call now, or when the replay it asks for has answered.
  grpc::ServerUnaryReactor* Serve(
      grpc::CallbackServerContext* context,
      const std::function<absl::StatusOr<std::optional<ReplayAsk>>(const Caller&)>& body);
  // The index of the bar of `symbol_index` opening at or after `ts` (`after`) or at or before it,
  // from the run's stored candles. FailedPrecondition for a result that stores no datasets.
  absl::StatusOr<int64_t> BarAt(Stores& stores, const std::string& job_id, size_t symbol_index,
                                int64_t ts, bool after);

  Authenticator& auth_;
  jobs::TraceReplayer* replayer_;
  StorePool<Stores> pool_;
  DatasetCache candles_;
};

}  // namespace api
}  // namespace backtest

#endif  // BACKTEST_SERVER_API_TRACE_SERVICE_H_
