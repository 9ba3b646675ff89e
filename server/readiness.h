// Readiness, as gRPC health reports it per service: each of backtestd's services is SERVING only
// while the server is not draining and its database takes writes. A thread of its own writes one
// row (db::Database::ProbeWrite) every interval; a failed write (a full disk, a read-only file, a
// lock held past the busy timeout) turns the services NOT_SERVING until a write succeeds again.
// The overall status ("") is liveness and is not this class's: it stays SERVING while the
// process serves. The gateway's /readyz asks for the services, so it follows (docs/operations.md,
// "Probes").
#ifndef BACKTEST_SERVER_READINESS_H_
#define BACKTEST_SERVER_READINESS_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace backtest {

class Readiness {
 public:
  // `probe` tries one write; `publish(ready)` sets the services' health (called on each change,
  // and once at Start). Neither is called with the class's lock held.
  Readiness(std::function<absl::Status()> probe, std::function<void(bool ready)> publish,
            int interval_ms);
  ~Readiness();  // stops the thread
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // Probes once, publishes, then probes every interval on its own thread.
  void Start();
  // From now on not ready, whatever the database does (SIGTERM's drain).
  void SetDraining();
  // Probes now and publishes a change (tests; the thread does it every interval).
  void ProbeNow();

  bool database_writable() const;
  // Why the last probe failed; empty while writable.
  std::string database_error() const;

 private:
  void Publish();
  void Loop();

  const std::function<absl::Status()> probe_;
  const std::function<void(bool)> publish_;
  const int interval_ms_;
  std::mutex probe_mu_;  // one probe and its publish at a time
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;             // guarded by mu_
  bool draining_ = false;         // guarded by mu_
  bool writable_ = true;          // guarded by mu_
  std::string error_;             // guarded by mu_
  int published_ = -1;            // guarded by mu_: -1 none yet, else the last ready published
  std::thread thread_;
};

}  // namespace backtest

#endif  // BACKTEST_SERVER_READINESS_H_
