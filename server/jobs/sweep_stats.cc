#include "server/jobs/sweep_stats.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "server/jobs/delta_column.h"

namespace backtest::jobs {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool IsNumber(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_INT32:
      return !f->is_repeated();
    default:
      return false;
  }
}

// Visits every numeric leaf of a Stats message in SweepStatNames() order.
template <typename Visit>
void EachLeaf(const google::protobuf::Descriptor* d, Visit&& visit,
              const FieldDescriptor* parent = nullptr) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (IsNumber(f)) {
      visit(parent, f);
    } else if (parent == nullptr && f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
               !f->is_repeated()) {
      EachLeaf(f->message_type(), visit, f);
    }
  }
}

double Get(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE: return r->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_INT64: return static_cast<double>(r->GetInt64(m, f));
    default: return r->GetInt32(m, f);
  }
}

void Set(Message* m, const FieldDescriptor* f, double v) {
  const Reflection* r = m->GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE: r->SetDouble(m, f, v); break;
    case FieldDescriptor::CPPTYPE_INT64: r->SetInt64(m, f, static_cast<int64_t>(v)); break;
    default: r->SetInt32(m, f, static_cast<int32_t>(v)); break;
  }
}

}  // namespace

const std::vector<std::string>& SweepStatNames() {
  static const std::vector<std::string>* names = [] {
    auto* out = new std::vector<std::string>;
    EachLeaf(runner::v1::Stats::descriptor(),
             [&](const FieldDescriptor* parent, const FieldDescriptor* f) {
               out->push_back(parent ? absl::StrCat(parent->name(), ".", f->name()) : f->name());
             });
    return out;
  }();
  return *names;
}

int SweepStatIndex(absl::string_view name) {
  const auto& names = SweepStatNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<double> FlattenStats(const runner::v1::Stats& stats) {
  std::vector<double> out;
  out.reserve(SweepStatNames().size());
  EachLeaf(runner::v1::Stats::descriptor(),
           [&](const FieldDescriptor* parent, const FieldDescriptor* f) {
             const Message& m = parent ? stats.GetReflection()->GetMessage(stats, parent) : stats;
             out.push_back(Get(m, f));
           });
  return out;
}

void UnflattenStats(std::span<const double> values, google::protobuf::Message* stats) {
  EachLeaf(stats->GetDescriptor(), [&](const FieldDescriptor* parent, const FieldDescriptor* f) {
    const int i =
        SweepStatIndex(parent ? absl::StrCat(parent->name(), ".", f->name()) : f->name());
    if (i < 0 || static_cast<size_t>(i) >= values.size()) return;
    Message* m = parent ? stats->GetReflection()->MutableMessage(stats, parent) : stats;
    Set(m, f, values[static_cast<size_t>(i)]);
  });
}

std::string EncodeSweepRows(std::span<const SweepRowValues> rows) {
  runner::v1::SweepRowChunk chunk;
  std::vector<int64_t> indexes;
  for (const SweepRowValues& r : rows) indexes.push_back(r.row);
  (void)EncodeIntegers(indexes, chunk.mutable_rows());  // row numbers are far below 2^53
  const auto& names = SweepStatNames();
  std::vector<double> column(rows.size());
  for (size_t s = 0; s < names.size(); ++s) {
    chunk.add_names(names[s]);
    for (size_t k = 0; k < rows.size(); ++k) {
      column[k] = s < rows[k].stats.size() ? rows[k].stats[s] : 0;
    }
    EncodeNumbers(column, chunk.add_columns());
  }
  for (size_t k = 0; k < rows.size(); ++k) {
    if (rows[k].error.empty()) continue;
    auto* e = chunk.add_errors();
    e->set_position(static_cast<int32_t>(k));
    e->set_message(rows[k].error);
  }
  return chunk.SerializeAsString();
}

absl::Status DecodeSweepRows(absl::string_view data, std::vector<SweepRowValues>* out) {
  runner::v1::SweepRowChunk chunk;
  std::vector<int64_t> indexes;
  if (!chunk.ParseFromArray(data.data(), static_cast<int>(data.size())) ||
      !DecodeIntegers(chunk.rows(), &indexes) || chunk.names_size() != chunk.columns_size()) {
    return absl::DataLossError("a stored chunk of sweep rows cannot be read");
  }
  const size_t first = out->size();
  const size_t stats = SweepStatNames().size();
  for (int64_t row : indexes) {
    out->push_back({.row = static_cast<int32_t>(row), .stats = std::vector<double>(stats, 0.0)});
  }
  std::vector<double> values;
  for (int c = 0; c < chunk.columns_size(); ++c) {
    const int s = SweepStatIndex(chunk.names(c));
    if (!DecodeNumbers(chunk.columns(c), &values) || values.size() != indexes.size()) {
      return absl::DataLossError("a stored chunk of sweep rows cannot be read");
    }
    if (s < 0) continue;  // a stat this version does not know
    for (size_t k = 0; k < values.size(); ++k) (*out)[first + k].stats[s] = values[k];
  }
  for (const auto& e : chunk.errors()) {
    if (e.position() < 0 || static_cast<size_t>(e.position()) >= indexes.size()) {
      return absl::DataLossError("a stored chunk of sweep rows cannot be read");
    }
    (*out)[first + e.position()].error = e.message();
  }
  return absl::OkStatus();
}

}  // namespace backtest::jobs
