// A job's status, and its one text form: the value stored in jobs.status (the schema's CHECK
// lists the same five words; JobStatusTest checks that they agree), in status events, and in
// the API. Transitions: queued → running → finished | failed | cancelled; queued → cancelled.
#ifndef BACKTEST_DB_JOB_STATUS_H_
#define BACKTEST_DB_JOB_STATUS_H_

#include <array>
#include <optional>

#include "absl/strings/string_view.h"

namespace backtest::db {

enum class JobStatus { kQueued, kRunning, kFinished, kFailed, kCancelled };

inline constexpr std::array<JobStatus, 5> kJobStatuses = {
    JobStatus::kQueued, JobStatus::kRunning, JobStatus::kFinished, JobStatus::kFailed,
    JobStatus::kCancelled};

// "queued", "running", "finished", "failed", "cancelled".
absl::string_view JobStatusName(JobStatus status);

// The status named `text` exactly; nullopt for anything else.
std::optional<JobStatus> ParseJobStatus(absl::string_view text);

// Whether a job in this status has ended (finished, failed or cancelled).
constexpr bool IsFinal(JobStatus status) {
  return status == JobStatus::kFinished || status == JobStatus::kFailed ||
         status == JobStatus::kCancelled;
}

}  // namespace backtest::db

#endif  // BACKTEST_DB_JOB_STATUS_H_
