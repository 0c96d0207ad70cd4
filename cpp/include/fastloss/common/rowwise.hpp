// fastloss/common/rowwise.hpp -- the one loop behind every row-wise loss.
//
// A row-wise loss reads `rows` rows of `C` contiguous values (the class axis
// last) and produces one loss per row and a gradient of the row's shape.
// The loss is a row functor F:
//   static constexpr int cost;              relative work per element
//   bool custom_norm() const;               mean divides by sum_r w_r norm(r)
//   double norm(int64_t r, bool& bad) const;   (instead of sum_r w_r)
//   template <bool kGrad>
//   double row(int64_t r, const T* z, T* g, double gs, bool& bad) const;
// `row` returns the (unweighted) loss of row r and, when kGrad, writes
// gs * d loss / d z into g[0..C). It sets `bad` for invalid input (a label
// out of range); the driver records the lowest such row in an ErrorSlot and
// the caller throws after the parallel region.
//
// Determinism. Rows are cut into blocks of rows_per_block(C) rows -- a
// power of two dividing kBlock, a function of C only, never of the thread
// count -- whose totals are combined by pairwise_sum in index order; inside
// a block, row values go through the 8-lane float64 Lanes accumulator.
// Because the block is a power of two dividing kBlock, each run of kBlock
// rows is a complete subtree of pairwise_sum's tree: a stream of chunks
// starting at multiples of kBlock rows rebuilds the one-shot sum (the
// reduction blocks of fastloss.BLOCK rows; RowIO::out_blocks). Sums inside a row (row_sum) use the same
// Lanes over chunks of kChunk terms, so every reduction has a tree fixed by
// (rows, C): the same bits on any thread count and every ISA.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
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

// Rows per reduction block: the largest power of two of at most kBlock
// elements, at least one row (a power of two so that kBlock rows are whole
// blocks; see the header).
inline int64_t rows_per_block(int64_t C) {
  int64_t r = 1;
  while (2 * r * (C < 1 ? 1 : C) <= kBlock) r *= 2;
  return r;
}

// Sum of x[0..C) for C <= kChunk by Lanes' tree (term j into lane j % 8 in
// index order, then Lanes::tree) with the lanes in two vector registers: for
// short rows Lanes' array in memory costs more than the sum (store
// forwarding).
template <class T>
FL_INLINE double short_row_sum(const T* FL_RESTRICT x, int64_t C) {
  static_assert(kLanes == 8, "two vectors of four lanes");
  V4d a = {}, b = {};
  int64_t j = 0;
  for (; j + 8 <= C; j += 8) {
    V4d x0, x1;
    load4(x + j, x0);
    load4(x + j + 4, x1);
    a += x0;
    b += x1;
  }
  // the last C % 8 terms, lane by lane (constant lanes stay in registers)
  double v0 = a[0], v1 = a[1], v2 = a[2], v3 = a[3], v4 = b[0], v5 = b[1], v6 = b[2];
  const int64_t r = C - j;
  if (r > 0) v0 += static_cast<double>(x[j]);
  if (r > 1) v1 += static_cast<double>(x[j + 1]);
  if (r > 2) v2 += static_cast<double>(x[j + 2]);
  if (r > 3) v3 += static_cast<double>(x[j + 3]);
  if (r > 4) v4 += static_cast<double>(x[j + 4]);
  if (r > 5) v5 += static_cast<double>(x[j + 5]);
  if (r > 6) v6 += static_cast<double>(x[j + 6]);
  return ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + b[3]));
}

// The 32-byte vector of T (8 floats, 4 doubles).
template <class T>
using VRow = std::conditional_t<sizeof(T) == 4, V8f, V4d>;
template <class T>
constexpr int64_t kRowW = static_cast<int64_t>(sizeof(VRow<T>) / sizeof(T));

// For C >= kRowW<T>: every lane of m = max of x[0..C) (max is exact: any
// order gives the same value, up to the sign of a zero maximum; NaN is
// skipped as in row_max). Whole vectors, the last one overlapping the one
// before (a max may see an entry twice): no scalar remainder, and for rows of
// up to two vectors no loop; then a butterfly of lane swaps, so the maximum
// is in every lane, ready to be stored as a row of it (fill_row_vec).
template <class T>
FL_INLINE void row_max_splat(const T* FL_RESTRICT x, int64_t C, VRow<T>& m) {
  using W = VRow<T>;
  constexpr int64_t kW = kRowW<T>;
  const T ninf = -std::numeric_limits<T>::infinity();
  W xv;
  for (int64_t l = 0; l < kW; ++l) m[l] = ninf;
  std::memcpy(&xv, x + C - kW, sizeof xv);
  m = xv > m ? xv : m;
  for (int64_t j = 0; j + kW < C; j += kW) {
    std::memcpy(&xv, x + j, sizeof xv);
    m = xv > m ? xv : m;
  }
  W h;
  if constexpr (kW == 8) {
    h = __builtin_shufflevector(m, m, 4, 5, 6, 7, 0, 1, 2, 3);
    m = h > m ? h : m;
    h = __builtin_shufflevector(m, m, 2, 3, 0, 1, 6, 7, 4, 5);
    m = h > m ? h : m;
    h = __builtin_shufflevector(m, m, 1, 0, 3, 2, 5, 4, 7, 6);
  } else {
    h = __builtin_shufflevector(m, m, 2, 3, 0, 1);
    m = h > m ? h : m;
    h = __builtin_shufflevector(m, m, 1, 0, 3, 2);
  }
  m = h > m ? h : m;
}

// x[0..C) = the value in every lane of v (C >= kRowW<T>), in whole vectors,
// the last one overlapping.
template <class T>
FL_INLINE void fill_row_vec(T* FL_RESTRICT x, int64_t C, const VRow<T>& v) {
  constexpr int64_t kW = kRowW<T>;
  for (int64_t j = 0; j + kW < C; j += kW) std::memcpy(x + j, &v, sizeof v);
  std::memcpy(x + C - kW, &v, sizeof v);
}

// row_max for short rows: row_max_splat for rows of a vector or more, else
// four lanes in one 16-byte register (float) or a scalar loop.
template <class T>
FL_INLINE T short_row_max(const T* FL_RESTRICT x, int64_t C) {
  if (C >= kRowW<T>) {
    VRow<T> m;
    row_max_splat(x, C, m);
    return m[0];
  }
  const T ninf = -std::numeric_limits<T>::infinity();
  T m0 = ninf;
  int64_t j = 0;
  if constexpr (sizeof(T) == 4) {
    V4f m = {ninf, ninf, ninf, ninf};
    for (; j + 4 <= C; j += 4) {
      V4f xv;
      std::memcpy(&xv, x + j, sizeof xv);
      m = xv > m ? xv : m;
    }
    m0 = m[1] > m[0] ? m[1] : m[0];
    const T m2 = m[3] > m[2] ? m[3] : m[2];
    m0 = m2 > m0 ? m2 : m0;
  }
  for (; j < C; ++j) m0 = x[j] > m0 ? x[j] : m0;
  return m0;
}

// x[0..C) = v, in 32-byte vector stores (the last one overlapping) where C
// fills one: a short row costs a few instructions instead of a loop.
template <class T>
FL_INLINE void fill_row(T* FL_RESTRICT x, int64_t C, T v) {
  using V = std::conditional_t<sizeof(T) == 4, V8f, V4d>;
  constexpr int64_t W = sizeof(V) / sizeof(T);
  if (C < W) {
    for (int64_t j = 0; j < C; ++j) x[j] = v;
    return;
  }
  V b;
  for (int64_t l = 0; l < W; ++l) b[l] = v;
  for (int64_t j = 0; j + W <= C; j += W) std::memcpy(x + j, &b, sizeof b);
  std::memcpy(x + C - W, &b, sizeof b);
}

// Sum of term(k) for k in [0, C), in float64, by a tree fixed by C (the
// same for short and long rows: Lanes over chunks of kChunk terms).
template <class G>
FL_INLINE double row_sum(int64_t C, const G& term) {
  alignas(64) double tmp[kChunk];
  if (C <= kChunk) {
    FL_SIMD
    for (int64_t i = 0; i < C; ++i) tmp[i] = term(i);
    return short_row_sum(tmp, C);
  }
  Lanes acc;
  acc.zero();
  for (int64_t c = 0; c < C; c += kChunk) {
    const int64_t len = std::min(kChunk, C - c);
    FL_SIMD
    for (int64_t i = 0; i < len; ++i) tmp[i] = term(c + i);
    acc.add(tmp, len);
  }
  return acc.total();
}

// max_k z[k] (-inf for an empty row). Max is exact, so the order does not
// matter; a NaN entry may be skipped here, but it then turns exp(z - max)
// and everything after into NaN.
template <class T>
FL_INLINE T row_max(const T* FL_RESTRICT z, int64_t C) {
  if (C < 64) return short_row_max(z, C);
  T m = -std::numeric_limits<T>::infinity();
  FL_PRAGMA(omp simd reduction(max : m))
  for (int64_t k = 0; k < C; ++k) m = z[k] > m ? z[k] : m;
  return m;
}

template <class T>
FL_INLINE bool row_has_nan(const T* FL_RESTRICT z, int64_t C) {
  int nan = 0;
  FL_PRAGMA(omp simd reduction(| : nan))
  for (int64_t k = 0; k < C; ++k) nan |= (z[k] != z[k]) ? 1 : 0;
  return nan != 0;
}

// What the driver reads and writes; typed views of the family's arguments.
template <class T>
struct RowIO {
  Op op = Op::value;
  Reduction reduction = Reduction::mean;
  int64_t rows = 0;
  int64_t C = 0;
  const T* pred = nullptr;    // rows * C
  const T* weight = nullptr;  // rows, optional sample weights
  T* out_value = nullptr;     // rows (reduction none)
  T* out_grad = nullptr;      // rows * C
  T* out_hess = nullptr;      // rows * C (grad_hess)
  // optional, a mean's value: per kBlock rows, the values' sum and the
  // denominator's (kBlockCols doubles each; see reduce.hpp)
  double* out_blocks = nullptr;
  int n_threads = 1;
};

namespace detail {

// A functor with a diagonal Hessian offers
//   double row_hess(r, z, g, h, gs, bad)
// writing gs * d loss / d z into g and gs * d^2 loss / d z_k^2 into h (the
// row path only: grad_hess is not a hot path of the block kernels).
template <class F, class = void>
struct has_row_hess : std::false_type {};
template <class F>
struct has_row_hess<F, std::void_t<decltype(&F::row_hess)>> : std::true_type {};

// A functor may also offer `block<kGrad>(r0, n, z, g, gs[], v[], bad[])`
// computing n <= kChunk consecutive rows at once, for C <= F::block_max_C
// (vectorizing across rows where one row is shorter than a vector). It must
// give the same bits as `row`.
template <class F, class = void>
struct has_block : std::false_type {};
template <class F>
struct has_block<F, std::void_t<decltype(F::block_max_C)>> : std::true_type {};

// Optional in a functor with custom_norm():
//   bool norm_is_count() const;   every norm(r) is 0 or 1 (no class weights)
//   int64_t count_norm(int64_t lo, int64_t hi, int64_t& bad) const;
// the sum of norm(r) over rows [lo, hi) and the first bad row there (or -1).
template <class F, class = void>
struct has_count_norm : std::false_type {};
template <class F>
struct has_count_norm<F, std::void_t<decltype(&F::count_norm)>> : std::true_type {};

// Denominator of the mean: sum_r w_r * norm(r), or sum_r w_r, or rows.
template <class T, class F>
double row_denominator(const F& f, const RowIO<T>& io, ErrorSlot& err) {
  const bool custom = f.custom_norm();
  const int64_t R = kBlock;  // cheap per row: one block per kBlock rows
  const int64_t nb = num_blocks(io.rows, R);
  double* leaves = io.out_blocks != nullptr ? io.out_blocks + 1 : nullptr;
  if (!custom && io.weight == nullptr) {
    if (leaves != nullptr) {
      for (int64_t b = 0; b < nb; ++b)
        leaves[kBlockCols * b] = static_cast<double>(std::min(R, io.rows - b * R));
    }
    return static_cast<double>(io.rows);
  }
  if constexpr (has_count_norm<F>::value) {
    // Unweighted, with norms of 0 or 1: a count, added in integers (the
    // same double as the blocked sum below, whose terms are all integers),
    // in one pass the compiler vectorizes.
    if (io.weight == nullptr && f.norm_is_count()) {
      Partials part(nb);
      parallel_for(nb, threads_for(io.rows, nb, io.n_threads), [&](int64_t b) {
        int64_t bad = -1;
        part[b][0] = static_cast<double>(
            f.count_norm(b * R, std::min(io.rows, (b + 1) * R), bad));
        if (bad >= 0) err.record(bad);
      });
      double total = 0.0;
      for (int64_t b = 0; b < nb; ++b) total += part[b][0];
      if (leaves != nullptr) {
        for (int64_t b = 0; b < nb; ++b) leaves[kBlockCols * b] = part[b][0];
      }
      return total;
    }
  }
  Partials part(nb);
  const int nt = threads_for(io.rows, nb, io.n_threads);
  parallel_for(nb, nt, [&](int64_t b) {
    const int64_t lo = b * R, hi = std::min(io.rows, lo + R);
    Lanes acc;
    acc.zero();
    alignas(64) double tmp[kChunk];
    for (int64_t c = lo; c < hi; c += kChunk) {
      const int64_t len = std::min(kChunk, hi - c);
      for (int64_t i = 0; i < len; ++i) {
        const int64_t r = c + i;
        double v = 1.0;
        if (custom) {
          bool bad = false;
          v = f.norm(r, bad);
          if (bad) {
            err.record(r);
            v = 0.0;
          }
        }
        tmp[i] = io.weight != nullptr ? v * static_cast<double>(io.weight[r]) : v;
      }
      acc.add(tmp, len);
    }
    part[b][0] = acc.total();
  });
  if (leaves != nullptr) {
    for (int64_t b = 0; b < nb; ++b) leaves[kBlockCols * b] = part[b][0];
  }
  return pairwise_sum(part.data(), nb);
}

// A chunk's row terms tmp[0..len) (rows c..): summed into acc, or written
// to out_value as T.
template <class T>
FL_INLINE void row_terms(const RowIO<T>& io, bool reduce, Lanes& acc, const double* tmp,
                         int64_t c, int64_t len) {
  if (reduce) {
    acc.add(tmp, len);
  } else {
    for (int64_t i = 0; i < len; ++i) io.out_value[c + i] = static_cast<T>(tmp[i]);
  }
}

template <class T>
struct RowPass;
template <class T>
using RowBlockFn = void (*)(const RowPass<T>&, int64_t b);

// What a pass's blocks share: the rows, the loss (as F, cast back by
// row_block), the scale and the accumulators.
template <class T>
struct RowPass {
  const RowIO<T>& io;
  const void* f;
  double scale;
  bool reduce;
  int64_t R;  // rows per block
  Partials& part;
  ErrorSlot& err;
};

// The driver of a row-wise pass, compiled once per dtype (not per loss and
// pass): blocks of R rows and their threads, the partial sums and the
// reduced value. `block` (row_block of the loss and pass) runs one block.
template <class T>
FL_NOINLINE double row_drive(const RowIO<T>& io, bool reduce, double scale, ErrorSlot& err,
                             int cost, const void* f, RowBlockFn<T> block) {
  const int64_t rows = io.rows, C = io.C;
  const int64_t R = rows_per_block(C);
  const int64_t nb = num_blocks(rows, R);
  Partials part(reduce ? nb : 0);
  const RowPass<T> pass{io, f, scale, reduce, R, part, err};
  const int nt = threads_for(rows * C * cost, nb, io.n_threads);
  parallel_for(nb, nt, [&](int64_t b) { block(pass, b); });
  if (!reduce) return 0.0;
  if (io.out_blocks != nullptr) {
    // kBlock rows are m = kBlock / R whole blocks, a subtree of the total's
    const int64_t m = kBlock / R;
    for (int64_t k = 0; k * m < nb; ++k)
      io.out_blocks[kBlockCols * k] = pairwise_sum(part[k * m], std::min(m, nb - k * m));
  }
  return pairwise_sum(part.data(), nb);
}

// Block b of a pass of F: its rows through F's block kernel (small C) or
// row by row, their terms summed or written out.
template <class T, class F, bool kValue, bool kGrad, bool kHess>
void row_block(const RowPass<T>& ps, int64_t b) {
  const F& f = *static_cast<const F*>(ps.f);
  const RowIO<T>& io = ps.io;
  const bool reduce = ps.reduce;
  const double scale = ps.scale;
  ErrorSlot& err = ps.err;
  const int64_t rows = io.rows, C = io.C, R = ps.R;
  const int64_t lo = b * R, hi = std::min(rows, lo + R);
  Lanes acc;
  acc.zero();
  alignas(64) double tmp[kChunk];
  for (int64_t c = lo; c < hi; c += kChunk) {
    const int64_t len = std::min(kChunk, hi - c);
    if constexpr (has_block<F>::value && !kHess) {
      if (C <= F::block_max_C) {
        alignas(64) double gsv[kChunk], vals[kChunk];
        bool badv[kChunk];
        for (int64_t i = 0; i < len; ++i)
          gsv[i] = (io.weight != nullptr ? static_cast<double>(io.weight[c + i]) : 1.0) * scale;
        f.template block<kGrad>(c, len, io.pred + c * C, kGrad ? io.out_grad + c * C : nullptr,
                                gsv, vals, badv);
        for (int64_t i = 0; i < len; ++i) {
          const int64_t r = c + i;
          if (badv[i]) err.record(r);
          if constexpr (kValue) {
            const double v = vals[i];
            tmp[i] = io.weight != nullptr ? v * static_cast<double>(io.weight[r]) : v;
          }
        }
        if constexpr (kValue) row_terms(io, reduce, acc, tmp, c, len);
        continue;
      }
    }
    for (int64_t i = 0; i < len; ++i) {
      const int64_t r = c + i;
      const double w = io.weight != nullptr ? static_cast<double>(io.weight[r]) : 1.0;
      const double gs = w * scale;
      T* g = kGrad ? io.out_grad + r * C : nullptr;
      bool bad = false;
      double v;
      if constexpr (kHess) {
        v = f.row_hess(r, io.pred + r * C, g, io.out_hess + r * C, gs, bad);
      } else {
        v = f.template row<kGrad>(r, io.pred + r * C, g, gs, bad);
      }
      if (bad) err.record(r);
      if constexpr (kValue) tmp[i] = io.weight != nullptr ? v * w : v;
    }
    if constexpr (kValue) row_terms(io, reduce, acc, tmp, c, len);
  }
  if (kValue && reduce) ps.part[b][0] = acc.total();
}

// `reduce` (a value pass): sum the rows' terms, else write them to
// out_value -- a run-time flag (one instantiation for "none" and the sums,
// as elem_run's): the terms go to tmp either way, as double. The pass's
// blocks (row_block) run on the shared driver (row_drive).
template <class T, class F, bool kValue, bool kGrad, bool kHess = false>
double row_run(const F& f, const RowIO<T>& io, bool reduce, double scale, ErrorSlot& err) {
  return row_drive<T>(io, kValue && reduce, scale, err, F::cost, &f,
                      &row_block<T, F, kValue, kGrad, kHess>);
}

}  // namespace detail

// Run a row-wise loss; returns the reduced value when one is asked. Bad rows
// are recorded in `err` (the caller throws after this returns).
template <class T, class F>
double rowwise(const F& f, const RowIO<T>& io, ErrorSlot& err) {
  using namespace detail;
  double denom = 1.0;
  if (io.reduction == Reduction::mean) denom = row_denominator(f, io, err);
  if (err.failed()) return 0.0;  // bad input found already: the caller throws
  const double scale = io.reduction == Reduction::mean ? 1.0 / denom : 1.0;
  const bool reduce = io.reduction != Reduction::none;
  double total = 0.0;
  switch (io.op) {
    case Op::value:
      total = row_run<T, F, true, false>(f, io, reduce, scale, err);
      break;
    case Op::grad:
      // the value-and-gradient pass, its sum dropped: a row's value comes
      // with its gradient (row<true> returns it), so a pass of its own would
      // save only the terms' sum and cost a quarter more code per loss
      row_run<T, F, true, true>(f, io, true, scale, err);
      break;
    case Op::value_grad:
      total = row_run<T, F, true, true>(f, io, reduce, scale, err);
      break;
    case Op::grad_hess:
      if constexpr (has_row_hess<F>::value) {
        row_run<T, F, false, true, true>(f, io, false, scale, err);
      } else {
        throw std::invalid_argument("this loss has no Hessian (grad_hess)");
      }
      break;
  }
  return io.reduction == Reduction::mean ? total / denom : total;
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
