// Job records and events in their proto forms.
#ifndef BACKTEST_SERVER_API_JOB_CONVERSION_H_
#define BACKTEST_SERVER_API_JOB_CONVERSION_H_

#include <string>

#include "backtest/v1/backtest_service.pb.h"
#include "db/job_store.h"
#include "server/engine/param_registry.h"
#include "server/jobs/job_event.h"

namespace backtest::api {

struct JobTails {
  std::string stdout_tail;
  std::string stderr_tail;
};

// Fills a Job message; `now_ms` is used for the ETA of a running job. `params` are typed by
// `registry` when given (the strategy folder's current one: a folder strategy's own numbers and
// booleans), else by the built-ins'.
void ToJobProto(const db::JobRecord& record, const JobTails& tails, int64_t now_ms,
                backtest::v1::Job* out, const engine::ParamRegistry* registry = nullptr);

// A stored or live event as the stream sends it. Trace events carry their rows when `rows` is
// given (live) or were filled by the caller (replay).
void ToEventProto(const jobs::JobEvent& event, backtest::v1::StreamJobLogResponse* out);

// A log event as a line of a LogLineBatch (with its time).
void ToLogLineProto(const jobs::JobEvent& event, backtest::v1::LogLine* out);

// Epoch milliseconds as a Timestamp.
void SetTime(int64_t ms, google::protobuf::Timestamp* out);

// The REST path of a job's result.
std::string ResultUrl(const std::string& job_id);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_JOB_CONVERSION_H_
