// Per-user limits on submissions: jobs queued or running at once, and submissions per minute (a
// token bucket holding a minute's worth). Over a limit is ResourceExhausted naming it, with a
// retry delay (retry_delay.h: gRPC RetryInfo, HTTP 429 + Retry-After). Thread-safe.
#ifndef BACKTEST_SERVER_JOBS_SUBMIT_QUOTA_H_
#define BACKTEST_SERVER_JOBS_SUBMIT_QUOTA_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "absl/status/status.h"
#include "db/user_store.h"

namespace backtest::jobs {

struct QuotaOptions {
  // Jobs one user may have queued or running at once; 0: no limit.
  int max_active_jobs_per_user = 0;
  // Submissions one user may make per minute (bursts of up to this many); 0: no limit.
  int submissions_per_minute = 0;

  bool enabled() const { return max_active_jobs_per_user > 0 || submissions_per_minute > 0; }

  // These limits as they apply to a user with limits of their own (`backtestd user limits`).
  QuotaOptions For(const db::UserLimits& user) const {
    return {user.max_active_jobs.value_or(max_active_jobs_per_user),
            user.submissions_per_minute.value_or(submissions_per_minute)};
  }
};

class SubmitQuota {
 public:
  SubmitQuota(QuotaOptions options, std::function<int64_t()> now_ms)
      : options_(options), now_ms_(std::move(now_ms)) {}

  const QuotaOptions& options() const { return options_; }

  // Admits one submission of `owner_id`, who has `active_jobs` queued or running, taking a token
  // of their bucket; or refuses it (and takes nothing). `limits` are the user's
  // (options().For(their own)); the two-argument form applies the server's.
  absl::Status Admit(int64_t owner_id, int64_t active_jobs, const QuotaOptions& limits);
  absl::Status Admit(int64_t owner_id, int64_t active_jobs) {
    return Admit(owner_id, active_jobs, options_);
  }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at_ms = 0;
  };

  QuotaOptions options_;
  std::function<int64_t()> now_ms_;
  std::mutex mu_;
  std::map<int64_t, Bucket> buckets_;  // guarded by mu_
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SUBMIT_QUOTA_H_
