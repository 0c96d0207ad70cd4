// fastloss/common/contention.hpp -- small calls run serially while the
// cores are taken.
//
// A parallel region ends at a barrier: the call lasts until the slowest of
// its threads has started and finished. When another runtime's threads hold
// the cores -- XGBoost's or LightGBM's OpenMP workers spinning after their
// own region, while the booster calls a Python objective that calls
// fastloss -- fastloss's workers wait for a time slice, milliseconds, and a
// call of 0.1 ms took 15 ms inside xgb.train (issue 20). Each parallel
// region therefore measures how late its workers started; while that delay
// is large beside a call's own serial time, calls run on one thread, and
// every so often one goes parallel again to measure (the number of calls
// between two such probes doubles while the delay stays, up to 1024).
// Results do not depend on the thread count, bit for bit, so this changes
// no result, only which threads compute it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "fastloss/common/config.hpp"

// The state is data (constant-initialized atomics, no code), one instance
// for the module; the functions that read and write it are compiled per ISA
// level like every kernel header (namespace FASTLOSS_ISA_NS), so no level's
// instructions end up in another level's callers.
namespace fastloss {
namespace contention {

// A worker starting this late (ns) means the cores are taken: a thread
// woken on an idle core starts within tens of microseconds.
constexpr int64_t kLateNs = 300000;
// A cost unit's serial time in ns, the cheap end (mse streams ~4 units/ns
// with AVX-512): under-estimating keeps more calls parallel.
constexpr int64_t kUnitsPerNs = 4;
constexpr int64_t kFirstSkip = 16, kMaxSkip = 1024;

inline std::atomic<int64_t> g_late_ns{0};  // the last region's latest worker start
inline std::atomic<int64_t> g_skip{0};     // serial calls left before the next probe
inline std::atomic<int64_t> g_backoff{kFirstSkip};

}  // namespace contention

namespace FASTLOSS_ISA_NS {
namespace contention {

using ::fastloss::contention::g_backoff;
using ::fastloss::contention::g_late_ns;
using ::fastloss::contention::g_skip;
using ::fastloss::contention::kFirstSkip;
using ::fastloss::contention::kLateNs;
using ::fastloss::contention::kMaxSkip;
using ::fastloss::contention::kUnitsPerNs;

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whether a call of `work` cost units, which would go parallel, runs on one
// thread instead: the last region's workers started late, and this call's
// serial time is under four times that delay (the delay would dominate).
inline bool run_serial(int64_t work) {
  const int64_t late = g_late_ns.load(std::memory_order_relaxed);
  if (late < kLateNs || work / kUnitsPerNs >= 4 * late) return false;
  // skip > 0: serial; else this call is the probe (record() sets skip again)
  return g_skip.fetch_sub(1, std::memory_order_relaxed) > 0;
}

// What a parallel region measured: its latest worker start, in ns after the
// region was entered.
inline void record(int64_t late) {
  g_late_ns.store(late, std::memory_order_relaxed);
  if (late >= kLateNs) {
    const int64_t b = std::min(g_backoff.load(std::memory_order_relaxed) * 2, kMaxSkip);
    g_backoff.store(b, std::memory_order_relaxed);
    g_skip.store(b, std::memory_order_relaxed);
  } else {
    g_backoff.store(kFirstSkip, std::memory_order_relaxed);
    g_skip.store(0, std::memory_order_relaxed);
  }
}

// Keeps the latest start among a region's threads.
struct StartClock {
  int64_t t0 = now_ns();
  std::atomic<int64_t> latest{0};
  void started() {
    const int64_t d = now_ns() - t0;
    int64_t cur = latest.load(std::memory_order_relaxed);
    while (d > cur && !latest.compare_exchange_weak(cur, d, std::memory_order_relaxed)) {
    }
  }
  ~StartClock() { record(latest.load(std::memory_order_relaxed)); }
};

}  // namespace contention
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
