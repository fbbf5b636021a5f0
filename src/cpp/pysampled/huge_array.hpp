// A fixed-size array for large lookup tables that are read at random
// (alias tables): 2 MiB aligned and, on Linux, marked for transparent huge
// pages, which removes most TLB misses when the table is far larger than the
// caches.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pysampled {

template <class T>
class HugeArray {
  static_assert(std::is_trivially_copyable<T>::value, "HugeArray holds plain data");

 public:
  HugeArray() = default;
  explicit HugeArray(size_t n) { allocate(n); }
  HugeArray(const HugeArray& o) {
    allocate(o.size_);
    if (size_) std::memcpy(data_, o.data_, size_ * sizeof(T));
  }
  HugeArray(HugeArray&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  HugeArray& operator=(HugeArray o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~HugeArray() { std::free(data_); }

  size_t size() const { return size_; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  void allocate(size_t n) {
    size_ = n;
    if (n == 0) return;
    constexpr size_t kHuge = size_t{2} << 20;
    const size_t bytes = n * sizeof(T);
    const size_t align = bytes >= 2 * kHuge ? kHuge : 64;
    const size_t rounded = (bytes + align - 1) / align * align;
    void* p = nullptr;
    if (posix_memalign(&p, align, rounded) != 0) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHuge) madvise(p, rounded, MADV_HUGEPAGE);  // advisory; failure is harmless
#endif
    data_ = static_cast<T*>(p);
  }

  T* data_ = nullptr;
  size_t size_ = 0;
};

// A std::vector allocator whose blocks start on 64-byte boundaries, so rows of
// a multiple of 16 floats never straddle cache lines.
template <class T>
struct CacheAlignedAllocator {
  using value_type = T;
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    void* p = nullptr;
    const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    if (posix_memalign(&p, 64, bytes == 0 ? 64 : bytes) != 0) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) noexcept { std::free(p); }
  template <class U>
  bool operator==(const CacheAlignedAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CacheAlignedAllocator<U>&) const noexcept { return false; }
};

template <class T>
using AlignedVector = std::vector<T, CacheAlignedAllocator<T>>;

}  // namespace pysampled
