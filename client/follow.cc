#include "client/follow.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/format.h"

namespace backtest::client {
namespace {

using Clock = std::chrono::steady_clock;

bool Retryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kAborted;
}

Color LevelColor(const std::string& level) {
  if (level == "error") return Color::kRed;
  if (level == "warning" || level == "warn") return Color::kYellow;
  if (level == "debug") return Color::kDim;
  return Color::kNone;
}

}  // namespace

bool IsFinalStatus(const std::string& status) {
  return status == "finished" || status == "failed" || status == "cancelled";
}

namespace {

// Where a follow is: the next sequence number wanted and what was seen so far.
struct FollowState {
  int32_t next_seq = 1;
  bool reached_end = false;  // options.until_seq was reached
  FollowOutcome outcome;
};

// One StreamJobLog call from state->next_seq. *got_events tells whether any event came.
absl::Status StreamOnce(
    Client& client, const std::string& job_id, const FollowOptions& options, FollowState* state,
    bool* got_events,
    const std::function<void(const backtest::v1::StreamJobLogResponse&)>& on_event) {
  backtest::v1::StreamJobLogRequest request;
  request.set_job_id(job_id);
  request.set_from_seq(state->next_seq);
  request.set_include_trace(options.include_trace);
  // Log lines arrive in batches (a run's hundreds of lines in a few messages) and are handed on
  // one event per line, as the server numbers them.
  request.set_batch_log_lines(true);
  *got_events = false;
  std::function<bool(const backtest::v1::StreamJobLogResponse&)> handle;
  handle = [&](const backtest::v1::StreamJobLogResponse& event) {
    *got_events = true;
    if (event.has_log_batch()) {
      for (int i = 0; i < event.log_batch().lines_size(); ++i) {
        backtest::v1::StreamJobLogResponse line;
        line.set_seq(event.seq() + i);
        *line.mutable_time() = event.log_batch().lines(i).time();
        *line.mutable_log() = event.log_batch().lines(i);
        line.mutable_log()->clear_time();
        if (!handle(line)) return false;
      }
      return true;
    }
    if (event.seq() < state->next_seq) return true;  // handed on before a reconnect
    state->next_seq = event.seq() + 1;
    state->outcome.last_seq = event.seq();
    if (event.has_status()) {
      state->outcome.status = event.status().status();
      state->outcome.error = event.status().error();
    }
    on_event(event);
    state->reached_end = options.until_seq > 0 && event.seq() >= options.until_seq;
    return !state->reached_end;
  };
  return client.StreamJobLog(request, handle);
}

}  // namespace

absl::StatusOr<FollowOutcome> FollowJobLog(
    Client& client, const std::string& job_id, const FollowOptions& options,
    const std::function<void(const backtest::v1::StreamJobLogResponse&)>& on_event) {
  FollowState state;
  state.next_seq = std::max<int32_t>(options.from_seq, 1);
  state.outcome.last_seq = state.next_seq - 1;
  const auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options.reconnect_timeout_seconds));
  constexpr auto kFirstBackoff = std::chrono::milliseconds(200);
  constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
  auto backoff = kFirstBackoff;
  Clock::time_point last_progress = Clock::now();
  bool ever_connected = false;
  while (true) {
    bool got_events = false;
    absl::Status status = StreamOnce(client, job_id, options, &state, &got_events, on_event);
    if (status.ok() || state.reached_end) return state.outcome;
    // A server that could not be reached at all is an error at once, not a dropped connection.
    ever_connected = ever_connected || got_events;
    if (!Retryable(status) || !ever_connected) return status;
    if (got_events) {
      last_progress = Clock::now();
      backoff = kFirstBackoff;
    }
    if (Clock::now() - last_progress > timeout) return status;
    ++state.outcome.reconnects;
    if (options.notes != nullptr) {
      std::fprintf(options.notes, "btctl: connection lost (%s); resuming from seq %lld in %s\n",
                   std::string(status.message()).c_str(), static_cast<long long>(state.next_seq),
                   FormatDuration(backoff.count() / 1000.0).c_str());
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

EventPrinter::EventPrinter(bool json, bool progress_bar, bool color, std::FILE* out)
    : json_(json), color_(color), out_(out), bar_(progress_bar && !json, out) {}

void EventPrinter::Print(const backtest::v1::StreamJobLogResponse& event) {
  if (json_) {
    std::fprintf(out_, "%s\n", ToJson(event, /*pretty=*/false).c_str());
    std::fflush(out_);
    return;
  }
  if (event.has_progress() && bar_.enabled()) {
    bar_.Update(event.progress());
    return;
  }
  std::string head = absl::StrFormat("%6d %s ", event.seq(), FormatTimestamp(event.time()));
  std::string body;
  if (event.has_log()) {
    const auto& log = event.log();
    body = absl::StrCat(Colored(absl::StrFormat("%-7s", log.level()), LevelColor(log.level()),
                                color_),
                        " ", absl::StrFormat("%-6s", log.source()), " ", log.text());
  } else if (event.has_progress()) {
    const auto& p = event.progress();
    body = absl::StrCat("progress ", p.stage(), " ", FormatFixed(p.fraction() * 100, 1), "%");
    if (p.bars_total() > 0) absl::StrAppend(&body, " ", p.bars_done(), "/", p.bars_total(), " bars");
    if (p.eta_seconds() > 0) absl::StrAppend(&body, " eta ", FormatDuration(p.eta_seconds()));
  } else if (event.has_status()) {
    const auto& s = event.status();
    body = absl::StrCat("status  ", Colored(s.status(), StatusColor(s.status()), color_));
    if (!s.error().empty()) absl::StrAppend(&body, ": ", s.error());
  } else if (event.has_trace()) {
    body = absl::StrCat("trace   ", event.trace().rows_size(), " rows",
                        event.trace().truncated() ? " (trace cut at its row limit)" : "");
  } else {
    body = "(unknown event)";
  }
  bar_.Clear();
  std::fprintf(out_, "%s%s\n", head.c_str(), body.c_str());
  bar_.Redraw();
  std::fflush(out_);
}

void EventPrinter::Finish() { bar_.Finish(); }

}  // namespace backtest::client
