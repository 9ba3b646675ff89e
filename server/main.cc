// backtestd: parse flags, start the server, wait for SIGINT/SIGTERM, shut down in order.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "server/server.h"

int main(int argc, char** argv) {
  backtest::ServerOptions options;
  std::string log_level = "info";
  CLI::App app{"backtestd: the backtest gRPC server"};
  app.add_option("--listen", options.listen, "host:port to listen on (port 0 picks one)")
      ->capture_default_str();
  app.add_option("--db", options.db_path, "SQLite database file (created when missing)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  // One line on a usage error, not CLI11's two.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("backtestd: ") + e.what() + " (see --help)\n";
  });
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("backtestd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  backtest::RouteGrpcLogsToSpdlog();

  // Block the stop signals before gRPC starts its threads, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = backtest::Server::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "backtestd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, shutting down", strsignal(signal_number));
  (*server)->Shutdown();
  return 0;
}
