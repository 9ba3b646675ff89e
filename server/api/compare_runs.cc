#include "server/api/compare_runs.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace backtest::api {
namespace {

namespace v1 = backtest::v1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// A row per number of `message` (a Stats or a SideStats), in field order; a nested message's
// numbers follow under "FIELD.NAME". Reflection keeps the rows in step with the Stats message.
void AddStatRows(const std::vector<const Message*>& messages, const std::string& prefix,
                 v1::CompareRunsResponse* response) {
  const google::protobuf::Descriptor* descriptor = messages.front()->GetDescriptor();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const FieldDescriptor* field = descriptor->field(f);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      std::vector<const Message*> nested;
      for (const Message* m : messages) {
        nested.push_back(&m->GetReflection()->GetMessage(*m, field));
      }
      AddStatRows(nested, absl::StrCat(prefix, field->name(), "."), response);
      continue;
    }
    v1::StatComparison* row = response->add_stats();
    row->set_name(absl::StrCat(prefix, field->name()));
    for (const Message* m : messages) {
      const google::protobuf::Reflection* r = m->GetReflection();
      row->add_values(field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE
                          ? r->GetDouble(*m, field)
                          : static_cast<double>(r->GetInt32(*m, field)));
    }
    const double first = row->values(0);
    bool same = true;
    for (double v : row->values()) {
      row->add_differences(v - first);  // NaN when either is NaN
      same = same && (v == first || (std::isnan(v) && std::isnan(first)));
    }
    row->set_same(same);
  }
}

void AddDifferingParams(const std::vector<ComparedRun>& runs, v1::CompareRunsResponse* response) {
  std::set<std::string> names;
  for (const ComparedRun& run : runs) {
    for (const auto& [name, value] : run.params) names.insert(name);
  }
  for (const std::string& name : names) {
    std::vector<std::string> values;
    for (const ComparedRun& run : runs) {
      auto it = run.params.find(name);
      values.push_back(it == run.params.end() ? "" : it->second);
    }
    if (std::all_of(values.begin(), values.end(), [&](const auto& v) { return v == values[0]; })) {
      continue;
    }
    v1::ParamComparison* row = response->add_differing_params();
    row->set_name(name);
    for (std::string& v : values) row->add_values(std::move(v));
  }
}

// The union of the runs' equity times, ascending, each once.
std::vector<int64_t> UnionOfTimes(const std::vector<ComparedRun>& runs) {
  std::vector<int64_t> all;
  std::vector<int64_t> merged;
  for (const ComparedRun& run : runs) {
    merged.clear();
    merged.reserve(all.size() + run.equity_time.size());
    // Runs on the same data share most times: a linear merge, not a sort of everything.
    std::set_union(all.begin(), all.end(), run.equity_time.begin(), run.equity_time.end(),
                   std::back_inserter(merged));
    all.swap(merged);
  }
  all.erase(std::unique(all.begin(), all.end()), all.end());  // a run's own repeated times
  return all;
}

// At most `max_points` of `times`, evenly spaced by index, the first and the last included.
std::vector<int64_t> Downsample(const std::vector<int64_t>& times, int max_points) {
  const int64_t n = static_cast<int64_t>(times.size());
  if (n <= max_points) return times;
  const int64_t m = max_points;
  std::vector<int64_t> kept;
  kept.reserve(m);
  // Index i*(n-1)/(m-1), rounded: strictly increasing since n > m, 0 first and n-1 last.
  for (int64_t i = 0; i < m; ++i) kept.push_back(times[(i * (n - 1) + (m - 1) / 2) / (m - 1)]);
  return kept;
}

// `run`'s equity on `axis`: from the first axis time at or after its first point to the last at
// or before its last point, each value the one of its last point at or before that time.
void AddCurve(const ComparedRun& run, const std::vector<int64_t>& axis, v1::AlignedCurve* out) {
  out->set_job_id(run.job_id);
  const std::vector<int64_t>& t = run.equity_time;
  if (t.empty()) return;
  const auto begin = std::lower_bound(axis.begin(), axis.end(), t.front());
  const auto end = std::upper_bound(begin, axis.end(), t.back());
  out->set_first(static_cast<int32_t>(begin - axis.begin()));
  size_t p = 0;
  for (auto it = begin; it != end; ++it) {
    while (p + 1 < t.size() && t[p + 1] <= *it) ++p;
    out->add_values(run.equity_value[p]);
  }
}

}  // namespace

absl::StatusOr<CompareQuery> ParseCompareQuery(const v1::CompareRunsRequest& request) {
  CompareQuery query;
  std::map<std::string, int> seen;
  for (const std::string& element : request.jobs()) {
    for (absl::string_view piece : absl::StrSplit(element, ',')) {
      const int index = static_cast<int>(query.job_ids.size());
      const std::string id(absl::StripAsciiWhitespace(piece));
      if (id.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("jobs[", index, "]: empty job id (give ids separated by commas)"));
      }
      auto [it, inserted] = seen.emplace(id, index);
      if (!inserted) {
        return absl::InvalidArgumentError(absl::StrCat("jobs[", index, "]: job \"",
                                                       id.substr(0, 64), "\" is given twice (also jobs[",
                                                       it->second, "])"));
      }
      query.job_ids.push_back(id);
    }
  }
  const int count = static_cast<int>(query.job_ids.size());
  if (count < kMinComparedJobs || count > kMaxComparedJobs) {
    return absl::InvalidArgumentError(absl::StrCat("jobs: compare ", kMinComparedJobs, " to ",
                                                   kMaxComparedJobs, " jobs, got ", count));
  }
  // One point could not hold a curve's first and last times.
  if (request.max_points() < 0 || request.max_points() == 1 ||
      request.max_points() > kMaxComparePoints) {
    return absl::InvalidArgumentError(absl::StrCat("max_points: must be 0 (for ",
                                                   kDefaultComparePoints, ") or 2 to ",
                                                   kMaxComparePoints, ", got ",
                                                   request.max_points()));
  }
  if (request.max_points() > 0) query.max_points = request.max_points();
  return query;
}

void FillComparison(const std::vector<ComparedRun>& runs, int max_points,
                    v1::CompareRunsResponse* response) {
  if (runs.empty()) return;
  std::vector<const Message*> stats;
  for (const ComparedRun& run : runs) stats.push_back(&run.stats);
  AddStatRows(stats, "", response);
  AddDifferingParams(runs, response);
  const std::vector<int64_t> all = UnionOfTimes(runs);
  const std::vector<int64_t> axis = Downsample(all, max_points);
  v1::AlignedEquity* equity = response->mutable_equity();
  equity->set_total_times(static_cast<int32_t>(all.size()));
  for (int64_t t : axis) equity->add_times(static_cast<double>(t));
  for (const ComparedRun& run : runs) AddCurve(run, axis, equity->add_curves());
}

}  // namespace backtest::api
