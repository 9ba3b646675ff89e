#include "db/preset_store.h"

#include <nlohmann/json.hpp>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "SQLiteCpp/Transaction.h"
#include "absl/strings/str_cat.h"
#include "db/database.h"
#include "db/sqlite_status.h"
#include "db/statement_scope.h"

namespace backtest::db {

std::string EncodePresetValues(const std::map<std::string, std::string>& values) {
  // nlohmann's object is a std::map: keys come out sorted.
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : values) object[name] = value;
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::map<std::string, std::string>> DecodePresetValues(absl::string_view json) {
  nlohmann::json object = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                                /*allow_exceptions=*/false);
  if (!object.is_object()) return absl::InternalError("preset values are not a JSON object");
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : object.items()) {
    if (!value.is_string()) {
      return absl::InternalError(absl::StrCat("preset value of ", name, " is not a string"));
    }
    values.emplace(name, value.get<std::string>());
  }
  return values;
}

PresetStore::PresetStore(Database* db) : db_(db) {}
PresetStore::~PresetStore() = default;

absl::StatusOr<std::unique_ptr<PresetStore>> PresetStore::Create(Database* db) {
  std::unique_ptr<PresetStore> store(new PresetStore(db));
  SQLite::Database& conn = db->connection();
  try {
    store->list_ = std::make_unique<SQLite::Statement>(
        conn, "SELECT name FROM presets WHERE owner_id = ?1 ORDER BY name");
    store->get_ = std::make_unique<SQLite::Statement>(
        conn,
        "SELECT name, values_json, updated_ms FROM presets WHERE owner_id = ?1 AND name = ?2");
    store->exists_ = std::make_unique<SQLite::Statement>(
        conn, "SELECT 1 FROM presets WHERE owner_id = ?1 AND name = ?2");
    store->upsert_ = std::make_unique<SQLite::Statement>(
        conn, "INSERT INTO presets(owner_id, name, values_json, updated_ms) VALUES(?1, ?2, ?3, ?4) "
              "ON CONFLICT(owner_id, name) DO UPDATE SET values_json = excluded.values_json, "
              "updated_ms = excluded.updated_ms");
    store->delete_ = std::make_unique<SQLite::Statement>(
        conn, "DELETE FROM presets WHERE owner_id = ?1 AND name = ?2");
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot prepare preset statements");
  }
  return store;
}

absl::StatusOr<std::vector<std::string>> PresetStore::ListNames(int64_t owner_id) {
  try {
    StatementScope stmt(*list_);
    stmt->bind(1, static_cast<int64_t>(owner_id));
    std::vector<std::string> names;
    while (stmt->executeStep()) names.push_back(stmt->getColumn(0).getString());
    return names;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot list presets");
  }
}

absl::StatusOr<PresetRecord> PresetStore::Get(int64_t owner_id, absl::string_view name) {
  try {
    StatementScope stmt(*get_);
    stmt->bind(1, static_cast<int64_t>(owner_id));
    BindText(*stmt, 2, name);
    if (!stmt->executeStep()) {
      return absl::NotFoundError(absl::StrCat("no preset named \"", name, "\""));
    }
    PresetRecord record;
    record.name = stmt->getColumn(0).getString();
    auto values = DecodePresetValues(stmt->getColumn(1).getString());
    if (!values.ok()) return values.status();
    record.values = *std::move(values);
    record.updated_ms = stmt->getColumn(2).getInt64();
    return record;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot read preset");
  }
}

absl::StatusOr<bool> PresetStore::Upsert(int64_t owner_id, absl::string_view name,
                                         const std::map<std::string, std::string>& values) {
  std::string json = EncodePresetValues(values);
  try {
    SQLite::Transaction tx(db_->connection(), SQLite::TransactionBehavior::IMMEDIATE);
    bool existed = false;
    {
      StatementScope exists(*exists_);
      exists->bind(1, static_cast<int64_t>(owner_id));
      BindText(*exists, 2, name);
      existed = exists->executeStep();
    }
    {
      StatementScope upsert(*upsert_);
      upsert->bind(1, static_cast<int64_t>(owner_id));
      BindText(*upsert, 2, name);
      BindText(*upsert, 3, json);
      upsert->bind(4, static_cast<int64_t>(NowMs()));
      upsert->exec();
    }
    tx.commit();
    return !existed;
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot save preset");
  }
}

absl::Status PresetStore::Delete(int64_t owner_id, absl::string_view name) {
  try {
    StatementScope stmt(*delete_);
    stmt->bind(1, static_cast<int64_t>(owner_id));
    BindText(*stmt, 2, name);
    if (stmt->exec() == 0) {
      return absl::NotFoundError(absl::StrCat("no preset named \"", name, "\""));
    }
    return absl::OkStatus();
  } catch (const SQLite::Exception& e) {
    return StatusFromSqlite(e, "cannot delete preset");
  }
}

}  // namespace backtest::db
