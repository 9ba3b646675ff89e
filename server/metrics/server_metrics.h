// backtestd's own metrics (docs/operations.md, "Metrics"): one set per process, in the process's
// registry, as Prometheus client libraries keep a default registry. The jobs and api layers
// update them where things happen; the server adds the gauges it reads at scrape time (queue
// depth, running jobs) and serves Render() on --metrics-listen. Thread-safe.
#ifndef BACKTEST_SERVER_METRICS_SERVER_METRICS_H_
#define BACKTEST_SERVER_METRICS_SERVER_METRICS_H_

#include <chrono>
#include <string>

#include "server/metrics/registry.h"

namespace backtest::metrics {

struct ServerMetrics {
  static ServerMetrics& Get();

  Registry registry;
  // Jobs entering each status (queued, running, finished, failed, cancelled).
  Family<Counter>& jobs;
  // From running to the end, by the status the job ended in.
  Family<Histogram>& job_duration;
  // From submission to running.
  Histogram& queue_wait;
  // Jobs whose runner ended without a result, by reason (docs/operations.md lists them).
  Family<Counter>& runner_failures;
  // StreamJobLog calls open now.
  Gauge& stream_subscribers;
  Counter& events_written;
  Counter& trace_rows_written;
  // One SQLite write transaction of the job path, by what it wrote (events, trace_rows).
  Family<Histogram>& sqlite_write;
  // Every RPC by full method name and status code name; its duration by method.
  Family<Counter>& rpcs;
  Family<Histogram>& rpc_duration;

 private:
  ServerMetrics();
};

// Seconds since `start` on the steady clock.
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace backtest::metrics

#endif  // BACKTEST_SERVER_METRICS_SERVER_METRICS_H_
