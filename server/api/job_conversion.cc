#include "server/api/job_conversion.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "server/api/explain.h"
#include "server/api/value_conversion.h"

namespace backtest::api {

void SetTime(int64_t ms, google::protobuf::Timestamp* out) {
  *out = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(ms);
}

std::string ResultUrl(const std::string& job_id) {
  return absl::StrCat("/api/jobs/", job_id, "/result/");
}

void ToJobProto(const db::JobRecord& r, const JobTails& tails, int64_t now_ms,
                backtest::v1::Job* out, const engine::ParamRegistry* registry) {
  out->set_job_id(r.id);
  out->set_status(std::string(db::JobStatusName(r.status)));
  out->set_owner(r.owner_name);
  engine::ParamValues params;
  const nlohmann::json stored = nlohmann::json::parse(r.params_json);
  for (const auto& [name, value] : stored.items()) {
    params[name] = value.get<std::string>();
  }
  TextToValues(params, out->mutable_params(), registry);
  out->set_preset(r.preset);
  out->set_strategy_source_hash(r.strategy_source_hash);
  out->set_request_id(r.request_id);
  out->set_runner(r.runner);
  out->set_kind(r.kind);
  out->set_pid(static_cast<int32_t>(r.pid));
  out->set_error(r.error);
  out->set_stdout_tail(tails.stdout_tail);
  out->set_stderr_tail(tails.stderr_tail);
  if (r.status == db::JobStatus::kFinished) out->set_result_url(ResultUrl(r.id));
  auto* progress = out->mutable_progress();
  progress->set_fraction(r.progress_fraction);
  progress->set_stage(r.status == db::JobStatus::kQueued ? "queued" : r.progress_stage);
  progress->set_bars_done(r.bars_done);
  progress->set_bars_total(r.bars_total);
  if (r.status == db::JobStatus::kRunning && r.started_ms && r.progress_fraction > 0.01) {
    double elapsed = static_cast<double>(now_ms - *r.started_ms) / 1000.0;
    progress->set_eta_seconds(elapsed * (1 - r.progress_fraction) / r.progress_fraction);
  }
  SetTime(r.created_ms, out->mutable_created_at());
  if (r.started_ms) SetTime(*r.started_ms, out->mutable_started_at());
  if (r.finished_ms) SetTime(*r.finished_ms, out->mutable_finished_at());
  out->set_last_seq(r.last_seq);
}

void ToLogLineProto(const jobs::JobEvent& e, backtest::v1::LogLine* out) {
  out->set_source(e.source);
  out->set_level(e.level);
  out->set_text(e.text);
  SetTime(e.time_ms, out->mutable_time());
}

void ToEventProto(const jobs::JobEvent& e, backtest::v1::StreamJobLogResponse* out) {
  out->set_seq(e.seq);
  SetTime(e.time_ms, out->mutable_time());
  switch (e.kind) {
    case jobs::EventKind::kLog: {
      auto* log = out->mutable_log();
      log->set_source(e.source);
      log->set_level(e.level);
      log->set_text(e.text);
      break;
    }
    case jobs::EventKind::kProgress: {
      auto* p = out->mutable_progress();
      p->set_stage(e.stage);
      p->set_fraction(e.fraction);
      p->set_bars_done(e.bars_done);
      p->set_bars_total(e.bars_total);
      break;
    }
    case jobs::EventKind::kStatus: {
      auto* s = out->mutable_status();
      s->set_status(std::string(db::JobStatusName(e.status)));
      s->set_error(e.error);
      break;
    }
    case jobs::EventKind::kTrace: {
      auto* t = out->mutable_trace();
      t->set_truncated(e.truncated);
      if (e.rows == nullptr) break;
      t->mutable_rows()->Reserve(static_cast<int>(e.rows->size()));
      for (const db::TraceRowRecord& r : *e.rows) ToTraceRowProto(r, t->add_rows());
      break;
    }
  }
}

}  // namespace backtest::api
