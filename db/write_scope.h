// A group of writes that is applied whole or not at all, and that joins the connection's open
// transaction when there is one: a store's own transaction when called alone, a savepoint of the
// caller's when the caller writes several stores' rows in one commit (a job's result and its run
// facts). Header-only.
#ifndef BACKTEST_DB_WRITE_SCOPE_H_
#define BACKTEST_DB_WRITE_SCOPE_H_

#include <sqlite3.h>

#include "SQLiteCpp/Database.h"
#include "SQLiteCpp/Exception.h"

namespace backtest::db {

class WriteScope {
 public:
  // BEGIN IMMEDIATE (the write lock taken at once, so a later write cannot meet SQLITE_BUSY half
  // way), or a savepoint inside the open transaction. Throws SQLite::Exception when it cannot.
  explicit WriteScope(SQLite::Database& db)
      : db_(db), nested_(sqlite3_get_autocommit(db.getHandle()) == 0) {
    db_.exec(nested_ ? "SAVEPOINT write_scope" : "BEGIN IMMEDIATE");
  }
  // Not committed: everything since the scope began is undone (the enclosing transaction's
  // earlier writes stay).
  ~WriteScope() {
    if (done_) return;
    try {
      db_.exec(nested_ ? "ROLLBACK TO write_scope; RELEASE write_scope" : "ROLLBACK");
    } catch (const SQLite::Exception&) {
      // Never throw from a destructor; a failed rollback leaves SQLite's own recovery.
    }
  }
  WriteScope(const WriteScope&) = delete;
  WriteScope& operator=(const WriteScope&) = delete;

  // COMMIT, or the savepoint's RELEASE (its writes then commit with the enclosing transaction).
  void Commit() {
    db_.exec(nested_ ? "RELEASE write_scope" : "COMMIT");
    done_ = true;
  }

 private:
  SQLite::Database& db_;
  const bool nested_;
  bool done_ = false;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_WRITE_SCOPE_H_
