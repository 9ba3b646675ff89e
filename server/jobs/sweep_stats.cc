#include "server/jobs/sweep_stats.h"

#include <zlib.h>

#include <algorithm>
#include <bit>

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

namespace {

// Bits of each value exclusive-or'ed with the previous value's, as 8 byte planes.
std::string ToPlanes(std::span<const double> values) {
  const size_t n = values.size();
  std::string out(8 * n, '\0');
  uint64_t previous = 0;
  for (size_t k = 0; k < n; ++k) {
    const uint64_t bits = std::bit_cast<uint64_t>(values[k]);
    const uint64_t x = bits ^ previous;
    previous = bits;
    for (size_t b = 0; b < 8; ++b) out[b * n + k] = static_cast<char>((x >> (8 * b)) & 0xff);
  }
  return out;
}

bool FromPlanes(absl::string_view planes, size_t n, std::vector<double>* out) {
  if (planes.size() != 8 * n) return false;
  out->resize(n);
  uint64_t previous = 0;
  for (size_t k = 0; k < n; ++k) {
    uint64_t x = 0;
    for (size_t b = 0; b < 8; ++b) {
      x |= static_cast<uint64_t>(static_cast<unsigned char>(planes[b * n + k])) << (8 * b);
    }
    previous ^= x;
    (*out)[k] = std::bit_cast<double>(previous);
  }
  return true;
}

}  // namespace

std::string EncodeSweepRows(std::span<const SweepRowValues> given) {
  // In row order: neighbouring combinations have neighbouring stats.
  std::vector<const SweepRowValues*> rows;
  for (const SweepRowValues& r : given) rows.push_back(&r);
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->row < b->row; });
  runner::v1::SweepRowChunk chunk;
  std::vector<int64_t> indexes;
  for (const SweepRowValues* r : rows) indexes.push_back(r->row);
  (void)EncodeIntegers(indexes, chunk.mutable_rows());  // row numbers are far below 2^53
  const auto& names = SweepStatNames();
  std::vector<double> column(rows.size());
  for (size_t s = 0; s < names.size(); ++s) {
    chunk.add_names(names[s]);
    for (size_t k = 0; k < rows.size(); ++k) {
      column[k] = s < rows[k]->stats.size() ? rows[k]->stats[s] : 0;
    }
    runner::v1::SweepStatColumn* out = chunk.add_columns();
    if (!EncodeDeltas(std::span<const double>(column), out->mutable_delta())) {
      out->clear_delta();
      out->set_planes(ToPlanes(column));
    }
  }
  for (size_t k = 0; k < rows.size(); ++k) {
    if (rows[k]->error.empty()) continue;
    auto* e = chunk.add_errors();
    e->set_position(static_cast<int32_t>(k));
    e->set_message(rows[k]->error);
  }
  const std::string plain = chunk.SerializeAsString();
  uLongf size = compressBound(static_cast<uLong>(plain.size()));
  std::string out(4 + size, '\0');
  const uint32_t length = static_cast<uint32_t>(plain.size());
  for (int b = 0; b < 4; ++b) out[b] = static_cast<char>((length >> (8 * b)) & 0xff);
  if (compress2(reinterpret_cast<Bytef*>(out.data() + 4), &size,
                reinterpret_cast<const Bytef*>(plain.data()), plain.size(), 9) != Z_OK) {
    size = 0;  // cannot happen with compressBound's room; an empty chunk then reads as DataLoss
  }
  out.resize(4 + size);
  return out;
}

absl::Status DecodeSweepRows(absl::string_view data, std::vector<SweepRowValues>* out) {
  const absl::Status lost = absl::DataLossError("a stored chunk of sweep rows cannot be read");
  if (data.size() < 4) return lost;
  uint32_t length = 0;
  for (int b = 0; b < 4; ++b) length |= static_cast<uint32_t>(static_cast<unsigned char>(data[b])) << (8 * b);
  if (length > (64u << 20)) return lost;
  std::string plain(length, '\0');
  uLongf size = length;
  if (uncompress(reinterpret_cast<Bytef*>(plain.data()), &size,
                 reinterpret_cast<const Bytef*>(data.data() + 4), data.size() - 4) != Z_OK ||
      size != length) {
    return lost;
  }
  runner::v1::SweepRowChunk chunk;
  std::vector<int64_t> indexes;
  if (!chunk.ParseFromString(plain) || !DecodeIntegers(chunk.rows(), &indexes) ||
      chunk.names_size() != chunk.columns_size()) {
    return lost;
  }
  const size_t first = out->size();
  const size_t stats = SweepStatNames().size();
  for (int64_t row : indexes) {
    out->push_back({.row = static_cast<int32_t>(row), .stats = std::vector<double>(stats, 0.0)});
  }
  std::vector<double> values;
  google::protobuf::RepeatedField<double> deltas;
  for (int c = 0; c < chunk.columns_size(); ++c) {
    const runner::v1::SweepStatColumn& column = chunk.columns(c);
    if (column.has_delta()) {
      deltas.Clear();
      if (!DecodeDeltas(column.delta(), &deltas)) return lost;
      values.assign(deltas.begin(), deltas.end());
    } else if (!FromPlanes(column.planes(), indexes.size(), &values)) {
      return lost;
    }
    if (values.size() != indexes.size()) return lost;
    const int s = SweepStatIndex(chunk.names(c));
    if (s < 0) continue;  // a stat this version does not know
    for (size_t k = 0; k < values.size(); ++k) (*out)[first + k].stats[s] = values[k];
  }
  for (const auto& e : chunk.errors()) {
    if (e.position() < 0 || static_cast<size_t>(e.position()) >= indexes.size()) return lost;
    (*out)[first + e.position()].error = e.message();
  }
  return absl::OkStatus();
}

}  // namespace backtest::jobs
