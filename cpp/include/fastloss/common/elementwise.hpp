// fastloss/common/elementwise.hpp -- the one loop behind every element-wise loss.
//
// A loss is its point functor F (the contract, its defaults and the optional
// domain check and staged forms: PointLoss in point.hpp):
//   T value(p, y, a) / T grad(p, y, a) / void value_grad(p, y, a, v, g) /
//   void grad_hess(p, y, a, g, h), with `a` the optional per-element
//   auxiliary input, plus `static constexpr int cost` (relative work per
//   element, for the serial threshold) and `static constexpr bool uses_aux`.
// This loop owns everything else: dtype, weights (none: a chunk of ones, see
// elem_run), the reduction and its scale, threading and the deterministic
// blocked sum. Per chunk of kChunk elements, a vectorized pass evaluates the
// functor, writes the element-wise outputs and leaves the (weighted) terms in
// an L1 buffer; BlockLanes then adds them in a fixed order.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "fastloss/api/types.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/parallel.hpp"
#include "fastloss/common/reduce.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace detail {

// Reads a per-element argument (sample weights, a loss's aux input) chunk by
// chunk: an array of n values (period 0), or a pattern of `period` values
// where element k reads x[(k / repeat) % period] -- a broadcast argument (a
// scalar: period 1; a vector along the trailing axes: repeat 1; one value per
// leading index: repeat = the trailing size), never materialized at the
// inputs' size. Per chunk it costs nothing for an array or a short vector
// (tiled once: every chunk is a window of the tile) and one fill per run
// otherwise -- a fixed-width one (a few vector stores) for runs of at most
// kSlack values, (N,) weights against (N, C) with small C.
template <class T>
class PatternChunks {
 public:
  PatternChunks(const T* x, int64_t period, int64_t repeat)
      : x_(x), period_(period), repeat_(repeat) {
    tiled_ = period_ > 0 && repeat_ == 1 && period_ <= kChunk;
    if (tiled_) {
      for (int64_t t = 0; t < period_; ++t) buf_[t] = x_[t];
      for (int64_t t = period_; t < period_ + kChunk; ++t) buf_[t] = buf_[t - period_];
    }
  }
  PatternChunks(const PatternChunks&) = delete;
  PatternChunks& operator=(const PatternChunks&) = delete;

  // The values of elements c .. c+len-1 (len <= kChunk).
  FL_INLINE const T* chunk(int64_t c, int64_t len) {
    if (period_ <= 0) return x_ + c;
    if (tiled_) return buf_ + c % period_;
    int64_t j = (c / repeat_) % period_;  // pattern index of element c
    int64_t r = c % repeat_;              // its place in j's run
    for (int64_t i = 0; i < len;) {
      if (repeat_ == 1) {  // a long vector: copied in runs
        const int64_t run = std::min(period_ - j, len - i);
        for (int64_t t = 0; t < run; ++t) buf_[i + t] = x_[j + t];
        i += run;
        j = 0;  // the run reached the end of x, or the chunk ended
        continue;
      }
      const int64_t run = std::min(repeat_ - r, len - i);
      const T v = x_[j];
      if (run <= kSlack) {
        // past the run: the next run's place (it overwrites) or the slack
        for (int64_t t = 0; t < kSlack; ++t) buf_[i + t] = v;
      } else {
        for (int64_t t = 0; t < run; ++t) buf_[i + t] = v;
      }
      i += run;
      r = 0;
      j = j + 1 == period_ ? 0 : j + 1;
    }
    return buf_;
  }

 private:
  static constexpr int64_t kSlack = 16;
  const T* x_;
  int64_t period_, repeat_;
  bool tiled_;
  alignas(64) T buf_[2 * kChunk + kSlack];  // the tile, or a chunk and its slack
};

}  // namespace detail

// Deterministic blocked sum of the n values of x (used for weight sums): an
// array, or a pattern of `period` values (see detail::PatternChunks), whose
// sum has the bits of the materialized array's. The values go through
// BlockSums chunk by chunk, as the weights of a weighted value pass that
// takes their sum on the way (elem_run's wsum): the same order, the same
// bits. `blocks`, when given, gets each block's sum at blocks[kBlockCols * b]
// (the leaves of the tree; see kBlockCols).
template <class T>
double blocked_sum(const T* x, int64_t n, int n_threads, int64_t period = 0,
                   int64_t repeat = 1, double* blocks = nullptr) {
  const int64_t nb = num_blocks(n);
  BlockSums<true, false> sums(nb, nullptr);
  const int nt = threads_for(n, nb, n_threads);
  parallel_for(nb, nt, [&](int64_t b) {
    const int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
    BlockSums<true, false>::Block blk;
    detail::PatternChunks<T> xs(x, period, repeat);
    for (int64_t c = lo; c < hi; c += kChunk) {
      const int64_t len = std::min(kChunk, hi - c);
      sums.add(blk, xs.chunk(c, len), static_cast<const T*>(nullptr), len);
    }
    sums.close(blk, b);
  });
  if (blocks != nullptr) {
    for (int64_t b = 0; b < nb; ++b) blocks[kBlockCols * b] = sums.partial(b);
  }
  return sums.finish();
}

// Each block's term count into blocks[kBlockCols * b] (an unweighted mean's
// denominator, as blocked_sum's leaves).
inline void block_counts(int64_t n, double* blocks) {
  for (int64_t b = 0; b < num_blocks(n); ++b)
    blocks[kBlockCols * b] = static_cast<double>(std::min(kBlock, n - b * kBlock));
}

namespace detail {

// True when every y[0..len) is 0 or 1 (NaN is not): the chunk may take a
// binary_fast functor's value_bin (see point.hpp).
template <class T>
FL_INLINE bool all_binary(const T* FL_RESTRICT y, int64_t len) {
  if (len == 0 || !(y[0] == T(0) || y[0] == T(1))) return false;  // soft targets: at once
  int ok = 1;
  FL_PRAGMA(omp simd reduction(& : ok))
  for (int64_t i = 0; i < len; ++i) ok &= (y[i] == T(0)) | (y[i] == T(1));
  return ok != 0;
}

// A chunk's first-stage results (F::staged, see point.hpp): an array per
// member of the stage type, so both loops stay plain vector loads and
// stores. NoStage stands in for functors without a stage.
template <class S>
struct StageBuf {
  alignas(64) S v[kChunk];
  FL_INLINE void put(int64_t i, S x) { v[i] = x; }
  FL_INLINE S get(int64_t i) const { return v[i]; }
};
template <class T>
struct StageBuf<vm::QuotK<T>> {
  alignas(64) T q[kChunk];
  alignas(64) T k[kChunk];
  FL_INLINE void put(int64_t i, vm::QuotK<T> x) {
    q[i] = x.q;
    k[i] = x.k;
  }
  FL_INLINE vm::QuotK<T> get(int64_t i) const { return {q[i], k[i]}; }
};
template <class T>
struct NoStage {
  FL_INLINE T get(int64_t) const { return T(0); }
};

// kBin: the chunk's targets are all 0 or 1 and F is binary_fast: the value
// comes from value_bin.
template <class T, class F, bool kValue, bool kReduce, bool kGrad, bool kHess, bool kW,
          bool kBin = false>
FL_INLINE bool elem_chunk(const F& f, const T* FL_RESTRICT p, const T* FL_RESTRICT y,
                          const T* FL_RESTRICT wc, const T* FL_RESTRICT xc, T* FL_RESTRICT ov,
                          T* FL_RESTRICT og, T* FL_RESTRICT oh, T scale, int64_t c, int64_t len,
                          double* FL_RESTRICT tmp) {
  // F::staged: the first stage of each element, a loop of its own (see
  // point.hpp).
  using S = typename F::template stage_t<T>;
  std::conditional_t<F::staged, StageBuf<S>, NoStage<T>> st;
  if constexpr (F::staged) {
    FL_SIMD
    for (int64_t i = 0; i < len; ++i) {
      const int64_t k = c + i;
      st.put(i, f.stage(p[k], y[k], F::uses_aux ? xc[i] : T(0)));
    }
  }
  // F::checks: the domain test rides in the same loop (p and y are loaded
  // once); `bad` stays false for losses without one.
  int bad = 0;
  FL_PRAGMA(omp simd reduction(| : bad))
  for (int64_t i = 0; i < len; ++i) {
    const int64_t k = c + i;
    const T a = F::uses_aux ? xc[i] : T(0);
    if constexpr (F::checks) bad |= f.invalid(p[k], y[k], a) ? 1 : 0;
    const T wk = kW ? wc[i] : T(1);
    // st.get(i) at each use: a named stage struct in the loop would be an
    // `omp simd` private array in memory, and the loop would not vectorize
    if constexpr (kHess) {
      T g, h;
      f.grad_hess_s(p[k], y[k], a, st.get(i), g, h);
      const T s = wk * scale;
      og[k] = g * s;
      oh[k] = h * s;
    } else if constexpr (kValue && kGrad) {
      T v, g;
      if constexpr (kBin) {
        v = f.value_bin(p[k], y[k], a, st.get(i));
        g = f.grad_s(p[k], y[k], a, st.get(i));
      } else {
        f.value_grad_s(p[k], y[k], a, st.get(i), v, g);
      }
      og[k] = g * (wk * scale);
      if constexpr (kReduce) {
        tmp[i] = kW ? static_cast<double>(v) * static_cast<double>(wk) : static_cast<double>(v);
      } else {
        ov[k] = kW ? v * wk : v;
      }
    } else if constexpr (kGrad) {
      og[k] = f.grad_s(p[k], y[k], a, st.get(i)) * (wk * scale);
    } else {
      T v;
      if constexpr (kBin) {
        v = f.value_bin(p[k], y[k], a, st.get(i));
      } else {
        v = f.value_s(p[k], y[k], a, st.get(i));
      }
      if constexpr (kReduce) {
        tmp[i] = kW ? static_cast<double>(v) * static_cast<double>(wk) : static_cast<double>(v);
      } else {
        ov[k] = kW ? v * wk : v;
      }
    }
  }
  return bad != 0;
}

// Records the first element of the chunk p[0..len), y[0..len) (and x, the
// auxiliary values, where F uses them; elements c.. of the call) outside F's
// domain (called once a chunk's pass has found one).
template <class T, class F>
void record_invalid(const F& f, const T* p, const T* y, const T* x, int64_t c, int64_t len,
                    ErrorSlot& err) {
  for (int64_t i = 0; i < len; ++i) {
    if (f.invalid(p[i], y[i], F::uses_aux ? x[i] : T(0))) {
      err.record(c + i);
      return;
    }
  }
}

// A chunk of ones: the weights of an unweighted pass (see elem_run).
template <class T>
struct OnesChunk {
  alignas(64) T v[kChunk];
  constexpr OnesChunk() : v{} {
    for (auto& x : v) x = T(1);
  }
};
template <class T>
inline constexpr OnesChunk<T> kOnesChunk{};

template <class T>
struct ElemPass;
template <class T>
using ElemBlockFn = void (*)(const ElemPass<T>&, int64_t b);

// What a pass's blocks share: its arguments, the loss (as F, cast back by
// elem_block) and the accumulators.
template <class T>
struct ElemPass {
  const ElemArgs& a;
  const void* f;
  T scale;
  bool reduce, weighted;
  BlockSums<true, true>& sums;
  ErrorSlot& err;
};

// The driver of an element-wise pass, compiled once per dtype (not per loss
// and pass): the blocks and their threads, the accumulators, the error and
// the reduced value. `block` (elem_block of the loss and pass) runs one
// block of kBlock elements: one indirect call per block.
template <class T>
FL_NOINLINE double elem_drive(const ElemArgs& a, bool reduce, T scale, double* wsum, int cost,
                              const void* f, ElemBlockFn<T> block) {
  const int64_t n = a.n;
  const int64_t nb = num_blocks(n);
  const bool weighted = a.weight != nullptr;
  BlockSums<true, true> sums(reduce ? nb : 0, weighted ? wsum : nullptr);
  ErrorSlot err;
  const ElemPass<T> pass{a, f, scale, reduce, weighted, sums, err};
  const int nt = threads_for(n * cost, nb, a.n_threads);
  parallel_for(nb, nt, [&](int64_t b) { block(pass, b); });
  if (err.failed()) throw InvalidElement(err.first());
  if (!reduce) return 0.0;
  if (a.out_blocks != nullptr) sums.blocks(a.out_blocks, n);
  return sums.finish();
}

// Block b of a pass of F: per chunk of kChunk elements, the vectorized loop
// (elem_chunk), the domain check, and the terms into the block's sum.
template <class T, class F, bool kValue, bool kGrad, bool kHess>
void elem_block(const ElemPass<T>& ps, int64_t b) {
  constexpr bool kReduce = kValue;  // the chunk's terms go to tmp
  constexpr bool kW = kGrad;        // the chunk loop reads weights (see elem_run)
  const F& f = *static_cast<const F*>(ps.f);
  const ElemArgs& a = ps.a;
  const T scale = ps.scale;
  const bool reduce = ps.reduce, weighted = ps.weighted;
  const int64_t n = a.n;
  const T* p = static_cast<const T*>(a.pred);
  const T* y = static_cast<const T*>(a.target);
  const T* w = static_cast<const T*>(a.weight);
  const T* x = static_cast<const T*>(a.aux);
  T* ov = static_cast<T*>(a.out_value);
  T* og = static_cast<T*>(a.out_grad);
  T* oh = static_cast<T*>(a.out_hess);
  const int64_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
  BlockSums<true, true>::Block blk;
  alignas(64) double tmp[kChunk];
  // pred and target may be broadcast patterns too (a zero-stride view
  // read as its values: 2^31 elements of a scalar cost no memory)
  PatternChunks<T> pcs(p, a.pred_period, a.pred_repeat);
  PatternChunks<T> ycs(y, a.target_period, a.target_repeat);
  PatternChunks<T> xcs(x, F::uses_aux ? a.aux_period : 0, a.aux_repeat);
  PatternChunks<T> wcs(w, weighted ? a.weight_period : 0, a.weight_repeat);
  for (int64_t c = lo; c < hi; c += kChunk) {
    const int64_t len = std::min(kChunk, hi - c);
    // the chunk's inputs, auxiliary values and weights; elem_chunk indexes
    // the chunk from 0 (outputs too: shifted here)
    const T* pc = pcs.chunk(c, len);
    const T* yc = ycs.chunk(c, len);
    const T* xc = F::uses_aux ? xcs.chunk(c, len) : nullptr;
    const T* wc = weighted ? wcs.chunk(c, len) : kW ? kOnesChunk<T>.v : nullptr;
    T* ovc = ov != nullptr ? ov + c : nullptr;
    T* ogc = og != nullptr ? og + c : nullptr;
    T* ohc = oh != nullptr ? oh + c : nullptr;
    bool bad;
    if (F::binary_fast && kValue && !kHess && all_binary(yc, len)) {
      bad = elem_chunk<T, F, kValue, kReduce, kGrad, kHess, kW, F::binary_fast && !kHess>(
          f, pc, yc, wc, xc, ovc, ogc, ohc, scale, 0, len, tmp);
    } else {
      bad = elem_chunk<T, F, kValue, kReduce, kGrad, kHess, kW>(f, pc, yc, wc, xc, ovc, ogc, ohc,
                                                                scale, 0, len, tmp);
    }
    if (F::checks && bad) record_invalid(f, pc, yc, xc, c, len, ps.err);
    if constexpr (kValue) {
      if (!kW && weighted) {  // the value pass's weights (see elem_run)
        FL_SIMD
        for (int64_t i = 0; i < len; ++i) tmp[i] *= static_cast<double>(wc[i]);
      }
      if (reduce) {
        ps.sums.add(blk, tmp, wc, len);
      } else {
        FL_SIMD
        for (int64_t i = 0; i < len; ++i) ovc[i] = static_cast<T>(tmp[i]);
      }
    }
  }
  if (reduce) ps.sums.close(blk, b);
}

// wsum: nullptr, or (a weighted value pass) where the weights' sum goes,
// with blocked_sum's bits. `reduce` (a value pass): sum the terms, else
// write them to out_value. It is a run-time flag, not a template one: the
// chunk always puts its terms in `tmp` (double(v) * double(w)), and the
// element-wise pass copies them out as T, which is the T product v * w
// exactly (a product of two floats is exact in double, so its rounding to
// float is float's own multiply), so one instantiation serves "none" and
// the sums. Weights are run-time too. Passes with a gradient read them in
// the chunk loop whether or not there are any: without them, kOnesChunk,
// and g * (1 * scale), v * 1 and double(v) * 1 are exact, so the unweighted
// pass keeps the bits it had as an instantiation of its own, for one L1
// load and multiply per element (mse, huber, log_cosh gradients:
// 0.95-1.09x on 1e6 elements, within the run-to-run noise on 1e4). The
// value pass, the cheapest (mse's value read the ones 1.2-1.28x slower on
// 1e4 elements), does not read them in its loop: the chunk leaves double(v)
// in tmp and a weighted pass multiplies by double(w) after it, in L1 --
// the same product, so the same bits, and one value instantiation per loss
// and dtype instead of two.
// The pass (kValue, kGrad, kHess) of F: its blocks (elem_block) on the
// shared driver (elem_drive).
template <class T, class F, bool kValue, bool kGrad, bool kHess>
double elem_run(const F& f, const ElemArgs& a, bool reduce, T scale, double* wsum) {
  return elem_drive<T>(a, reduce, scale, wsum, F::cost, &f, &elem_block<T, F, kValue, kGrad, kHess>);
}

}  // namespace detail

// The frame every per-element (or per-box) driver shares: the mean's
// denominator (n, or the sum of the weights: n values, or a pattern of
// w_period, see ElemArgs), the scale 1/denominator the pass multiplies
// gradients by, which pass each op needs, and the final division.
// pass(kValue, kReduce, kGrad, kHess, scale, wsum) -- the flags as
// std::bool_constant arguments -- runs one pass and returns its sum; kHess
// passes are only instantiated when kHasHess. A weighted mean's value alone
// needs no scale before its pass: that pass gets wsum, where it puts the
// weights' sum (blocked_sum's bits), and the weights are read once; every
// other pass gets nullptr and the scale from a blocked_sum before it.
template <class T, bool kHasHess, class Pass>
double reduced_pass(Op op, Reduction reduction, int64_t n, const T* weight, int n_threads,
                    const Pass& pass, int64_t w_period = 0, int64_t w_repeat = 1) {
  using Y = std::true_type;
  using N = std::false_type;
  const bool mean = reduction == Reduction::mean;
  const bool fuse = mean && weight != nullptr && op == Op::value;
  double denom = 1.0;
  if (mean && !fuse) {
    denom = weight != nullptr ? blocked_sum(weight, n, n_threads, w_period, w_repeat)
                              : static_cast<double>(n);
  }
  const T scale = static_cast<T>(1.0 / denom);
  const bool reduce = reduction != Reduction::none;
  double total = 0.0;
  switch (op) {
    case Op::value:
      total = reduce ? pass(Y{}, Y{}, N{}, N{}, scale, fuse ? &denom : nullptr)
                     : pass(Y{}, N{}, N{}, N{}, scale, nullptr);
      break;
    case Op::grad:
      pass(N{}, N{}, Y{}, N{}, scale, nullptr);
      break;
    case Op::value_grad:
      total = reduce ? pass(Y{}, Y{}, Y{}, N{}, scale, nullptr)
                     : pass(Y{}, N{}, Y{}, N{}, scale, nullptr);
      break;
    case Op::grad_hess:
      if constexpr (kHasHess) {
        pass(N{}, N{}, Y{}, Y{}, scale, nullptr);
      } else {
        throw std::invalid_argument("this loss has no Hessian (grad_hess)");
      }
      break;
  }
  return mean ? total / denom : total;
}

// Run an element-wise loss. Returns the reduced value for a scalar reduction
// with a value asked; element-wise outputs go to the ElemArgs buffers.
template <class T, class F>
double elementwise(const F& f, const ElemArgs& a) {
  return reduced_pass<T, F::has_hess>(
      a.op, a.reduction, a.n, static_cast<const T*>(a.weight), a.n_threads,
      [&](auto v, auto r, auto g, auto h, T scale, double* wsum) {
        constexpr bool kV = decltype(v)::value, kG = decltype(g)::value, kH = decltype(h)::value;
        constexpr bool kR = decltype(r)::value;
        return detail::elem_run<T, F, kV, kG, kH>(f, a, kR, scale, wsum);
      },
      a.weight_period, a.weight_repeat);
}

// Dispatch on dtype: the one place an element-wise loss meets float/double.
template <class F>
double elementwise_any(const F& f, const ElemArgs& a) {
  return a.dtype == DType::f32 ? elementwise<float>(f, a) : elementwise<double>(f, a);
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
