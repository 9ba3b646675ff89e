#include "server/jobs/run_spec.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace backtest::jobs {

absl::StatusOr<backtest::runner::v1::RunSpec> MakeRunSpec(const db::JobRecord& job,
                                                          const JobManagerOptions& options,
                                                          const engine::DataPolicy& policy) {
  auto damaged = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("job ", job.id, ": stored parameters ", why));
  };
  backtest::runner::v1::RunSpec spec;
  spec.set_job_id(job.id);
  const nlohmann::json stored =
      nlohmann::json::parse(job.params_json, nullptr, /*allow_exceptions=*/false);
  if (!stored.is_object()) return damaged("are not a JSON object");
  for (const auto& [name, value] : stored.items()) {
    if (!value.is_string()) return damaged(absl::StrCat("have a non-text value for ", name));
    (*spec.mutable_params())[name] = value.get<std::string>();
  }
  int64_t sampling = 0;
  const auto& params = spec.params();
  if (!params.contains("trace_enabled") || !params.contains("trace_sampling") ||
      !absl::SimpleAtoi(params.at("trace_sampling"), &sampling)) {
    return damaged("lack the trace settings");
  }
  spec.set_trace_max_rows(options.trace_max_rows);
  spec.set_trace_batch_size(options.trace_batch_size);
  spec.set_heartbeat_interval_ms(options.heartbeat_interval_ms);
  spec.set_data_timeout_ms(options.data_timeout_ms);
  if (!options.bar_cache_dir.empty() && options.bar_cache_bytes > 0) {
    spec.mutable_bar_cache()->set_dir(options.bar_cache_dir);
    spec.mutable_bar_cache()->set_max_bytes(options.bar_cache_bytes);
  }
  // The runner applies them to itself (a strategy-folder runner's sandbox enforces them too).
  spec.mutable_limits()->set_cpu_seconds(options.limits.cpu_seconds);
  spec.mutable_limits()->set_memory_mb(options.limits.memory_mb);
  auto* spec_policy = spec.mutable_data_policy();
  spec_policy->mutable_file_roots()->Add(policy.file_roots.begin(), policy.file_roots.end());
  spec_policy->mutable_url_allow()->Add(policy.url_allow.begin(), policy.url_allow.end());
  for (const engine::IpNetwork& network : policy.allowed_networks) {
    spec_policy->add_allowed_networks(network.ToString());
  }
  return spec;
}

}  // namespace backtest::jobs
