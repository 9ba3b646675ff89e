// Named parameter presets, per owner. Values are stored as one canonical JSON object (keys sorted,
// values as text) so equal presets are byte-equal.
//
// Owned by whoever opened the Database it uses; not thread-safe (one PresetStore per connection).
// The store checks nothing about names or values beyond what SQL needs: validation is the API's.
#ifndef BACKTEST_DB_PRESET_STORE_H_
#define BACKTEST_DB_PRESET_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Statement;
}

namespace backtest::db {

class Database;

struct PresetRecord {
  std::string name;
  // Parameter name → canonical text value.
  std::map<std::string, std::string> values;
  int64_t updated_ms = 0;
};

// The canonical JSON text of a preset's values: {"name":"text",…}, keys sorted.
std::string EncodePresetValues(const std::map<std::string, std::string>& values);
// The inverse; Internal when `json` is not an object of strings (a corrupted row).
absl::StatusOr<std::map<std::string, std::string>> DecodePresetValues(absl::string_view json);

class PresetStore {
 public:
  static absl::StatusOr<std::unique_ptr<PresetStore>> Create(Database* db);

  ~PresetStore();
  PresetStore(const PresetStore&) = delete;
  PresetStore& operator=(const PresetStore&) = delete;

  // The owner's preset names, sorted (binary order).
  absl::StatusOr<std::vector<std::string>> ListNames(int64_t owner_id);

  // One preset. NotFound when the owner has none of that name.
  absl::StatusOr<PresetRecord> Get(int64_t owner_id, absl::string_view name);

  // Creates or replaces a preset, stamped now. Returns true when it did not exist before.
  // FailedPrecondition when the owner does not exist.
  absl::StatusOr<bool> Upsert(int64_t owner_id, absl::string_view name,
                              const std::map<std::string, std::string>& values);

  // NotFound when the owner has none of that name.
  absl::Status Delete(int64_t owner_id, absl::string_view name);

 private:
  explicit PresetStore(Database* db);

  Database* db_;
  std::unique_ptr<SQLite::Statement> list_;
  std::unique_ptr<SQLite::Statement> get_;
  std::unique_ptr<SQLite::Statement> exists_;
  std::unique_ptr<SQLite::Statement> upsert_;
  std::unique_ptr<SQLite::Statement> delete_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_PRESET_STORE_H_
