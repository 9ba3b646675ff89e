// The user-facing maintenance subcommands of backtestd that work on the database directly (no
// server needed): `user add`, `user revoke`, `user list`, and `seed-sample` (a demo user with a
// traced run to query, the seed's seed_sample_trace_run).
//
// Each Run* function is a whole subcommand: it prints what the user needs on `out`, errors on
// `err`, and returns the process exit code (0 ok, 1 error). Tokens are printed once, to `out`,
// for the user who asked; they are never logged.
#ifndef BACKTEST_SERVER_CLI_USER_COMMAND_H_
#define BACKTEST_SERVER_CLI_USER_COMMAND_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace backtest::cli {

// backtestd user add NAME [--staff]
struct UserAddOptions {
  std::string db_path;
  std::string name;
  bool staff = false;
};
// Creates the user and prints its new token. Errors: a bad or taken name.
int RunUserAdd(const UserAddOptions& options, std::ostream& out, std::ostream& err);

// backtestd user revoke TOKEN | backtestd user revoke --user NAME
struct UserRevokeOptions {
  std::string db_path;
  std::string token;  // revoke this token …
  std::string user;   // … or every token of this user
};
// Revokes and says how many tokens were revoked. A running server stops accepting them within its
// authentication cache time (5 s).
int RunUserRevoke(const UserRevokeOptions& options, std::ostream& out, std::ostream& err);

// backtestd user list
int RunUserList(const std::string& db_path, std::ostream& out, std::ostream& err);

// backtestd user limits NAME [--max-active-jobs N|default] [--submissions-per-minute N|default]
struct UserLimitsOptions {
  std::string db_path;
  std::string name;
  // Each empty: left as it is; "default": the server's limit again; a number ≥ 0: the user's own
  // (0: no limit).
  std::string max_active_jobs;
  std::string submissions_per_minute;
};
// Sets what was given and prints the user's limits. A running server applies them from the user's
// next submission. Errors: no such user, a value that is neither "default" nor a number ≥ 0.
int RunUserLimits(const UserLimitsOptions& options, std::ostream& out, std::ostream& err);

// backtestd seed-sample --user demo --symbol EURUSD --timeframe M1 --bar-index 5
struct SeedSampleOptions {
  std::string db_path;
  std::string user = "demo";
  std::string symbol = "EURUSD";
  std::string timeframe = "M1";
  int64_t bar_index = 5;
  // Where the printed example commands point.
  std::string grpc_address = "127.0.0.1:50051";
  std::string http_base = "http://127.0.0.1:8080";
};

// What the seed asks the job service to run.
struct SeedJobRequest {
  int64_t owner_id = 0;
  std::string owner_name;
  // User-level parameters (name → text), to be validated and completed like RunBacktest's.
  std::map<std::string, std::string> params;
};

// Runs one job for `request.owner_id` to its end (finished, failed or cancelled) and returns its
// id, or an error when it could not be submitted. Provided by the job service.
using SeedJobRunner = std::function<absl::StatusOr<std::string>(const SeedJobRequest&)>;

// The parameters of the seed's traced run: sr_breakout on one day of `symbol` at `timeframe`
// (sample:// data), trace on, every bar sampled.
std::map<std::string, std::string> SeedSampleParams(const SeedSampleOptions& options);

// Creates the user when missing (not staff), issues it a token, runs the traced job through
// `run_job`, and prints the user, token, job id, the explanation of `bar_index` and the commands
// to query them.
int RunSeedSample(const SeedSampleOptions& options, const SeedJobRunner& run_job,
                  std::ostream& out, std::ostream& err);

}  // namespace backtest::cli

#endif  // BACKTEST_SERVER_CLI_USER_COMMAND_H_
