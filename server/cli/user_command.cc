#include "server/cli/user_command.h"

#include <optional>
#include <ostream>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "backtest/v1/trace_service.pb.h"
#include "common/status_macros.h"
#include "db/database.h"
#include "db/trace_store.h"
#include "db/user_store.h"
#include "server/api/explain.h"
#include "server/engine/param_registry.h"

namespace backtest::cli {
namespace {

int Fail(std::ostream& err, const absl::Status& status) {
  err << "backtestd: " << status.message() << "\n";
  return 1;
}

struct Opened {
  std::unique_ptr<db::Database> db;
  std::unique_ptr<db::UserStore> users;
};

absl::StatusOr<Opened> Open(const std::string& db_path) {
  Opened opened;
  ASSIGN_OR_RETURN(opened.db, db::Database::Open(db_path));
  ASSIGN_OR_RETURN(opened.users, db::UserStore::Create(opened.db.get()));
  return opened;
}

// "max_active_jobs=10 submissions_per_minute=default" (default: the server's; 0: no limit).
std::string LimitsText(const db::UserRecord& user) {
  auto text = [](const std::optional<int>& v) {
    return v.has_value() ? absl::StrCat(*v) : std::string("default");
  };
  return absl::StrCat("max_active_jobs=", text(user.limits.max_active_jobs),
                      " submissions_per_minute=", text(user.limits.submissions_per_minute));
}

// A limit given as `flag`'s value: "default" (empty: the server's) or a whole number ≥ 0.
absl::StatusOr<std::optional<int>> ParseLimit(absl::string_view flag, absl::string_view text) {
  if (text == "default") return std::nullopt;
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": expected a number >= 0 (0: no limit) or \"default\", got \"", text, "\""));
  }
  return value;
}

// The user of that name, created (not staff) when missing.
absl::StatusOr<db::UserRecord> EnsureUser(db::UserStore& users, const std::string& name,
                                          bool* created) {
  auto user = users.FindUser(name);
  *created = false;
  if (user.ok() || !absl::IsNotFound(user.status())) return user;
  // A bad name fails here with the rule.
  *created = true;
  return users.CreateUser(name, /*is_staff=*/false);
}

// One line explaining `bar_index` of the seeded job, from its stored trace.
absl::StatusOr<std::string> ExplainSeedBar(db::Database& db, const std::string& job_id,
                                           const SeedSampleOptions& options,
                                           int64_t* trace_rows) {
  ASSIGN_OR_RETURN(auto traces, db::TraceStore::Create(&db));
  ASSIGN_OR_RETURN(*trace_rows, traces->CountRows(job_id));
  ASSIGN_OR_RETURN(db::JobInfo job, traces->GetJobInfo(job_id));
  api::BarQuestion question{.bar_index = options.bar_index, .symbol = options.symbol};
  ASSIGN_OR_RETURN(auto rows, traces->RowsOfBar(job_id, options.symbol, options.bar_index));
  api::RunFacts facts{.status = job.status, .trace_enabled = true, .trace_rows = *trace_rows,
                      .bars_total = job.bars_total};
  if (rows.empty()) {
    ASSIGN_OR_RETURN(facts.last_traced_bar, traces->LastTracedBar(job_id, options.symbol));
  }
  backtest::v1::ExplainResponse response;
  api::ExplainBar(question, rows, facts, {}, &response);
  return response.summary();
}

}  // namespace

int RunUserAdd(const UserAddOptions& options, std::ostream& out, std::ostream& err) {
  auto opened = Open(options.db_path);
  if (!opened.ok()) return Fail(err, opened.status());
  auto user = opened->users->CreateUser(options.name, options.staff);
  if (!user.ok()) return Fail(err, user.status());
  auto token = opened->users->IssueToken(user->id, "user add");
  if (!token.ok()) return Fail(err, token.status());
  out << "created " << (user->is_staff ? "staff user " : "user ") << user->name << "\n"
      << "token (shown once, keep it): " << token->token << "\n"
      << "use it as the metadata or HTTP header \"authorization: Token " << token->token
      << "\"\n";
  return 0;
}

int RunUserRevoke(const UserRevokeOptions& options, std::ostream& out, std::ostream& err) {
  if (options.token.empty() == options.user.empty()) {
    return Fail(err, absl::InvalidArgumentError("give a TOKEN or --user NAME (one of them)"));
  }
  auto opened = Open(options.db_path);
  if (!opened.ok()) return Fail(err, opened.status());
  if (!options.token.empty()) {
    absl::Status s = opened->users->RevokeToken(options.token);
    if (!s.ok()) return Fail(err, s);
    out << "revoked 1 token\n";
    return 0;
  }
  auto revoked = opened->users->RevokeUserTokens(options.user);
  if (!revoked.ok()) return Fail(err, revoked.status());
  out << "revoked " << *revoked << (*revoked == 1 ? " token" : " tokens") << " of "
      << options.user << "\n";
  return 0;
}

int RunUserList(const std::string& db_path, std::ostream& out, std::ostream& err) {
  auto opened = Open(db_path);
  if (!opened.ok()) return Fail(err, opened.status());
  auto users = opened->users->ListUsers();
  if (!users.ok()) return Fail(err, users.status());
  for (const db::UserRecord& u : *users) {
    out << u.name << (u.is_staff ? " (staff)" : "");
    if (u.limits.max_active_jobs || u.limits.submissions_per_minute) out << " " << LimitsText(u);
    out << "\n";
  }
  return 0;
}

int RunUserLimits(const UserLimitsOptions& options, std::ostream& out, std::ostream& err) {
  auto opened = Open(options.db_path);
  if (!opened.ok()) return Fail(err, opened.status());
  auto user = opened->users->FindUser(options.name);
  if (!user.ok()) return Fail(err, user.status());
  if (!options.max_active_jobs.empty() || !options.submissions_per_minute.empty()) {
    db::UserLimits limits = user->limits;
    for (const auto& [flag, text, limit] :
         {std::tuple{"--max-active-jobs", &options.max_active_jobs, &limits.max_active_jobs},
          std::tuple{"--submissions-per-minute", &options.submissions_per_minute,
                     &limits.submissions_per_minute}}) {
      if (text->empty()) continue;
      absl::StatusOr<std::optional<int>> value = ParseLimit(flag, *text);
      if (!value.ok()) return Fail(err, value.status());
      *limit = *value;
    }
    user = opened->users->SetLimits(options.name, limits);
    if (!user.ok()) return Fail(err, user.status());
  }
  out << user->name << ": " << LimitsText(*user) << "\n";
  return 0;
}

std::map<std::string, std::string> SeedSampleParams(const SeedSampleOptions& options) {
  return {
      {"strategy", "sr_breakout"},
      {"symbols", options.symbol},
      {"timeframe", options.timeframe},
      // One day of bars (after the engine's own warm-up): enough for setups and trades at M1.
      {"start_date", "2024-01-02 00:00"},
      {"end_date", "2024-01-03 00:00"},
      {"data_source", "sample://"},
      {"trace_enabled", "true"},
      {"trace_sampling", "1"},
  };
}

int RunSeedSample(const SeedSampleOptions& options, const SeedJobRunner& run_job,
                  std::ostream& out, std::ostream& err) {
  if (options.bar_index < 0) {
    return Fail(err, absl::InvalidArgumentError(
                         absl::StrCat("--bar-index: must be >= 0, got ", options.bar_index)));
  }
  SeedJobRequest request;
  request.params = SeedSampleParams(options);
  // Symbol and timeframe errors read as the registry's ("timeframe: must be one of …").
  if (auto valid = engine::ValidatePartialParams(request.params); !valid.ok()) {
    return Fail(err, valid.status());
  }
  auto opened = Open(options.db_path);
  if (!opened.ok()) return Fail(err, opened.status());
  bool created = false;
  auto user = EnsureUser(*opened->users, options.user, &created);
  if (!user.ok()) return Fail(err, user.status());
  auto token = opened->users->IssueToken(user->id, "seed-sample");
  if (!token.ok()) return Fail(err, token.status());
  out << (created ? "created user " : "user ") << user->name << "\n"
      << "token (shown once, keep it): " << token->token << "\n";

  request.owner_id = user->id;
  request.owner_name = user->name;
  auto job_id = run_job(request);
  if (!job_id.ok()) return Fail(err, job_id.status());
  int64_t rows = 0;
  auto verdict = ExplainSeedBar(*opened->db, *job_id, options, &rows);
  if (!verdict.ok()) return Fail(err, verdict.status());
  const std::string auth = absl::StrCat("Token ", token->token);
  out << "job " << *job_id << ": " << rows << " trace rows\n"
      << "bar " << options.bar_index << " of " << options.symbol << ": " << *verdict << "\n\n"
      << "query it:\n"
      << "  curl -H 'authorization: " << auth << "' '" << options.http_base
      << "/api/bots/backtest-runs/" << *job_id << "/trace?bar_index=" << options.bar_index
      << "'\n"
      << "  curl -H 'authorization: " << auth << "' '" << options.http_base
      << "/api/bots/backtest-runs/" << *job_id << "/explain?bar_index=" << options.bar_index
      << "'\n"
      << "  grpcurl -plaintext -H 'authorization: " << auth << "' -d '{\"job_id\": \""
      << *job_id << "\", \"bar_index\": " << options.bar_index << "}' "
      << options.grpc_address << " backtest.v1.TraceService/Explain\n";
  return 0;
}

}  // namespace backtest::cli
