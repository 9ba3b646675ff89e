// Parsed CSV files kept on disk, so that a run on a file an earlier run has parsed reads its
// columns back instead of parsing the text again (a 100k-bar M1 file: ~5 ms of parsing on two
// threads against ~0.5 ms of reading six columns). docs/jobs.md, "The bar cache".
//
// An entry is one file of the cache directory, named by the CSV's device and inode and holding
// the CSV's identity when it was parsed (device, inode, size, modification and change times to
// the nanosecond), the bars as six raw columns, an XXH3 checksum of those columns and the bars'
// dataset hash. It is used only while the CSV's identity is unchanged: any write to the CSV
// changes its change time (which no program can set back), a replaced file has another inode.
// A CSV changed less than two seconds before it was parsed is not stored: a second write within
// the same timestamp tick could not be told apart from the first.
//
// Entries are written to a temporary name and renamed into place, so concurrent runners never
// read half an entry; a damaged or foreign entry is ignored (and parsed again). Past max_bytes the
// least recently used entries (by modification time, which a hit renews) are removed.
// The cache is only a cache: every failure to read or write it falls back to parsing.
#ifndef BACKTEST_SERVER_ENGINE_DATA_BAR_CACHE_H_
#define BACKTEST_SERVER_ENGINE_DATA_BAR_CACHE_H_

#include <sys/stat.h>
#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>

#include "server/engine/data/bar_series.h"

namespace backtest::engine {

class BarCache {
 public:
  // `dir` is created when missing (its parent must exist). max_bytes <= 0: nothing is stored.
  BarCache(std::string dir, int64_t max_bytes);

  // What a lookup found, and what Store needs to know of the CSV as it was before it was parsed.
  struct Lookup {
    std::optional<BarSeries> bars;  // with BarSeries::dataset_hash set
    struct stat before = {};        // the CSV's fstat at the lookup
    int64_t checked_ns = 0;         // the time of it (CLOCK_REALTIME)
  };

  // The bars of the CSV open as `csv_fd`, when an entry for this very version of the file is
  // there (or was found by Prefetch in this process). Call it before parsing the file; pass what
  // it returns to Store.
  Lookup Find(int csv_fd) const;

  // Finds the entry of the CSV open as `csv_fd` now (mapped, its checksum verified) and keeps it
  // in this process for a later Find of the same version of the file, by any BarCache: what an
  // idle runner does for the data its next job is likely to read. Nothing when there is none.
  // Returns the entry's number of bars (0: none).
  int64_t Prefetch(int csv_fd) const;

  // Stores `bars`, parsed from the CSV open as `csv_fd` after `lookup` (computes their dataset
  // hash). Does nothing when the cache is off, when the file is no longer the version the lookup
  // saw, or when that version was written less than two seconds before the lookup.
  void Store(int csv_fd, const Lookup& lookup, const BarSeries& bars) const;

  // Small values derived from content and named by a hash of what they are derived from (e.g.
  // a result digest's state after a dataset's candles): `key` is 64 hex digits. They live and
  // go with the entries (least recently used first).
  std::optional<std::string> FindNote(const std::string& key) const;
  void StoreNote(const std::string& key, const std::string& value) const;

  const std::string& dir() const { return dir_; }

 private:
  void Evict() const;
  // Writes `bytes` (pieces, in order) to `name` in the directory, by a temporary file renamed
  // into place; false when any step fails (nothing is left behind).
  bool WriteEntry(const std::string& name, const struct iovec* pieces, int count,
                  size_t bytes) const;

  std::string dir_;
  int64_t max_bytes_;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_BAR_CACHE_H_
