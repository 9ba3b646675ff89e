#include "server/engine/data/column.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace backtest::engine::column_internal {
namespace {

struct Offer {
  void* data = nullptr;
  size_t bytes = 0;
};
thread_local Offer offer;

struct Mapping {
  void* data;
  size_t mapped;
};
std::mutex mappings_mu;
std::vector<Mapping>* mappings = nullptr;  // under mappings_mu; never freed (used at exit)
std::atomic<int> adopted{0};

}  // namespace

void OfferMapping(void* data, size_t bytes) noexcept { offer = {data, bytes}; }

void* TakeMapping(size_t bytes) noexcept {
  if (offer.data == nullptr) return nullptr;
  void* data = offer.bytes == bytes ? offer.data : nullptr;
  offer = {};
  return data;
}

void RegisterMapping(void* data, size_t mapped) {
  std::lock_guard lock(mappings_mu);
  if (mappings == nullptr) mappings = new std::vector<Mapping>();
  mappings->push_back({data, mapped});
  adopted.fetch_add(1, std::memory_order_release);
}

bool ReleaseMapping(void* data) noexcept {
  if (adopted.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard lock(mappings_mu);
  auto it = std::find_if(mappings->begin(), mappings->end(),
                         [data](const Mapping& m) { return m.data == data; });
  if (it == mappings->end()) return false;
  ::munmap(it->data, it->mapped);
  mappings->erase(it);
  adopted.fetch_sub(1, std::memory_order_release);
  return true;
}

}  // namespace backtest::engine::column_internal
