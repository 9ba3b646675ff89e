// Versioned schema migrations, applied in order at start. The schema version is SQLite's
// `user_version`; migration N takes a database from version N-1 to N.
//
// Thread-safe: immutable static data.
#ifndef BACKTEST_DB_MIGRATIONS_H_
#define BACKTEST_DB_MIGRATIONS_H_

#include <span>

namespace backtest::db {

struct Migration {
  int version;      // the user_version after this migration
  const char* name;  // short description
  const char* sql;  // one or more statements, run in one transaction
};

// All migrations, in version order (versions 1, 2, … without gaps).
std::span<const Migration> Migrations();

// The schema version this build writes and understands.
int LatestSchemaVersion();

}  // namespace backtest::db

#endif  // BACKTEST_DB_MIGRATIONS_H_
