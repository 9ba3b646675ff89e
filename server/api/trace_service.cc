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
#include "db/dataset_store.h"
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

// Decoded candles kept for questions by time about untraced runs.
constexpr size_t kCandleCacheBytes = 64 << 20;
// Rows of one bar read from the store at most (a bar has tens).
constexpr int kRowsPerBar = 100000;

// Whether the stored rows cannot answer for bars first..last: tracing was off, sampling skipped
// some of them, or the row limit cut the trace before them. Only a finished run is replayed.
bool NeedsReplay(const RunFacts& facts, int64_t first, int64_t last) {
  if (facts.status != db::JobStatus::kFinished) return false;
  if (!facts.trace_enabled) return true;
  if (facts.sampling > 1 && (first != last || first % facts.sampling != 0)) return true;
  return facts.truncated && (!facts.last_traced_bar || last > *facts.last_traced_bar);
}

// The rows matching the filter's section, kind and symbol, one page of them into `response`.
void AnswerPage(const jobs::TraceRows& rows, const db::TraceFilter& filter, int64_t limit,
                int64_t offset, backtest::v1::QueryTraceResponse* response) {
  int64_t count = 0;
  for (const db::TraceRowRecord& row : rows) {
    if ((!filter.section.empty() && row.section != filter.section) ||
        (!filter.kind.empty() && row.kind != filter.kind) ||
        (!filter.symbol.empty() && row.symbol != filter.symbol)) {
      continue;
    }
    if (count >= offset && count < offset + limit) ToTraceRowProto(row, response->add_items());
    ++count;
  }
  response->set_count(static_cast<int32_t>(count));
}

size_t SymbolIndex(const std::vector<std::string>& symbols, const std::string& symbol) {
  auto it = std::find(symbols.begin(), symbols.end(), symbol);
  return it == symbols.end() ? 0 : static_cast<size_t>(it - symbols.begin());
}

}  // namespace

TraceServiceImpl::Stores::~Stores() = default;

TraceServiceImpl::TraceServiceImpl(const std::string& db_path, Authenticator& auth,
                                   jobs::TraceReplayer* replayer)
    : auth_(auth),
      replayer_(replayer),
      pool_(
          [db_path]() -> absl::StatusOr<std::unique_ptr<Stores>> {
            auto stores = std::make_unique<Stores>();
            ASSIGN_OR_RETURN(stores->db, db::Database::Open(db_path));
            ASSIGN_OR_RETURN(stores->traces, db::TraceStore::Create(stores->db.get()));
            ASSIGN_OR_RETURN(stores->reasons, db::ReasonStore::Create(stores->db.get()));
            stores->datasets = std::make_unique<db::DatasetStore>(stores->db->connection());
            return stores;
          },
          kIdleConnections),
      candles_(kCandleCacheBytes) {}

TraceServiceImpl::~TraceServiceImpl() = default;

absl::StatusOr<std::optional<TraceServiceImpl::ReplayAsk>> TraceServiceImpl::Query(
    const Caller& caller, const backtest::v1::QueryTraceRequest& request,
    backtest::v1::QueryTraceResponse* response) {
  db::TraceFilter filter;
  if (request.has_bar_index()) {
    RETURN_IF_ERROR(CheckBarIndex(request.bar_index()));
    filter.bar_index = request.bar_index();
  }
  if (!request.ts().empty()) {
    ASSIGN_OR_RETURN(filter.ts, ParseTs(request.ts()));
  }
  std::optional<int64_t> bar_to, ts_to;
  if (request.has_bar_to()) {
    if (!filter.bar_index || request.bar_to() < *filter.bar_index) {
      return absl::InvalidArgumentError(
          absl::StrCat("bar_to: a window needs bar_index <= bar_to, got bar_to ", request.bar_to(),
                       filter.bar_index ? absl::StrCat(" with bar_index ", *filter.bar_index)
                                        : std::string(" without bar_index")));
    }
    bar_to = request.bar_to();
  }
  if (!request.ts_to().empty()) {
    ASSIGN_OR_RETURN(ts_to, ParseTs(request.ts_to()));
    if (!filter.ts || *ts_to < *filter.ts) {
      return absl::InvalidArgumentError("ts_to: a window needs ts <= ts_to");
    }
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
  const bool window = bar_to.has_value() || ts_to.has_value();
  // One bar asked for and the stored rows have it, or no bar asked for: the stored rows answer.
  const bool one_bar = filter.bar_index.has_value() != filter.ts.has_value() && !window;
  if (!window) {
    ASSIGN_OR_RETURN(db::TracePage page,
                     stores->traces->Query(job.job_id, filter, limit, request.offset()));
    if (!one_bar || page.total > 0 || replayer_ == nullptr) {
      for (const db::TraceRowRecord& row : page.rows) ToTraceRowProto(row, response->add_items());
      response->set_count(static_cast<int32_t>(page.total));
      return std::nullopt;
    }
  }
  // A bar window (or one bar without stored rows): its bars by index.
  const std::map<std::string, std::string> params = ParamsOf(job);
  ASSIGN_OR_RETURN(RunFacts facts, FactsOf(*stores->traces, job, params));
  const std::vector<std::string> symbols = SymbolsOf(params);
  const std::string symbol = !filter.symbol.empty() ? filter.symbol
                             : symbols.empty()      ? std::string()
                                                    : symbols.front();
  int64_t first = 0, last = 0;
  if (filter.bar_index) {
    first = *filter.bar_index;
    last = bar_to.value_or(first);
  } else {
    const size_t index = SymbolIndex(symbols, symbol);
    ASSIGN_OR_RETURN(first, BarAt(*stores, job.job_id, index, *filter.ts, /*after=*/true));
    ASSIGN_OR_RETURN(last, BarAt(*stores, job.job_id, index, ts_to.value_or(*filter.ts),
                                 /*after=*/false));
    if (last < first) {  // no bar opens in the window
      response->set_count(0);
      return std::nullopt;
    }
  }
  // Bars past the run's end are a wrong question, as for Explain (and not worth a replay).
  if (facts.bars_total > 0 && first >= facts.bars_total) {
    return absl::OutOfRangeError(absl::StrCat(filter.bar_index ? "bar_index: " : "ts: ", first,
                                              " is not in this run: it has ", facts.bars_total,
                                              " bars (0 to ", facts.bars_total - 1, ")"));
  }
  const int64_t max_bars =
      replayer_ ? replayer_->options().max_window_bars : jobs::TraceReplayOptions{}.max_window_bars;
  if (last - first + 1 > max_bars) {
    return absl::InvalidArgumentError(
        absl::StrCat(filter.bar_index ? "bar_to" : "ts_to", ": a window may span at most ",
                     max_bars, " bars (--trace-replay-max-bars), this one spans ",
                     last - first + 1));
  }
  if (facts.bars_total > 0) last = std::min(last, facts.bars_total - 1);
  ASSIGN_OR_RETURN(facts.last_traced_bar, stores->traces->LastTracedBar(job.job_id, symbol));
  db::TraceFilter rest = filter;
  const int64_t offset = request.offset();
  if (replayer_ == nullptr || !NeedsReplay(facts, first, last)) {
    jobs::TraceRows rows;
    for (int64_t bar = first; bar <= last; ++bar) {
      db::TraceFilter of_bar{.bar_index = bar};
      ASSIGN_OR_RETURN(db::TracePage page,
                       stores->traces->Query(job.job_id, of_bar, kRowsPerBar, 0));
      rows.insert(rows.end(), page.rows.begin(), page.rows.end());
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    AnswerPage(rows, rest, limit, offset, response);
    return std::nullopt;
  }
  return ReplayAsk{
      .question = {.job_id = job.job_id, .caller_id = caller.user_id, .first_bar = first,
                   .last_bar = last},
      .complete = [rest, limit, offset, response](jobs::TraceRows rows) {
        AnswerPage(rows, rest, limit, offset, response);
        response->set_replayed(true);
        return absl::OkStatus();
      }};
}

absl::StatusOr<int64_t> TraceServiceImpl::BarAt(Stores& stores, const std::string& job_id,
                                               size_t symbol_index, int64_t ts, bool after) {
  ASSIGN_OR_RETURN(std::vector<db::DatasetKey> keys, stores.datasets->KeysOfResult(job_id));
  if (symbol_index >= keys.size()) {
    return absl::FailedPreconditionError(
        "ts: this run's candles are not stored as datasets (a run of an older version); ask "
        "by bar_index");
  }
  const db::DatasetKey& key = keys[symbol_index];
  ASSIGN_OR_RETURN(DatasetCache::Dataset dataset,
                   candles_.Get(key.hash, [&] { return stores.datasets->Load(key.id); }));
  const auto& time = dataset->candles.time();
  auto it = std::lower_bound(time.begin(), time.end(), ts);
  if (!after && (it == time.end() || *it != ts)) {
    if (it == time.begin()) return -1;
    --it;
  }
  return static_cast<int64_t>(it - time.begin());
}

absl::StatusOr<std::optional<TraceServiceImpl::ReplayAsk>> TraceServiceImpl::DoExplain(
    const Caller& caller, const backtest::v1::ExplainRequest& request,
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
    return std::nullopt;
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
  const bool sampled_out = !rows.empty() && facts.sampling > 1 &&
                           rows.front().bar_index % facts.sampling != 0;
  if (!rows.empty() && !sampled_out) {
    ExplainBar(question, rows, facts, include, response);
    return std::nullopt;
  }
  ASSIGN_OR_RETURN(facts.last_traced_bar, traces.LastTracedBar(job.job_id, question.symbol));
  std::optional<int64_t> bar = question.bar_index;
  if (!rows.empty()) bar = rows.front().bar_index;
  if (!bar && replayer_ != nullptr && facts.status == db::JobStatus::kFinished) {
    const size_t index = SymbolIndex(symbols, question.symbol);
    ASSIGN_OR_RETURN(int64_t at, BarAt(*stores, job.job_id, index, *question.ts, /*after=*/true));
    ASSIGN_OR_RETURN(int64_t before,
                     BarAt(*stores, job.job_id, index, *question.ts, /*after=*/false));
    if (at != before) {  // no bar of the symbol opens at that time
      ExplainBar(question, {}, facts, include, response);
      return std::nullopt;
    }
    bar = at;
  }
  if (replayer_ == nullptr || !bar || !NeedsReplay(facts, *bar, *bar)) {
    ExplainBar(question, rows, facts, include, response);
    return std::nullopt;
  }
  // The bar is replayed: its rows are then all there, as with sampling 1.
  facts.sampling = 1;
  return ReplayAsk{
      .question = {.job_id = job.job_id, .caller_id = caller.user_id, .first_bar = *bar,
                   .last_bar = *bar},
      .complete = [question, facts, include, response](jobs::TraceRows rows) {
        std::erase_if(rows, [&](const auto& r) { return r.symbol != question.symbol; });
        ExplainBar(question, rows, facts, include, response);
        response->set_replayed(true);
        return absl::OkStatus();
      }};
}

grpc::ServerUnaryReactor* TraceServiceImpl::Serve(
    grpc::CallbackServerContext* context,
    const std::function<absl::StatusOr<std::optional<ReplayAsk>>(const Caller&)>& body) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = auth_.Authenticate(*context);
  if (!caller.ok()) {
    reactor->Finish(ToGrpcStatus(caller.status()));
    return reactor;
  }
  absl::StatusOr<std::optional<ReplayAsk>> answer = body(*caller);
  if (!answer.ok() || !answer->has_value()) {
    reactor->Finish(ToGrpcStatus(answer.status()));
    return reactor;
  }
  // The call finishes when the replay answers (at once when it is cached).
  replayer_->Rows((*answer)->question,
                  [reactor, complete = std::move((*answer)->complete)](
                      absl::StatusOr<jobs::TraceRows> rows) {
                    reactor->Finish(
                        ToGrpcStatus(rows.ok() ? complete(*std::move(rows)) : rows.status()));
                  });
  return reactor;
}

grpc::ServerUnaryReactor* TraceServiceImpl::QueryTrace(
    grpc::CallbackServerContext* context, const backtest::v1::QueryTraceRequest* request,
    backtest::v1::QueryTraceResponse* response) {
  return Serve(context, [&](const Caller& caller) { return Query(caller, *request, response); });
}

grpc::ServerUnaryReactor* TraceServiceImpl::Explain(grpc::CallbackServerContext* context,
                                                    const backtest::v1::ExplainRequest* request,
                                                    backtest::v1::ExplainResponse* response) {
  return Serve(context,
               [&](const Caller& caller) { return DoExplain(caller, *request, response); });
}

}  // namespace backtest::api
