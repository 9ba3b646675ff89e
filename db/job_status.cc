#include "db/job_status.h"

namespace backtest::db {
namespace {

constexpr std::array<absl::string_view, kJobStatuses.size()> kNames = {
    "queued", "running", "finished", "failed", "cancelled"};

}  // namespace

absl::string_view JobStatusName(JobStatus status) { return kNames[static_cast<size_t>(status)]; }

std::optional<JobStatus> ParseJobStatus(absl::string_view text) {
  for (JobStatus status : kJobStatuses) {
    if (JobStatusName(status) == text) return status;
  }
  return std::nullopt;
}

}  // namespace backtest::db
