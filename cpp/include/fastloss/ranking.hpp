// fastloss/ranking.hpp -- ranking losses on the per-sample driver: one list
// of items (scores, relevance labels, an optional validity mask) per sample.
//
// Design. Every loss here is O(list_size^2) per list and none ever holds a
// (list_size x list_size) array: a list is walked row by row, a row's pair
// terms go into a buffer of list_size values in the thread's scratch (a
// vectorized pass, the library's own exp/log1p), and the buffer is summed by
// row_sum's fixed tree (rowwise.hpp), so a list's value and gradient have
// the same bits on every ISA level and thread count. The pairwise losses
// visit each unordered pair once (i < j: the pair's sign says which item
// should rank above), adding the pair's derivative to item i through the
// row's sum and to item j through a float64 column accumulator.
//
// Definitions follow rax (google/rax, rax/_src/losses.py, lambdaweights.py,
// t12n.py, metrics.py), per list, with its default reduce_fn (the mean over
// the list's valid pairs for the pairwise losses; 0 for a list without one):
//   pairwise_logistic  mean over pairs y_i > y_j of log(1 + exp(-(s_i - s_j)))
//   pairwise_hinge     mean over pairs y_i > y_j of max(0, 1 - (s_i - s_j))
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

// A thread's per-list buffers, carved from its scratch slot (64-byte
// aligned): float64 accumulators first, then the T buffers of a row.
template <class T>
struct Buffers {
  double* gacc;  // gradient accumulators of the list's items
  double* gain;  // 2^y - 1 (lambda_rank, approx_ndcg)
  double* aux;   // approximate ranks (approx_ndcg)
  double* sort;  // the valid gains, sorted (the ideal DCG)
  T* valid;      // 1 for a valid item, 0 for a masked one
  T* term;       // a row's pair terms
  T* der;        // a row's pair derivatives
  T* gt;         // normalized gains as T (lambda_rank) / dL/drhat (approx_ndcg)
  T* dt;         // discounts at the exact ranks (lambda_rank)

  static size_t bytes(int64_t L) {
    const int64_t p = pad8(L);
    return static_cast<size_t>(4 * p) * sizeof(double) + static_cast<size_t>(5 * p) * sizeof(T) +
           64;
  }
  Buffers(void* scratch, int64_t L) {
    const int64_t p = pad8(L);
    double* d = static_cast<double*>(scratch);
    gacc = d;
    gain = d + p;
    aux = d + 2 * p;
    sort = d + 3 * p;
    T* t = reinterpret_cast<T*>(d + 4 * p);
    valid = t;
    term = t + p;
    der = t + 2 * p;
    gt = t + 3 * p;
    dt = t + 4 * p;
  }
};

// What every ranking loss reads: n lists of L items.
template <class T>
struct ListsBase {
  // Several short lists per task (a list of 64 items is 2016 pairs); the
  // cost hint (about a pair's exp and log1p per pair) makes the thread
  // count follow the real work, which the list size sets.
  static constexpr int64_t group = 8;
  static constexpr int cost = 1;
  const T* s;
  const T* y;
  const int64_t* m;  // nullptr: every item valid
  T* g;              // nullptr: not asked
  int64_t L;

  int64_t sample_cost(int64_t) const { return 8 * L * L + L; }
  size_t scratch_bytes() const { return Buffers<T>::bytes(L); }

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
  // DCG of the list: the valid gains sorted, discounted 1/log2(1 + rank);
  // 0 is read as 1 (rax's ndcg_metric and dcg_lambdaweight). exp2 and log2
  // are O(list_size) per list, outside the pair loops.
  double gains_and_ideal(const T* yr, Buffers<T>& b) const {
    int64_t nv = 0;
    for (int64_t k = 0; k < L; ++k) {
      const double gk = b.valid[k] != T(0) ? std::exp2(static_cast<double>(yr[k])) - 1.0 : 0.0;
      b.gain[k] = gk;
      if (b.valid[k] != T(0)) b.sort[nv++] = gk;
    }
    std::sort(b.sort, b.sort + nv, std::greater<double>());
    double ideal = 0.0;
    for (int64_t k = 0; k < nv; ++k) ideal += b.sort[k] / std::log2(static_cast<double>(k) + 2.0);
    return ideal == 0.0 ? 1.0 : ideal;
  }
};

enum class Pair : int { logistic, hinge, lambda };

// pairwise_logistic, pairwise_hinge and lambda_rank: one unordered pair at a
// time, its sign sg = sign(y_i - y_j) (0: not a pair).
template <class T, Pair kPair>
struct PairLists : ListsBase<T> {
  using ListsBase<T>::s;
  using ListsBase<T>::y;
  using ListsBase<T>::g;
  using ListsBase<T>::L;

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
        const bool before = sr[j] > sk || (sr[j] == sk && j < k);
        above += before ? v[j] : T(0);
      }
      b.dt[k] = static_cast<T>(1.0 / std::log2(static_cast<double>(above) + 2.0));
    }
  }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    Buffers<T> b(scratch, L);
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
          const T z = sg * (si - sj[k]);  // the margin of the preferred order
          T t, d;                         // the pair's loss, d loss / d s_i
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
              const T dg = gi - gj[k], dd = di - dj[k];
              const T w = (dg < T(0) ? -dg : dg) * (dd < T(0) ? -dd : dd) * wscale;
              t *= w;
              d *= w;
            }
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
      // rax's mean over the list's valid pairs; 0 without one (safe_reduce)
      value[q] = pairs > 0 ? static_cast<T>(total / static_cast<double>(pairs)) : T(0);
      if constexpr (kGrad) {
        const double f = pairs > 0 ? static_cast<double>(gs[q]) / static_cast<double>(pairs) : 0.0;
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
  using ListsBase<T>::s;
  using ListsBase<T>::y;
  using ListsBase<T>::g;
  using ListsBase<T>::L;

  // O(list_size) per list, about an exp and a few sums per item
  int64_t sample_cost(int64_t) const { return 8 * L + 1; }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    Buffers<T> b(scratch, L);
    for (int64_t q = 0; q < len; ++q) {
      const int64_t r = lo + q;
      const T* FL_RESTRICT sr = s + r * L;
      const T* FL_RESTRICT yr = y + r * L;
      const T* FL_RESTRICT v = b.valid;
      this->load_valid(r, b.valid);
      int bad = 0;
      FL_PRAGMA(omp simd reduction(| : bad))
      for (int64_t k = 0; k < L; ++k) bad |= v[k] != T(0) && yr[k] < T(0);
      if (bad) {
        int64_t k = 0;
        while (!(v[k] != T(0) && yr[k] < T(0))) ++k;
        throw std::invalid_argument("labels: listnet takes labels >= 0, got " +
                                    std::to_string(static_cast<double>(yr[k])) + " in list " +
                                    std::to_string(r) + " (flat index " +
                                    std::to_string(r * L + k) + ")");
      }
      const double ysum =
          row_sum(L, [&](int64_t k) { return v[k] != T(0) ? static_cast<double>(yr[k]) : 0.0; });
      T* FL_RESTRICT gr = kGrad ? g + r * L : nullptr;
      if (ysum == 0.0) {  // no relevant item (or none valid): no loss
        value[q] = T(0);
        if constexpr (kGrad) {
          for (int64_t k = 0; k < L; ++k) gr[k] = T(0);
        }
        continue;
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
    }
  }
};

// approx_ndcg: minus the NDCG of the approximate ranks (Qin, Liu & Li 2010).
// Each unordered pair once: p = sigmoid((s_j - s_i) / t) counts toward
// rhat_i and 1 - p = sigmoid((s_i - s_j) / t) toward rhat_j (row sum and
// float64 column accumulator, as the pairwise losses). For lists up to
// kStore items the pair's p is kept (a list_size^2 buffer per thread, at
// most 1 MiB) for the gradient pass, which then needs no exp.
template <class T>
struct ApproxNdcg : ListsBase<T> {
  using ListsBase<T>::s;
  using ListsBase<T>::y;
  using ListsBase<T>::g;
  using ListsBase<T>::L;
  T inv_temp;  // 1 / temperature
  static constexpr int64_t kStore = 512;

  bool stores() const { return L <= kStore; }
  size_t scratch_bytes() const {
    return Buffers<T>::bytes(L) +
           (stores() ? static_cast<size_t>(L * pad8(L)) * sizeof(T) : size_t(0));
  }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    Buffers<T> b(scratch, L);
    T* pstore = stores() ? reinterpret_cast<T*>(static_cast<unsigned char*>(scratch) +
                                                Buffers<T>::bytes(L))
                         : nullptr;
    const double ln2 = 0.69314718055994530942;
    const T it = inv_temp;
    for (int64_t q = 0; q < len; ++q) {
      const int64_t r = lo + q;
      const T* FL_RESTRICT sr = s + r * L;
      const T* FL_RESTRICT yr = y + r * L;
      const T* FL_RESTRICT v = b.valid;
      this->load_valid(r, b.valid);
      const double ideal = this->gains_and_ideal(yr, b);
      double* FL_RESTRICT rh = b.aux;  // rhat - 1, row parts then column parts
      for (int64_t k = 0; k < L; ++k) rh[k] = 0.0;
      for (int64_t i = 0; i + 1 < L; ++i) {
        if (v[i] == T(0)) continue;
        const int64_t n = L - i - 1;
        const T si = sr[i];
        const T* FL_RESTRICT sj = sr + i + 1;
        const T* FL_RESTRICT vj = v + i + 1;
        T* FL_RESTRICT pr = pstore != nullptr ? pstore + i * pad8(L) : b.term;
        T* FL_RESTRICT qr = b.der;  // 1 - p, the column's share
        FL_SIMD
        for (int64_t k = 0; k < n; ++k) {
          const T p = vm::sigmoid((sj[k] - si) * it);
          pr[k] = vj[k] != T(0) ? p : T(0);
          qr[k] = vj[k] != T(0) ? T(1) - p : T(0);
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
            const T* FL_RESTRICT pr = pstore + i * pad8(L);
            FL_SIMD
            for (int64_t k = 0; k < n; ++k) {
              const T p = pr[k];
              dr[k] = p * (T(1) - p) * (aj[k] - ai);  // 0 where j is masked (p = 0)
            }
          } else {
            FL_SIMD
            for (int64_t k = 0; k < n; ++k) {
              const T p = vm::sigmoid((sj[k] - si) * it);
              const T d = p * (T(1) - p) * (aj[k] - ai);
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
    }
  }
};

}  // namespace ranking_detail
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
