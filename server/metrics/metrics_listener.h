// The HTTP listener of --metrics-listen: GET /metrics answers a registry's Render() in the
// Prometheus text format; anything else is 404. Owned by the server; one thread of its own
// (cpp-httplib's accept loop and its workers), stopped and joined by the destructor.
#ifndef BACKTEST_SERVER_METRICS_METRICS_LISTENER_H_
#define BACKTEST_SERVER_METRICS_METRICS_LISTENER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/metrics/registry.h"

namespace httplib {
class Server;
}

namespace backtest::metrics {

class MetricsListener {
 public:
  // Binds `listen` (host:port; port 0 picks one). Unavailable naming the address when it cannot.
  static absl::StatusOr<std::unique_ptr<MetricsListener>> Start(const std::string& listen,
                                                                const Registry& registry);
  ~MetricsListener();
  MetricsListener(const MetricsListener&) = delete;
  MetricsListener& operator=(const MetricsListener&) = delete;

  // host:port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsListener() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string address_;
};

}  // namespace backtest::metrics

#endif  // BACKTEST_SERVER_METRICS_METRICS_LISTENER_H_
