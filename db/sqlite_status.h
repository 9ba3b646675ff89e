// Maps SQLite errors to absl::Status at the db layer's edge, so no SQLite exception leaves db/.
#ifndef BACKTEST_DB_SQLITE_STATUS_H_
#define BACKTEST_DB_SQLITE_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Exception;
}

namespace backtest::db {

// busy/locked → Unavailable; unique/primary-key constraint → AlreadyExists; other constraints →
// FailedPrecondition; disk full → ResourceExhausted; read-only / cannot open → Unavailable;
// anything else → Internal. The message starts with `context`.
absl::Status StatusFromSqlite(const SQLite::Exception& e, absl::string_view context);

// The same mapping from a raw SQLite result code and message.
absl::Status StatusFromSqliteCode(int extended_code, absl::string_view message,
                                  absl::string_view context);

}  // namespace backtest::db

#endif  // BACKTEST_DB_SQLITE_STATUS_H_
