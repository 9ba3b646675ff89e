#include "server/api/sweep_service.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "db/sweep_store.h"
#include "google/protobuf/util/json_util.h"
#include "server/api/job_conversion.h"
#include "server/api/value_conversion.h"
#include "server/jobs/sweep_plan.h"
#include "server/jobs/sweep_stats.h"

namespace backtest::api {

struct SweepServiceImpl::Loaded {
  db::JobRecord job;
  db::SweepRecord record;
  backtest::runner::v1::SweepSpec spec;
  int objective = 0;                     // index in SweepStatNames()
  std::vector<jobs::SweepRowValues> rows;  // by row
  std::map<int64_t, std::string> runs;     // opened jobs by row
};

namespace {

constexpr int kDefaultRows = 100;
constexpr int kMaxRows = 10000;
constexpr int kDefaultBuckets = 20;
constexpr int kMaxBuckets = 200;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

absl::StatusOr<jobs::SweepRequest> ToDomain(const backtest::v1::RunSweepRequest& request) {
  jobs::SweepRequest out;
  for (int i = 0; i < request.ranges_size(); ++i) {
    const backtest::v1::SweepRange& r = request.ranges(i);
    jobs::SweepRange range{.name = r.name(), .log = r.log(), .count = r.count()};
    for (const google::protobuf::Value& v : r.values()) {
      ASSIGN_OR_RETURN(std::string text, ValueToText(absl::StrCat("ranges[", i, "].values"), v));
      range.values.push_back(std::move(text));
    }
    if (r.has_start()) range.start = r.start();
    if (r.has_stop()) range.stop = r.stop();
    if (r.has_step()) range.step = r.step();
    out.ranges.push_back(std::move(range));
  }
  if (request.method().empty() || request.method() == "grid") {
    out.method = jobs::SweepMethod::kGrid;
  } else if (request.method() == "random") {
    out.method = jobs::SweepMethod::kRandom;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("method: must be grid or random, got \"",
                                                   request.method().substr(0, 32), "\""));
  }
  out.count = request.count();
  out.seed = static_cast<uint32_t>(request.seed());
  out.constraints.assign(request.constraints().begin(), request.constraints().end());
  out.objective.stat = request.objective().stat().empty() ? "sharpe" : request.objective().stat();
  out.objective.maximize = !request.objective().minimize();
  if (request.has_walk_forward()) {
    const backtest::v1::WalkForwardSettings& wf = request.walk_forward();
    if (!wf.mode().empty() && wf.mode() != "rolling" && wf.mode() != "anchored") {
      return absl::InvalidArgumentError(absl::StrCat(
          "walk_forward.mode: must be rolling or anchored, got \"", wf.mode().substr(0, 32), "\""));
    }
    out.walk_forward = jobs::SweepWalkForward{.anchored = wf.mode() == "anchored",
                                              .train_bars = wf.train_bars(),
                                              .test_bars = wf.test_bars()};
  }
  return out;
}

void ToWalkForwardProto(const backtest::runner::v1::WalkForwardEvent& in,
                        const backtest::runner::v1::SweepSpec& spec, backtest::v1::WalkForward* out) {
  for (const auto& w : in.windows()) {
    backtest::v1::WalkForwardWindow* window = out->add_windows();
    window->set_train_start(static_cast<double>(w.train_start()));
    window->set_train_end(static_cast<double>(w.train_end()));
    window->set_test_start(static_cast<double>(w.test_start()));
    window->set_test_end(static_cast<double>(w.test_end()));
    window->set_best_row(w.best_row());
    if (w.best_row() >= 0 && w.best_row() < spec.combinations_size()) {
      const auto& combo = spec.combinations(w.best_row());
      for (int k = 0; k < spec.names_size() && k < combo.values_size(); ++k) {
        (*window->mutable_params())[spec.names(k)] = combo.values(k);
      }
    }
    jobs::UnflattenStats(jobs::FlattenStats(w.train_stats()), window->mutable_train_stats());
    jobs::UnflattenStats(jobs::FlattenStats(w.test_stats()), window->mutable_test_stats());
    window->set_efficiency(w.efficiency());
  }
  out->mutable_equity_times()->Add(in.equity_times().begin(), in.equity_times().end());
  out->mutable_equity_values()->Add(in.equity_values().begin(), in.equity_values().end());
  for (const auto& t : in.trades()) {
    backtest::v1::WalkForwardTrade* trade = out->add_trades();
    trade->set_window(t.window());
    trade->set_symbol(t.symbol());
    trade->set_side(t.side());
    trade->set_entry_time(static_cast<double>(t.entry_time()));
    trade->set_exit_time(static_cast<double>(t.exit_time()));
    trade->set_entry_price(t.entry_price());
    trade->set_exit_price(t.exit_price());
    trade->set_size(t.size());
    trade->set_pnl(t.pnl());
  }
  out->set_efficiency(in.efficiency());
}

double Objective(const jobs::SweepRowValues& v, int objective) {
  return v.error.empty() ? v.stats[static_cast<size_t>(objective)] : kNaN;
}

// The best row: the highest (or lowest) defined objective, ties to the lower row.
const jobs::SweepRowValues* Best(const std::vector<jobs::SweepRowValues>& rows, int objective,
                                 bool maximize) {
  const jobs::SweepRowValues* best = nullptr;
  for (const jobs::SweepRowValues& v : rows) {  // in row order
    const double x = Objective(v, objective);
    if (std::isnan(x)) continue;
    const double b = best ? Objective(*best, objective) : 0;
    if (best == nullptr || (maximize ? x > b : x < b)) best = &v;
  }
  return best;
}

void Distribute(const std::vector<jobs::SweepRowValues>& rows, int objective, int buckets,
                backtest::v1::SweepDistribution* out) {
  std::vector<double> values;
  for (const jobs::SweepRowValues& v : rows) {
    const double x = Objective(v, objective);
    if (std::isnan(x)) continue;
    values.push_back(x);
  }
  out->set_count(static_cast<int32_t>(values.size()));
  out->set_undefined(static_cast<int32_t>(rows.size() - values.size()));
  if (values.empty()) return;
  std::sort(values.begin(), values.end());
  const double lo = values.front(), hi = values.back();
  double sum = 0;
  for (double x : values) sum += x;
  const size_t n = values.size();
  out->set_min(lo);
  out->set_max(hi);
  out->set_mean(sum / static_cast<double>(n));
  out->set_median(n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2);
  const int b = hi > lo ? buckets : 1;
  std::vector<int32_t> counts(static_cast<size_t>(b), 0);
  for (double x : values) {
    int k = hi > lo ? static_cast<int>((x - lo) / (hi - lo) * b) : 0;
    ++counts[static_cast<size_t>(std::clamp(k, 0, b - 1))];
  }
  for (int k = 0; k < b; ++k) {
    backtest::v1::SweepBucket* bucket = out->add_buckets();
    bucket->set_from(lo + (hi - lo) * k / b);
    bucket->set_to(k + 1 == b ? hi : lo + (hi - lo) * (k + 1) / b);
    bucket->set_count(counts[static_cast<size_t>(k)]);
  }
}

// What a row is sorted or filtered by: a stat, or a varied parameter (its value as a number).
struct RowKey {
  int stat = -1;
  int param = -1;
};

absl::StatusOr<RowKey> KeyFor(absl::string_view name, const backtest::runner::v1::SweepSpec& spec,
                              absl::string_view field) {
  RowKey key;
  key.stat = jobs::SweepStatIndex(name);
  for (int k = 0; k < spec.names_size() && key.stat < 0; ++k) {
    if (spec.names(k) == name) key.param = k;
  }
  if (key.stat < 0 && key.param < 0) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": \"", name.substr(0, 64),
                                                   "\" is neither a stat nor a varied parameter"));
  }
  return key;
}

double KeyValue(const RowKey& key, const jobs::SweepRowValues& v,
                const backtest::runner::v1::SweepSpec& spec) {
  if (key.stat >= 0) return Objective(v, key.stat);
  double x = kNaN;
  const auto& combo = spec.combinations(v.row);
  if (key.param < combo.values_size() && !absl::SimpleAtod(combo.values(key.param), &x)) x = kNaN;
  return x;
}

struct Filter {
  RowKey key;
  std::string op;
  double value = 0;
};

absl::StatusOr<std::vector<Filter>> ParseFilter(absl::string_view text,
                                                const backtest::runner::v1::SweepSpec& spec) {
  std::vector<Filter> filters;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::optional<jobs::Comparison> c = jobs::ParseComparison(part);
    Filter f;
    if (!c || !absl::SimpleAtod(c->right, &f.value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "filter: \"", part.substr(0, 100),
          "\" is not \"name op number\" (op one of <, <=, >, >=, ==, !=)"));
    }
    ASSIGN_OR_RETURN(f.key, KeyFor(c->left, spec, "filter"));
    f.op = c->op;
    filters.push_back(std::move(f));
  }
  return filters;
}

void ToRowProto(const jobs::SweepRowValues& v, const backtest::runner::v1::SweepSpec& spec,
                int objective, const std::map<int64_t, std::string>& runs, bool stats,
                backtest::v1::SweepRow* out) {
  out->set_row(v.row);
  const auto& combo = spec.combinations(v.row);
  for (int k = 0; k < spec.names_size() && k < combo.values_size(); ++k) {
    (*out->mutable_params())[spec.names(k)] = combo.values(k);
  }
  out->set_objective(Objective(v, objective));
  if (!v.error.empty()) {
    out->set_error(v.error);
  } else if (stats) {
    jobs::UnflattenStats(v.stats, out->mutable_stats());
  }
  if (auto run = runs.find(v.row); run != runs.end()) out->set_job_id(run->second);
}

}  // namespace

absl::StatusOr<SweepServiceImpl::Loaded> SweepServiceImpl::Load(const Caller& caller,
                                                              const std::string& sweep_id,
                                                              bool rows) {
  Loaded s;
  ASSIGN_OR_RETURN(s.job, backtest_.VisibleJob(caller, sweep_id));
  auto conn = jobs_.pool().Acquire();
  db::SweepStore store(conn->connection());
  auto record = store.Get(sweep_id);
  if (absl::IsNotFound(record.status())) {
    return absl::NotFoundError(absl::StrCat("sweep \"", sweep_id.substr(0, 64), "\" not found"));
  }
  if (!record.ok()) return record.status();
  s.record = *std::move(record);
  s.objective = jobs::SweepStatIndex(s.record.objective);
  if (!s.spec.ParseFromString(s.record.spec) || s.objective < 0) {
    return absl::DataLossError(absl::StrCat("sweep ", sweep_id, " cannot be read"));
  }
  if (!rows) return s;
  ASSIGN_OR_RETURN(std::vector<std::string> chunks, store.Chunks(sweep_id));
  for (const std::string& chunk : chunks) RETURN_IF_ERROR(jobs::DecodeSweepRows(chunk, &s.rows));
  const int combinations = s.spec.combinations_size();
  for (const jobs::SweepRowValues& v : s.rows) {
    if (v.row < 0 || v.row >= combinations) {
      return absl::DataLossError(absl::StrCat("sweep ", sweep_id, " has a row it cannot have"));
    }
  }
  std::sort(s.rows.begin(), s.rows.end(),
            [](const auto& a, const auto& b) { return a.row < b.row; });
  ASSIGN_OR_RETURN(s.runs, store.Runs(sweep_id));
  return s;
}

absl::Status SweepServiceImpl::Run(const Caller& caller,
                                   const backtest::v1::RunSweepRequest& request,
                                   backtest::v1::RunSweepResponse* response) {
  ASSIGN_OR_RETURN(engine::ParamValues base,
                   backtest_.ResolveParams(caller, request.params(), request.preset()));
  const std::shared_ptr<const jobs::StrategySnapshot> strategies = jobs_.strategies().snapshot();
  // A strategy folder's SDK strategies sweep in the Python runner (docs/sweeps.md); the other
  // kinds (backtrader's) run as single jobs only.
  if (const jobs::StrategyInfo* folder = strategies->Find(base.at("strategy"));
      folder != nullptr && folder->kind != "sdk") {
    return absl::InvalidArgumentError(absl::StrCat(
        "params.strategy: sweeps run the built-in strategies and SDK strategies; ",
        base.at("strategy"), " is a ", folder->kind, " strategy"));
  }
  ASSIGN_OR_RETURN(jobs::SweepRequest sweep, ToDomain(request));
  sweep.base = base;
  ASSIGN_OR_RETURN(jobs::SweepPlan plan, jobs::PlanSweep(sweep, *strategies->registry,
                                                         jobs_.NowMs() / 1000, max_combinations_));
  response->set_combinations(static_cast<int32_t>(plan.combos.size()));
  response->set_grid_size(static_cast<int32_t>(plan.grid_size));
  if (request.dry_run()) return absl::OkStatus();
  backtest::runner::v1::SweepSpec spec;
  for (const std::string& name : plan.names) spec.add_names(name);
  for (const auto& combo : plan.combos) {
    auto* c = spec.add_combinations();
    for (const std::string& v : combo) c->add_values(v);
  }
  spec.set_objective(plan.objective.stat);
  spec.set_minimize(!plan.objective.maximize);
  if (plan.walk_forward) {
    spec.mutable_walk_forward()->set_anchored(plan.walk_forward->anchored);
    spec.mutable_walk_forward()->set_train_bars(plan.walk_forward->train_bars);
    spec.mutable_walk_forward()->set_test_bars(plan.walk_forward->test_bars);
  }
  backtest::v1::RunSweepRequest as_given = request;
  as_given.clear_dry_run();
  std::string request_json;
  (void)google::protobuf::util::MessageToJsonString(as_given, &request_json);  // cannot fail
  db::SweepRecord record{.spec = spec.SerializeAsString(),
                         .request = std::move(request_json),
                         .objective = plan.objective.stat,
                         .maximize = plan.objective.maximize,
                         .total = static_cast<int64_t>(plan.combos.size()),
                         .grid_size = plan.grid_size};
  ASSIGN_OR_RETURN(db::JobRecord job, jobs_.Submit(caller.user_id, base, request.preset(), &record));
  job.owner_name = caller.name;
  response->set_sweep_id(job.id);
  response->set_sweep_url(absl::StrCat("/sweeps/", job.id, "/"));
  ToJobProto(job, {}, jobs_.NowMs(), response->mutable_job(),
             jobs_.strategies().snapshot()->registry.get());
  return absl::OkStatus();
}

absl::Status SweepServiceImpl::Get(const Caller& caller,
                                   const backtest::v1::GetSweepRequest& request,
                                   backtest::v1::GetSweepResponse* response) {
  if (request.buckets() < 0 || request.buckets() > kMaxBuckets) {
    return absl::InvalidArgumentError(absl::StrCat("buckets: must be 1 to ", kMaxBuckets,
                                                   ", got ", request.buckets()));
  }
  ASSIGN_OR_RETURN(Loaded s, Load(caller, request.sweep_id(), true));
  backtest::v1::Sweep* out = response->mutable_sweep();
  out->set_sweep_id(s.job.id);
  RETURN_IF_ERROR(backtest_.FillJob(s.job, out->mutable_job()));
  google::protobuf::util::JsonParseOptions lenient;
  lenient.ignore_unknown_fields = true;
  (void)google::protobuf::util::JsonStringToMessage(s.record.request, out->mutable_request(),
                                                    lenient);  // as stored by Run
  for (const std::string& name : s.spec.names()) out->add_names(name);
  out->set_combinations(s.spec.combinations_size());
  out->set_grid_size(static_cast<int32_t>(s.record.grid_size));
  out->set_rows_done(static_cast<int32_t>(s.rows.size()));
  out->set_rows_failed(static_cast<int32_t>(std::count_if(
      s.rows.begin(), s.rows.end(), [](const auto& v) { return !v.error.empty(); })));
  if (const jobs::SweepRowValues* best = Best(s.rows, s.objective, s.record.maximize)) {
    ToRowProto(*best, s.spec, s.objective, s.runs, true, out->mutable_best());
  }
  out->mutable_distribution()->set_stat(s.record.objective);
  Distribute(s.rows, s.objective, request.buckets() == 0 ? kDefaultBuckets : request.buckets(),
             out->mutable_distribution());
  out->set_rows_url(absl::StrCat("/api/sweeps/", s.job.id, "/rows"));
  if (!s.record.walk_forward.empty()) {
    backtest::runner::v1::WalkForwardEvent wf;
    if (!wf.ParseFromString(s.record.walk_forward)) {
      return absl::DataLossError(absl::StrCat("sweep ", s.job.id, "'s walk-forward cannot be read"));
    }
    ToWalkForwardProto(wf, s.spec, out->mutable_walk_forward());
  }
  return absl::OkStatus();
}

absl::Status SweepServiceImpl::List(const Caller& caller,
                                    const backtest::v1::ListSweepRowsRequest& request,
                                    backtest::v1::ListSweepRowsResponse* response) {
  if (request.page_size() < 0 || request.page_size() > kMaxRows) {
    return absl::InvalidArgumentError(absl::StrCat("page_size: must be 1 to ", kMaxRows,
                                                   ", got ", request.page_size()));
  }
  int64_t offset = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &offset) || offset < 0)) {
    return absl::InvalidArgumentError("page_token: not a token from a previous page");
  }
  ASSIGN_OR_RETURN(Loaded s, Load(caller, request.sweep_id(), true));
  RowKey key{.stat = s.objective};
  bool descending = s.record.maximize;  // the objective: best first
  if (!request.order_by().empty()) {
    ASSIGN_OR_RETURN(key, KeyFor(request.order_by(), s.spec, "order_by"));
    descending = request.descending();
  }
  ASSIGN_OR_RETURN(std::vector<Filter> filters, ParseFilter(request.filter(), s.spec));
  std::vector<std::pair<double, const jobs::SweepRowValues*>> kept;
  for (const jobs::SweepRowValues& v : s.rows) {
    const bool pass = std::all_of(filters.begin(), filters.end(), [&](const Filter& f) {
      return jobs::Compare(KeyValue(f.key, v, s.spec), f.op, f.value);
    });
    if (pass) kept.emplace_back(KeyValue(key, v, s.spec), &v);
  }
  // Undefined values (NaN, failed rows) last whichever the order; ties in row order.
  std::stable_sort(kept.begin(), kept.end(), [&](const auto& a, const auto& b) {
    if (std::isnan(a.first) || std::isnan(b.first)) return !std::isnan(a.first) && std::isnan(b.first);
    return descending ? a.first > b.first : a.first < b.first;
  });
  const int size = request.page_size() == 0 ? kDefaultRows : request.page_size();
  response->set_total_size(static_cast<int32_t>(kept.size()));
  for (size_t i = static_cast<size_t>(offset); i < kept.size() && i < static_cast<size_t>(offset + size); ++i) {
    ToRowProto(*kept[i].second, s.spec, s.objective, s.runs, !request.objective_only(),
               response->add_rows());
  }
  if (offset + size < static_cast<int64_t>(kept.size())) {
    response->set_next_page_token(absl::StrCat(offset + size));
  }
  return absl::OkStatus();
}

absl::Status SweepServiceImpl::Open(const Caller& caller,
                                    const backtest::v1::OpenSweepRowRequest& request,
                                    backtest::v1::OpenSweepRowResponse* response) {
  ASSIGN_OR_RETURN(Loaded s, Load(caller, request.sweep_id(), true));
  const int row = request.row();
  if (row < 0 || row >= s.spec.combinations_size()) {
    return absl::InvalidArgumentError(absl::StrCat("row: the sweep has rows 0 to ",
                                                   s.spec.combinations_size() - 1, ", got ", row));
  }
  auto stored = std::find_if(s.rows.begin(), s.rows.end(),
                             [&](const auto& v) { return v.row == row; });
  if (stored == s.rows.end()) {
    return absl::FailedPreconditionError(absl::StrCat("row ", row, " has not run (yet)"));
  }
  if (!stored->error.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("row ", row, " failed: ", stored->error));
  }
  auto respond = [&](db::JobRecord job, bool existing) -> absl::Status {
    response->set_job_id(job.id);
    response->set_job_url(absl::StrCat("/jobs/", job.id, "/"));
    response->set_existing(existing);
    return backtest_.FillJob(job, response->mutable_job());
  };
  if (auto run = s.runs.find(row); run != s.runs.end()) {
    auto job = backtest_.VisibleJob(caller, run->second);
    if (job.ok()) return respond(*std::move(job), true);
  }
  // The row's parameters: the sweep's base (its job's, canonical) with the row's values.
  nlohmann::json base = nlohmann::json::parse(s.job.params_json, nullptr, false);
  if (!base.is_object()) return absl::DataLossError("the sweep's parameters cannot be read");
  std::map<std::string, std::string> input;
  for (const auto& [name, value] : base.items()) {
    if (value.is_string()) input[name] = value.get<std::string>();
  }
  const auto& combo = s.spec.combinations(row);
  for (int k = 0; k < s.spec.names_size() && k < combo.values_size(); ++k) {
    input[s.spec.names(k)] = combo.values(k);
  }
  const std::shared_ptr<const jobs::StrategySnapshot> strategies = jobs_.strategies().snapshot();
  // A strategy folder's: the rows are of the code the sweep ran; other code would not give them.
  if (!s.job.strategy_source_hash.empty()) {
    const jobs::StrategyInfo* folder = strategies->Find(input["strategy"]);
    if (folder != nullptr && folder->source_hash != s.job.strategy_source_hash) {
      return absl::FailedPreconditionError(absl::StrCat(
          "row ", row, ": strategy ", folder->name, " changed since the sweep ran (source ",
          folder->source_hash, ", the sweep's ", s.job.strategy_source_hash, ")"));
    }
  }
  ASSIGN_OR_RETURN(engine::ParamValues params,
                   strategies->registry->Validate(input, jobs_.NowMs() / 1000));
  ASSIGN_OR_RETURN(db::JobRecord job, jobs_.Submit(caller.user_id, params, s.job.preset));
  job.owner_name = caller.name;
  {
    auto conn = jobs_.pool().Acquire();
    db::SweepStore store(conn->connection());
    absl::Status linked = store.LinkRun(s.job.id, row, job.id);
    if (absl::IsAlreadyExists(linked)) {  // opened meanwhile by another call: that one stands
      ASSIGN_OR_RETURN(std::optional<std::string> other, store.RunOfRow(s.job.id, row));
      if (other) {
        auto existing = backtest_.VisibleJob(caller, *other);
        if (existing.ok()) return respond(*std::move(existing), true);
      }
    } else if (!linked.ok()) {
      return linked;
    }
  }
  return respond(std::move(job), false);
}

grpc::ServerUnaryReactor* SweepServiceImpl::RunSweep(grpc::CallbackServerContext* context,
                                                     const backtest::v1::RunSweepRequest* request,
                                                     backtest::v1::RunSweepResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Run(caller, *request, response);
  });
}

grpc::ServerUnaryReactor* SweepServiceImpl::GetSweep(grpc::CallbackServerContext* context,
                                                     const backtest::v1::GetSweepRequest* request,
                                                     backtest::v1::GetSweepResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Get(caller, *request, response);
  });
}

grpc::ServerUnaryReactor* SweepServiceImpl::ListSweepRows(
    grpc::CallbackServerContext* context, const backtest::v1::ListSweepRowsRequest* request,
    backtest::v1::ListSweepRowsResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return List(caller, *request, response);
  });
}

grpc::ServerUnaryReactor* SweepServiceImpl::OpenSweepRow(
    grpc::CallbackServerContext* context, const backtest::v1::OpenSweepRowRequest* request,
    backtest::v1::OpenSweepRowResponse* response) {
  return ServeAuthenticated(auth_, context, [&](const Caller& caller) {
    return Open(caller, *request, response);
  });
}

}  // namespace backtest::api
