// The storage of a bar series' columns, and of the other large arrays a run fills once (trades,
// markers): std::vector with ColumnAllocator, which differs from std::allocator in two ways that
// matter for filling millions of rows:
// - an array of kHugeColumnBytes or more lives on huge pages (util/huge_pages.h): a 1M-row column
//   is 4 page faults instead of 2,000 (in this VM a 4 KiB fault costs ~2 µs, a 2 MiB one 60-150);
// - resize(n) leaves new elements of a trivial type unwritten (default-initialization, as
//   `new double[n]` does), so a reader can size a column once and let threads write disjoint
//   parts of it: the pages are touched by the thread that writes them, not by a serial zero-fill.
//   (Class types are default-constructed: `emplace_back()` of a struct leaves a member without an
//   initializer unwritten, so the structs kept in Columns — Trade, Marker — give every member one.)
// Everything else is a std::vector: resize(n, value), assign and push_back write what they say.
//
// A column can also be given memory that a file mapping holds (AdoptMapping): the bar cache reads
// its entries in place this way, the kernel mapping page-cache pages instead of the reader
// copying them into fresh ones (~2 µs a page in this VM). Such a column is read-only.
#ifndef BACKTEST_SERVER_ENGINE_DATA_COLUMN_H_
#define BACKTEST_SERVER_ENGINE_DATA_COLUMN_H_

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "server/engine/util/huge_pages.h"

namespace backtest::engine {

// Arrays from this size on are mapped on huge pages. Not smaller ones: a huge page is zeroed whole
// (a 100k-row column of 800 KB would cost 2 MB), and right after a large process has exited (as
// the engine CLI runs after backtrader in bench/compare_backtrader) a huge page fault may wait for
// the kernel to compact memory: with 512 KB here that run's 100k-bar load took 17 ms, not 9.
inline constexpr size_t kHugeColumnBytes = size_t{4} << 20;

namespace column_internal {

// The next allocation of exactly `bytes` on this thread returns `data` (AdoptMapping).
void OfferMapping(void* data, size_t bytes) noexcept;
// The offered mapping when it is of `bytes`, else nullptr (the offer is withdrawn either way).
void* TakeMapping(size_t bytes) noexcept;
// Unmaps `data` when it is an adopted mapping; false otherwise. Cheap while none is adopted.
bool ReleaseMapping(void* data) noexcept;
// Records that `data` is a mapping of `mapped` bytes that ReleaseMapping unmaps.
void RegisterMapping(void* data, size_t mapped);

}  // namespace column_internal

template <typename T>
class ColumnAllocator {
 public:
  using value_type = T;

  ColumnAllocator() = default;
  template <typename U>
  ColumnAllocator(const ColumnAllocator<U>&) noexcept {}  // NOLINT: converting, as allocators are

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (void* p = column_internal::TakeMapping(bytes)) return static_cast<T*>(p);
    if (bytes >= kHugeColumnBytes) {
      if (void* p = MapHugePages(bytes)) return static_cast<T*>(p);
      throw std::bad_alloc();
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (column_internal::ReleaseMapping(p)) return;
    if (n * sizeof(T) >= kHugeColumnBytes) {
      UnmapHugePages(p, n * sizeof(T));
    } else {
      std::allocator<T>().deallocate(p, n);
    }
  }

  // Value-initialization (resize(n), the vector(n) constructor) leaves the element unwritten.
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  template <typename U>
  bool operator==(const ColumnAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using Column = std::vector<T, ColumnAllocator<T>>;

// Makes the n elements at `data` the contents of `column` (which must be empty and hold no
// memory): `data` is the start of a mapping of `mapped` bytes (mmap, read-only), which the column
// unmaps when it lets its memory go. From then on the column must not be written; a copy of it
// has memory of its own. Trivial types only.
template <typename T>
void AdoptMapping(Column<T>& column, void* data, size_t mapped, size_t n) {
  static_assert(std::is_trivially_copyable_v<T>);
  column_internal::RegisterMapping(data, mapped);
  column_internal::OfferMapping(data, n * sizeof(T));
  column.reserve(n);  // takes `data`
  column.resize(n);   // writes nothing (construct leaves trivial elements unwritten)
}

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_COLUMN_H_
