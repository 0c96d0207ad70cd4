// fastloss/common/parallel.hpp -- the parallel-for over reduction blocks.
//
// The thread count arrives explicitly with every call (the runtime reads it
// per call; omp_set_num_threads would only bind the calling thread). Work
// below kSerialWork cost units runs without opening a parallel region, so a
// call on a few elements pays nothing for OpenMP. Bodies run inside the
// region must not throw: a kernel records a failure in an ErrorSlot and
// throws after the region.
#pragma once

#include <atomic>
#include <cstdint>

#include "fastloss/common/config.hpp"
#include "fastloss/common/contention.hpp"

#if FL_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// Cost units below which a kernel runs serially. One unit is about one
// streaming element of a cheap loss (mse); transcendental losses declare a
// larger per-element cost so they go parallel sooner.
constexpr int64_t kSerialWork = int64_t(1) << 15;

// Threads for `work` cost units in `n_tasks` equal tasks (a kernel's last
// task may be shorter), at most `requested`. The busiest thread runs
// ceil(n_tasks / threads) tasks, so a few tasks share out badly: three
// blocks on two threads save a third of the time at best, less than what
// opening the parallel region costs for a small call. A kernel goes
// parallel only when the threads save at least kSerialWork / 2 units over
// one thread, and uses no more threads than that busiest share needs (four
// tasks on three threads: two).
inline int threads_for(int64_t work, int64_t n_tasks, int requested) {
  if (requested <= 1 || n_tasks <= 1 || work < kSerialWork) return 1;
  const int64_t nt = requested < n_tasks ? requested : n_tasks;
  const int64_t per = (n_tasks + nt - 1) / nt;  // tasks of the busiest thread
  const int64_t saved = work - work / n_tasks * per;
  if (saved < kSerialWork / 2) return 1;
  if (contention::run_serial(work)) return 1;  // the cores are taken (contention.hpp)
  return static_cast<int>((n_tasks + per - 1) / per);
}

template <class F>
inline void parallel_for(int64_t n_tasks, int n_threads, const F& body) {
#if FL_HAVE_OPENMP
  if (n_threads > 1) {
    contention::StartClock clock;  // how late the workers start
#pragma omp parallel num_threads(n_threads)
    {
      if (omp_get_thread_num() != 0) clock.started();
#pragma omp for schedule(static)
      for (int64_t t = 0; t < n_tasks; ++t) body(t);
    }
    return;
  }
#endif
  for (int64_t t = 0; t < n_tasks; ++t) body(t);
}

// Keeps the lowest index at which a kernel met bad input, so the error it
// throws after the parallel region names the same element on any schedule.
struct ErrorSlot {
  std::atomic<int64_t> index{-1};
  void record(int64_t i) {
    int64_t cur = index.load(std::memory_order_relaxed);
    while ((cur < 0 || i < cur) &&
           !index.compare_exchange_weak(cur, i, std::memory_order_relaxed)) {
    }
  }
  bool failed() const { return index.load(std::memory_order_relaxed) >= 0; }
  int64_t first() const { return index.load(std::memory_order_relaxed); }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
