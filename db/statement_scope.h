// Helpers for the prepared statements the stores keep as members: a scope that resets a statement
// and clears its bindings when it ends (also when a SQLite exception unwinds), and the current
// time.
// Header-only; used inside db/ only.
#ifndef BACKTEST_DB_STATEMENT_SCOPE_H_
#define BACKTEST_DB_STATEMENT_SCOPE_H_

#include <cstdint>
#include <string>

#include "SQLiteCpp/Exception.h"
#include "SQLiteCpp/Statement.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace backtest::db {

// Binds `stmt` for one use and leaves it reset and unbound afterwards, so a kept statement never
// holds a read transaction open or a pointer to a string that is gone.
class StatementScope {
 public:
  explicit StatementScope(SQLite::Statement& stmt) : stmt_(stmt) {}
  ~StatementScope() {
    // The error of the last step, if any, was already thrown by the step itself.
    stmt_.tryReset();
    try {
      stmt_.clearBindings();
    } catch (const SQLite::Exception&) {
      // sqlite3_clear_bindings cannot fail; never throw from a destructor.
    }
  }
  StatementScope(const StatementScope&) = delete;
  StatementScope& operator=(const StatementScope&) = delete;

  SQLite::Statement* operator->() { return &stmt_; }
  SQLite::Statement& operator*() { return stmt_; }

 private:
  SQLite::Statement& stmt_;
};

// Binds text (copied: SQLiteCpp binds without copying only NUL-terminated or std::string text).
inline void BindText(SQLite::Statement& stmt, int index, absl::string_view text) {
  stmt.bind(index, std::string(text));
}

inline int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace backtest::db

#endif  // BACKTEST_DB_STATEMENT_SCOPE_H_
