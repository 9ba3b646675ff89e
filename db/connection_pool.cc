#include "db/connection_pool.h"

namespace backtest::db {

absl::StatusOr<std::unique_ptr<ConnectionPool>> ConnectionPool::Open(const std::string& path,
                                                                     int size) {
  auto pool = std::make_unique<ConnectionPool>();
  DatabaseOptions options;
  options.migrate = false;
  for (int i = 0; i < size; ++i) {
    auto db = Database::Open(path, options);
    if (!db.ok()) return db.status();
    pool->idle_.push_back(*std::move(db));
  }
  return pool;
}

ConnectionPool::Lease::~Lease() {
  if (db_ != nullptr) pool_->Release(std::move(db_));
}

ConnectionPool::Lease ConnectionPool::Acquire() {
  std::unique_lock lock(mu_);
  available_.wait(lock, [&] { return !idle_.empty(); });
  std::unique_ptr<Database> db = std::move(idle_.back());
  idle_.pop_back();
  return Lease(this, std::move(db));
}

void ConnectionPool::Release(std::unique_ptr<Database> db) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(db));
  }
  available_.notify_one();
}

}  // namespace backtest::db
