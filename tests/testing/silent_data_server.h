// A data server that accepts connections and never answers: a runner fetching a job's data from
// it waits (in its loading stage, sending heartbeats) until it is stopped or the data timeout
// passes. For tests of a job that runs for as long as they need (jobs need
// data_access.allowed_networks = {"127.0.0.1"} to fetch from it).
#ifndef BACKTEST_TESTS_TESTING_SILENT_DATA_SERVER_H_
#define BACKTEST_TESTS_TESTING_SILENT_DATA_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace backtest::testing {

class SilentDataServer {
 public:
  SilentDataServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 8);  // the kernel completes connections in the backlog; nobody reads them
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentDataServer() { close(fd_); }
  SilentDataServer(const SilentDataServer&) = delete;
  SilentDataServer& operator=(const SilentDataServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_TESTING_SILENT_DATA_SERVER_H_
