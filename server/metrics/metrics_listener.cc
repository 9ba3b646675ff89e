#include "server/metrics/metrics_listener.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace backtest::metrics {

absl::StatusOr<std::unique_ptr<MetricsListener>> MetricsListener::Start(
    const std::string& listen, const Registry& registry) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics.listen: expected host:port, got \"", listen, "\""));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::unique_ptr<MetricsListener> listener(new MetricsListener());
  listener->http_ = std::make_unique<httplib::Server>();
  listener->http_->Get("/metrics", [&registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  int bound = port == 0 ? listener->http_->bind_to_any_port(host)
                        : (listener->http_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", listen, " for metrics (address in use, not local, or malformed)"));
  }
  listener->address_ = absl::StrCat(listen.substr(0, colon), ":", bound);
  httplib::Server* http = listener->http_.get();
  listener->thread_ = std::thread([http] { http->listen_after_bind(); });
  return listener;
}

MetricsListener::~MetricsListener() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace backtest::metrics
