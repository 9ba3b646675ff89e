#include "server/metrics/server_metrics.h"

namespace backtest::metrics {

ServerMetrics& ServerMetrics::Get() {
  static ServerMetrics* metrics = new ServerMetrics();  // lives as long as the process
  return *metrics;
}

// Durations: 1 ms to ~9 min for jobs and waits; 50 µs to ~13 s for writes and RPCs.
ServerMetrics::ServerMetrics()
    : jobs(registry.AddCounter("backtestd_jobs_total", "Jobs that entered each status.",
                               {"status"})),
      job_duration(registry.AddHistogram(
          "backtestd_job_duration_seconds", "Time from running to the end of a job.",
          ExponentialBuckets(0.001, 2.5, 15), {"status"})),
      queue_wait(registry
                     .AddHistogram("backtestd_job_queue_wait_seconds",
                                   "Time a job waited in the queue before it ran.",
                                   ExponentialBuckets(0.001, 2.5, 15))
                     .With({})),
      runner_failures(registry.AddCounter("backtestd_runner_failures_total",
                                          "Jobs whose runner ended without a result, by reason.",
                                          {"reason"})),
      stream_subscribers(registry
                             .AddGauge("backtestd_stream_subscribers",
                                       "StreamJobLog calls open now.")
                             .With({})),
      events_written(registry
                         .AddCounter("backtestd_events_written_total",
                                     "Job events (log lines, progress, status) stored.")
                         .With({})),
      trace_rows_written(registry
                             .AddCounter("backtestd_trace_rows_written_total",
                                         "Decision trace rows stored.")
                             .With({})),
      sqlite_write(registry.AddHistogram("backtestd_sqlite_write_seconds",
                                         "One SQLite write transaction of the job path.",
                                         ExponentialBuckets(0.00005, 2.5, 15), {"what"})),
      rpcs(registry.AddCounter("backtestd_rpcs_total", "RPCs handled, by method and status code.",
                               {"method", "code"})),
      rpc_duration(registry.AddHistogram("backtestd_rpc_duration_seconds",
                                         "RPC duration (a stream: until it ended), by method.",
                                         ExponentialBuckets(0.00005, 2.5, 15), {"method"})) {}

}  // namespace backtest::metrics
