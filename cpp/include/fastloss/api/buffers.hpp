// fastloss/api/buffers.hpp -- the output-buffer cache (compiled once, cpp/src).
//
// A training loop that asks for a fresh gradient on every step drops the
// previous one each time; the operating system then unmaps a large buffer
// and maps (and zero-fills, page fault by page fault) a new one of the same
// size. The cache keeps a few recently freed large buffers and hands them
// back to a request of (nearly) their size, so such a loop pays the page
// faults once. It is bounded (a byte limit and a count), plain C++ (no
// Python: the binding wraps it in a NumPy allocation handler), thread-safe,
// and a limit of 0 turns it off.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fastloss {
namespace buffers {

struct Stats {
  std::size_t limit;           // bytes the cache may hold (0: off)
  std::size_t cached_bytes;    // held now, free for reuse
  std::size_t cached_buffers;
  std::size_t live_buffers;    // handed out and not yet released
  std::uint64_t hits;          // requests served from the cache
  std::uint64_t misses;        // requests that allocated
};

// Buffers smaller than this are never cached (malloc reuses them cheaply).
constexpr std::size_t kMinCached = std::size_t(1) << 20;
// At most this many buffers are held.
constexpr std::size_t kMaxCachedBuffers = 16;

void* allocate(std::size_t bytes);                    // nullptr if out of memory
void* allocate_zeroed(std::size_t count, std::size_t size);
void* reallocate(void* p, std::size_t bytes);         // p == nullptr: allocate
void release(void* p);                                // p from allocate (or nullptr)

std::size_t default_limit();      // min(1 GiB, physical memory / 16)
std::size_t parse_limit(const char* text);  // "0", "512M", "2G", bytes; throws invalid_argument
void init_from_environment();     // FASTLOSS_BUFFER_CACHE, if set (at import); throws if malformed
void set_limit(std::size_t bytes);  // frees what no longer fits
Stats stats();

}  // namespace buffers
}  // namespace fastloss
