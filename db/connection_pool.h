// A bounded pool of open connections to one database, for threads that need a connection briefly
// (gRPC handlers). Thread-safe. Acquire blocks while every connection is leased.
#ifndef BACKTEST_DB_CONNECTION_POOL_H_
#define BACKTEST_DB_CONNECTION_POOL_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/database.h"

namespace backtest::db {

class ConnectionPool {
 public:
  // Opens `size` connections (the database must already be migrated).
  static absl::StatusOr<std::unique_ptr<ConnectionPool>> Open(const std::string& path, int size);

  // A leased connection; returns it to the pool when destroyed.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Database> db) : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    ~Lease();
    Database& operator*() { return *db_; }
    Database* operator->() { return db_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Database> db_;
  };

  Lease Acquire();

 private:
  void Release(std::unique_ptr<Database> db);

  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Database>> idle_;
};

}  // namespace backtest::db

#endif  // BACKTEST_DB_CONNECTION_POOL_H_
