#include "server/api/trace_service.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "db/database.h"
#include "db/reason_store.h"
#include "db/trace_store.h"
#include "server/api/explain.h"
#include "server/engine/param_registry.h"
#include "server/jobs/job_manager.h"

namespace backtest::api {
namespace {

// Connections kept open for trace calls between calls.
constexpr size_t kIdleConnections = 4;
constexpr size_t kMaxSymbolLength = 32;

// The job if `caller` may see it. Malformed, unknown and foreign ids are all the same NOT_FOUND.
absl::StatusOr<db::JobInfo> VisibleJob(db::TraceStore& traces, const Caller& caller,
                                       const std::string& job_id) {
  absl::Status not_found = absl::NotFoundError(
      absl::StrCat("job \"", absl::CHexEscape(absl::string_view(job_id).substr(0, 64)),
                   "\" not found"));
  if (!jobs::IsValidJobId(job_id)) return not_found;
  auto job = traces.GetJobInfo(job_id);
  if (!job.ok()) return absl::IsNotFound(job.status()) ? not_found : job.status();
  if (!caller.CanSee(job->owner_id)) return not_found;
  return job;
}

absl::StatusOr<int64_t> ParseTs(absl::string_view text) {
  auto ts = engine::ParseTimeText(text);
  if (!ts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ts: must be epoch seconds or an ISO 8601 date/time, got \"",
                     absl::CHexEscape(text.substr(0, 64)), "\""));
  }
  return *ts;
}

absl::StatusOr<std::string> ParseSymbol(absl::string_view text) {
  std::string symbol = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  bool ok = !symbol.empty() && symbol.size() <= kMaxSymbolLength;
  for (char c : symbol) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') ok = false;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("symbol: must be 1-32 letters, digits, '.', '_' or '-', got \"",
                     absl::CHexEscape(text.substr(0, 64)), "\""));
  }
  return symbol;
}

absl::Status CheckBarIndex(int64_t bar_index) {
  if (bar_index < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bar_index: must be >= 0, got ", bar_index));
  }
  return absl::OkStatus();
}

// The run's parameters as stored by the job service: {"name": "canonical text", …}.
std::map<std::string, std::string> ParamsOf(const db::JobInfo& job) {
  std::map<std::string, std::string> params;
  nlohmann::json json = nlohmann::json::parse(job.params_json, nullptr, false);
  if (!json.is_object()) return params;
  for (const auto& [name, value] : json.items()) {
    if (value.is_string()) params.emplace(name, value.get<std::string>());
  }
  return params;
}

std::vector<std::string> SymbolsOf(const std::map<std::string, std::string>& params) {
  auto it = params.find("symbols");
  if (it == params.end()) return {};
  return absl::StrSplit(it->second, ',', absl::SkipEmpty());
}

// The facts Explain needs: the trace summary the job service saved wins over the parameters.
absl::StatusOr<RunFacts> FactsOf(db::TraceStore& traces, const db::JobInfo& job,
                                 const std::map<std::string, std::string>& params) {
  RunFacts facts;
  facts.status = job.status;
  facts.bars_total = job.bars_total;
  if (auto it = params.find("trace_enabled"); it != params.end()) {
    facts.trace_enabled = it->second == "true";
  }
  if (auto it = params.find("trace_sampling"); it != params.end()) {
    int64_t sampling = 1;
    if (absl::SimpleAtoi(it->second, &sampling) && sampling >= 1) facts.sampling = sampling;
  }
  ASSIGN_OR_RETURN(std::optional<db::TraceSummary> summary, traces.GetSummary(job.job_id));
  if (summary) {
    facts.trace_enabled = summary->enabled;
    facts.sampling = std::max<int64_t>(1, summary->sampling);
    facts.truncated = summary->truncated;
    facts.trace_rows = summary->row_count;
  } else {
    ASSIGN_OR_RETURN(facts.trace_rows, traces.CountRows(job.job_id));
  }
  return facts;
}

}  // namespace

TraceServiceImpl::Stores::~Stores() = default;

TraceServiceImpl::TraceServiceImpl(const std::string& db_path, Authenticator& auth)
    : auth_(auth),
      pool_(
          [db_path]() -> absl::StatusOr<std::unique_ptr<Stores>> {
            auto stores = std::make_unique<Stores>();
            ASSIGN_OR_RETURN(stores->db, db::Database::Open(db_path));
            ASSIGN_OR_RETURN(stores->traces, db::TraceStore::Create(stores->db.get()));
            ASSIGN_OR_RETURN(stores->reasons, db::ReasonStore::Create(stores->db.get()));
            return stores;
          },
          kIdleConnections) {}

TraceServiceImpl::~TraceServiceImpl() = default;

absl::Status TraceServiceImpl::Query(const Caller& caller,
                                     const backtest::v1::QueryTraceRequest& request,
                                     backtest::v1::QueryTraceResponse* response) {
  db::TraceFilter filter;
  if (request.has_bar_index()) {
    RETURN_IF_ERROR(CheckBarIndex(request.bar_index()));
    filter.bar_index = request.bar_index();
  }
  if (!request.ts().empty()) {
    ASSIGN_OR_RETURN(filter.ts, ParseTs(request.ts()));
  }
  if (!request.section().empty()) {
    if (!IsTraceSection(request.section())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "section: must be one of ", absl::StrJoin(TraceSections(), ", "), ", got \"",
          absl::CHexEscape(absl::string_view(request.section()).substr(0, 32)), "\""));
    }
    filter.section = request.section();
  }
  if (!request.kind().empty()) {
    if (!IsTraceKind(request.kind())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kind: must be one of ", absl::StrJoin(TraceKinds(), ", "), ", got \"",
          absl::CHexEscape(absl::string_view(request.kind()).substr(0, 32)), "\""));
    }
    filter.kind = request.kind();
  }
  if (!request.symbol().empty()) {
    ASSIGN_OR_RETURN(filter.symbol, ParseSymbol(request.symbol()));
  }
  int64_t limit = request.limit() == 0 ? kDefaultLimit : request.limit();
  if (limit < 1 || limit > kMaxLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: must be 1 to ", kMaxLimit, ", got ", request.limit()));
  }
  if (request.offset() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset: must be >= 0, got ", request.offset()));
  }

  ASSIGN_OR_RETURN(auto stores, pool_.Acquire());
  ASSIGN_OR_RETURN(db::JobInfo job, VisibleJob(*stores->traces, caller, request.job_id()));
  ASSIGN_OR_RETURN(db::TracePage page,
                   stores->traces->Query(job.job_id, filter, limit, request.offset()));
  for (const db::TraceRowRecord& row : page.rows) ToTraceRowProto(row, response->add_items());
  response->set_count(page.total);
  return absl::OkStatus();
}

absl::Status TraceServiceImpl::DoExplain(const Caller& caller,
                                         const backtest::v1::ExplainRequest& request,
                                         backtest::v1::ExplainResponse* response) {
  BarQuestion question;
  if (request.has_bar_index()) {
    RETURN_IF_ERROR(CheckBarIndex(request.bar_index()));
    question.bar_index = request.bar_index();
  }
  if (!request.ts().empty()) {
    if (question.bar_index) {
      return absl::InvalidArgumentError(
          "bar_index, ts: give one of them (or neither, to explain the whole run)");
    }
    ASSIGN_OR_RETURN(question.ts, ParseTs(request.ts()));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> include, ParseInclude(request.include()));
  std::string asked_symbol;
  if (!request.symbol().empty()) {
    ASSIGN_OR_RETURN(asked_symbol, ParseSymbol(request.symbol()));
  }

  ASSIGN_OR_RETURN(auto stores, pool_.Acquire());
  db::TraceStore& traces = *stores->traces;
  ASSIGN_OR_RETURN(db::JobInfo job, VisibleJob(traces, caller, request.job_id()));
  const std::map<std::string, std::string> params = ParamsOf(job);
  ASSIGN_OR_RETURN(RunFacts facts, FactsOf(traces, job, params));
  // A bar past the run's end is a wrong question, not an untraced bar: 400, naming the range.
  if (question.bar_index && facts.bars_total > 0 && *question.bar_index >= facts.bars_total) {
    return absl::OutOfRangeError(absl::StrCat("bar_index: ", *question.bar_index,
                                              " is not in this run: it has ", facts.bars_total,
                                              " bars (0 to ", facts.bars_total - 1, ")"));
  }

  if (!question.bar_index && !question.ts) {
    ASSIGN_OR_RETURN(std::vector<db::ReasonRecord> reasons, stores->reasons->List(job.job_id));
    ExplainRun(reasons, facts, response);
    return absl::OkStatus();
  }

  // The symbol: the one asked for (it must be one of the run's), else the run's first.
  const std::vector<std::string> symbols = SymbolsOf(params);
  if (!asked_symbol.empty()) {
    if (!symbols.empty() &&
        std::find(symbols.begin(), symbols.end(), asked_symbol) == symbols.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("symbol: ", asked_symbol, " is not a symbol of this run (",
                       absl::StrJoin(symbols, ", "), ")"));
    }
    question.symbol = asked_symbol;
  } else if (!symbols.empty()) {
    question.symbol = symbols.front();
  } else {
    ASSIGN_OR_RETURN(question.symbol, traces.FirstSymbol(job.job_id));
  }

  std::vector<db::TraceRowRecord> rows;
  if (question.bar_index) {
    ASSIGN_OR_RETURN(rows, traces.RowsOfBar(job.job_id, question.symbol, *question.bar_index));
  } else {
    ASSIGN_OR_RETURN(rows, traces.RowsAtTime(job.job_id, question.symbol, *question.ts));
  }
  if (rows.empty()) {
    ASSIGN_OR_RETURN(facts.last_traced_bar, traces.LastTracedBar(job.job_id, question.symbol));
  }
  ExplainBar(question, rows, facts, include, response);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* TraceServiceImpl::QueryTrace(
    grpc::CallbackServerContext* context, const backtest::v1::QueryTraceRequest* request,
    backtest::v1::QueryTraceResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Query(caller, *request, response);
  });
}

grpc::ServerUnaryReactor* TraceServiceImpl::Explain(grpc::CallbackServerContext* context,
                                                    const backtest::v1::ExplainRequest* request,
                                                    backtest::v1::ExplainResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return DoExplain(caller, *request, response);
  });
}

}  // namespace backtest::api
