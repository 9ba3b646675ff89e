// Trace rows of bars that a finished run did not store (tracing off, sampled out, past the row
// limit), made when asked: the run is replayed in a runner process with tracing on only around
// those bars, its digest checked against the stored run's, and the rows cached
// (docs/explain-replay.md).
//
// Replays are bars in blocks of `block_bars`: a question is answered from the blocks that hold
// its bars, and the blocks missing from the cache are replayed in one run. Identical replays
// asked for at the same time run once. A caller has at most `per_user` replays waiting or
// running, and their replays count with their jobs against the job manager's per-user limit
// (quota.max_active_jobs_per_user) both ways; the server runs at most `workers` replays at once,
// beside the job workers' runners.
//
// Owned by the server beside the job manager it uses (its options, database pool and data
// policies); Shutdown (or the destructor) stops the runners of replays, joins the threads, and
// answers every waiting question Unavailable. Thread-safe.
#ifndef BACKTEST_SERVER_JOBS_TRACE_REPLAY_H_
#define BACKTEST_SERVER_JOBS_TRACE_REPLAY_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/jobs/bounded_queue.h"
#include "server/jobs/trace_replay_cache.h"

namespace backtest::jobs {

class JobManager;

struct TraceReplayOptions {
  // The widest bar window one question may replay (--trace-replay-max-bars).
  int64_t max_window_bars = 500;
  // Bars replayed and cached together.
  int64_t block_bars = 64;
  // Replays running at once.
  int workers = 2;
  // Replays one caller may have waiting or running.
  int per_user = 4;
  // Questions waiting for a replay thread, at most.
  int queue_capacity = 64;
  // Trace rows kept in the cache.
  int64_t cache_rows = 1'000'000;
  // A replay's runner is killed after this long.
  int64_t timeout_ms = 120'000;
};

// What a question asks: bars first_bar..last_bar (inclusive) of a finished job.
struct ReplayQuestion {
  std::string job_id;
  int64_t caller_id = 0;  // whose replays it counts toward
  int64_t first_bar = 0;
  int64_t last_bar = 0;
};

class TraceReplayer {
 public:
  // The rows of the question's bars, of every symbol, in seq order; or why there are none.
  using Done = std::function<void(absl::StatusOr<TraceRows> rows)>;

  TraceReplayer(JobManager& jobs, TraceReplayOptions options);
  ~TraceReplayer();
  TraceReplayer(const TraceReplayer&) = delete;
  TraceReplayer& operator=(const TraceReplayer&) = delete;

  const TraceReplayOptions& options() const { return options_; }

  // Answers `question` through `done`: at once on this thread when the cache holds its bars (or
  // the question is refused), else later on a replay thread. Errors: InvalidArgument when the
  // window is empty or wider than max_window_bars (naming the limit); ResourceExhausted when the
  // caller has per_user replays under way or the queue is full; FailedPrecondition when the
  // replay's digest differs from the stored run's (naming what changed), the run's strategy has
  // left the strategy folder, or the replay failed (its data is gone…); Unavailable while
  // shutting down; DeadlineExceeded past timeout_ms.
  void Rows(const ReplayQuestion& question, Done done);

  void Shutdown();

  // Replays run so far (tests and benchmarks check what the cache saved).
  int64_t replays() const { return replays_; }

 private:
  struct Waiter {
    ReplayQuestion question;
    Done done;
  };
  // One replay: blocks first_block..last_block of a job, and who waits for it.
  struct Task {
    std::string job_id;
    int64_t first_block = 0;
    int64_t last_block = 0;
    std::vector<Waiter> waiters;  // guarded by the replayer's mu_
  };

  // The question's rows when every block it needs is cached.
  bool AnswerFromCache(const ReplayQuestion& question, const Done& done);
  void WorkerLoop();
  void Finish(const std::shared_ptr<Task>& task, const absl::StatusOr<TraceRows>& rows);
  // `lasting` is set for an error that every replay of the job would meet again (its digest
  // differs, its strategy cannot be replayed): the cache keeps those.
  absl::StatusOr<TraceRows> Replay(const Task& task, bool* lasting);
  void Release(int64_t caller_id);

  JobManager& jobs_;
  const TraceReplayOptions options_;
  TraceReplayCache cache_;
  BoundedQueue<std::shared_ptr<Task>> queue_;
  std::vector<std::thread> workers_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> replays_{0};

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Task>> in_flight_;  // by job and blocks; guarded by mu_
  std::map<int64_t, int> per_caller_;                       // guarded by mu_
  bool shut_down_ = false;                                  // guarded by mu_
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_TRACE_REPLAY_H_
