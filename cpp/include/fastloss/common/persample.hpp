// fastloss/common/persample.hpp -- the per-sample driver: losses whose unit
// of work is a sample with a shape and a cost of its own (a box, a sequence,
// an image), not an element.
//
// Design. A loss supplies a sample functor S (formulas and its own layout);
// per_sample() owns the rest: the thread count (read from the args, never
// omp_set_num_threads), the per-thread scratch, handing out the work,
// weights, the reduction and its gradient scale, and failures. S declares
//   static constexpr int64_t group;  // samples per task: 1 for costly samples
//                                    // (a CTC sequence, an SSIM image), more
//                                    // for cheap ones (boxes: kBlock, a
//                                    // whole reduction block, given to eval
//                                    // kChunk at a time)
//   static constexpr int cost;       // cost units per sample (parallel.hpp),
//                                    // for the serial threshold
//   size_t scratch_bytes() const;    // scratch it needs per thread
//   template <bool kGrad>
//   void eval(int64_t lo, int64_t len, const T* gscale, T* value,
//             void* scratch) const;
// eval writes value[i], the loss of sample lo + i (unweighted), for i < len,
// and with kGrad writes gscale[i] * d loss / d input into that sample's slice
// of the gradient output (S knows the layout; the driver only the factor:
// the sample's weight times 1/n or 1/sum(w) for a mean, as autograd's
// backward of the reduction gives it). eval may throw on a bad sample (a
// label out of range): the driver catches it inside the parallel region,
// keeps the failure of the lowest-numbered task and rethrows it after the
// region, so no exception leaves an OpenMP region and the error names the
// same sample on any schedule. Optionally S declares
//   int64_t sample_cost(int64_t i) const;  // e.g. CTC: T * (2L + 1)
// and then the work is that sum (for the thread count) and tasks are handed
// out most costly first, so a long sequence does not start last.
//
// Scratch: one allocation before the parallel region, one 64-byte aligned
// slot per thread holding the driver's value and gradient-scale buffers
// (group values each) and then S's own scratch (CTC: its (T x 2L+1) alpha and
// beta; SSIM: the blurred moments of one image). Tasks are handed out
// dynamically (schedule(dynamic, 1)) when S declares a per-sample cost,
// since such samples differ in cost; samples of one cost (boxes) go in equal
// contiguous ranges (see tasks_for). Whatever
// the schedule, the bits do not depend on it: each sample's loss is first
// stored -- into the reduction="none" output, or for a scalar reduction as
// its float64 term (w * l widened exactly) into an array: n doubles, or a
// task's own in its scratch when a task holds whole reduction blocks -- and
// the reduced value is then blocked_sum's over that array, the one tree of
// reduce.hpp (BlockLanes per kBlock terms, block totals pairwise), which
// depends only on n: each block is summed inside the region by the task
// that stores its last term, and the block totals after it. A weighted mean
// divides by the weights' sum in the same tree, so sum(w*l)/sum(w) has the
// same bits as the element-wise drivers'.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "fastloss/api/buffers.hpp"
#include "fastloss/api/types.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/elementwise.hpp"  // reduced_pass
#include "fastloss/common/parallel.hpp"
#include "fastloss/common/reduce.hpp"

#if FL_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// What a per-sample loss's entry point passes on from its argument record.
template <class T>
struct SampleRun {
  Op op = Op::value;
  Reduction reduction = Reduction::mean;
  int64_t n = 0;               // samples
  const T* weight = nullptr;   // n per-sample weights, optional
  T* out_value = nullptr;      // n, reduction none with a value asked
  double* out_blocks = nullptr;  // optional: per-block sums (BlockSums::blocks)
  int n_threads = 1;
};

namespace detail {

template <class S, class = void>
struct HasSampleCost : std::false_type {};
template <class S>
struct HasSampleCost<S, std::void_t<decltype(std::declval<const S&>().sample_cost(int64_t{}))>>
    : std::true_type {};

constexpr size_t round64(size_t b) { return (b + 63) / 64 * 64; }

// One allocation of `slots` 64-byte aligned slots of `bytes` each, made
// before the parallel region (a thread's slot is its index).
class ThreadScratch {
 public:
  ThreadScratch(int slots, size_t bytes)
      : stride_(round64(std::max<size_t>(bytes, 1))),
        buf_(new unsigned char[stride_ * static_cast<size_t>(slots) + 63]) {}
  void* slot(int t) const {
    const uintptr_t p = reinterpret_cast<uintptr_t>(buf_.get());
    return reinterpret_cast<void*>((p + 63) / 64 * 64 + stride_ * static_cast<size_t>(t));
  }

 private:
  size_t stride_;
  std::unique_ptr<unsigned char[]> buf_;
};

// n float64 terms from the library's buffer cache (api/buffers.hpp): a
// loop that calls a loss again gets the same pages back instead of faulting
// in fresh ones.
class Terms {
 public:
  explicit Terms(int64_t n)
      : p_(n > 0 ? static_cast<double*>(buffers::allocate(static_cast<size_t>(n) * sizeof(double)))
                 : nullptr) {
    if (n > 0 && p_ == nullptr) throw std::bad_alloc();
  }
  ~Terms() { buffers::release(p_); }
  Terms(const Terms&) = delete;
  Terms& operator=(const Terms&) = delete;
  double* get() const { return p_; }

 private:
  double* p_;
};

// The failure of the lowest-numbered sample among those that failed, kept
// inside the region and rethrown after it.
class FirstFailure {
 public:
  void record(int64_t sample, std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(m_);
    if (at_ < 0 || sample < at_) {
      at_ = sample;
      e_ = std::move(e);
    }
  }
  void rethrow() const {
    if (e_) std::rethrow_exception(e_);
  }

 private:
  std::mutex m_;
  int64_t at_ = -1;
  std::exception_ptr e_;
};

// Run task(t, thread) for t in [0, n_tasks): handed out one at a time
// (kDynamic: samples of uneven cost), or in equal contiguous ranges (samples
// of one cost, as boxes: the dynamic hand-out measured 5-24% slower than
// the static one on 2 threads for giou, 1e5-1e6 boxes). Either way the bits
// do not depend on the schedule (see per_sample_run).
template <bool kDynamic, class Task>
void tasks_for(int64_t n_tasks, int n_threads, const Task& task) {
#if FL_HAVE_OPENMP
  if (n_threads > 1) {
    contention::StartClock clock;  // how late the workers start (contention.hpp)
#pragma omp parallel num_threads(n_threads)
    {
      const int tid = omp_get_thread_num();
      if (tid != 0) clock.started();
      if constexpr (kDynamic) {
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < n_tasks; ++t) task(t, tid);
      } else {
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n_tasks; ++t) task(t, tid);
      }
    }
    return;
  }
#endif
  for (int64_t t = 0; t < n_tasks; ++t) task(t, 0);
}

// What a sample functor S gives the shared driver for one pass: its
// grouping, costs and scratch, and its eval<kGrad> behind a pointer (S as
// an opaque pointer, cast back by sample_eval).
template <class T>
struct SampleHooks {
  const void* s;
  int64_t group;        // S::group
  int cost;             // S::cost
  size_t scratch;       // s.scratch_bytes()
  bool grad;            // the pass computes gradients
  int64_t (*sample_cost)(const void* s, int64_t i);  // nullptr without one
  void (*eval)(const void* s, int64_t lo, int64_t len, const T* gs, T* val, void* scratch);
};

// wsum: nullptr, or (a weighted value pass) where the weights' sum goes.
// Weights are a run-time test in the short loops below, not a template
// parameter; so is `reduce` (sum the terms, else write each sample's value
// to out_value): eval writes every sample's value whatever is asked, so a
// pass differs only in whether it computes gradients, and a gradient alone
// is that pass with its sum dropped (see per_sample). The driver is compiled
// once per dtype, not per loss and pass: a loss compiles its eval (two
// instantiations, with and without gradients), called once per task or per
// chunk of a task.
template <class T>
FL_NOINLINE double per_sample_drive(const SampleHooks<T>& h, const SampleRun<T>& a, bool reduce,
                                    T scale, double* wsum) {
  const int64_t group = h.group;
  const int64_t n = a.n;
  const int64_t n_tasks = (n + group - 1) / group;
  const T* w = a.weight;
  const bool weighted = w != nullptr;
  const bool grad = h.grad;

  // Task order and work. Without a cost hint the natural order; with one,
  // most costly first (the order changes no bits, only the balance).
  std::vector<int64_t> order;
  int64_t work = n * h.cost;
  if (h.sample_cost != nullptr) {
    std::vector<int64_t> tcost(static_cast<size_t>(n_tasks), 0);
    work = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = h.sample_cost(h.s, i);
      tcost[static_cast<size_t>(i / group)] += c;
      work += c;
    }
    order.resize(static_cast<size_t>(n_tasks));
    for (int64_t t = 0; t < n_tasks; ++t) order[static_cast<size_t>(t)] = t;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      return tcost[static_cast<size_t>(x)] > tcost[static_cast<size_t>(y)];
    });
  }
  const int nt = threads_for(work, n_tasks, a.n_threads);

  // The terms of a scalar reduction, one per sample. A task of whole
  // reduction blocks (cheap samples: boxes) keeps its terms a chunk at a
  // time in its thread's scratch and sums its blocks itself, in cache: an
  // array of n terms in memory cost giou on 1e6 float32 boxes 20-30% (one
  // thread), the traffic of writing it. Smaller tasks (a CTC sequence) store into n
  // terms (uninitialized: every one is written before it is read), and per
  // reduction block the samples still to come are counted: the task that
  // stores a block's last term sums the block then. Either way each block is
  // summed with BlockSums -- the tree of blocked_sum -- so the bits are
  // blocked_sum's over the terms whichever thread sums a block. (Summing in
  // a second pass after the region cost another parallel region and a reread
  // of the terms: up to twice the time on 2 threads.)
  const bool whole = group % kBlock == 0;
  const int64_t nb = reduce ? num_blocks(n) : 0;
  const Terms terms(reduce && !whole ? n : 0);
  std::unique_ptr<std::atomic<int64_t>[]> left(reduce && !whole ? new std::atomic<int64_t>[nb]
                                                                 : nullptr);
  if (left) {
    for (int64_t b = 0; b < nb; ++b) left[b].store(std::min(kBlock, n - b * kBlock));
  }
  BlockSums<true, true> sums(nb, weighted ? wsum : nullptr);
  // A thread's slot: values, gradient scales, [a chunk's terms,] then S's
  // scratch. Whole-block tasks call eval a chunk (kChunk samples) at a time,
  // so values and terms stay in L1 and each chunk's terms go into the
  // block's sum at once, as the element-wise drivers do.
  const int64_t step_len = whole ? std::min(kChunk, group) : group;
  const size_t vals = round64(2 * static_cast<size_t>(step_len) * sizeof(T));
  const size_t own = vals + (whole ? round64(kChunk * sizeof(double)) : 0);
  const ThreadScratch scratch(nt, own + h.scratch);
  FirstFailure fail;

  // Samples lo .. lo+len-1 (len <= step_len): their values, gradients and
  // terms (into tm). False when eval failed.
  auto step = [&](unsigned char* slot, int64_t lo, int64_t len, double* FL_RESTRICT tm) {
    T* FL_RESTRICT val = reinterpret_cast<T*>(slot);
    T* FL_RESTRICT gs = val + step_len;
    const T* wc = weighted ? w + lo : nullptr;
    if (grad) {
      // w * scale, as the element-wise drivers scale (1 * scale unweighted)
      FL_SIMD
      for (int64_t i = 0; i < len; ++i) gs[i] = (weighted ? wc[i] : T(1)) * scale;
    }
    try {
      h.eval(h.s, lo, len, gs, val, slot + own);
    } catch (...) {
      fail.record(lo, std::current_exception());
      return false;  // its blocks never close; the call throws after the region
    }
    if (reduce) {
      FL_SIMD
      for (int64_t i = 0; i < len; ++i) {
        tm[i] = weighted ? static_cast<double>(val[i]) * static_cast<double>(wc[i])
                         : static_cast<double>(val[i]);
      }
    } else {
      T* FL_RESTRICT ov = a.out_value + lo;
      FL_SIMD
      for (int64_t i = 0; i < len; ++i) ov[i] = weighted ? val[i] * wc[i] : val[i];
    }
    return true;
  };

  auto task = [&](int64_t t, int tid) {
    const int64_t g = order.empty() ? t : order[static_cast<size_t>(t)];
    const int64_t lo = g * group, hi = std::min(n, lo + group);
    unsigned char* slot = static_cast<unsigned char*>(scratch.slot(tid));
    if (whole) {
      double* tm = reinterpret_cast<double*>(slot + vals);
      for (int64_t blo = lo; blo < hi; blo += kBlock) {
        const int64_t bhi = std::min(hi, blo + kBlock);
        typename BlockSums<true, true>::Block blk;
        for (int64_t c = blo; c < bhi; c += step_len) {
          const int64_t len = std::min(step_len, bhi - c);
          if (!step(slot, c, len, tm)) return;
          if (reduce) sums.add(blk, tm, weighted ? w + c : w, len);
        }
        if (reduce) sums.close(blk, blo / kBlock);
      }
    } else {
      const int64_t len = hi - lo;
      if (!step(slot, lo, len, reduce ? terms.get() + lo : nullptr)) return;
      if (reduce) {
        // acq_rel: the task that closes a block sees every other task's terms
        for (int64_t b = lo / kBlock; b * kBlock < hi; ++b) {
          const int64_t mine = std::min(hi, (b + 1) * kBlock) - std::max(lo, b * kBlock);
          if (left[b].fetch_sub(mine, std::memory_order_acq_rel) != mine) continue;
          const int64_t blo = b * kBlock, bhi = std::min(n, blo + kBlock);
          typename BlockSums<true, true>::Block blk;
          for (int64_t c = blo; c < bhi; c += kChunk) {
            sums.add(blk, terms.get() + c, weighted ? w + c : w, std::min(kChunk, bhi - c));
          }
          sums.close(blk, b);
        }
      }
    }
  };
  if (h.sample_cost != nullptr) {
    tasks_for<true>(n_tasks, nt, task);
  } else {
    tasks_for<false>(n_tasks, nt, task);
  }
  fail.rethrow();
  if (!reduce) return 0.0;
  if (a.out_blocks != nullptr) sums.blocks(a.out_blocks, n);
  return sums.finish();
}

template <class T, class S, bool kGrad>
void sample_eval(const void* s, int64_t lo, int64_t len, const T* gs, T* val, void* scratch) {
  static_cast<const S*>(s)->template eval<kGrad>(lo, len, gs, val, scratch);
}
template <class S>
int64_t sample_cost_of(const void* s, int64_t i) {
  return static_cast<const S*>(s)->sample_cost(i);
}

// One pass of S (with or without gradients) on the shared driver.
template <class T, class S, bool kGrad>
double per_sample_run(const S& s, const SampleRun<T>& a, bool reduce, T scale, double* wsum) {
  static_assert(S::group >= 1, "a task holds at least one sample");
  SampleHooks<T> h{&s, S::group, S::cost, s.scratch_bytes(), kGrad, nullptr,
                   &sample_eval<T, S, kGrad>};
  if constexpr (HasSampleCost<S>::value) h.sample_cost = &sample_cost_of<S>;
  return per_sample_drive<T>(h, a, reduce, scale, wsum);
}

}  // namespace detail

// Run a per-sample loss over a.n samples. Returns the reduced value for a
// scalar reduction with a value asked; per-sample values go to a.out_value,
// gradients wherever S writes them. Samples have no Hessian (grad_hess
// throws, as reduced_pass says).
template <class T, class S>
double per_sample(const S& s, const SampleRun<T>& a) {
  return reduced_pass<T, false>(
      a.op, a.reduction, a.n, a.weight, a.n_threads,
      [&](auto v, auto r, auto g, auto, T scale, double* wsum) {
        constexpr bool kV = decltype(v)::value, kR = decltype(r)::value, kG = decltype(g)::value;
        // The gradient alone: the value-and-gradient pass, its sum dropped
        // (eval writes each sample's value with its gradient anyway).
        return detail::per_sample_run<T, S, kG>(s, a, kR || !kV, scale, wsum);
      });
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
