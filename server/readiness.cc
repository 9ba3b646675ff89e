#include "server/readiness.h"

#include <chrono>
#include <utility>

#include "spdlog/spdlog.h"

namespace backtest {

Readiness::Readiness(std::function<absl::Status()> probe, std::function<void(bool)> publish,
                     int interval_ms)
    : probe_(std::move(probe)), publish_(std::move(publish)), interval_ms_(interval_ms) {}

Readiness::~Readiness() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Readiness::Start() {
  ProbeNow();
  thread_ = std::thread([this] { Loop(); });
}

void Readiness::SetDraining() {
  std::lock_guard probing(probe_mu_);
  {
    std::lock_guard lock(mu_);
    draining_ = true;
  }
  Publish();
}

void Readiness::ProbeNow() {
  std::lock_guard probing(probe_mu_);
  const absl::Status status = probe_();
  {
    std::lock_guard lock(mu_);
    if (status.ok() && !writable_) {
      spdlog::info("the database takes writes again; the services report SERVING");
    } else if (!status.ok() && writable_) {
      spdlog::warn("the database takes no writes ({}); the services report NOT_SERVING until it "
                   "does",
                   std::string(status.message()));
    }
    writable_ = status.ok();
    error_ = status.ok() ? "" : std::string(status.message());
  }
  Publish();
}

void Readiness::Publish() {
  bool ready = false;
  {
    std::lock_guard lock(mu_);
    ready = writable_ && !draining_;
    if (published_ == static_cast<int>(ready)) return;
    published_ = ready;
  }
  publish_(ready);
}

bool Readiness::database_writable() const {
  std::lock_guard lock(mu_);
  return writable_;
}

std::string Readiness::database_error() const {
  std::lock_guard lock(mu_);
  return error_;
}

void Readiness::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; })) {
      break;
    }
    lock.unlock();
    ProbeNow();
    lock.lock();
  }
}

}  // namespace backtest
