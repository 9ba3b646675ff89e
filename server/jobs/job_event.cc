#include "server/jobs/job_event.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/engine/param_registry.h"

namespace backtest::jobs {

db::EventRecord ToRecord(const JobEvent& e) {
  db::EventRecord r;
  r.seq = e.seq;
  r.time_ms = e.time_ms;
  switch (e.kind) {
    case EventKind::kLog:
      r.kind = "log";
      r.source = e.source;
      r.level = e.level;
      r.text = e.text;
      break;
    case EventKind::kProgress:
      r.kind = "progress";
      r.text = e.stage;
      // The shortest text that reads back exactly: a replayed progress event is the live one.
      r.payload = absl::StrCat(engine::FormatNumber(e.fraction), " ", e.bars_done, " ",
                               e.bars_total);
      break;
    case EventKind::kStatus:
      r.kind = "status";
      r.text = std::string(db::JobStatusName(e.status));
      r.payload = e.error;
      break;
    case EventKind::kTrace:
      r.kind = "trace";
      r.payload = absl::StrCat(e.first_row, " ", e.row_count, " ", e.truncated ? 1 : 0);
      break;
  }
  return r;
}

absl::StatusOr<JobEvent> FromRecord(const db::EventRecord& r) {
  JobEvent e;
  e.seq = r.seq;
  e.time_ms = r.time_ms;
  auto bad = [&] {
    return absl::DataLossError(absl::StrCat("stored event ", r.seq, " (", r.kind, ") is malformed"));
  };
  if (r.kind == "log") {
    e.kind = EventKind::kLog;
    e.source = r.source;
    e.level = r.level;
    e.text = r.text;
  } else if (r.kind == "progress") {
    e.kind = EventKind::kProgress;
    e.stage = r.text;
    std::vector<std::string> parts = absl::StrSplit(r.payload, ' ');
    if (parts.size() != 3 || !absl::SimpleAtod(parts[0], &e.fraction) ||
        !absl::SimpleAtoi(parts[1], &e.bars_done) || !absl::SimpleAtoi(parts[2], &e.bars_total)) {
      return bad();
    }
  } else if (r.kind == "status") {
    e.kind = EventKind::kStatus;
    std::optional<db::JobStatus> status = db::ParseJobStatus(r.text);
    if (!status) return bad();
    e.status = *status;
    e.error = r.payload;
  } else if (r.kind == "trace") {
    e.kind = EventKind::kTrace;
    std::vector<std::string> parts = absl::StrSplit(r.payload, ' ');
    int truncated = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &e.first_row) ||
        !absl::SimpleAtoi(parts[1], &e.row_count) || !absl::SimpleAtoi(parts[2], &truncated)) {
      return bad();
    }
    e.truncated = truncated != 0;
  } else {
    return bad();
  }
  return e;
}

JobEvent LogEvent(int64_t time_ms, std::string source, std::string level, std::string text) {
  JobEvent e;
  e.time_ms = time_ms;
  e.kind = EventKind::kLog;
  e.source = std::move(source);
  e.level = std::move(level);
  e.text = std::move(text);
  return e;
}

JobEvent StatusEvent(int64_t time_ms, db::JobStatus status, std::string error) {
  JobEvent e;
  e.time_ms = time_ms;
  e.kind = EventKind::kStatus;
  e.status = status;
  e.error = std::move(error);
  return e;
}

}  // namespace backtest::jobs
