// A pool of store bundles for gRPC handlers: each bundle is one database connection with the
// stores prepared on it (so prepared statements are compiled once, not per call).
//
// Thread-safe. Acquire never blocks: it takes an idle bundle or opens a new one, and at most
// `max_idle` bundles are kept when returned (the others are closed).
#ifndef BACKTEST_SERVER_API_STORE_POOL_H_
#define BACKTEST_SERVER_API_STORE_POOL_H_

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"

namespace backtest::api {

template <typename Bundle>
class StorePool {
 public:
  using Opener = std::function<absl::StatusOr<std::unique_ptr<Bundle>>()>;

  StorePool(Opener open, size_t max_idle) : open_(std::move(open)), max_idle_(max_idle) {}
  StorePool(const StorePool&) = delete;
  StorePool& operator=(const StorePool&) = delete;

  // A bundle for one call; back to the pool when destroyed.
  class Lease {
   public:
    Lease(StorePool* pool, std::unique_ptr<Bundle> bundle)
        : pool_(pool), bundle_(std::move(bundle)) {}
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = default;
    ~Lease() {
      if (bundle_ != nullptr) pool_->Release(std::move(bundle_));
    }
    Bundle* operator->() { return bundle_.get(); }
    Bundle& operator*() { return *bundle_; }

   private:
    StorePool* pool_;
    std::unique_ptr<Bundle> bundle_;
  };

  // An idle bundle, or a new one (errors of opening it are returned).
  absl::StatusOr<Lease> Acquire() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<Bundle> bundle = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(bundle));
      }
    }
    auto bundle = open_();
    if (!bundle.ok()) return bundle.status();
    return Lease(this, *std::move(bundle));
  }

 private:
  void Release(std::unique_ptr<Bundle> bundle) {
    std::lock_guard lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(bundle));
  }

  Opener open_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Bundle>> idle_;
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_STORE_POOL_H_
