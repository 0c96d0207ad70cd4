// The output-buffer cache (see fastloss/api/buffers.hpp).
#include "fastloss/api/buffers.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#define FL_HAVE_POSIX_MEMALIGN 1
#endif

namespace fastloss {
namespace buffers {
namespace {

constexpr std::size_t kHuge = std::size_t(2) << 20;   // a transparent huge page
constexpr std::size_t kPage = std::size_t(4) << 10;
constexpr std::size_t kHugeFrom = 2 * kHuge;  // whole huge pages from here up

// What a request of `bytes` occupies. Large buffers are whole huge pages,
// aligned to one, so the kernel can back them with huge pages (NumPy
// advises huge pages from 4 MiB up; so does this).
std::size_t capacity_for(std::size_t bytes) {
  if (bytes >= kHugeFrom) return (bytes + kHuge - 1) / kHuge * kHuge;
  if (bytes >= kPage) return (bytes + kPage - 1) / kPage * kPage;
  return bytes < 64 ? 64 : (bytes + 63) / 64 * 64;
}

void* system_allocate(std::size_t cap) {
#if defined(FL_HAVE_POSIX_MEMALIGN)
  void* p = nullptr;
  const std::size_t align = cap >= kHugeFrom ? kHuge : 64;
  if (posix_memalign(&p, align, cap) != 0) return nullptr;
#if defined(MADV_HUGEPAGE)
  if (cap >= kHugeFrom) (void)madvise(p, cap, MADV_HUGEPAGE);  // advice: failure is harmless
#endif
  return p;
#else
  return std::malloc(cap);
#endif
}

struct Pool {
  std::mutex mu;
  std::size_t limit = default_limit();
  std::unordered_map<void*, std::size_t> live;  // handed out: capacity
  std::vector<std::pair<void*, std::size_t>> cached;  // most recently freed last
  std::size_t cached_bytes = 0;
  std::uint64_t hits = 0, misses = 0;

  // Drop cached buffers, oldest first, until the cache fits `limit` and
  // the count; returns them for freeing outside the lock.
  std::vector<void*> trim() {
    std::vector<void*> out;
    std::size_t drop = 0;
    while (drop < cached.size() &&
           (cached_bytes > limit || cached.size() - drop > kMaxCachedBuffers)) {
      cached_bytes -= cached[drop].second;
      out.push_back(cached[drop].first);
      ++drop;
    }
    cached.erase(cached.begin(), cached.begin() + static_cast<std::ptrdiff_t>(drop));
    return out;
  }
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: arrays may outlive static destruction
  return *p;
}

void free_all(const std::vector<void*>& ps) {
  for (void* p : ps) std::free(p);
}

}  // namespace

std::size_t default_limit() {
  std::size_t limit = std::size_t(1) << 30;
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) {
    limit = std::min(limit, static_cast<std::size_t>(pages) / 16 * static_cast<std::size_t>(size));
  }
#endif
  return limit;
}

std::size_t parse_limit(const char* text) {
  const std::string s(text);
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  std::size_t shift = 0;
  bool ok = i > 0 && i <= 19;
  if (ok && i < s.size()) {
    const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
    shift = u == 'K' ? 10 : u == 'M' ? 20 : u == 'G' ? 30 : 0;
    const std::string rest = s.substr(i + 1);
    ok = shift != 0 && (rest.empty() || rest == "B" || rest == "b" || rest == "iB");
  }
  if (!ok) {
    throw std::invalid_argument("FASTLOSS_BUFFER_CACHE=" + s +
                                ": expected a byte count such as 0, 268435456, 512M or 2G");
  }
  const unsigned long long v = std::stoull(s.substr(0, i));
  if (shift && v > (std::numeric_limits<std::size_t>::max() >> shift)) {
    throw std::invalid_argument("FASTLOSS_BUFFER_CACHE=" + s + ": too large");
  }
  return static_cast<std::size_t>(v) << shift;
}

void init_from_environment() {
  const char* env = std::getenv("FASTLOSS_BUFFER_CACHE");
  if (env != nullptr && *env != '\0') set_limit(parse_limit(env));
}

void* allocate(std::size_t bytes) {
  const std::size_t cap = capacity_for(bytes);
  Pool& P = pool();
  {
    std::lock_guard<std::mutex> lock(P.mu);
    if (cap >= kMinCached) {
      // the most recently freed buffer of this request's capacity, or
      // failing that the smallest one that wastes at most an eighth
      std::size_t best = P.cached.size();
      for (std::size_t k = P.cached.size(); k-- > 0;) {
        const std::size_t c = P.cached[k].second;
        if (c < cap || c - cap > cap / 8) continue;
        if (best == P.cached.size() || c < P.cached[best].second) best = k;
        if (c == cap) break;
      }
      if (best != P.cached.size()) {
        auto [p, c] = P.cached[best];
        P.cached.erase(P.cached.begin() + static_cast<std::ptrdiff_t>(best));
        P.cached_bytes -= c;
        P.live.emplace(p, c);
        ++P.hits;
        return p;
      }
      ++P.misses;
    }
  }
  void* p = system_allocate(cap);
  if (p == nullptr) {
    // out of memory: give the cache back to the system and try once more
    std::vector<void*> drop;
    {
      std::lock_guard<std::mutex> lock(P.mu);
      for (auto& e : P.cached) drop.push_back(e.first);
      P.cached.clear();
      P.cached_bytes = 0;
    }
    free_all(drop);
    p = system_allocate(cap);
    if (p == nullptr) return nullptr;
  }
  std::lock_guard<std::mutex> lock(P.mu);
  P.live.emplace(p, cap);
  return p;
}

void* allocate_zeroed(std::size_t count, std::size_t size) {
  if (size != 0 && count > std::numeric_limits<std::size_t>::max() / size) return nullptr;
  void* p = allocate(count * size);
  if (p != nullptr) std::memset(p, 0, count * size);
  return p;
}

void release(void* p) {
  if (p == nullptr) return;
  Pool& P = pool();
  std::vector<void*> drop;
  {
    std::lock_guard<std::mutex> lock(P.mu);
    auto it = P.live.find(p);
    if (it == P.live.end()) {
      drop.push_back(p);  // not ours (cannot happen through the handler): just free it
    } else {
      const std::size_t cap = it->second;
      P.live.erase(it);
      if (cap >= kMinCached && cap <= P.limit) {
        P.cached.emplace_back(p, cap);
        P.cached_bytes += cap;
        drop = P.trim();
      } else {
        drop.push_back(p);
      }
    }
  }
  free_all(drop);
}

void* reallocate(void* p, std::size_t bytes) {
  if (p == nullptr) return allocate(bytes);
  std::size_t cap = 0;
  {
    Pool& P = pool();
    std::lock_guard<std::mutex> lock(P.mu);
    auto it = P.live.find(p);
    if (it == P.live.end()) return std::realloc(p, bytes);  // not ours
    cap = it->second;
  }
  if (bytes <= cap && capacity_for(bytes) == cap) return p;  // still a fit
  void* q = allocate(bytes);
  if (q == nullptr) return nullptr;  // p stays valid, as realloc's contract says
  std::memcpy(q, p, std::min(cap, bytes));
  release(p);
  return q;
}

void set_limit(std::size_t bytes) {
  Pool& P = pool();
  std::vector<void*> drop;
  {
    std::lock_guard<std::mutex> lock(P.mu);
    P.limit = bytes;
    drop = P.trim();
  }
  free_all(drop);
}

Stats stats() {
  Pool& P = pool();
  std::lock_guard<std::mutex> lock(P.mu);
  return Stats{P.limit, P.cached_bytes, P.cached.size(), P.live.size(), P.hits, P.misses};
}

}  // namespace buffers
}  // namespace fastloss
