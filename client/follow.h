// Following a job's event stream (StreamJobLog) to its end, resuming by itself after a dropped
// connection, and printing the events for people (with a progress bar on a terminal) or as JSON
// lines for programs. Used by `run --follow/--wait` and `logs`.
//
// Not thread-safe; one follower per command.
#ifndef BACKTEST_CLIENT_FOLLOW_H_
#define BACKTEST_CLIENT_FOLLOW_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "backtest/v1/backtest_service.pb.h"
#include "client/client.h"
#include "client/progress_bar.h"

namespace backtest::client {

struct FollowOptions {
  // First sequence number wanted (0 or 1: the whole history).
  int32_t from_seq = 1;
  // Stop after this sequence number (0: when the stream ends, i.e. when the job ends).
  int32_t until_seq = 0;
  // Also ask for decision-trace batches.
  bool include_trace = false;
  // Give up when no event and no successful reconnect came for this long.
  double reconnect_timeout_seconds = 120;
  // Where "connection lost, reconnecting" notes go (nullptr: nowhere).
  std::FILE* notes = stderr;
};

// What the follower saw.
struct FollowOutcome {
  // Sequence number of the last event handed on (from_seq - 1 when none).
  int32_t last_seq = 0;
  // The last status change seen ("" when none) and its error text.
  std::string status;
  std::string error;
  // Reconnections made.
  int reconnects = 0;
};

// Streams the events of `job_id` from options.from_seq to `on_event`, each exactly once and in
// order. When the stream breaks with Unavailable or Aborted after it had delivered events (a
// dropped connection, a restarting server), it reconnects with the last seq + 1, backing off from 0.2 s up to 5 s, until
// options.reconnect_timeout_seconds pass without progress. Returns when the stream ends (the job
// ended), after options.until_seq, or with the error that stopped it.
// Follows the job to its end (printing its events when `print`, as JSON with `json`, trace
// batches too with `trace`), then prints its end state to stderr; returns the exit code for it
// (0 finished, 1 failed, 2 cancelled). btctl run and btctl sweep run (run.cc).
class Context;
int WaitForJobEnd(Context& ctx, Client& client, const std::string& job_id, bool print, bool json,
                  bool trace, double reconnect_timeout);

absl::StatusOr<FollowOutcome> FollowJobLog(
    Client& client, const std::string& job_id, const FollowOptions& options,
    const std::function<void(const backtest::v1::StreamJobLogResponse&)>& on_event);

// Prints events: one line each ("SEQ TIME KIND …"), or one JSON object per line. With a progress
// bar, progress events move the bar instead of printing lines. Owns the bar.
class EventPrinter {
 public:
  EventPrinter(bool json, bool progress_bar, bool color, std::FILE* out = stdout);
  void Print(const backtest::v1::StreamJobLogResponse& event);
  // Clears the progress bar for good (call before printing anything else).
  void Finish();

 private:
  bool json_;
  bool color_;
  std::FILE* out_;
  ProgressBar bar_;
};

// True for a status after which a job does not change any more.
bool IsFinalStatus(const std::string& status);

}  // namespace backtest::client

#endif  // BACKTEST_CLIENT_FOLLOW_H_
