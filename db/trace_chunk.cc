#include "db/trace_chunk.h"

#include "db/varint.h"

namespace backtest::db {
namespace {

constexpr char kVersion = 1;

void PutString(std::string* out, absl::string_view s) {
  PutVarint(out, s.size());
  out->append(s.data(), s.size());
}

}  // namespace

TraceRowRecord TraceRowView::ToRecord() const {
  return TraceRowRecord{seq,
                        bar_index,
                        ts,
                        std::string(symbol),
                        std::string(section),
                        std::string(kind),
                        std::string(payload_json)};
}

std::string EncodeTraceChunk(std::span<const TraceRowRecord> rows) {
  size_t bytes = 16;
  for (const TraceRowRecord& r : rows) {
    bytes += 24 + r.symbol.size() + r.section.size() + r.kind.size() + r.payload_json.size();
  }
  std::string out;
  out.reserve(bytes);
  out.push_back(kVersion);
  PutVarint(&out, rows.size());
  int64_t seq = 0, bar = 0, ts = 0;
  for (const TraceRowRecord& r : rows) {
    // Deltas wrap instead of overflowing; the reader wraps back.
    PutVarint(&out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(r.seq) -
                                                static_cast<uint64_t>(seq))));
    PutVarint(&out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(r.bar_index) -
                                                static_cast<uint64_t>(bar))));
    PutVarint(&out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(r.ts) -
                                                static_cast<uint64_t>(ts))));
    PutString(&out, r.symbol);
    PutString(&out, r.section);
    PutString(&out, r.kind);
    PutString(&out, r.payload_json);
    seq = r.seq;
    bar = r.bar_index;
    ts = r.ts;
  }
  return out;
}

TraceChunkReader::TraceChunkReader(absl::string_view data) : data_(data) {
  uint64_t n = 0;
  if (data_.empty() || data_[0] != kVersion) {
    ok_ = false;
    return;
  }
  pos_ = 1;
  if (!ReadVarint(&n) || n > data_.size()) {
    ok_ = false;
    return;
  }
  size_ = static_cast<int64_t>(n);
}

bool TraceChunkReader::ReadVarint(uint64_t* value) {
  absl::string_view rest = data_.substr(pos_);
  if (!GetVarint(&rest, value)) return false;
  pos_ = data_.size() - rest.size();
  return true;
}

bool TraceChunkReader::ReadString(absl::string_view* value) {
  uint64_t length = 0;
  if (!ReadVarint(&length) || length > data_.size() - pos_) return false;
  *value = data_.substr(pos_, length);
  pos_ += length;
  return true;
}

bool TraceChunkReader::Next(TraceRowView* row) {
  if (!ok_ || read_ >= size_) return false;
  uint64_t dseq = 0, dbar = 0, dts = 0;
  TraceRowView r;
  if (!ReadVarint(&dseq) || !ReadVarint(&dbar) || !ReadVarint(&dts) || !ReadString(&r.symbol) ||
      !ReadString(&r.section) || !ReadString(&r.kind) || !ReadString(&r.payload_json)) {
    ok_ = false;
    return false;
  }
  r.seq = static_cast<int64_t>(static_cast<uint64_t>(prev_.seq) +
                               static_cast<uint64_t>(UnZigZag(dseq)));
  r.bar_index = static_cast<int64_t>(static_cast<uint64_t>(prev_.bar_index) +
                                     static_cast<uint64_t>(UnZigZag(dbar)));
  r.ts = static_cast<int64_t>(static_cast<uint64_t>(prev_.ts) +
                              static_cast<uint64_t>(UnZigZag(dts)));
  prev_ = r;
  *row = r;
  ++read_;
  return true;
}

}  // namespace backtest::db
