// fastloss/ranking.hpp -- ranking losses on the per-sample driver: one list
// of items (scores, relevance labels, an optional validity mask) per sample.
//
// Design. Every loss here is O(list_size^2) per list and none ever holds a
// (list_size x list_size) array. Lists of up to kLaneMax items (the pairwise
// losses, approx_ndcg) go kListLanes at a time, one list per vector lane,
// each lane walking its list's pairs (i < j, row by row) with float64
// accumulators of its own; longer lists (and listnet, O(list_size) per
// list) are walked row by row, a row's pair terms summed by row_sum's fixed
// tree (rowwise.hpp). Either way a list's value and gradient depend only on
// the list: the same bits on every ISA level and thread count. Each
// unordered pair is visited once (the pair's sign says which item should
// rank above), its derivative added to item i through the row's sum and to
// item j through a float64 column accumulator.
//
// Definitions follow rax (google/rax, rax/_src/losses.py, lambdaweights.py,
// t12n.py, metrics.py); eval gives one value per list -- a pairwise loss's
// sum over the list's valid pairs -- and each list's count for rax's
// reduce_fn=jnp.mean over the whole batch (its valid pairs, or 1 for a list
// with a valid item), which run_lists (kernels/ranking.cpp) divides by:
//   pairwise_logistic  pairs y_i > y_j: log(1 + exp(-(s_i - s_j)))
//   pairwise_hinge     pairs y_i > y_j: max(0, 1 - (s_i - s_j))
//   lambda_rank        pairwise_logistic, each pair weighted by rax's
//                      dcg_lambdaweight(normalize=True): |G_i - G_j| / IDCG *
//                      |D(r_i) - D(r_j)| * list_size, G = 2^y - 1, D(r) =
//                      1 / log2(1 + r), r the exact 1-based rank by score
//                      (ties in item order), a constant for the gradient
//   listnet            -sum_i y_i / sum_j y_j * log softmax(s)_i (0 for a
//                      list whose labels sum to 0); labels must be >= 0
//   approx_ndcg        -sum_i G_i D(rhat_i) / IDCG, rhat_i = 1 + sum_{j != i}
//                      sigmoid((s_j - s_i) / temperature) (rax's
//                      approx_t12n(ndcg_metric)); IDCG = 0 is read as 1
// Masked items (mask 0) take part in nothing and get a zero gradient.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastloss/api/ranking.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/rowwise.hpp"  // row_sum
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace ranking_detail {

constexpr int64_t pad8(int64_t n) { return (n + 7) / 8 * 8; }

// Lane-wise lists. A list of 64 items is 2016 pairs, far too few for a row
// of them to fill vectors well (rows of 63 down to 1 pairs, each with its
// remainder and its row sums): the row-by-row kernels below ran
// pairwise_logistic 1e4 x 64 at about half JAX's speed. So short lists go
// kListLanes at a time, one list per vector lane, every lane walking its
// list's pairs in the same fixed order (i < j, row by row) with float64
// accumulators of its own. A lane never reads another, so a list's bits do
// not depend on which lists share its group, the vector width (ISA level)
// or the thread count -- only on the list itself and kLaneMax's choice of
// path, which the list size alone makes.
constexpr int64_t kListLanes = 16;
constexpr int64_t kLaneMax = 256;

// Consecutive arrays of n X each from p, one per pointer of outs, in order;
// returns the end.
template <class X>
X* carve(X* p, int64_t n, std::initializer_list<X**> outs) {
  for (X** o : outs) {
    *o = p;
    p += n;
  }
  return p;
}

// A thread's per-list buffers, carved from its scratch slot (64-byte
// aligned): float64 accumulators first, then the T buffers of a row.
template <class T>
struct Buffers {
  double* gacc;  // gradient accumulators of the list's items
  double* gain;  // 2^y - 1 (lambda_rank, approx_ndcg)
  double* aux;   // approximate ranks (approx_ndcg)
  double* sort;  // the valid gains, sorted (the ideal DCG)
  double* lg2;   // log2(k + 2) for k < L: the discount of rank k + 1 is 1 / lg2[k]
  T* valid;      // 1 for a valid item, 0 for a masked one
  T* term;       // a row's pair terms
  T* der;        // a row's pair derivatives
  T* gt;         // normalized gains as T (lambda_rank) / dL/drhat (approx_ndcg)
  T* dt;         // discounts at the exact ranks (lambda_rank)

  static size_t bytes(int64_t L) {
    const int64_t p = pad8(L);
    return static_cast<size_t>(5 * p) * sizeof(double) + static_cast<size_t>(5 * p) * sizeof(T) +
           64;
  }
  // The discounts' logs, once per call of eval (lambda_rank, approx_ndcg):
  // not a log per item of every list.
  void fill_lg2(int64_t L) {
    for (int64_t k = 0; k < L; ++k) lg2[k] = std::log2(static_cast<double>(k) + 2.0);
  }
  Buffers(void* scratch, int64_t L) {
    const int64_t p = pad8(L);
    double* d = carve(static_cast<double*>(scratch), p, {&gacc, &gain, &aux, &sort, &lg2});
    carve(reinterpret_cast<T*>(d), p, {&valid, &term, &der, &gt, &dt});
  }
};

// A thread's lane-wise buffers (after its Buffers): kListLanes lists
// transposed, X[k * kListLanes + w] item k of lane w.
template <class T>
struct LaneBufs {
  static constexpr int64_t W = kListLanes;
  double* G;   // gradient accumulators
  double* rh;  // approximate ranks - 1 (approx_ndcg)
  double* gn;  // gains 2^y - 1 (approx_ndcg)
  T* st;       // scores
  T* yt;       // labels
  T* vt;       // 1 valid, 0 masked (or a lane past the group's lists)
  T* at;       // normalized gains (lambda_rank), d loss / d rhat (approx_ndcg)
  T* dt;       // discounts at the exact ranks (lambda_rank)
  T* et;       // a scratch row (approx_ndcg)

  static size_t bytes(int64_t L) {
    const size_t n = static_cast<size_t>(L * W);
    return 3 * n * sizeof(double) + 6 * n * sizeof(T) + 64;
  }
  LaneBufs(void* p, int64_t L) {
    const int64_t n = L * W;
    double* d = carve(static_cast<double*>(p), n, {&G, &rh, &gn});
    carve(reinterpret_cast<T*>(d), n, {&st, &yt, &vt, &at, &dt, &et});
  }
};

// What every ranking loss reads: n lists of L items.
template <class T>
struct ListsBase {
  // Several short lists per task (a list of 64 items is 2016 pairs); the
  // cost hint (about a pair's exp and log1p per pair) makes the thread
  // count follow the real work, which the list size sets.
  static constexpr int64_t group = kListLanes;
  static constexpr int cost = 1;
  const T* s;
  const T* y;
  const int64_t* m;  // nullptr: every item valid
  T* g;              // nullptr: not asked
  int64_t L;
  // nullptr, or (reduction="mean") where list r's count goes: its valid
  // pairs (pairwise losses) or 1 if it has a valid item (listwise losses),
  // rax's jnp.mean(..., where=) denominators
  double* count = nullptr;

  // Lists of up to kLaneMax items go lane-wise (the eval_lanes below):
  // kListLanes lists side by side, one per vector lane; longer lists row by
  // row.
  bool lanes() const { return L <= kLaneMax; }
  void put_count(int64_t r, double c) const {
    if (count != nullptr) count[r] = c;
  }

  // Lists r0 .. r0 + nl - 1 transposed into lanes: X[k * W + w] is item k of
  // list r0 + w; lanes past nl hold a list of no valid item.
  void load_lanes(int64_t r0, int64_t nl, T* FL_RESTRICT st, T* FL_RESTRICT yt,
                  T* FL_RESTRICT vt) const {
    constexpr int64_t W = kListLanes;
    for (int64_t w = 0; w < W; ++w) {
      if (w >= nl) {
        for (int64_t k = 0; k < L; ++k) st[k * W + w] = yt[k * W + w] = vt[k * W + w] = T(0);
        continue;
      }
      const T* sr = s + (r0 + w) * L;
      const T* yr = y + (r0 + w) * L;
      const int64_t* mr = m != nullptr ? m + (r0 + w) * L : nullptr;
      for (int64_t k = 0; k < L; ++k) {
        st[k * W + w] = sr[k];
        yt[k * W + w] = yr[k];
        vt[k * W + w] = mr == nullptr || mr[k] != 0 ? T(1) : T(0);
      }
    }
  }

  int64_t sample_cost(int64_t) const { return 8 * L * L + L; }
  size_t scratch_bytes() const {
    return Buffers<T>::bytes(L) + (lanes() ? LaneBufs<T>::bytes(L) : size_t(0));
  }
  LaneBufs<T> lane_bufs(void* scratch) const {
    return LaneBufs<T>(static_cast<unsigned char*>(scratch) + Buffers<T>::bytes(L), L);
  }

  // Lanes of valid items: nv[w] = the number of valid items of lane w.
  void count_valid(const T* FL_RESTRICT vt, T* FL_RESTRICT nv) const {
    constexpr int64_t W = kListLanes;
    for (int64_t w = 0; w < W; ++w) nv[w] = T(0);
    for (int64_t k = 0; k < L; ++k) {
      FL_SIMD
      for (int64_t w = 0; w < W; ++w) nv[w] += vt[k * W + w];
    }
  }

  // The lists lo .. lo+len-1 one by one (listnet, and approx_ndcg's long
  // lists): list r's valid mask loaded into b.valid, the list counted in
  // the mean's denominator when it holds a valid item, then
  // body(q, r, scores, labels, valid) with q = r - lo.
  template <class Body>
  void each_list(int64_t lo, int64_t len, Buffers<T>& b, const Body& body) const {
    for (int64_t q = 0; q < len; ++q) {
      const int64_t r = lo + q;
      put_count(r, load_valid(r, b.valid) > 0 ? 1.0 : 0.0);
      body(q, r, s + r * L, y + r * L, b.valid);
    }
  }

  // valid[k] for list r; returns the number of valid items.
  int64_t load_valid(int64_t r, T* FL_RESTRICT valid) const {
    if (m == nullptr) {
      for (int64_t k = 0; k < L; ++k) valid[k] = T(1);
      return L;
    }
    const int64_t* FL_RESTRICT mr = m + r * L;
    int64_t n = 0;
    for (int64_t k = 0; k < L; ++k) {
      valid[k] = mr[k] != 0 ? T(1) : T(0);
      n += mr[k] != 0;
    }
    return n;
  }

  // gain[k] = 2^y_k - 1 for valid items (0 for masked ones) and the ideal
  // DCG of the list: the valid gains sorted, discounted 1/log2(1 + rank)
  // (b.lg2, filled); 0 is read as 1 (rax's ndcg_metric and
  // dcg_lambdaweight). Graded labels -- integers 0 .. kSmall -- take 2^y by
  // a shift (exp2 of an integer is exact: the same bits) and are sorted by
  // counting: per list, exp2 and std::sort cost more than the 2016 pairs
  // of a list of 64 (lambda_rank 1e4 x 64). The ideal DCG sums the same
  // sorted gains in the same order either way.
  static constexpr int kSmall = 31;
  double gains_and_ideal(const T* yr, Buffers<T>& b) const {
    int64_t nv = 0;
    int64_t cnt[kSmall + 1] = {};
    bool small = true;
    for (int64_t k = 0; k < L; ++k) {
      double gk = 0.0;
      if (b.valid[k] != T(0)) {
        const double yk = static_cast<double>(yr[k]);
        if (yk >= 0.0 && yk <= kSmall && yk == static_cast<double>(static_cast<int>(yk))) {
          const int l = static_cast<int>(yk);
          gk = static_cast<double>(uint64_t(1) << l) - 1.0;
          ++cnt[l];
        } else {
          gk = std::exp2(yk) - 1.0;  // NaN, negative, fractional or large
          small = false;
        }
        b.sort[nv++] = gk;
      }
      b.gain[k] = gk;
    }
    double ideal = 0.0;
    if (small) {
      int64_t r = 0;
      for (int l = kSmall; l >= 0; --l) {
        const double gl = static_cast<double>(uint64_t(1) << l) - 1.0;
        for (int64_t c = 0; c < cnt[l]; ++c, ++r) ideal += gl / b.lg2[r];
      }
    } else {
      std::sort(b.sort, b.sort + nv, std::greater<double>());
      for (int64_t k = 0; k < nv; ++k) ideal += b.sort[k] / b.lg2[k];
    }
    return ideal == 0.0 ? 1.0 : ideal;
  }
};

// The eval of a list loss with a lane path (the pairwise losses,
// approx_ndcg): lane-wise where the lists are short (lanes()), else list by
// list (eval_rows).
template <class Loss>
struct Laned : Loss {
  template <bool kGrad, class T>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    if (this->lanes()) {
      this->template eval_lanes<kGrad>(lo, len, gs, value, scratch);
    } else {
      this->template eval_rows<kGrad>(lo, len, gs, value, scratch);
    }
  }
};

enum class Pair : int { logistic, hinge, lambda };

// pairwise_logistic, pairwise_hinge and lambda_rank: one unordered pair at a
// time, its sign sg = sign(y_i - y_j) (0: not a pair).
template <class T, Pair kPair>
struct PairLists : ListsBase<T> {
  using ListsBase<T>::s, ListsBase<T>::y, ListsBase<T>::g, ListsBase<T>::L;

  // lambda_rank's weights: normalized gains and the discounts at the exact
  // ranks (rax's utils.ranks: by score, descending, ties in item order,
  // among the valid items).
  void lambda_weights(const T* FL_RESTRICT sr, const T* yr, Buffers<T>& b) const {
    const double inv_ideal = 1.0 / this->gains_and_ideal(yr, b);
    const T* FL_RESTRICT v = b.valid;
    for (int64_t k = 0; k < L; ++k) {
      b.gt[k] = static_cast<T>(b.gain[k] * inv_ideal);
      if (v[k] == T(0)) {
        b.dt[k] = T(0);
        continue;
      }
      const T sk = sr[k];
      T above = T(0);  // valid items ranked before k (exact: small integers)
      FL_PRAGMA(omp simd reduction(+ : above))
      for (int64_t j = 0; j < L; ++j) {
        // | and &, a select through the bits: no branch, so it vectorizes
        const bool before = (sr[j] > sk) | ((sr[j] == sk) & (j < k));
        above += vm::select(before, v[j], T(0));
      }
      b.dt[k] = static_cast<T>(1.0 / b.lg2[static_cast<int64_t>(above)]);
    }
  }

  // The pair (i, j), i < j, of sign sg = sign(y_i - y_j) times both
  // validities (0: no pair): its loss t and d t / d s_i (d t / d s_j = -d).
  // wscale: lambda_rank's list_size; gi, gj, di, dj its normalized gains
  // and discounts (the other losses pass zeros).
  static FL_INLINE void pair_terms(T sg, T si, T sj, T gi, T gj, T di, T dj, T wscale, T& t,
                                   T& d) {
    const T z = sg * (si - sj);  // the margin of the preferred order
    if constexpr (kPair == Pair::hinge) {
      const T h = T(1) - z;
      t = h <= T(0) ? T(0) : h;  // NaN propagates, as jax's relu
      // relu's gradient at 0 is 0 (jax); NaN propagates into it
      d = h != h ? h : h > T(0) ? -sg : T(0);
    } else {
      // softplus(-z) and its derivative -sg * sigmoid(-z), one exp
      const T e = vm::exp_nonpos(vm::detail::negabs(z));
      t = vm::detail::pospart(-z) + vm::detail::log1p_01(e);
      d = -sg * ((z <= T(0) ? T(1) : e) / (T(1) + e));
      if constexpr (kPair == Pair::lambda) {
        const T dg = gi - gj, dd = di - dj;
        const T w = (dg < T(0) ? -dg : dg) * (dd < T(0) ? -dd : dd) * wscale;
        t *= w;
        d *= w;
      }
    }
  }

  // Lane-wise (lists of up to kLaneMax items): kListLanes lists at a time,
  // lane w walking list lo + q0 + w's pairs (i < j, row by row), float64
  // accumulators per lane: the list's pair sum, its pair count, each item's
  // gradient (a pair adds d to g_i through the row's accumulator gi, -d to
  // g_j directly).
  template <bool kGrad>
  void eval_lanes(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
                  void* scratch) const {
    constexpr int64_t W = kListLanes;
    Buffers<T> b(scratch, L);
    if constexpr (kPair == Pair::lambda) b.fill_lg2(L);
    LaneBufs<T> lb = this->lane_bufs(scratch);
    const T wscale = static_cast<T>(L);  // rax's dcg_lambdaweight: * list_size
    for (int64_t q0 = 0; q0 < len; q0 += W) {
      const int64_t nl = std::min(W, len - q0);
      this->load_lanes(lo + q0, nl, lb.st, lb.yt, lb.vt);
      if constexpr (kPair == Pair::lambda) {
        // normalized gains, list by list
        for (int64_t w = 0; w < W; ++w) {
          double inv_ideal = 0.0;
          if (w < nl) {
            const int64_t r = lo + q0 + w;
            this->load_valid(r, b.valid);
            inv_ideal = 1.0 / this->gains_and_ideal(y + r * L, b);
          }
          for (int64_t k = 0; k < L; ++k) {
            lb.at[k * W + w] = w < nl ? static_cast<T>(b.gain[k] * inv_ideal) : T(0);
          }
        }
        // the exact ranks lane-wise (as lambda_weights counts them): list by
        // list, the count of items before k was a float add chain, scalar,
        // 4096 adds per list of 64 -- more than the list's pairs cost
        const T* FL_RESTRICT st = lb.st;
        const T* FL_RESTRICT vt = lb.vt;
        for (int64_t k = 0; k < L; ++k) {
          alignas(64) T above[W];
          for (int64_t w = 0; w < W; ++w) above[w] = T(0);
          const T* FL_RESTRICT sk = st + k * W;
          for (int64_t j = 0; j < L; ++j) {
            const T* FL_RESTRICT sj = st + j * W;
            const T* FL_RESTRICT vj = vt + j * W;
            const T earlier = j < k ? T(1) : T(0);  // ties: in item order
            FL_SIMD
            for (int64_t w = 0; w < W; ++w) {
              // 0/1 arithmetic (the pair loop's style): with bools and a
              // select GCC kept this loop scalar in the kernel's TU
              above[w] += vj[w] * (T(sj[w] > sk[w]) + T(sj[w] == sk[w]) * earlier);
            }
          }
          for (int64_t w = 0; w < W; ++w) {
            lb.dt[k * W + w] = vt[k * W + w] != T(0)
                                   ? static_cast<T>(1.0 / b.lg2[static_cast<int64_t>(above[w])])
                                   : T(0);
          }
        }
      } else {
        for (int64_t k = 0; k < L * W; ++k) lb.at[k] = lb.dt[k] = T(0);
      }
      alignas(64) double acc[W], cnt[W];
      for (int64_t w = 0; w < W; ++w) acc[w] = cnt[w] = 0.0;
      if constexpr (kGrad) {
        for (int64_t k = 0; k < L * W; ++k) lb.G[k] = 0.0;
      }
      for (int64_t i = 0; i + 1 < L; ++i) {
        const T* FL_RESTRICT si = lb.st + i * W;
        const T* FL_RESTRICT yi = lb.yt + i * W;
        const T* FL_RESTRICT vi = lb.vt + i * W;
        const T* FL_RESTRICT ai = lb.at + i * W;
        const T* FL_RESTRICT di = lb.dt + i * W;
        alignas(64) double gi[W];
        alignas(64) T rc[W];  // pairs of this row (exact: small integers)
        for (int64_t w = 0; w < W; ++w) {
          gi[w] = 0.0;
          rc[w] = T(0);
        }
        for (int64_t j = i + 1; j < L; ++j) {
          const T* FL_RESTRICT sj = lb.st + j * W;
          const T* FL_RESTRICT yj = lb.yt + j * W;
          const T* FL_RESTRICT vj = lb.vt + j * W;
          const T* FL_RESTRICT aj = lb.at + j * W;
          const T* FL_RESTRICT dj = lb.dt + j * W;
          double* FL_RESTRICT gj = lb.G + j * W;
          FL_SIMD
          for (int64_t w = 0; w < W; ++w) {
            // +1: i should rank above j, -1: below, 0: no pair (equal or
            // NaN labels, a masked item)
            const T sg = (T(yi[w] > yj[w]) - T(yi[w] < yj[w])) * (vi[w] * vj[w]);
            const bool pair = sg != T(0);
            T t, d;
            pair_terms(sg, si[w], sj[w], ai[w], aj[w], di[w], dj[w], wscale, t, d);
            // selects through the bits: a ?: here let GCC branch around the
            // pair's exp and log (value alone: not vectorized, 4x slower)
            rc[w] += vm::select(pair, T(1), T(0));
            acc[w] += static_cast<double>(vm::select(pair, t, T(0)));
            if constexpr (kGrad) {
              const double dd = static_cast<double>(vm::select(pair, d, T(0)));
              gi[w] += dd;
              gj[w] -= dd;
            }
          }
        }
        double* FL_RESTRICT g_i = lb.G + i * W;
        FL_SIMD
        for (int64_t w = 0; w < W; ++w) {
          cnt[w] += static_cast<double>(rc[w]);
          if constexpr (kGrad) g_i[w] += gi[w];
        }
      }
      for (int64_t w = 0; w < nl; ++w) {
        const int64_t q = q0 + w;
        value[q] = static_cast<T>(acc[w]);
        this->put_count(lo + q, cnt[w]);
        if constexpr (kGrad) {
          T* FL_RESTRICT gr = g + (lo + q) * L;
          const double f = static_cast<double>(gs[q]);
          for (int64_t k = 0; k < L; ++k) gr[k] = static_cast<T>(lb.G[k * W + w] * f);
        }
      }
    }
  }

  // Lists longer than kLaneMax, list by list (Laned's eval picks).
  template <bool kGrad>
  void eval_rows(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
                 void* scratch) const {
    Buffers<T> b(scratch, L);
    if constexpr (kPair == Pair::lambda) b.fill_lg2(L);
    [[maybe_unused]] const T wscale = static_cast<T>(L);  // rax's dcg_lambdaweight: * list_size
    for (int64_t q = 0; q < len; ++q) {
      const int64_t r = lo + q;
      const T* FL_RESTRICT sr = s + r * L;
      const T* FL_RESTRICT yr = y + r * L;
      this->load_valid(r, b.valid);
      if constexpr (kPair == Pair::lambda) lambda_weights(sr, yr, b);
      if constexpr (kGrad) {
        for (int64_t k = 0; k < L; ++k) b.gacc[k] = 0.0;
      }
      double total = 0.0;
      int64_t pairs = 0;
      for (int64_t i = 0; i + 1 < L; ++i) {
        if (b.valid[i] == T(0)) continue;
        const int64_t n = L - i - 1;
        const T si = sr[i], yi = yr[i];
        const T* FL_RESTRICT sj = sr + i + 1;
        const T* FL_RESTRICT yj = yr + i + 1;
        const T* FL_RESTRICT vj = b.valid + i + 1;
        // lambda_rank's weights (the other losses never read them)
        [[maybe_unused]] const T* FL_RESTRICT gj = b.gt + i + 1;
        [[maybe_unused]] const T* FL_RESTRICT dj = b.dt + i + 1;
        [[maybe_unused]] const T gi = kPair == Pair::lambda ? b.gt[i] : T(0);
        [[maybe_unused]] const T di = kPair == Pair::lambda ? b.dt[i] : T(0);
        T* FL_RESTRICT tm = b.term;
        T* FL_RESTRICT dr = b.der;
        T cnt = T(0);  // pairs in this row (exact: small integers)
        FL_PRAGMA(omp simd reduction(+ : cnt))
        for (int64_t k = 0; k < n; ++k) {
          // +1: i should rank above j, -1: below, 0: no pair (equal or NaN
          // labels, a masked j)
          const T sg = (T(yi > yj[k]) - T(yi < yj[k])) * vj[k];
          const bool pair = sg != T(0);
          cnt += pair ? T(1) : T(0);
          T t, d;  // the pair's loss, d loss / d s_i
          if constexpr (kPair == Pair::lambda) {
            pair_terms(sg, si, sj[k], gi, gj[k], di, dj[k], wscale, t, d);
          } else {
            pair_terms(sg, si, sj[k], T(0), T(0), T(0), T(0), T(0), t, d);
          }
          tm[k] = pair ? t : T(0);
          dr[k] = pair ? d : T(0);
        }
        pairs += static_cast<int64_t>(cnt);
        total += row_sum(n, [&](int64_t k) { return static_cast<double>(tm[k]); });
        if constexpr (kGrad) {
          b.gacc[i] += row_sum(n, [&](int64_t k) { return static_cast<double>(dr[k]); });
          double* FL_RESTRICT ga = b.gacc + i + 1;
          FL_SIMD
          for (int64_t k = 0; k < n; ++k) ga[k] -= static_cast<double>(dr[k]);
        }
      }
      // the list's pair sum (rax's mean divides by the batch's pairs: run_lists)
      value[q] = static_cast<T>(total);
      this->put_count(r, static_cast<double>(pairs));
      if constexpr (kGrad) {
        const double f = static_cast<double>(gs[q]);
        T* FL_RESTRICT gr = g + r * L;
        FL_SIMD
        for (int64_t k = 0; k < L; ++k) gr[k] = static_cast<T>(b.gacc[k] * f);
      }
    }
  }
};

// listnet: the cross-entropy between the labels normalized by their sum and
// the softmax of the scores, over the valid items. Every pass over a list is
// a vectorized loop (the max is exact in any order; the sums go through
// row_sum's fixed tree).
template <class T>
struct ListNet : ListsBase<T> {
  using ListsBase<T>::s, ListsBase<T>::y, ListsBase<T>::g, ListsBase<T>::L;

  // O(list_size) per list, about an exp and a few sums per item
  int64_t sample_cost(int64_t) const { return 8 * L + 1; }
  // Row by row at every list size: lane-wise (as the pairwise losses) it
  // measured slower, 1.3 / 2.0 ms against 0.96 / 0.92 ms (value / value and
  // gradient, 1e4 x 64 float32, AVX-512, one thread): O(list_size) work per
  // list does not pay for transposing the lists.
  size_t scratch_bytes() const { return Buffers<T>::bytes(L); }

  // A negative valid label of list r (the kernel's pass finds it: the
  // Python layer never reads the labels).
  [[noreturn]] void bad_label(int64_t r, int64_t k) const {
    throw std::invalid_argument("labels: listnet takes labels >= 0, got " +
                                std::to_string(static_cast<double>(y[r * L + k])) + " in list " +
                                std::to_string(r) + " (flat index " + std::to_string(r * L + k) +
                                ")");
  }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    Buffers<T> b(scratch, L);
    this->each_list(lo, len, b, [&](int64_t q, int64_t r, const T* FL_RESTRICT sr,
                                    const T* FL_RESTRICT yr, const T* FL_RESTRICT v) {
      int bad = 0;
      FL_PRAGMA(omp simd reduction(| : bad))
      for (int64_t k = 0; k < L; ++k) bad |= v[k] != T(0) && yr[k] < T(0);
      if (bad) {
        int64_t k = 0;
        while (!(v[k] != T(0) && yr[k] < T(0))) ++k;
        bad_label(r, k);
      }
      const double ysum =
          row_sum(L, [&](int64_t k) { return v[k] != T(0) ? static_cast<double>(yr[k]) : 0.0; });
      T* FL_RESTRICT gr = kGrad ? g + r * L : nullptr;
      if (ysum == 0.0) {  // no relevant item (or none valid): no loss
        value[q] = T(0);
        if constexpr (kGrad) {
          for (int64_t k = 0; k < L; ++k) gr[k] = T(0);
        }
        return;
      }
      // the largest valid score (a NaN is skipped here and turns exp(s - mx)
      // into NaN below)
      T mx = -std::numeric_limits<T>::infinity();
      FL_PRAGMA(omp simd reduction(max : mx))
      for (int64_t k = 0; k < L; ++k) mx = v[k] != T(0) && sr[k] > mx ? sr[k] : mx;
      T* FL_RESTRICT e = b.term;
      FL_SIMD
      for (int64_t k = 0; k < L; ++k) {
        const T ek = vm::exp(sr[k] - mx);
        e[k] = v[k] != T(0) ? ek : T(0);
      }
      const double z = row_sum(L, [&](int64_t k) { return static_cast<double>(e[k]); });
      // sum_k p_k (log Z - (s_k - mx)): every term >= 0, no cancellation
      const double cross = row_sum(L, [&](int64_t k) {
        const double t = static_cast<double>(yr[k]) *
                         (static_cast<double>(mx) - static_cast<double>(sr[k]));
        return v[k] != T(0) ? t : 0.0;
      });
      value[q] = static_cast<T>(std::log(z) + cross / ysum);
      if constexpr (kGrad) {
        // gs (softmax - p): the two factors scaled once, in T
        const T cz = static_cast<T>(static_cast<double>(gs[q]) / z);
        const T cy = static_cast<T>(static_cast<double>(gs[q]) / ysum);
        FL_SIMD
        for (int64_t k = 0; k < L; ++k) {
          const T gk = e[k] * cz - yr[k] * cy;
          gr[k] = v[k] != T(0) ? gk : T(0);
        }
      }
    });
  }
};

// approx_ndcg: minus the NDCG of the approximate ranks (Qin, Liu & Li 2010).
// Each unordered pair once: p = sigmoid((s_j - s_i) / t) counts toward
// rhat_i and 1 - p = sigmoid((s_i - s_j) / t) toward rhat_j (row sum and
// float64 column accumulator, as the pairwise losses). For lists up to
// kStore items the pair's slope sigmoid'(x) is kept (a list_size^2 buffer
// per thread, at most 1 MiB) for the gradient pass, which then needs no exp.
template <class T>
struct ApproxNdcg : ListsBase<T> {
  using ListsBase<T>::s, ListsBase<T>::y, ListsBase<T>::g, ListsBase<T>::L;
  T inv_temp;  // 1 / temperature
  static constexpr int64_t kStore = 512;

  // p = sigmoid(x) and sigmoid'(x) = sigmoid(x) sigmoid(-x) = e / (1 + e)^2
  // with e = exp(-|x|): no cancellation. p (1 - p), as it was, lost the
  // digits of 1 - p where p is near 1 (at temperatures near 1e-3: relative
  // errors ~1e-4 of the gradient's smallest terms, the fuzz harness's
  // approx_ndcg disagreements of ~4e-11).
  static FL_INLINE void sig_and_slope(T x, T& p, T& sp) {
    const T e = vm::exp_nonpos(vm::detail::negabs(x));
    const T r = T(1) / (T(1) + e);
    p = vm::select(x >= T(0), T(1), e) * r;
    sp = e * r * r;
  }

  // Lane-wise lists keep their pairs' slopes (L (L - 1) / 2 x kListLanes) up
  // to 1 MiB, lists of up to 181 items in float32, 128 in float64.
  bool lane_stores() const {
    return this->lanes() &&
           static_cast<size_t>(L * (L - 1) / 2 * kListLanes) * sizeof(T) <= (size_t(1) << 20);
  }
  bool stores() const { return !this->lanes() && L <= kStore; }
  size_t lane_store_offset() const { return Buffers<T>::bytes(L) + LaneBufs<T>::bytes(L); }
  size_t scratch_bytes() const {
    if (this->lanes()) {
      return lane_store_offset() +
             (lane_stores() ? static_cast<size_t>(L * (L - 1) / 2 * kListLanes) * sizeof(T)
                            : size_t(0));
    }
    return Buffers<T>::bytes(L) +
           (stores() ? static_cast<size_t>(L * pad8(L)) * sizeof(T) : size_t(0));
  }

  // The pair loop of both lane-wise passes: each pair i < j of a list's L
  // items once, in order (pi the pair's index, row by row), as
  // body(i, j, pi, acc_i, out_j): acc_i is item i's float64 sum over its
  // row's pairs (kListLanes lanes, from 0, added to out + i W after the
  // row) and out_j = out + j W, item j's column sum.
  template <class Body>
  FL_INLINE void lane_pairs(double* FL_RESTRICT out, const Body& body) const {
    constexpr int64_t W = kListLanes;
    int64_t pi = 0;
    for (int64_t i = 0; i + 1 < L; ++i) {
      alignas(64) double acc[W];
      for (int64_t w = 0; w < W; ++w) acc[w] = 0.0;
      for (int64_t j = i + 1; j < L; ++j, ++pi) body(i, j, pi, acc, out + j * W);
      double* FL_RESTRICT oi = out + i * W;
      FL_SIMD
      for (int64_t w = 0; w < W; ++w) oi[w] += acc[w];
    }
  }

  // Lane-wise (lists of up to kLaneMax items): the two pair passes of eval_rows
  // below with kListLanes lists in the vector, each lane's sums in pair
  // order (float64).
  template <bool kGrad>
  void eval_lanes(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
                  void* scratch) const {
    constexpr int64_t W = kListLanes;
    Buffers<T> b(scratch, L);
    b.fill_lg2(L);
    LaneBufs<T> lb = this->lane_bufs(scratch);
    T* FL_RESTRICT pst = lane_stores() ? reinterpret_cast<T*>(static_cast<unsigned char*>(scratch) +
                                                              lane_store_offset())
                                       : nullptr;
    const double ln2 = 0.69314718055994530942;
    const T it = inv_temp;
    const T* FL_RESTRICT st = lb.st;
    const T* FL_RESTRICT vt = lb.vt;
    double* FL_RESTRICT rh = lb.rh;
    double* FL_RESTRICT gn = lb.gn;
    for (int64_t q0 = 0; q0 < len; q0 += W) {
      const int64_t nl = std::min(W, len - q0);
      this->load_lanes(lo + q0, nl, lb.st, lb.yt, lb.vt);
      alignas(64) double ideal[W];
      alignas(64) T nv[W];
      this->count_valid(vt, nv);
      for (int64_t w = 0; w < W; ++w) {
        ideal[w] = 1.0;
        if (w < nl) {
          const int64_t r = lo + q0 + w;
          this->load_valid(r, b.valid);
          ideal[w] = this->gains_and_ideal(y + r * L, b);
        }
        for (int64_t k = 0; k < L; ++k) gn[k * W + w] = w < nl ? b.gain[k] : 0.0;
      }
      for (int64_t k = 0; k < L * W; ++k) rh[k] = 0.0;
      // rhat - 1: p = sigmoid((s_j - s_i) / t) to rhat_i, 1 - p to rhat_j
      lane_pairs(rh, [&](int64_t i, int64_t j, int64_t pi, double* FL_RESTRICT ri,
                         double* FL_RESTRICT rj) {
        const T* FL_RESTRICT si = st + i * W;
        const T* FL_RESTRICT vi = vt + i * W;
        const T* FL_RESTRICT sj = st + j * W;
        const T* FL_RESTRICT vj = vt + j * W;
        // the slopes for the gradient pass (without a store: a scratch row,
        // overwritten; the gradient pass computes them again)
        T* FL_RESTRICT ps = pst != nullptr ? pst + pi * W : lb.et;
        FL_SIMD
        for (int64_t w = 0; w < W; ++w) {
          const bool pair = vi[w] * vj[w] != T(0);
          T p0, sp;
          sig_and_slope((sj[w] - si[w]) * it, p0, sp);
          ri[w] += static_cast<double>(vm::select(pair, p0, T(0)));
          rj[w] += static_cast<double>(vm::select(pair, T(1) - p0, T(0)));
          ps[w] = vm::select(pair, sp, T(0));  // the gradient pass's slope
        }
      });
      // DCG = sum_i G_i ln2 / ln(1 + rhat_i) (the library's vector log: a
      // log per item, 640k of them for 1e4 x 64, was too slow as std::log2)
      T* FL_RESTRICT a = lb.at;  // d loss / d rhat
      alignas(64) double dcg[W];
      for (int64_t w = 0; w < W; ++w) dcg[w] = 0.0;
      // ln(1 + rhat) into G (free until the gradient pass): a loop of
      // doubles alone, which GCC vectorizes (mixed with T's mask: not)
      double* FL_RESTRICT lgs = lb.G;
      FL_SIMD
      for (int64_t k = 0; k < L * W; ++k) lgs[k] = vm::log(2.0 + rh[k]);
      for (int64_t i = 0; i < L; ++i) {
        FL_SIMD
        for (int64_t w = 0; w < W; ++w) {
          const int64_t x = i * W + w;
          const bool v = static_cast<double>(vt[x]) != 0.0;
          const double lg = lgs[x];
          dcg[w] += vm::select(v, gn[x] * ln2 / lg, 0.0);
          if constexpr (kGrad) {
            // a_i = G_i ln2 / ((1 + rhat) ln(1 + rhat)^2) / IDCG
            const double ai = gn[x] * ln2 / ((2.0 + rh[x]) * lg * lg) / ideal[w];
            a[x] = vm::select(v, static_cast<T>(ai), T(0));
          }
        }
      }
      for (int64_t w = 0; w < nl; ++w) {
        value[q0 + w] = static_cast<T>(-dcg[w] / ideal[w]);
        this->put_count(lo + q0 + w, nv[w] > T(0) ? 1.0 : 0.0);
      }
      if constexpr (kGrad) {
        // a pair adds sigmoid'(x) (a_j - a_i) / t to g_i and its negative to g_j
        for (int64_t k = 0; k < L * W; ++k) lb.G[k] = 0.0;
        lane_pairs(lb.G, [&](int64_t i, int64_t j, int64_t pi, double* FL_RESTRICT gi,
                             double* FL_RESTRICT gj) {
          const T* FL_RESTRICT si = st + i * W;
          const T* FL_RESTRICT vi = vt + i * W;
          const T* FL_RESTRICT ai = a + i * W;
          const T* FL_RESTRICT sj = st + j * W;
          const T* FL_RESTRICT vj = vt + j * W;
          const T* FL_RESTRICT aj = a + j * W;
          T* FL_RESTRICT pr = lb.et;
          if (pst != nullptr) {
            pr = pst + pi * W;
          } else {
            FL_SIMD
            for (int64_t w = 0; w < W; ++w) {
              T p0;
              sig_and_slope((sj[w] - si[w]) * it, p0, pr[w]);
            }
          }
          FL_SIMD
          for (int64_t w = 0; w < W; ++w) {
            const bool pair = vi[w] * vj[w] != T(0);
            const T d = pr[w] * (aj[w] - ai[w]);
            const double dd = static_cast<double>(vm::select(pair, d, T(0)));
            gi[w] += dd;
            gj[w] -= dd;
          }
        });
        for (int64_t w = 0; w < nl; ++w) {
          const int64_t q = q0 + w;
          T* FL_RESTRICT gr = g + (lo + q) * L;
          const double f = static_cast<double>(gs[q]) * static_cast<double>(inv_temp);
          for (int64_t k = 0; k < L; ++k) {
            gr[k] = vt[k * W + w] != T(0) ? static_cast<T>(lb.G[k * W + w] * f) : T(0);
          }
        }
      }
    }
  }

  // Lists longer than kLaneMax, list by list (Laned's eval picks).
  template <bool kGrad>
  void eval_rows(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
                 void* scratch) const {
    Buffers<T> b(scratch, L);
    b.fill_lg2(L);
    T* pstore = stores() ? reinterpret_cast<T*>(static_cast<unsigned char*>(scratch) +
                                                Buffers<T>::bytes(L))
                         : nullptr;
    const double ln2 = 0.69314718055994530942;
    const T it = inv_temp;
    this->each_list(lo, len, b, [&](int64_t q, int64_t r, const T* FL_RESTRICT sr,
                                    const T* FL_RESTRICT yr, const T* FL_RESTRICT v) {
      const double ideal = this->gains_and_ideal(yr, b);
      double* FL_RESTRICT rh = b.aux;  // rhat - 1, row parts then column parts
      for (int64_t k = 0; k < L; ++k) rh[k] = 0.0;
      for (int64_t i = 0; i + 1 < L; ++i) {
        if (v[i] == T(0)) continue;
        const int64_t n = L - i - 1;
        const T si = sr[i];
        const T* FL_RESTRICT sj = sr + i + 1;
        const T* FL_RESTRICT vj = v + i + 1;
        T* FL_RESTRICT pr = b.term;
        T* FL_RESTRICT qr = b.der;  // 1 - p, the column's share
        // the slopes for the gradient pass (without a store: b.gt, free
        // until then)
        T* FL_RESTRICT slope = pstore != nullptr ? pstore + i * pad8(L) : b.gt;
        FL_SIMD
        for (int64_t k = 0; k < n; ++k) {
          T p, sp;
          sig_and_slope((sj[k] - si) * it, p, sp);
          pr[k] = vj[k] != T(0) ? p : T(0);
          qr[k] = vj[k] != T(0) ? T(1) - p : T(0);
          slope[k] = vj[k] != T(0) ? sp : T(0);
        }
        rh[i] += row_sum(n, [&](int64_t k) { return static_cast<double>(pr[k]); });
        double* FL_RESTRICT col = rh + i + 1;
        FL_SIMD
        for (int64_t k = 0; k < n; ++k) col[k] += static_cast<double>(qr[k]);
      }
      double dcg = 0.0;
      for (int64_t i = 0; i < L; ++i) {
        if (v[i] != T(0)) dcg += b.gain[i] / std::log2(2.0 + rh[i]);
      }
      value[q] = static_cast<T>(-dcg / ideal);
      if constexpr (kGrad) {
        // a_i = d loss / d rhat_i = G_i ln2 / ((1 + rhat) ln(1 + rhat)^2) / IDCG;
        // a pair adds sigmoid'(x) (a_j - a_i) / t to g_i and its negative to g_j
        T* FL_RESTRICT a = b.gt;
        for (int64_t i = 0; i < L; ++i) {
          const double lr = std::log1p(1.0 + rh[i]);
          a[i] = v[i] != T(0)
                     ? static_cast<T>(b.gain[i] * ln2 / ((2.0 + rh[i]) * lr * lr) / ideal)
                     : T(0);
        }
        double* FL_RESTRICT ga = b.gacc;
        for (int64_t k = 0; k < L; ++k) ga[k] = 0.0;
        for (int64_t i = 0; i + 1 < L; ++i) {
          if (v[i] == T(0)) continue;
          const int64_t n = L - i - 1;
          const T si = sr[i], ai = a[i];
          const T* FL_RESTRICT sj = sr + i + 1;
          const T* FL_RESTRICT aj = a + i + 1;
          const T* FL_RESTRICT vj = v + i + 1;
          T* FL_RESTRICT dr = b.der;
          if (pstore != nullptr) {
            const T* FL_RESTRICT spr = pstore + i * pad8(L);
            FL_SIMD
            for (int64_t k = 0; k < n; ++k) {
              const T d = spr[k] * (aj[k] - ai);
              dr[k] = vj[k] != T(0) ? d : T(0);
            }
          } else {
            FL_SIMD
            for (int64_t k = 0; k < n; ++k) {
              T p, sp;
              sig_and_slope((sj[k] - si) * it, p, sp);
              const T d = sp * (aj[k] - ai);
              dr[k] = vj[k] != T(0) ? d : T(0);
            }
          }
          ga[i] += row_sum(n, [&](int64_t k) { return static_cast<double>(dr[k]); });
          double* FL_RESTRICT col = ga + i + 1;
          FL_SIMD
          for (int64_t k = 0; k < n; ++k) col[k] -= static_cast<double>(dr[k]);
        }
        T* FL_RESTRICT gr = g + r * L;
        const double f = static_cast<double>(gs[q]) * static_cast<double>(inv_temp);
        // masked items: 0 (a NaN of a valid item never reaches them)
        for (int64_t k = 0; k < L; ++k) gr[k] = v[k] != T(0) ? static_cast<T>(ga[k] * f) : T(0);
      }
    });
  }
};

}  // namespace ranking_detail
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
