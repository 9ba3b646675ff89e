// btctl: the command-line client of backtestd. main only parses flags; each subcommand lives in
// its own file (commands.h) and reports its outcome as the exit code (context.h).
#include <CLI/CLI.hpp>
#include <string>

#include "client/commands.h"
#include "client/context.h"

int main(int argc, char** argv) {
  using namespace backtest::client;
  Context ctx;
  CLI::App app{
      "btctl: run backtests on backtestd and look at their logs, results and decision traces.\n"
      "Exit codes: 0 ok (job finished), 1 failed (job failed, or the server refused the request),\n"
      "2 job cancelled, 3 usage error, bad parameters, no token, or server unreachable."};
  app.set_version_flag("--version", "btctl 0.1.0");
  app.add_option("--server", ctx.options.server, "backtestd address host:port")
      ->envname("BACKTEST_SERVER")
      ->capture_default_str();
  app.add_option("--token", ctx.options.token, "API token (sent as `authorization: Token …`)")
      ->envname("BACKTEST_TOKEN");
  app.add_option("--token-file", ctx.options.token_file,
                 "file holding the token (default var/admin.token, which `make run` writes)");
  app.add_option("--timeout", ctx.options.timeout_seconds, "seconds to wait for each answer")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-color", ctx.options.no_color, "no colour even on a terminal");
  app.add_flag("--tls", ctx.options.tls, "connect with TLS (the system's CAs check the server)")
      ->envname("BACKTEST_TLS");
  app.add_option("--tls-ca", ctx.options.tls_ca, "PEM CAs the server's certificate chains to "
                 "(implies --tls)")->envname("BACKTEST_TLS_CA");
  app.add_option("--tls-cert", ctx.options.tls_cert, "PEM client certificate, for mutual TLS")
      ->envname("BACKTEST_TLS_CERT");
  app.add_option("--tls-key", ctx.options.tls_key, "PEM private key of --tls-cert")
      ->envname("BACKTEST_TLS_KEY");
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand too
  // One line on a usage error, not CLI11's two.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("btctl: ") + e.what() + " (see --help)\n";
  });

  AddRunCommand(app, ctx);
  AddStatusCommand(app, ctx);
  AddJobsCommand(app, ctx);
  AddLogsCommand(app, ctx);
  AddResultCommand(app, ctx);
  AddCancelCommand(app, ctx);
  AddPresetsCommand(app, ctx);
  AddTraceCommand(app, ctx);
  AddExplainCommand(app, ctx);
  AddParamsCommand(app, ctx);
  AddHealthCommand(app, ctx);
  AddCompareCommand(app, ctx);
  AddSweepCommand(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  return ctx.exit_code;
}
