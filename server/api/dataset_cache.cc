#include "server/api/dataset_cache.h"

#include "absl/strings/str_cat.h"
#include "server/jobs/delta_column.h"

namespace backtest::api {

absl::StatusOr<DatasetCache::Dataset> DatasetCache::Get(
    const std::string& hash, const std::function<absl::StatusOr<db::DatasetRecord>()>& load) {
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(hash);
    if (it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.age);
      return it->second.dataset;
    }
  }
  auto record = load();
  if (!record.ok()) return record.status();
  auto dataset = std::make_shared<DecodedDataset>();
  backtest::runner::v1::CandleColumns* candles = &dataset->candles;
  const int n = static_cast<int>(record->bars);
  if (record->hash != hash || record->format != db::kDatasetFormatColumns ||
      !candles->ParseFromString(record->data) || !jobs::ExpandCandleColumns(candles) ||
      candles->time_size() != n || candles->open_size() != n || candles->high_size() != n ||
      candles->low_size() != n || candles->close_size() != n || candles->volume_size() != n) {
    return absl::DataLossError(absl::StrCat("dataset ", record->id, " (", record->symbol,
                                            ") cannot be read"));
  }
  size_t bytes = static_cast<size_t>(n) * 6 * sizeof(double);
  if (keep_decimals_) {
    dataset->decimals = CandleDecimals::Of(*candles);
    bytes += dataset->decimals->bytes();
  }
  std::lock_guard lock(mu_);
  if (entries_.count(hash) == 0 && bytes <= max_bytes_) {
    while (bytes_ + bytes > max_bytes_ && !lru_.empty()) {
      auto last = entries_.find(lru_.back());
      bytes_ -= last->second.bytes;
      entries_.erase(last);
      lru_.pop_back();
    }
    lru_.push_front(hash);
    entries_[hash] = Entry{dataset, bytes, lru_.begin()};
    bytes_ += bytes;
  }
  return Dataset(std::move(dataset));
}

}  // namespace backtest::api
