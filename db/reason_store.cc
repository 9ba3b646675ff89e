#include "db/reason_store.h"

#include <nlohmann/json.hpp>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"
#include "db/write_scope.h"

namespace backtest::db {
namespace {

std::string EncodeSamples(const std::vector<ReasonSampleRecord>& samples) {
  nlohmann::json list = nlohmann::json::array();
  for (const ReasonSampleRecord& s : samples) {
    list.push_back({{"symbol", s.symbol}, {"bar_index", s.bar_index}, {"ts", s.ts}});
  }
  return list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Tolerant: a sample that is a bare bar index is read as one; anything unreadable is skipped.
std::vector<ReasonSampleRecord> DecodeSamples(const std::string& json) {
  std::vector<ReasonSampleRecord> samples;
  nlohmann::json list = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!list.is_array()) return samples;
  for (const nlohmann::json& item : list) {
    ReasonSampleRecord s;
    if (item.is_number_integer()) {
      s.bar_index = item.get<int64_t>();
    } else if (item.is_object()) {
      if (auto it = item.find("symbol"); it != item.end() && it->is_string()) {
        s.symbol = it->get<std::string>();
      }
      if (auto it = item.find("bar_index"); it != item.end() && it->is_number_integer()) {
        s.bar_index = it->get<int64_t>();
      }
      if (auto it = item.find("ts"); it != item.end() && it->is_number_integer()) {
        s.ts = it->get<int64_t>();
      }
    } else {
      continue;
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace

ReasonStore::ReasonStore(Database* db) : db_(db) {}
ReasonStore::~ReasonStore() = default;

absl::StatusOr<std::unique_ptr<ReasonStore>> ReasonStore::Create(Database* db) {
  std::unique_ptr<ReasonStore> store(new ReasonStore(db));
  SQLite::Database& conn = db->connection();
  try {
    store->delete_ =
        std::make_unique<SQLite::Statement>(conn, "DELETE FROM run_reasons WHERE job_id = ?1");
    store->insert_ = std::make_unique<SQLite::Statement>(
        conn, "INSERT INTO run_reasons(job_id, position, reason, count, sample_bars_json, "
              "description) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    store->list_ = std::make_unique<SQLite::Statement>(
        conn, "SELECT reason, count, sample_bars_json, description FROM run_reasons "
              "WHERE job_id = ?1 ORDER BY position");
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot prepare reason statements");
  }
  return store;
}

absl::Status ReasonStore::Save(absl::string_view job_id, std::span<const ReasonRecord> reasons) {
  try {
    WriteScope tx(db_->connection());
    {
      StatementScope del(*delete_);
      BindText(*del, 1, job_id);
      del->exec();
    }
    int64_t position = 0;
    for (const ReasonRecord& r : reasons) {
      std::string samples = EncodeSamples(r.samples);
      StatementScope ins(*insert_);
      BindText(*ins, 1, job_id);
      ins->bind(2, static_cast<int64_t>(position++));
      BindText(*ins, 3, r.reason);
      ins->bind(4, static_cast<int64_t>(r.count));
      BindText(*ins, 5, samples);
      BindText(*ins, 6, r.description);
      ins->exec();
    }
    tx.Commit();
    return absl::OkStatus();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot save run reasons");
  }
}

absl::StatusOr<std::vector<ReasonRecord>> ReasonStore::List(absl::string_view job_id) {
  try {
    StatementScope stmt(*list_);
    BindText(*stmt, 1, job_id);
    std::vector<ReasonRecord> reasons;
    while (stmt->executeStep()) {
      ReasonRecord& r = reasons.emplace_back();
      r.reason = stmt->getColumn(0).getString();
      r.count = stmt->getColumn(1).getInt64();
      r.samples = DecodeSamples(stmt->getColumn(2).getString());
      r.description = stmt->getColumn(3).getString();
    }
    return reasons;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot list run reasons");
  }
}

}  // namespace backtest::db
