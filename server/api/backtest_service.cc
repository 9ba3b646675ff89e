#include "server/api/backtest_service.h"

#include <algorithm>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "backtest/runner/v1/runner.pb.h"
#include "db/dataset_store.h"
#include "db/preset_store.h"
#include "db/result_store.h"
#include "db/sweep_store.h"
#include "nlohmann/json.hpp"
#include "server/api/compare_runs.h"
#include "server/api/dataset_cache.h"
#include "server/api/job_conversion.h"
#include "server/api/job_log_stream.h"
#include "server/api/param_conversion.h"
#include "server/api/result_conversion.h"
#include "server/api/rpc_interceptor.h"
#include "server/api/status_conversion.h"
#include "server/api/stored_result.h"
#include "server/api/value_conversion.h"

namespace backtest::api {
namespace {

constexpr int kTailLines = 20;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 500;

// Page tokens are "<created_ms>.<row>" of the last job of the previous page.
absl::StatusOr<db::JobCursor> ParsePageToken(absl::string_view token) {
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  db::JobCursor cursor;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &cursor.created_ms) ||
      !absl::SimpleAtoi(parts[1], &cursor.row)) {
    return absl::InvalidArgumentError("page_token: not a token from a previous ListJobs page");
  }
  return cursor;
}

// The request and response of one GetResult and their arena.
class ResultMessages final
    : public grpc::MessageHolder<backtest::v1::GetResultRequest, backtest::v1::GetResultResponse> {
 public:
  ResultMessages() : arena_(Options()) {
    set_request(google::protobuf::Arena::CreateMessage<backtest::v1::GetResultRequest>(&arena_));
    set_response(google::protobuf::Arena::CreateMessage<backtest::v1::GetResultResponse>(&arena_));
  }
  void Release() override { delete this; }

 private:
  // Blocks from 16 KB up to 1 MB: a 100k-bar answer's ~11,000 trades and markers fill a few.
  static google::protobuf::ArenaOptions Options() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 16 << 10;
    options.max_block_size = 1 << 20;
    return options;
  }

  google::protobuf::Arena arena_;
};

}  // namespace

absl::StatusOr<db::JobRecord> BacktestServiceImpl::VisibleJob(const Caller& caller,
                                                             const std::string& job_id) {
  // Malformed and foreign ids look exactly like unknown ones.
  auto not_found = absl::NotFoundError(absl::StrCat("job \"", job_id.substr(0, 64), "\" not found"));
  if (!jobs::IsValidJobId(job_id)) return not_found;
  auto conn = jobs_.pool().Acquire();
  db::JobStore& store = conn->jobs();
  auto job = store.Get(job_id);
  if (!job.ok()) return job.status().code() == absl::StatusCode::kNotFound ? not_found : job.status();
  if (!caller.CanSee(job->owner_id)) return not_found;
  return job;
}

absl::Status BacktestServiceImpl::FillJob(const db::JobRecord& record, backtest::v1::Job* out) {
  JobTails tails;
  if (record.status != db::JobStatus::kQueued) {
    auto conn = jobs_.pool().Acquire();
    db::JobStore& store = conn->jobs();
    ASSIGN_OR_RETURN(tails.stdout_tail, store.LogTail(record.id, "stdout", kTailLines));
    ASSIGN_OR_RETURN(tails.stderr_tail, store.LogTail(record.id, "stderr", kTailLines));
  }
  ToJobProto(record, tails, jobs_.NowMs(), out, jobs_.strategies().snapshot()->registry.get());
  return absl::OkStatus();
}

absl::StatusOr<engine::ParamValues> BacktestServiceImpl::ResolveParams(
    const Caller& caller, const google::protobuf::Map<std::string, google::protobuf::Value>& values,
    const std::string& preset_name) {
  using TextValues = std::map<std::string, std::string>;
  ASSIGN_OR_RETURN(TextValues given, ValuesToText(values));
  // The strategy folder as it is now: its strategies' parameters join the built-ins.
  const std::shared_ptr<const jobs::StrategySnapshot> strategies = jobs_.strategies().snapshot();
  const engine::ParamRegistry& registry = *strategies->registry;
  std::map<std::string, std::string> input;
  if (!preset_name.empty()) {
    auto conn = jobs_.pool().Acquire();
    ASSIGN_OR_RETURN(auto presets, db::PresetStore::Create(&*conn));
    auto preset = presets->Get(caller.user_id, preset_name);
    if (!preset.ok()) {
      if (preset.status().code() == absl::StatusCode::kNotFound) {
        return absl::InvalidArgumentError(
            absl::StrCat("preset: you have no preset named \"", preset_name.substr(0, 64),
                         "\""));
      }
      return preset.status();
    }
    input = preset->values;
  }
  // A strategy of the folder that did not load is refused with why (its file and line), not as
  // an unknown strategy.
  if (auto it = input.find("strategy"); it != input.end()) {
    RETURN_IF_ERROR(strategies->CheckRunnable(it->second));
  }
  for (const auto& [key, value] : given) {
    const engine::ParamDef* def = registry.Find(key, "");
    if (def != nullptr && def->name == "strategy") RETURN_IF_ERROR(strategies->CheckRunnable(value));
  }
  // Request values override the preset's. The registry resolves aliases (and refuses a name given
  // twice) before the merge; the preset is stored under canonical names already.
  ASSIGN_OR_RETURN(engine::ParamValues overrides, registry.ValidatePartial(given));
  for (auto& [name, value] : overrides) input[name] = std::move(value);
  // The server's trace settings are the defaults a request does not override.
  input.try_emplace("trace_enabled", trace_defaults_.enabled ? "true" : "false");
  input.try_emplace("trace_sampling", absl::StrCat(trace_defaults_.sampling));
  ASSIGN_OR_RETURN(engine::ParamValues params, registry.Validate(input, jobs_.NowMs() / 1000));
  // Refused here when the URL alone shows it (nothing queued); the runner checks again where it
  // opens files and connects (symlinks, redirects, DNS answers).
  RETURN_IF_ERROR(engine::CheckDataSource(params.at("data_source"),
                                          jobs_.DataPolicyFor(caller.is_staff)));
  return params;
}

absl::Status BacktestServiceImpl::Run(const Caller& caller,
                                      const backtest::v1::RunBacktestRequest& request,
                                      const std::string& request_id,
                                      backtest::v1::RunBacktestResponse* response) {
  ASSIGN_OR_RETURN(engine::ParamValues params,
                   ResolveParams(caller, request.params(), request.preset()));
  ASSIGN_OR_RETURN(db::JobRecord job,
                   jobs_.Submit(caller.user_id, params, request.preset(), nullptr, request_id));
  job.owner_name = caller.name;
  response->set_job_id(job.id);
  response->set_job_url(absl::StrCat("/jobs/", job.id, "/"));
  response->set_status_url(absl::StrCat("/api/jobs/", job.id, "/status/"));
  ToJobProto(job, {}, jobs_.NowMs(), response->mutable_job(),
             jobs_.strategies().snapshot()->registry.get());
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* BacktestServiceImpl::RunBacktest(
    grpc::CallbackServerContext* context, const backtest::v1::RunBacktestRequest* request,
    backtest::v1::RunBacktestResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Run(caller, *request, RequestId(*context), response);
  });
}

grpc::ServerUnaryReactor* BacktestServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                      const backtest::v1::GetJobRequest* request,
                                                      backtest::v1::GetJobResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) -> absl::Status {
    ASSIGN_OR_RETURN(db::JobRecord job, VisibleJob(caller, request->job_id()));
    return FillJob(job, response->mutable_job());
  });
}

absl::Status BacktestServiceImpl::List(const Caller& caller,
                                       const backtest::v1::ListJobsRequest& request,
                                       backtest::v1::ListJobsResponse* response) {
  db::JobListQuery query;
  if (!caller.is_staff) query.owner_id = caller.user_id;
  if (!request.status().empty()) {
    query.status = db::ParseJobStatus(request.status());
    if (!query.status) {
      std::vector<absl::string_view> names;
      for (db::JobStatus s : db::kJobStatuses) names.push_back(db::JobStatusName(s));
      return absl::InvalidArgumentError(absl::StrCat("status: must be one of ",
                                                     absl::StrJoin(names, ", "), ", got \"",
                                                     request.status().substr(0, 32), "\""));
    }
  }
  if (request.page_size() < 0 || request.page_size() > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: must be between 1 and ", kMaxPageSize, ", got ",
                     request.page_size()));
  }
  query.limit = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(query.after, ParsePageToken(request.page_token()));
  }
  std::vector<db::JobRecord> found;
  {
    auto conn = jobs_.pool().Acquire();
    db::JobStore& store = conn->jobs();
    ASSIGN_OR_RETURN(found, store.List(query));
  }
  const std::shared_ptr<const jobs::StrategySnapshot> strategies = jobs_.strategies().snapshot();
  for (const db::JobRecord& job : found) {
    ToJobProto(job, {}, jobs_.NowMs(), response->add_jobs(), strategies->registry.get());
  }
  if (static_cast<int>(found.size()) == query.limit) {
    response->set_next_page_token(absl::StrCat(found.back().created_ms, ".", found.back().row));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* BacktestServiceImpl::ListJobs(
    grpc::CallbackServerContext* context, const backtest::v1::ListJobsRequest* request,
    backtest::v1::ListJobsResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return List(caller, *request, response);
  });
}

absl::Status BacktestServiceImpl::Cancel(const Caller& caller,
                                         const backtest::v1::CancelJobRequest& request,
                                         backtest::v1::CancelJobResponse* response) {
  ASSIGN_OR_RETURN(db::JobRecord job, VisibleJob(caller, request.job_id()));
  if (db::IsFinal(job.status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id, " has already ended (", db::JobStatusName(job.status),
                     "); only queued or running jobs can be cancelled"));
  }
  RETURN_IF_ERROR(jobs_.Cancel(job.id));
  ASSIGN_OR_RETURN(job, VisibleJob(caller, request.job_id()));
  return FillJob(job, response->mutable_job());
}

grpc::ServerUnaryReactor* BacktestServiceImpl::CancelJob(
    grpc::CallbackServerContext* context, const backtest::v1::CancelJobRequest* request,
    backtest::v1::CancelJobResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Cancel(caller, *request, response);
  });
}

grpc::ServerWriteReactor<backtest::v1::StreamJobLogResponse>* BacktestServiceImpl::StreamJobLog(
    grpc::CallbackServerContext* context, const backtest::v1::StreamJobLogRequest* request) {
  auto fail = [](const absl::Status& s) {
    return FinishedWriteReactor<backtest::v1::StreamJobLogResponse>(ToGrpcStatus(s));
  };
  auto caller = auth_.Authenticate(*context);
  if (!caller.ok()) return fail(caller.status());
  if (request->from_seq() < 0) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("from_seq: must be >= 0, got ", request->from_seq())));
  }
  auto job = VisibleJob(*caller, request->job_id());
  if (!job.ok()) return fail(job.status());
  return JobLogStream::Start(jobs_, io_, *job, request->from_seq(), request->include_trace(),
                             request->batch_log_lines());
}

absl::StatusOr<StoredResult> BacktestServiceImpl::ReadResult(const db::JobRecord& job,
                                                              const StoredResult::Needs& needs) {
  std::optional<StoredResult> parsed;
  auto conn = jobs_.pool().Acquire();
  db::ResultStore results(conn->connection());
  // Parsed where SQLite holds it (a 1M-bar result is tens of MB: no copy first).
  RETURN_IF_ERROR(results.Read(job.id, [&](const db::ResultRecord& record,
                                           absl::string_view data) -> absl::Status {
    std::vector<DatasetCandles> datasets;
    if (record.format == db::kResultsFormatDatasets) {
      db::DatasetStore store(conn->connection());
      ASSIGN_OR_RETURN(std::vector<db::DatasetKey> keys, store.KeysOfResult(job.id));
      for (const db::DatasetKey& key : keys) {
        ASSIGN_OR_RETURN(DatasetCache::Dataset dataset,
                         datasets_.Get(key.hash, [&] { return store.Load(key.id); }));
        const DecodedDataset& d = *dataset;
        datasets.push_back(
            {key.hash, {dataset, &d.candles},
             d.decimals ? std::shared_ptr<const CandleDecimals>(dataset, &*d.decimals) : nullptr});
      }
    }
    ASSIGN_OR_RETURN(StoredResult stored, StoredResult::Parse(record, data, datasets, needs));
    parsed.emplace(std::move(stored));
    return absl::OkStatus();
  }));
  return std::move(*parsed);
}

absl::Status BacktestServiceImpl::Result(const Caller& caller,
                                         const backtest::v1::GetResultRequest& request,
                                         backtest::v1::GetResultResponse* response) {
  ASSIGN_OR_RETURN(db::JobRecord job, VisibleJob(caller, request.job_id()));
  if (job.status != db::JobStatus::kFinished) {
    if (!db::IsFinal(job.status)) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job.id, " is ", db::JobStatusName(job.status),
                       "; its result is ready when it has finished"));
    }
    return absl::FailedPreconditionError(absl::StrCat("job ", job.id, " ",
                                                      db::JobStatusName(job.status),
                                                      " and has no result: ", job.error));
  }
  ASSIGN_OR_RETURN(ResultQuery query, ParseResultQuery(request));
  // Only what the answer needs is decoded (a chart needs neither trades nor markers).
  const StoredResult::Needs needs{
      .trades = query.Has(ResultQuery::kTrades) || query.trades_in_window,
      .markers = query.Has(ResultQuery::kMarkers),
      .equity = query.Has(ResultQuery::kEquity)};
  ASSIGN_OR_RETURN(StoredResult stored, ReadResult(job, needs));
  const backtest::runner::v1::RunOutput& out = stored.output();
  response->set_job_id(job.id);
  int index = -1;
  for (int i = 0; i < out.series_size(); ++i) {
    response->add_symbols(out.series(i).symbol());
    if (index < 0 && (request.symbol().empty() || out.series(i).symbol() == request.symbol())) {
      index = i;
    }
  }
  if (index < 0) {
    return absl::InvalidArgumentError(absl::StrCat("symbol: the run has no symbol \"",
                                                   request.symbol().substr(0, 32), "\""));
  }
  response->set_symbol(out.series(index).symbol());
  ToResultResponse(query, stored.View(index), response);
  return absl::OkStatus();
}

grpc::MessageHolder<backtest::v1::GetResultRequest, backtest::v1::GetResultResponse>*
ResultMessageAllocator::AllocateMessages() {
  return new ResultMessages;
}

grpc::ServerUnaryReactor* BacktestServiceImpl::GetResult(
    grpc::CallbackServerContext* context, const backtest::v1::GetResultRequest* request,
    backtest::v1::GetResultResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Result(caller, *request, response);
  });
}

absl::Status BacktestServiceImpl::Compare(const Caller& caller,
                                          const backtest::v1::CompareRunsRequest& request,
                                          backtest::v1::CompareRunsResponse* response) {
  ASSIGN_OR_RETURN(CompareQuery query, ParseCompareQuery(request));
  std::vector<ComparedRun> runs;
  for (size_t i = 0; i < query.job_ids.size(); ++i) {
    const std::string field = absl::StrCat("jobs[", i, "]: ");
    auto job = VisibleJob(caller, query.job_ids[i]);
    if (!job.ok()) {
      return absl::Status(job.status().code(), absl::StrCat(field, job.status().message()));
    }
    if (job->status != db::JobStatus::kFinished) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, "job ", job->id, " is ", db::JobStatusName(job->status),
                       "; only finished jobs can be compared"));
    }
    {
      auto conn = jobs_.pool().Acquire();
      ASSIGN_OR_RETURN(bool sweep, db::SweepStore(conn->connection()).IsSweep(job->id));
      if (sweep) {
        return absl::FailedPreconditionError(
            absl::StrCat(field, "job ", job->id, " is a sweep, which has rows, not a result; open",
                         " the rows to compare (OpenSweepRow) and compare their jobs"));
      }
    }
    // Stats and equity only: no trades or markers decoded.
    auto stored = ReadResult(*job, {.trades = false, .markers = false, .equity = true});
    if (!stored.ok()) {
      return absl::Status(stored.status().code(), absl::StrCat(field, stored.status().message()));
    }
    ToJobProto(*job, {}, jobs_.NowMs(), response->add_jobs(),
               jobs_.strategies().snapshot()->registry.get());
    response->add_digests(stored->output().digest());
    ComparedRun& run = runs.emplace_back();
    run.job_id = job->id;
    // The stored text values: what the job ran with, compared as written.
    const nlohmann::json params = nlohmann::json::parse(job->params_json);
    for (const auto& [name, value] : params.items()) {
      run.params[name] = value.get<std::string>();
    }
    ToStats(stored->output().stats(), &run.stats);
    if (stored->output().series_size() > 0) {
      const LineView equity = stored->View(0).equity;  // the account's, the same in every view
      run.equity_time.assign(equity.time.begin(), equity.time.end());
      run.equity_value.assign(equity.value.begin(), equity.value.end());
    }
  }
  FillComparison(runs, query.max_points, response);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* BacktestServiceImpl::CompareRuns(
    grpc::CallbackServerContext* context, const backtest::v1::CompareRunsRequest* request,
    backtest::v1::CompareRunsResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Compare(caller, *request, response);
  });
}

grpc::ServerUnaryReactor* BacktestServiceImpl::ListParams(
    grpc::CallbackServerContext* context, const backtest::v1::ListParamsRequest* request,
    backtest::v1::ListParamsResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller&) {
    return FillParamDefinitions(*jobs_.strategies().snapshot()->registry, request->strategy(),
                                response);
  });
}

}  // namespace backtest::api
