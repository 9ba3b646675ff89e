// The backtestd server: the database, the gRPC services, health and reflection, started and
// stopped as one. Owned by main (or by a test); Start and Shutdown are called from one thread.
#ifndef BACKTEST_SERVER_SERVER_H_
#define BACKTEST_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class Server;
class Service;
}

namespace backtest {
namespace db {
class Database;
}
namespace api {
class BacktestServiceImpl;
}

struct ServerOptions {
  // host:port to listen on; port 0 picks a free port (see Server::port()).
  std::string listen = "127.0.0.1:50051";
  // SQLite database file; created and migrated when needed.
  std::string db_path = "var/backtest.db";
};

class Server {
 public:
  // Opens the database and starts serving. Errors: Unavailable when the database cannot be opened
  // or the address cannot be bound (in use, not local, malformed); FailedPrecondition when the
  // database is from a newer backtestd.
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);

  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually bound.
  int port() const { return port_; }
  // host:port actually bound.
  const std::string& address() const { return address_; }

  // Stops accepting calls, reports NOT_SERVING, lets calls in flight finish (for at most a few
  // seconds), then closes the database. Idempotent.
  void Shutdown();

 private:
  Server() = default;

  std::unique_ptr<db::Database> db_;
  std::unique_ptr<api::BacktestServiceImpl> backtest_service_;
  std::unique_ptr<grpc::Service> preset_service_;
  std::unique_ptr<grpc::Service> trace_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int port_ = 0;
  bool shut_down_ = false;
};

// Routes gRPC's own log lines through spdlog (gRPC errors at warning level) instead of stderr.
void RouteGrpcLogsToSpdlog();

}  // namespace backtest

#endif  // BACKTEST_SERVER_SERVER_H_
