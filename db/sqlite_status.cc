#include "db/sqlite_status.h"

#include <sqlite3.h>

#include "SQLiteCpp/Exception.h"
#include "absl/strings/str_cat.h"

namespace backtest::db {

absl::Status StatusFromSqliteCode(int extended_code, absl::string_view message,
                                  absl::string_view context) {
  std::string text = absl::StrCat(context, ": ", message);
  switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(text);
    case SQLITE_CONSTRAINT:
      if (extended_code == SQLITE_CONSTRAINT_UNIQUE ||
          extended_code == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(text);
      }
      return absl::FailedPreconditionError(text);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(absl::StrCat(text, " (disk full)"));
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::UnavailableError(text);
    default:
      return absl::InternalError(text);
  }
}

absl::Status StatusFromSqlite(const SQLite::Exception& e, absl::string_view context) {
  int code = e.getExtendedErrorCode();
  if (code < 0) code = SQLITE_ERROR;
  return StatusFromSqliteCode(code, e.what(), context);
}

}  // namespace backtest::db
