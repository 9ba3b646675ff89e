// The binary encoding of a chunk of consecutive trace rows, as stored in trace_chunks.data.
//
// Why chunks: SQLite inserts one row into three b-trees (table, bar index, time index) at about
// 150k rows/s on the target machine; one blob per batch of rows takes the trace to millions of
// rows/s, and a bar lookup decodes one or two chunks of ≤ 1024 rows.
//
// Format (version 1): a version byte (1), the row count (varint), then per row: seq, bar_index and
// ts as zigzag varint deltas from the previous row (from 0), then symbol, section, kind and
// payload, each a varint length and its bytes.
//
// Thread-safe: pure functions; a reader reads memory it does not own.
#ifndef BACKTEST_DB_TRACE_CHUNK_H_
#define BACKTEST_DB_TRACE_CHUNK_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/strings/string_view.h"
#include "db/trace_store.h"

namespace backtest::db {

// A decoded row pointing into the chunk's bytes (valid while they are).
struct TraceRowView {
  int64_t seq = 0;
  int64_t bar_index = 0;
  int64_t ts = 0;
  absl::string_view symbol;
  absl::string_view section;
  absl::string_view kind;
  absl::string_view payload_json;

  TraceRowRecord ToRecord() const;
};

// Encodes `rows` (any number, in order) as one chunk.
std::string EncodeTraceChunk(std::span<const TraceRowRecord> rows);

// Reads a chunk row by row.
class TraceChunkReader {
 public:
  explicit TraceChunkReader(absl::string_view data);

  // The next row; false at the end or when the data is malformed (then ok() is false).
  bool Next(TraceRowView* row);
  bool ok() const { return ok_; }
  // Rows the header announces.
  int64_t size() const { return size_; }

 private:
  bool ReadVarint(uint64_t* value);
  bool ReadString(absl::string_view* value);

  absl::string_view data_;
  size_t pos_ = 0;
  int64_t size_ = 0;
  int64_t read_ = 0;
  bool ok_ = true;
  TraceRowView prev_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_TRACE_CHUNK_H_
