// What every btctl subcommand shares: the global flags, the connection (made on first use), the
// exit codes and the one place where an error becomes a message on stderr and an exit code.
//
// One Context per process, owned by main. Not thread-safe.
#ifndef BACKTEST_CLIENT_CONTEXT_H_
#define BACKTEST_CLIENT_CONTEXT_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"

namespace backtest::client {

// btctl's exit codes. `run --wait/--follow` reports the job's end state with them.
enum ExitCode : int {
  kExitOk = 0,         // done; the job finished
  kExitFailed = 1,     // the job failed, or the server refused the request (not found, …)
  kExitCancelled = 2,  // the job was cancelled
  kExitUsage = 3,      // bad command line or parameters, no token, server unreachable or
                       // the token refused
};

// The global flags (they may come before or after the subcommand).
struct GlobalOptions {
  std::string server = "127.0.0.1:50051";  // --server, BACKTEST_SERVER
  std::string token;                       // --token, BACKTEST_TOKEN
  std::string token_file;                  // --token-file (default var/admin.token)
  double timeout_seconds = 30;             // --timeout
  bool no_color = false;                   // --no-color (also NO_COLOR)
  // TLS to backtestd (docs/operations.md, "TLS"): on with --tls or --tls-ca; PEM files.
  bool tls = false;        // --tls, BACKTEST_TLS: check the server against the system's CAs
  std::string tls_ca;      // --tls-ca, BACKTEST_TLS_CA: CAs the server's certificate chains to
  std::string tls_cert;    // --tls-cert, BACKTEST_TLS_CERT: client certificate (mutual TLS)
  std::string tls_key;     // --tls-key, BACKTEST_TLS_KEY: its private key
};

class Context {
 public:
  GlobalOptions options;
  // Set by the subcommand that ran.
  int exit_code = kExitOk;

  // The connection, created on first use. Without a token (flag, environment or file) it is a
  // UsageError that says where a token can come from, unless `need_token` is false.
  absl::StatusOr<Client*> client(bool need_token = true);

  // Prints "btctl: <what>: <the server's message> (<CODE>)" to stderr and returns the exit code
  // for it: kExitUsage for InvalidArgument (and UsageError), Unauthenticated, Unavailable and
  // DeadlineExceeded, else kExitFailed.
  int Fail(const absl::Status& status, std::string_view what = {}) const;

 private:
  std::unique_ptr<Client> client_;
};

// An error btctl found itself, before any call (a malformed --param, no token): InvalidArgument,
// printed by Context::Fail without a code.
absl::Status UsageError(std::string_view message);

// The token from `options`: the flag or environment value, else the first line of the token
// file (given, or var/admin.token relative to the working directory). A leading "Token " is
// dropped. NotFound (with a hint) when there is none.
absl::StatusOr<std::string> ResolveToken(const GlobalOptions& options);

}  // namespace backtest::client

#endif  // BACKTEST_CLIENT_CONTEXT_H_
