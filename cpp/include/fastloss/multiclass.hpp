// fastloss/multiclass.hpp -- multiclass losses: one row of C scores per sample.
//
// Design: each loss is a row functor (common/rowwise.hpp): given row r's C
// contiguous logits z it returns the row's loss and writes gs * dloss/dz.
// The row driver owns the loop over rows, sample weights, the reduction, the
// mean's denominator, threads and the deterministic sums.
//
// Numerics. Softmax losses use log-sum-exp with the max subtracted:
// lse = m + log(sum_k exp(z_k - m)), exp evaluated in the input's dtype and
// summed in float64 (row_sum). A term q_k (lse - z_k) whose weight q_k is 0
// counts 0, so a -inf logit with zero target probability contributes
// nothing (where PyTorch's input * target would give NaN). Losses built from
// max/hinge pieces set value and gradient to NaN when the row holds a NaN.
// Labels are checked in the kernel pass (`bad`); the caller throws after it.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "fastloss/common/config.hpp"
#include "fastloss/common/rowwise.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace mc {

template <class T>
FL_INLINE void fill(T* g, int64_t C, T v) {
  for (int64_t k = 0; k < C; ++k) g[k] = v;
}

FL_INLINE double nan_d() { return std::numeric_limits<double>::quiet_NaN(); }

// A row with a NaN score: NaN loss and, with kGrad, a NaN gradient row.
template <bool kGrad, class T>
FL_INLINE double nan_row(T* g, int64_t C) {
  if constexpr (kGrad) fill(g, C, std::numeric_limits<T>::quiet_NaN());
  return nan_d();
}

// max of term(k) over k in [0, C) (-inf for C = 0): four independent lanes
// in registers (a max is exact in any order), no vector prologue and
// epilogue to pay on a short row.
template <class T, class F>
FL_INLINE T lanes_max(int64_t C, const F& term) {
  const T ninf = -std::numeric_limits<T>::infinity();
  T m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
  const auto take = [](T& m, T c) { m = c > m ? c : m; };
  int64_t k = 0;
  for (; k + 4 <= C; k += 4) {
    take(m0, term(k));
    take(m1, term(k + 1));
    take(m2, term(k + 2));
    take(m3, term(k + 3));
  }
  for (; k < C; ++k) take(m0, term(k));
  take(m0, m1);
  take(m2, m3);
  take(m0, m2);
  return m0;
}

// max of z[k] over k != y (-inf for C = 1), and whether the row holds a
// NaN, in one pass.
template <class T>
FL_INLINE T max_except(const T* FL_RESTRICT z, int64_t C, int64_t y, bool& nan) {
  int bad = 0;
  const T m = lanes_max<T>(C, [&](int64_t k) {
    const T zk = z[k];
    bad |= zk != zk ? 1 : 0;
    return k == y ? -std::numeric_limits<T>::infinity() : zk;
  });
  nan = bad != 0;
  return m;
}
// The first k in [0, C) with hit(k), or C if none, branch-free: a scan that
// stops at the first hit mispredicts its exit once a row when the position
// is random (an arg-max), which cost more than the row's whole loss. Short
// rows: one bit per k, then the lowest set bit (GCC's vectorized form of
// the select loop below reduces with several shuffles per row).
template <class P>
FL_INLINE int64_t first_where(int64_t C, const P& hit) {
  if (C <= 64) {
    uint64_t bits = 0;
    for (int64_t k = 0; k < C; ++k) bits |= static_cast<uint64_t>(hit(k) ? 1 : 0) << k;
    return bits != 0 ? __builtin_ctzll(bits) : C;
  }
  int64_t first = C;
  for (int64_t k = C - 1; k >= 0; --k) first = hit(k) ? k : first;
  return first;
}
// The first k != y with z[k] == v (v one of those values; C if none).
template <class T>
FL_INLINE int64_t first_equal_except(const T* FL_RESTRICT z, int64_t C, int64_t y, T v) {
  return first_where(C, [&](int64_t k) { return k != y && z[k] == v; });
}

// Softmax statistics of one row: max m, sum of exp(z - m), log-sum-exp.
// The second constructor also leaves e_k = exp(z_k - m) in e[0..C) (the
// gradient buffer), so the gradient pass scales them instead of calling exp
// again; both give the same bits (the same T values are summed).
template <class T>
struct Softmax {
  T m;
  double se;
  double lse;
  FL_INLINE Softmax(const T* FL_RESTRICT z, int64_t C) {
    m = row_max(z, C);
    const T mm = m;
    se = row_sum(C, [&](int64_t k) { return static_cast<double>(vm::exp_nonpos(z[k] - mm)); });
    lse = static_cast<double>(m) + vm::log_normal(se);
  }
  FL_INLINE Softmax(const T* FL_RESTRICT z, int64_t C, T* FL_RESTRICT e) {
    m = row_max(z, C);
    const T mm = m;
    FL_SIMD
    for (int64_t k = 0; k < C; ++k) e[k] = vm::exp_nonpos(z[k] - mm);
    se = row_sum(C, [&](int64_t k) { return static_cast<double>(e[k]); });
    lse = static_cast<double>(m) + vm::log_normal(se);
  }
  FL_INLINE Softmax(T m_, double se_, double lse_) : m(m_), se(se_), lse(lse_) {}
  FL_INLINE double e(const T* z, int64_t k) const {
    return static_cast<double>(vm::exp_nonpos(z[k] - m));
  }
};

// Softmax statistics of n consecutive rows of C (small) logits at once: one
// flat exp loop over n * C elements (full vectors, where a row of 10 would
// leave a vector loop unused; exp_rows) and one log loop over the rows.
// e[0..n*C) receives exp(z - m_row); sums and logs are the per-row ones of
// Softmax, so the bits are the same as row by row.
template <class T>
FL_INLINE void exp_rows(const T* FL_RESTRICT z, int64_t n, int64_t C, T* FL_RESTRICT e,
                        T* FL_RESTRICT m) {
  if (C >= kRowW<T>) {
    for (int64_t i = 0; i < n; ++i) {
      VRow<T> mv;
      row_max_splat(z + i * C, C, mv);
      m[i] = mv[0];
      fill_row_vec(e + i * C, C, mv);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const T mi = short_row_max(z + i * C, C);
      m[i] = mi;
      fill_row(e + i * C, C, mi);
    }
  }
  const int64_t nc = n * C;
  FL_SIMD
  for (int64_t k = 0; k < nc; ++k) e[k] = vm::exp_nonpos(z[k] - e[k]);
}

// Where the block paths of the softmax losses put exp(z - m) of their n
// rows: into the gradient rows with kGrad (the gradient pass then scales
// them in place), else into a stack buffer of kChunk rows of up to kMaxC;
// m[i] is row i's max.
template <class T, bool kGrad, int64_t kMaxC>
struct BlockExps {
  alignas(64) T scratch[kGrad ? 1 : kChunk * kMaxC];
  alignas(64) T m[kChunk];
  T* const e;
  explicit BlockExps(T* g) : e(kGrad ? g : scratch) {}
  BlockExps(const BlockExps&) = delete;
  BlockExps& operator=(const BlockExps&) = delete;
};

template <class T>
FL_INLINE void softmax_rows(const T* FL_RESTRICT z, int64_t n, int64_t C, T* FL_RESTRICT e,
                            T* FL_RESTRICT m, double* FL_RESTRICT se, double* FL_RESTRICT lse) {
  exp_rows(z, n, C, e, m);
  for (int64_t i = 0; i < n; ++i) se[i] = short_row_sum(e + i * C, C);
  FL_SIMD
  for (int64_t i = 0; i < n; ++i) lse[i] = static_cast<double>(m[i]) + vm::log_normal(se[i]);
}

// g[k] = e[k] * a - b * c_k in place (c_k = 1 without class weights), in
// float64. Rows of at least four values go four at a time, the last four
// overlapping the four before: they are read (and their results computed)
// before any store, so each entry is written from its input; a short row
// then costs no scalar remainder. (The cw test is loop-invariant. Long rows
// run four lanes per step too: a plain loop at the target's width for rows of
// 64 or more measured 3-5% slower on cross_entropy value+grad at 2e3 x 32000
// and 1e5 x 1000, one thread, at both avx2 and avx512.)
template <class T>
FL_INLINE void scale_shift(T* FL_RESTRICT g, int64_t C, double a, double b,
                           const double* FL_RESTRICT cw) {
  // (vectors by reference: a 32-byte vector by value changes the ABI below AVX)
  auto quad = [&](int64_t j, V4d& v) {
    load4(g + j, v);
    if (cw != nullptr) {
      V4d c;
      std::memcpy(&c, cw + j, sizeof c);
      v = v * a - b * c;
    } else {
      v = v * a - b;
    }
  };
  auto put = [&](int64_t j, const V4d& v) {
    if constexpr (sizeof(T) == 4) {
      const V4f f = __builtin_convertvector(v, V4f);
      std::memcpy(g + j, &f, sizeof f);
    } else {
      std::memcpy(g + j, &v, sizeof v);
    }
  };
  if (C >= 4) {
    V4d last, v;
    quad(C - 4, last);
    for (int64_t j = 0; j + 4 < C; j += 4) {
      quad(j, v);
      put(j, v);
    }
    put(C - 4, last);
    return;
  }
  for (int64_t k = 0; k < C; ++k) {
    const double c = cw != nullptr ? cw[k] : 1.0;
    g[k] = static_cast<T>(static_cast<double>(g[k]) * a - b * c);  // b * 1 is b, exactly
  }
}

// h_k = s * p_k (1 - p_k) with p = softmax(z): the diagonal of the Hessian
// of a softmax cross-entropy whose targets sum to s (computed from z again,
// after the gradient pass overwrote its exps; the row is in L1). A NaN row
// gives NaN.
template <class T>
FL_INLINE void softmax_hess(const T* FL_RESTRICT z, int64_t C, T* FL_RESTRICT h, double s) {
  const Softmax<T> sm(z, C, h);  // h holds exp(z - max) on return
  const double inv = 1.0 / sm.se;
  for (int64_t k = 0; k < C; ++k) {
    const double p = static_cast<double>(h[k]) * inv;
    h[k] = static_cast<T>(s * (p * (1.0 - p)));
  }
}


// h = 0 where g is finite, NaN where g is NaN: the Hessian of a loss that is
// linear, or piecewise linear, in its scores (0 off the kinks, undefined on
// them; boosting adapters pass a positive constant instead).
template <class T>
FL_INLINE void zero_hess(const T* FL_RESTRICT g, T* FL_RESTRICT h, int64_t C) {
  FL_SIMD
  for (int64_t k = 0; k < C; ++k) h[k] = g[k] - g[k];
}

// row_hess of such a loss f: row()'s value and gradient, the Hessian of
// zero_hess.
template <class F, class T>
FL_INLINE double linear_row_hess(const F& f, int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                                 T* FL_RESTRICT h, double gs, bool& bad) {
  const double v = f.template row<true>(r, z, g, gs, bad);
  zero_hess(g, h, f.C);
  return v;
}

}  // namespace mc

// Base of the losses that read integer labels: validity and class weights.
struct LabelRows {
  const int64_t* labels;
  const double* cw;  // class weights or nullptr
  int64_t C;
  int64_t ignore;    // ignore_index (only when has_ignore)
  bool has_ignore;

  FL_INLINE bool ignored(int64_t y) const { return has_ignore && y == ignore; }
  FL_INLINE bool out_of_range(int64_t y) const { return y < 0 || y >= C; }
  FL_INLINE double cwk(int64_t k) const { return cw != nullptr ? cw[k] : 1.0; }
  // The mean divides by the row count unless a loss says otherwise (its own
  // custom_norm() true: by the weights norm(r) below, as PyTorch's).
  bool custom_norm() const { return false; }
  // A row whose label is ignored or out of range counts 0 with a zero
  // gradient (kGrad), and `bad` is set when the label is out of range: the
  // one prelude of every labelled loss's row and block paths. Returns
  // whether the row is such a row.
  template <bool kGrad, class T>
  FL_INLINE bool skip(int64_t y, T* g, bool& bad) const {
    if (!ignored(y) && !out_of_range(y)) return false;
    bad = !ignored(y);
    if constexpr (kGrad) mc::fill(g, C, T(0));
    return true;
  }
  // skip() for row_hess: a skipped row's Hessian is 0 too.
  template <class T>
  FL_INLINE bool skip_hess(int64_t y, T* g, T* h, bool& bad) const {
    if (!skip<true>(y, g, bad)) return false;
    mc::fill(h, C, T(0));
    return true;
  }
  // The rows r0 .. r0+n-1 of a block (rowwise.hpp, block rows), their
  // gradient rows g + i C: a row skip() takes gets v[i] = 0 (and bad[i] as
  // skip sets it); every other row has bad[i] = false and goes to
  // row(i, y, gi) (gi nullptr without kGrad), which sets v[i].
  template <bool kGrad, class T, class Row>
  FL_INLINE void each_row(int64_t r0, int64_t n, T* g, double* FL_RESTRICT v,
                          bool* FL_RESTRICT bad, const Row& row) const {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y = labels[r0 + i];
      T* gi = kGrad ? g + i * C : nullptr;
      bad[i] = false;
      if (skip<kGrad>(y, gi, bad[i])) {
        v[i] = 0.0;
        continue;
      }
      row(i, y, gi);
    }
  }
  // Weight of row r in the mean (PyTorch: the class weight of its label,
  // 0 for an ignored row).
  FL_INLINE double norm(int64_t r, bool& bad) const {
    const int64_t y = labels[r];
    if (ignored(y)) return 0.0;
    if (out_of_range(y)) {
      bad = true;
      return 0.0;
    }
    return cwk(y);
  }
  // Without class weights every norm(r) is 0 or 1: the denominator is a
  // count of the rows whose label is in range and not ignored (see
  // rowwise.hpp, has_count_norm), taken branch-free over [lo, hi); `bad`
  // gets the first row with a label out of range (and not ignored), or -1.
  bool norm_is_count() const { return cw == nullptr; }
  FL_INLINE int64_t count_norm(int64_t lo, int64_t hi, int64_t& bad) const {
    const int64_t* FL_RESTRICT lab = labels;
    const uint64_t nc = static_cast<uint64_t>(C), ig = static_cast<uint64_t>(ignore);
    const int64_t use_ig = has_ignore ? 1 : 0;
    int64_t count = 0, nbad = 0;
    for (int64_t r = lo; r < hi; ++r) {
      const uint64_t y = static_cast<uint64_t>(lab[r]);
      const int64_t skip = use_ig & static_cast<int64_t>(y == ig);
      const int64_t out = static_cast<int64_t>(y >= nc);  // y < 0 wraps above C
      count += (skip | out) ^ 1;
      nbad += out & (skip ^ 1);
    }
    bad = -1;
    if (nbad != 0) {
      for (int64_t r = lo; r < hi && bad < 0; ++r) {
        if (!ignored(lab[r]) && out_of_range(lab[r])) bad = r;
      }
    }
    return count;
  }
};

// Base of the losses that read a dense target row per row of scores (class
// probabilities, multilabel targets): the target, class weights, and the
// mean's denominator, the row count.
template <class U>
struct DenseRows {
  const U* target;   // rows * C
  const double* cw;  // class weights or nullptr (read by the losses that take them)
  int64_t C;
  bool custom_norm() const { return false; }
  double norm(int64_t, bool&) const { return 1.0; }
  FL_INLINE double cwk(int64_t k) const { return cw != nullptr ? cw[k] : 1.0; }
  // A block's rows r0 .. r0+n-1 in sub-blocks of up to kSub rows (what the
  // stack buffers of a block path hold): body(i0, m, zb, tb) for the m rows
  // from row r0 + i0, their scores zb (z holding the block's) and targets tb.
  template <int64_t kSub, class Z, class Body>
  FL_INLINE void sub_blocks(int64_t r0, int64_t n, const Z* z, const Body& body) const {
    for (int64_t i0 = 0; i0 < n; i0 += kSub) {
      const int64_t m = n - i0 < kSub ? n - i0 : kSub;
      body(i0, m, z + i0 * C, target + (r0 + i0) * C);
    }
  }
};

// The gradient with respect to the dense target of a row loss F, for a
// target that is differentiable on request (api/catalogue.hpp, InputSpec's
// on_request): F writes it once, as
//   double target_row(r, z, g, gs, bad) const;
// returning row r's loss and writing gs * d loss / d t_r into g[0..C) (the
// target's row, of the scores' shape). This functor hands it to the row
// driver in place of F's own gradient, so the row weights and the mean's
// denominator are the pred gradient's. No block path: a row at a time.
template <class F>
struct TargetRows {
  static constexpr int cost = F::cost;
  F f;
  bool custom_norm() const { return f.custom_norm(); }
  double norm(int64_t r, bool& bad) const { return f.norm(r, bad); }
  template <bool kGrad, class T>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    if constexpr (kGrad) {
      return f.target_row(r, z, g, gs, bad);
    } else {
      return f.template row<false>(r, z, g, gs, bad);
    }
  }
};

// Cross-entropy with integer labels, class weights and label smoothing eps:
//   l = (1 - eps) cw_y (lse - z_y) + (eps / C) sum_k cw_k (lse - z_k)
// (torch cross_entropy_loss_label_smoothing); 0 for an ignored row.
// With q_k = (1 - eps) cw_y [k = y] + (eps / C) cw_k and s = sum_k q_k the
// gradient is s softmax_k - q_k.
template <class T>
struct CrossEntropyLabels : LabelRows {
  static constexpr int cost = 8;
  double eps;
  double cw_sum;  // sum_k cw_k (C without class weights)
  bool custom_norm() const { return true; }

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    const int64_t y = labels[r];
    if (skip<kGrad>(y, g, bad)) return 0.0;
    return tail<kGrad>(y, z, g, gs, kGrad ? mc::Softmax<T>(z, C, g) : mc::Softmax<T>(z, C));
  }

  // Diagonal Hessian: d^2 l / dz_k^2 = s p_k (1 - p_k), p = softmax(z), with
  // s = sum_k q_k as in the gradient (see mc::softmax_hess); 0 for a skipped row.
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    const int64_t y = labels[r];
    if (skip_hess(y, g, h, bad)) return 0.0;
    const double v = row<true>(r, z, g, gs, bad);
    mc::softmax_hess(z, C, h, gs * ((1.0 - eps) * cwk(y) + eps / static_cast<double>(C) *
                                    cw_sum));
    return v;
  }

  // Rows r0 .. r0+n-1 at once for small C (see rowwise.hpp, block rows).
  static constexpr int64_t block_max_C = 32;
  template <bool kGrad>
  FL_INLINE void block(int64_t r0, int64_t n, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                       const double* FL_RESTRICT gs, double* FL_RESTRICT v,
                       bool* FL_RESTRICT bad) const {
    alignas(64) double se[kChunk], lse[kChunk];
    mc::BlockExps<T, kGrad, block_max_C> ex(g);
    const T* m = ex.m;
    mc::softmax_rows(z, n, C, ex.e, ex.m, se, lse);
    each_row<kGrad>(r0, n, g, v, bad, [&](int64_t i, int64_t y, T* gi) {
      v[i] = tail<kGrad>(y, z + i * C, gi, gs[i], mc::Softmax<T>(m[i], se[i], lse[i]));
    });
  }

  // The row's loss from its softmax statistics; with kGrad, g holds
  // exp(z - m) on entry and the scaled gradient on return.
  template <bool kGrad>
  FL_INLINE double tail(int64_t y, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                        const mc::Softmax<T>& sm) const {
    const double lse = sm.lse;
    const double cwy = cwk(y);
    const double a = (1.0 - eps) * cwy;  // weight of the label's term
    const double b = eps / static_cast<double>(C);
    double v = a == 0.0 ? 0.0 : a * (lse - static_cast<double>(z[y]));
    if (eps > 0.0) {
      const double* cw_ = cw;
      const double ssum = row_sum(C, [&](int64_t k) {
        const double c = cw_ != nullptr ? cw_[k] : 1.0;
        return c == 0.0 ? 0.0 : c * (lse - static_cast<double>(z[k]));
      });
      v += b * ssum;
    }
    if constexpr (kGrad) {
      const double s = a + b * cw_sum;
      const double ps = gs * s / sm.se;  // gs * s * softmax_k = ps * e_k
      const double gb = gs * b;
      const double ey = static_cast<double>(g[y]);
      mc::scale_shift(g, C, ps, gb, cw);
      g[y] = static_cast<T>(ey * ps - gb * cwy - gs * a);
    }
    return v;
  }
};

// Cross-entropy with class probabilities t (torch's soft targets):
//   q_k = cw_k (t_k (1 - eps) + eps / C),  l = sum_k q_k (lse - z_k),
// gradient (sum_k q_k) softmax - q. The mean divides by the row count.
template <class T>
struct CrossEntropyProbs : DenseRows<T> {
  using DenseRows<T>::target, DenseRows<T>::cw, DenseRows<T>::C;
  static constexpr int cost = 10;
  double eps;

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    return row_impl<kGrad>(r, z, g, nullptr, gs, bad);
  }
  // Diagonal Hessian s p_k (1 - p_k), s = sum_k q_k (see mc::softmax_hess).
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    return row_impl<true>(r, z, g, h, gs, bad);
  }
  template <bool kGrad>
  FL_INLINE double row_impl(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT hs, double gs, bool&) const {
    (void)hs;  // read only with kGrad
    const T* FL_RESTRICT t = target + r * C;
    const double* cw_ = cw;
    const double keep = 1.0 - eps, add = eps / static_cast<double>(C);
    auto q = [&](int64_t k) {
      const double c = cw_ != nullptr ? cw_[k] : 1.0;
      return c * (static_cast<double>(t[k]) * keep + add);
    };
    const mc::Softmax<T> sm = kGrad ? mc::Softmax<T>(z, C, g) : mc::Softmax<T>(z, C);
    const double lse = sm.lse;
    const double v = row_sum(C, [&](int64_t k) {
      const double qk = q(k);
      return qk == 0.0 ? 0.0 : qk * (lse - static_cast<double>(z[k]));
    });
    if constexpr (kGrad) {
      const double s = row_sum(C, q);
      if (hs != nullptr) mc::softmax_hess(z, C, hs, gs * s);
      const double ps = gs * s / sm.se;
      if (cw_ != nullptr) {
        FL_SIMD
        for (int64_t k = 0; k < C; ++k) {
          const double qk = cw_[k] * (static_cast<double>(t[k]) * keep + add);
          g[k] = static_cast<T>(static_cast<double>(g[k]) * ps - gs * qk);
        }
      } else {
        FL_SIMD
        for (int64_t k = 0; k < C; ++k) {
          const double qk = static_cast<double>(t[k]) * keep + add;
          g[k] = static_cast<T>(static_cast<double>(g[k]) * ps - gs * qk);
        }
      }
    }
    return v;
  }

  // The target's gradient (TargetRows): d l / d t_k = (1 - eps) cw_k (lse -
  // z_k), -(1 - eps) cw_k log_softmax(z)_k (inf at z_k = -inf, as torch's).
  FL_INLINE double target_row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                              bool& bad) const {
    const double v = row_impl<false>(r, z, g, nullptr, gs, bad);
    const double lse = mc::Softmax<T>(z, C).lse;
    const double s = gs * (1.0 - eps);
    FL_SIMD
    for (int64_t k = 0; k < C; ++k) {
      g[k] = static_cast<T>(s * this->cwk(k) * (lse - static_cast<double>(z[k])));
    }
    return v;
  }
};

// Multiclass hinge. Crammer-Singer: l = max(0, margin + max_{j != y} z_j - z_y)
// (sklearn hinge_loss), subgradient +1 at the first arg-max j, -1 at y, 0
// where l = 0. Weston-Watkins: l = sum_{j != y} max(0, margin - z_y + z_j) / C
// (torch multi_margin_loss, p = 1), gradient 1/C per active j, -count/C at y.
// squared (torch's p = 2) squares each violation: Weston-Watkins
// sum_{j != y} max(0, d_j)^2 / C (gradient 2 d_j / C, Hessian diagonal 2/C per
// active j and 2 count/C at y), Crammer-Singer max(0, d)^2 (gradient +-2d,
// Hessian 2 at j and at y).
template <class T>
struct MulticlassHinge : LabelRows {
  static constexpr int cost = 2;
  double margin;
  bool weston_watkins;
  bool squared = false;

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    const int64_t y = labels[r];
    if (skip<kGrad>(y, g, bad)) return 0.0;
    if (weston_watkins) {
      if (row_has_nan(z, C)) return mc::nan_row<kGrad>(g, C);
      const double zy = static_cast<double>(z[y]);
      const double mg = margin;
      // class k's margin violation, counted where k != y and it is > 0
      const auto slack = [&](int64_t k) { return mg - zy + static_cast<double>(z[k]); };
      const double invC = 1.0 / static_cast<double>(C);
      if (squared) {
        const double v = row_sum(C, [&](int64_t k) {
          const double d = slack(k);
          return (k != y && d > 0.0) ? d * d : 0.0;
        });
        if constexpr (kGrad) {
          // -sum of the others' gradients at y, summed in class order
          const double two = 2.0 * gs * invC;
          double gy = 0.0;
          for (int64_t k = 0; k < C; ++k) {
            const double d = slack(k);
            const bool on = k != y && d > 0.0;
            const double gk = on ? two * d : 0.0;
            gy -= gk;
            g[k] = static_cast<T>(gk);
          }
          g[y] = static_cast<T>(gy);
        }
        return v * invC;
      }
      const double v = row_sum(C, [&](int64_t k) {
        const double d = slack(k);
        return (k != y && d > 0.0) ? d : 0.0;
      });
      if constexpr (kGrad) {
        int64_t active = 0;
        const T step = static_cast<T>(gs * invC);
        for (int64_t k = 0; k < C; ++k) {
          const bool on = k != y && slack(k) > 0.0;
          active += on ? 1 : 0;
          g[k] = on ? step : T(0);
        }
        g[y] = static_cast<T>(-gs * invC * static_cast<double>(active));
      }
      return v * invC;
    }
    // best = max over k != y (branch-free: with random scores a running
    // argmax mispredicts several times a row); the gradient's argmax, the
    // first k != y holding it, is looked up only on active rows.
    bool nan;
    const T best = mc::max_except(z, C, y, nan);
    if (nan) return mc::nan_row<kGrad>(g, C);
    const double d = cs_slack(best, z[y]);
    const bool on = d > 0.0;
    if constexpr (kGrad) {
      mc::fill(g, C, T(0));
      cs_grad(g, on, on ? mc::first_equal_except(z, C, y, best) : y, y,
              squared ? 2.0 * d * gs : gs);
    }
    return on ? (squared ? d * d : d) : 0.0;
  }

  // p = 1: piecewise linear, Hessian 0 (see mc::zero_hess). Squared: the
  // diagonal of the Hessian, 2 gs/C (Weston-Watkins) or 2 gs (Crammer-Singer)
  // at each active class and the count of them at y.
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    const double v = row<true>(r, z, g, gs, bad);
    mc::zero_hess(g, h, C);
    if (!squared || bad || v == 0.0 || v != v) return v;
    const int64_t y = labels[r];
    const double zy = static_cast<double>(z[y]);
    if (weston_watkins) {
      const double two = 2.0 * gs / static_cast<double>(C);
      int64_t active = 0;
      for (int64_t k = 0; k < C; ++k) {
        const bool on = k != y && margin - zy + static_cast<double>(z[k]) > 0.0;
        active += on ? 1 : 0;
        h[k] = on ? static_cast<T>(two) : T(0);
      }
      h[y] = static_cast<T>(two * static_cast<double>(active));
    } else {
      for (int64_t k = 0; k < C; ++k)
        if (k != y && g[k] != T(0)) h[k] = static_cast<T>(2.0 * gs);
      h[y] = static_cast<T>(2.0 * gs);
    }
    return v;
  }

  // Crammer-Singer's two formulas, shared by row() and block(): the margin
  // violation d given the best score of the other classes (the loss is
  // max(0, d)), and the subgradient on a zeroed row, +gs at j (the first
  // arg-max of the others) and -gs at y where the row is active. Branch-free
  // (whether a row is active is as random as its arg-max): an inactive row
  // stores zeros over the label's entry, and j need only be valid where on.
  FL_INLINE double cs_slack(T best, T zy) const {
    return margin + static_cast<double>(best) - static_cast<double>(zy);
  }
  FL_INLINE static void cs_grad(T* FL_RESTRICT g, bool on, int64_t j, int64_t y, double gs) {
    g[on ? j : y] = on ? static_cast<T>(gs) : T(0);
    g[y] = on ? static_cast<T>(-gs) : T(0);
  }

  // Rows r0 .. r0+n-1 at once for small C (see rowwise.hpp, block rows).
  // Crammer-Singer on a flat copy of the block with each row's label entry
  // set to -inf: then the max over k != y is a plain contiguous row max
  // (short_row_max; a max is exact in any order, and the sign of a zero
  // maximum changes neither d nor the argmax looked up below, so the bits
  // are row()'s). Reading the rows class by class instead was a strided
  // load GCC does not vectorize at AVX2 (1.15 ms for 1e5 x 10, 0.36 at
  // AVX-512). NaN: one flat test over the block, rows tested only when it
  // finds one. The gradient's two entries are then set on active rows.
  // Weston-Watkins runs row by row.
  static constexpr int64_t block_max_C = 32;
  template <bool kGrad>
  FL_INLINE void block(int64_t r0, int64_t n, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                       const double* FL_RESTRICT gs, double* FL_RESTRICT v,
                       bool* FL_RESTRICT bad) const {
    if (weston_watkins || squared) {
      for (int64_t i = 0; i < n; ++i) {
        bool b = false;
        v[i] = row<kGrad>(r0 + i, z + i * C, kGrad ? g + i * C : nullptr, gs[i], b);
        bad[i] = b;
      }
      return;
    }
    const T ninf = -std::numeric_limits<T>::infinity();
    const int64_t nc = n * C;
    alignas(64) T masked[kChunk * block_max_C];
    alignas(64) T best[kChunk], zy[kChunk];
    std::memcpy(masked, z, static_cast<size_t>(nc) * sizeof(T));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y = labels[r0 + i];
      bad[i] = out_of_range(y);
      zy[i] = bad[i] ? T(0) : z[i * C + y];
      if (!bad[i]) masked[i * C + y] = ninf;
    }
    for (int64_t i = 0; i < n; ++i) best[i] = short_row_max(masked + i * C, C);
    const bool any_nan = row_has_nan(z, nc);
    FL_SIMD
    for (int64_t i = 0; i < n; ++i) {
      const double d = cs_slack(best[i], zy[i]);
      v[i] = d > 0.0 ? d : 0.0;
    }
    if constexpr (kGrad) mc::fill(g, nc, T(0));
    for (int64_t i = 0; i < n; ++i) {
      T* gi = kGrad ? g + i * C : nullptr;
      if (bad[i]) {
        v[i] = 0.0;
      } else if (any_nan && row_has_nan(z + i * C, C)) {
        v[i] = mc::nan_row<kGrad>(gi, C);
      } else if constexpr (kGrad) {
        // The masked copy's label entry is -inf, never the best of an
        // active row (best = -inf makes d -inf or NaN): f < C and f != y
        // on an active row.
        const T bi = best[i];
        const int64_t f = mc::first_where(C, [&](int64_t k) { return masked[i * C + k] == bi; });
        cs_grad(gi, v[i] > 0.0, f, labels[r0 + i], gs[i]);
      }
    }
  }
};

// Softmax focal loss (Lin et al. 2017, multiclass form):
//   l = -cw_y (1 - p_y)^gamma log p_y,  p = softmax(z).
// With L = log p_y, u = 1 - p_y (computed as sum_{j != y} e_j / sum e, no
// cancellation) and A = u^gamma - gamma p_y u^(gamma - 1) L, the gradient is
// cw_y A (p_k - [k = y]). The mean divides like cross_entropy's
// (sum of w cw_y), so gamma = 0 is exactly cross_entropy.
template <class T>
struct SoftmaxFocal : LabelRows {
  static constexpr int cost = 8;
  double gamma;
  bool custom_norm() const { return true; }

  // u^gamma: the common integer gammas exactly, without exp/log. The case is
  // a template argument, so a loop over rows holds no branch on gamma.
  enum Gamma { kZero, kOne, kTwo, kOther };
  Gamma gamma_case() const {
    return gamma == 2.0 ? kTwo : gamma == 1.0 ? kOne : gamma == 0.0 ? kZero : kOther;
  }
  template <class F>
  FL_INLINE void with_gamma(const F& f) const {
    switch (gamma_case()) {
      case kZero: return f(std::integral_constant<int, kZero>{});
      case kOne: return f(std::integral_constant<int, kOne>{});
      case kTwo: return f(std::integral_constant<int, kTwo>{});
      default: return f(std::integral_constant<int, kOther>{});
    }
  }

  // One row's loss v and, with kGrad, its gradient coefficients from
  // so = sum_{k != y} e_k and ey = e_y (e = exp(z - m)): the gradient is
  // g_k = e_k ce for k != y and g_y = ey ce - coef.
  template <bool kGrad, int kG>
  FL_INLINE void terms(double so, double ey, double m, double zy, double cwy, double gs,
                       double& v, double& coef, double& ce) const {
    const double se = so + ey;
    const double L = zy - (m + vm::log_normal(se));
    const double u = so / se;
    const double py = ey / se;
    double pw;
    if constexpr (kG == kTwo) pw = u * u;
    if constexpr (kG == kOne) pw = u;
    if constexpr (kG == kZero) pw = 1.0;
    if constexpr (kG == kOther) pw = vm::exp(gamma * vm::log(u));
    v = -cwy * pw * L;
    if constexpr (kGrad) {
      // B = gamma p u^(gamma-1) L, -> 0 as u -> 0 (L ~ -u there); u^(gamma-1)
      // is u or 1 for the integer gammas, else pw / u where u > 0 (a select
      // of the divisor, not a branch: the loop over rows stays a vector loop).
      double B = 0.0;
      if constexpr (kG == kTwo) B = 2.0 * py * u * L;
      if constexpr (kG == kOne) B = py * L;
      if constexpr (kG == kOther) {
        // u^(gamma-1) = pw / u overflows for gamma < 1 where u is tiny
        // (gamma < 0.013 at a subnormal u) while u^(gamma-1) L ~ -u^gamma
        // is tiny: there pw (L / u), L / u in [-1, 0] (a select: the other
        // rows keep their bits)
        const bool pos = u > 0.0;
        const double q = pw / (pos ? u : 1.0);
        const double Bt = gamma * py * (pw * (L / (pos ? u : 1.0)));
        B = pos ? (q <= std::numeric_limits<double>::max() ? gamma * py * q * L : Bt) : 0.0;
      }
      coef = gs * cwy * (pw - B);
      ce = coef / se;
    }
  }

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    const int64_t y = labels[r];
    if (skip<kGrad>(y, g, bad)) return 0.0;
    const T m = row_max(z, C);
    double so, ey;
    if constexpr (kGrad) {  // exp once, into the gradient buffer
      FL_SIMD
      for (int64_t k = 0; k < C; ++k) g[k] = vm::exp_nonpos(z[k] - m);
      so = sum_others(g, y);
      ey = static_cast<double>(g[y]);
    } else {
      so = row_sum(C, [&](int64_t k) {
        return k == y ? 0.0 : static_cast<double>(vm::exp_nonpos(z[k] - m));
      });
      ey = static_cast<double>(vm::exp_nonpos(z[y] - m));
    }
    double v = 0.0, coef = 0.0, ce = 0.0;
    with_gamma([&](auto kg) {
      terms<kGrad, decltype(kg)::value>(so, ey, static_cast<double>(m),
                                        static_cast<double>(z[y]), cwk(y), gs, v, coef, ce);
    });
    if constexpr (kGrad) scale_row(g, y, ey, coef, ce);
    return v;
  }

  // Diagonal Hessian. The gradient is cw_y A(p_y) (p_k - [k = y]) with
  // A(p) = u^g - g p u^(g-1) L (u = 1 - p, L = log p) and d p_y / d z_k =
  // p_y ([k = y] - p_k), so
  //   H_kk = cw_y (A p_k (1 - p_k) - A'(p_y) p_y (p_k - [k = y])^2),
  //   A'(p) = -2 g u^(g-1) - g u^(g-1) L + g (g - 1) p u^(g-2) L.
  // (p_k - [k = y])^2 = u^2 r_k^2 with r_k = e_k / sum_{j != y} e_j for
  // k != y and 1 at y, so the second term is P r_k^2 with
  //   P = A' u^2 p_y = g p_y u^g ((g - 1) p_y L - u (2 + L)),
  // which holds no negative power of u (0 where u = 0, g > 0). At g = 0 it
  // is cross_entropy's cw_y p_k (1 - p_k). The gradient is row()'s, bit for
  // bit; the softmax is taken again into h (the row is in L1).
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    const int64_t y = labels[r];
    if (skip_hess(y, g, h, bad)) return 0.0;
    const double v = row<true>(r, z, g, gs, bad);
    const T m = row_max(z, C);
    FL_SIMD
    for (int64_t k = 0; k < C; ++k) h[k] = vm::exp_nonpos(z[k] - m);
    const double so = sum_others(h, y), ey = static_cast<double>(h[y]), se = so + ey;
    const double L = static_cast<double>(z[y]) - (static_cast<double>(m) + vm::log_normal(se));
    const double u = so / se, py = ey / se;
    double ug = gamma == 0.0 ? 1.0 : 0.0, A = ug;  // u = 0: L = 0, the limits
    if (u > 0.0) {
      ug = gamma == 0.0 ? 1.0 : gamma == 1.0 ? u : gamma == 2.0 ? u * u
                                             : vm::exp(gamma * vm::log(u));
      // (ug / u) L as in terms(): ug / u = u^(gamma-1) overflows for gamma
      // < 1 at a tiny u (gamma = 0 gave 0 * inf = NaN) -- then ug (L / u)
      const double t = ug / u;
      A = ug - (t <= std::numeric_limits<double>::max() ? gamma * py * t * L
                                                       : gamma * py * (ug * (L / u)));
    }
    const double P = gamma * py * ug * ((gamma - 1.0) * py * L - u * (2.0 + L));
    const double c = gs * cwk(y);
    const double inv_se = 1.0 / se, inv_so = so > 0.0 ? 1.0 / so : 0.0;
    // so below 1/DBL_MAX (a subnormal sum: the other classes' logits 708-745
    // below the max) makes 1/so inf, and e_k * inf (inf, or NaN where e_k =
    // 0) times P = 0 a NaN; there r_k = e_k / so (<= 1) is divided out. Other
    // rows keep the reciprocal's bits.
    const bool tiny = inv_so > std::numeric_limits<double>::max();
    for (int64_t k = 0; k < C; ++k) {
      const double ek = static_cast<double>(h[k]);
      const double pk = ek * inv_se;
      const double rk = k == y ? 1.0 : tiny ? ek / so : ek * inv_so;
      const double qk = k == y ? u : 1.0 - pk;  // 1 - p_k
      h[k] = static_cast<T>(c * (A * pk * qk - P * rk * rk));
    }
    return v;
  }

  // Short rows in one flat pass (see rowwise.hpp): the same terms and sums,
  // and the per-row tail (a log, divisions, u^gamma) as one vector loop
  // over the rows.
  static constexpr int64_t block_max_C = 32;
  template <bool kGrad>
  FL_INLINE void block(int64_t r0, int64_t n, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                       const double* FL_RESTRICT gs, double* FL_RESTRICT v,
                       bool* FL_RESTRICT bad) const {
    mc::BlockExps<T, kGrad, block_max_C> ex(g);
    T* e = ex.e;
    const T* m = ex.m;
    alignas(64) double so[kChunk], ey[kChunk], md[kChunk], zy[kChunk], cwy[kChunk];
    alignas(64) double coef[kChunk], ce[kChunk];
    mc::exp_rows(z, n, C, e, ex.m);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t y = labels[r0 + i];
      bad[i] = out_of_range(y);
      const int64_t yy = bad[i] ? 0 : y;  // a bad row's terms are discarded
      ey[i] = static_cast<double>(e[i * C + yy]);
      e[i * C + yy] = T(0);
      md[i] = static_cast<double>(m[i]);
      zy[i] = static_cast<double>(z[i * C + yy]);
      cwy[i] = cwk(yy);
    }
    // sum_others' terms and tree, as a plain short row sum now that e_y is
    // 0 (e is scratch, or the gradient, whose every entry is written
    // below). In a loop of its own: a row's vector loads right after the
    // store into it would wait for the store to complete.
    for (int64_t i = 0; i < n; ++i) so[i] = short_row_sum(e + i * C, C);
    // The loop calls terms through `self`: Clang (14) does not capture
    // `this` implicitly into an omp simd region inside a generic lambda
    // ("'this' cannot be implicitly captured"), and an explicit [this] is
    // unused in the instantiations whose terms read no member.
    with_gamma([&](auto kg) {
      const auto* self = this;
      FL_SIMD
      for (int64_t i = 0; i < n; ++i) {
        self->template terms<kGrad, decltype(kg)::value>(so[i], ey[i], md[i], zy[i], cwy[i],
                                                         gs[i], v[i], coef[i], ce[i]);
      }
    });
    // (bad[i] is out_of_range(y) from above; each_row sets it again alike)
    each_row<kGrad>(r0, n, g, v, bad, [&](int64_t i, int64_t y, T* gi) {
      if constexpr (kGrad) scale_row(gi, y, ey[i], coef[i], ce[i]);
    });
  }

  // sum_{k != y} e_k by the row's fixed tree.
  FL_INLINE double sum_others(const T* FL_RESTRICT e, int64_t y) const {
    return row_sum(C, [&](int64_t k) { return k == y ? 0.0 : static_cast<double>(e[k]); });
  }
  // g holds e on entry; the gradient on return.
  FL_INLINE void scale_row(T* FL_RESTRICT g, int64_t y, double ey, double coef, double ce) const {
    FL_SIMD
    for (int64_t k = 0; k < C; ++k) g[k] = static_cast<T>(static_cast<double>(g[k]) * ce);
    g[y] = static_cast<T>(ey * ce - coef);
  }
};

// KL divergence KL(t || p) with log_pred = log p (torch kl_div):
//   l = sum_k t_k (log t_k - log_pred_k), a term with t_k = 0 counts 0
// (xlogy); log_target: the target holds log t. Gradient -t_k (NaN where
// log_pred is NaN, so NaN propagates).
template <class T>
struct KlDiv : DenseRows<T> {
  using DenseRows<T>::target, DenseRows<T>::C;
  static constexpr int cost = 4;
  bool log_target;

  // One term p (log p - z) in float64 from the target entry tk (p, or log p).
  FL_INLINE static double term_prob(double tk, double zk) {
    return (tk == 0.0 && zk == zk) ? 0.0 : tk * (vm::log(tk) - zk);
  }
  FL_INLINE static double term_log(double tk, double zk) {
    const double p = vm::exp(tk);
    return (p == 0.0 && zk == zk) ? 0.0 : p * (tk - zk);
  }
  // g[k] = -p_k s_k (NaN where z is), s_k the gradient scale held in g[k].
  FL_INLINE void scaled_grad(const T* FL_RESTRICT t, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                             int64_t len) const {
    if (log_target) {
      FL_SIMD
      for (int64_t k = 0; k < len; ++k) g[k] = z[k] != z[k] ? z[k] : -vm::exp(t[k]) * g[k];
    } else {
      FL_SIMD
      for (int64_t k = 0; k < len; ++k) g[k] = z[k] != z[k] ? z[k] : -t[k] * g[k];
    }
  }

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool&) const {
    const T* FL_RESTRICT t = target + r * C;
    const double v =
        log_target
            ? row_sum(C, [&](int64_t k) { return term_log(double(t[k]), double(z[k])); })
            : row_sum(C, [&](int64_t k) { return term_prob(double(t[k]), double(z[k])); });
    if constexpr (kGrad) {
      mc::fill(g, C, static_cast<T>(gs));
      scaled_grad(t, z, g, C);
    }
    return v;
  }

  // The target's gradient (TargetRows): d l / d t_k = log t_k + 1 - z_k
  // (-inf at t_k = 0, where torch's autograd of xlogy gives NaN); with
  // log_target, of e^t (t - z): e^t_k (t_k - z_k + 1).
  FL_INLINE double target_row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                              bool& bad) const {
    const double v = row<false>(r, z, g, gs, bad);
    const T* FL_RESTRICT t = target + r * C;
    const T s = static_cast<T>(gs);
    if (log_target) {
      FL_SIMD
      for (int64_t k = 0; k < C; ++k) g[k] = vm::exp(t[k]) * (t[k] - z[k] + T(1)) * s;
    } else {
      FL_SIMD
      for (int64_t k = 0; k < C; ++k) g[k] = (vm::log(t[k]) + T(1) - z[k]) * s;
    }
    return v;
  }

  // The gradient -t does not depend on log_pred: the Hessian is 0 (NaN
  // where the gradient is).
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    return mc::linear_row_hess(*this, r, z, g, h, gs, bad);
  }

  // Short rows in one flat pass (see rowwise.hpp): the same terms and sums.
  static constexpr int64_t block_max_C = 32;
  template <bool kGrad>
  FL_INLINE void block(int64_t r0, int64_t n, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                       const double* FL_RESTRICT gs, double* FL_RESTRICT v,
                       bool* FL_RESTRICT bad) const {
    const T* FL_RESTRICT t = target + r0 * C;
    const int64_t nc = n * C;
    alignas(64) double term[kChunk * block_max_C];
    if (log_target) {
      FL_SIMD
      for (int64_t k = 0; k < nc; ++k) term[k] = term_log(double(t[k]), double(z[k]));
    } else {
      FL_SIMD
      for (int64_t k = 0; k < nc; ++k) term[k] = term_prob(double(t[k]), double(z[k]));
    }
    for (int64_t i = 0; i < n; ++i) {
      v[i] = short_row_sum(term + i * C, C);
      bad[i] = false;
    }
    if constexpr (kGrad) {
      for (int64_t i = 0; i < n; ++i) mc::fill(g + i * C, C, static_cast<T>(gs[i]));
      scaled_grad(t, z, g, nc);
    }
  }
};

// Multiclass Brier score: l = sum_k (p_k - [k = y])^2 (sklearn's multiclass
// brier_score_loss, not divided by C); gradient 2 (p - onehot(y)). (The
// binary score is element-wise: the Python layer runs the mse kernel.)
template <class T>
struct Brier : LabelRows {
  static constexpr int cost = 1;

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    const int64_t y = labels[r];
    if (skip<kGrad>(y, g, bad)) return 0.0;
    // p_k - [k = y], the one term of value and gradient
    const auto diff = [&](int64_t k) { return static_cast<double>(z[k]) - (k == y ? 1.0 : 0.0); };
    const double v = row_sum(C, [&](int64_t k) {
      const double d = diff(k);
      return d * d;
    });
    if constexpr (kGrad) {
      const double g2 = 2.0 * gs;
      FL_SIMD
      for (int64_t k = 0; k < C; ++k) g[k] = static_cast<T>(g2 * diff(k));
    }
    return v;
  }
  // d^2 l / dp_k^2 = 2 for every k (0 on a skipped row; NaN where p is).
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    const int64_t y = labels[r];
    const double v = row<true>(r, z, g, gs, bad);
    const T h2 = (ignored(y) || out_of_range(y)) ? T(0) : static_cast<T>(2.0 * gs);
    FL_SIMD
    for (int64_t k = 0; k < C; ++k) h[k] = (g[k] - g[k]) + h2;
    return v;
  }
};

// Keras CategoricalHinge: pos = sum_k t_k z_k, neg = max_k (1 - t_k) z_k,
// l = max(0, neg - pos + 1). Gradient where l > 0: -t_k, plus (1 - t_k*)
// at the first arg-max k* of (1 - t) z; 0 where l = 0. The terms are
// products in float64; a NaN in z or t makes pos, hence l, NaN.
template <class T>
struct CategoricalHinge : DenseRows<T> {
  using DenseRows<T>::target, DenseRows<T>::C;
  static constexpr int cost = 2;

  FL_INLINE static double pos_term(T tk, T zk) {
    return static_cast<double>(tk) * static_cast<double>(zk);
  }
  FL_INLINE static double neg_term(T tk, T zk) {
    return (1.0 - static_cast<double>(tk)) * static_cast<double>(zk);
  }
  // l = max(0, d): d from the row's sum of pos terms and max of neg terms.
  FL_INLINE static double slack(double pos, double neg) { return neg - pos + 1.0; }
  // g_k = mgs t_k on an active row (mgs = -gs: d pos / d z_k = t_k), else 0.
  FL_INLINE static T grad_term(double mgs, T tk, bool on) {
    return on ? static_cast<T>(mgs * static_cast<double>(tk)) : T(0);
  }
  // g[arg] on an active row: d neg / d z_arg = 1 - t_arg, d pos / d z_arg =
  // t_arg. Branch-free on `on` (whether a row is active is data-dependent);
  // arg = C (no term equals neg) happens only on inactive rows, as an active
  // row's neg is one of its terms.
  FL_INLINE static void grad_arg(const T* FL_RESTRICT t, T* FL_RESTRICT g, int64_t C, bool on,
                                 int64_t arg, double gs) {
    const int64_t a = arg < C ? arg : 0;
    const T ga = static_cast<T>(gs * (1.0 - 2.0 * static_cast<double>(t[a])));
    const T cur = g[a];
    g[a] = on ? ga : cur;
  }

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool&) const {
    const T* FL_RESTRICT t = target + r * C;
    const double pos = row_sum(C, [&](int64_t k) { return pos_term(t[k], z[k]); });
    const double neg = mc::lanes_max<double>(C, [&](int64_t k) { return neg_term(t[k], z[k]); });
    const double d = slack(pos, neg);
    if (d != d) return mc::nan_row<kGrad>(g, C);
    const bool on = d > 0.0;
    if constexpr (kGrad) {
      FL_SIMD
      for (int64_t k = 0; k < C; ++k) g[k] = grad_term(-gs, t[k], on);
      grad_arg(t, g, C, on,
               mc::first_where(C, [&](int64_t k) { return neg_term(t[k], z[k]) == neg; }), gs);
    }
    return on ? d : 0.0;
  }

  // Piecewise linear: Hessian 0 (see mc::zero_hess).
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    return mc::linear_row_hess(*this, r, z, g, h, gs, bad);
  }

  // Short rows in one flat pass (see rowwise.hpp), with row()'s bits: both
  // products of the block in one flat vector loop, then per row its sum
  // (short_row_sum, the tree of row_sum) and its max (exact in any order; a
  // max of +0 and -0 may differ in sign, which changes neither d nor the
  // arg-max); the gradient -gs t_k (0 on inactive rows) in one flat loop
  // from per-element copies of the row's -gs and activity (the product
  // arrays, no longer needed), then each row's arg-max entry. Row by row,
  // rows of 10 classes cost 17 ns each in scalar max chains.
  static constexpr int64_t block_max_C = 32;
  static constexpr int64_t kSub = 64;  // rows per sub-block: 2 x 16 KiB of stack
  template <bool kGrad>
  FL_INLINE void block(int64_t r0, int64_t n, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                       const double* FL_RESTRICT gs, double* FL_RESTRICT v,
                       bool* FL_RESTRICT bad) const {
    alignas(64) double pt[kSub * block_max_C], nt[kSub * block_max_C];
    alignas(64) double d[kSub];
    int64_t arg[kSub];
    this->template sub_blocks<kSub>(r0, n, z, [&](int64_t i0, int64_t m, const T* FL_RESTRICT zb,
                                                  const T* FL_RESTRICT tb) {
      const int64_t mC = m * C;
      FL_SIMD
      for (int64_t k = 0; k < mC; ++k) {
        pt[k] = pos_term(tb[k], zb[k]);
        nt[k] = neg_term(tb[k], zb[k]);
      }
      bool any_nan = false;
      for (int64_t i = 0; i < m; ++i) {
        const double* FL_RESTRICT ni = nt + i * C;
        const double neg = short_row_max(ni, C);
        d[i] = slack(short_row_sum(pt + i * C, C), neg);
        any_nan |= d[i] != d[i];
        v[i0 + i] = d[i] > 0.0 ? d[i] : 0.0;  // NaN rows: set below
        bad[i0 + i] = false;
        if constexpr (kGrad) arg[i] = mc::first_where(C, [&](int64_t k) { return ni[k] == neg; });
      }
      if constexpr (kGrad) {
        T* FL_RESTRICT gb = g + i0 * C;
        for (int64_t i = 0; i < m; ++i) {
          const bool on = d[i] > 0.0;
          fill_row(pt + i * C, C, -gs[i0 + i]);
          fill_row(nt + i * C, C, on ? 1.0 : 0.0);
        }
        FL_SIMD
        for (int64_t k = 0; k < mC; ++k) gb[k] = grad_term(pt[k], tb[k], nt[k] != 0.0);
        for (int64_t i = 0; i < m; ++i)
          grad_arg(tb + i * C, gb + i * C, C, d[i] > 0.0, arg[i], gs[i0 + i]);
      }
      if (any_nan) {
        for (int64_t i = 0; i < m; ++i) {
          if (d[i] != d[i]) v[i0 + i] = mc::nan_row<kGrad>(kGrad ? g + (i0 + i) * C : nullptr, C);
        }
      }
    });
  }
};

// Negative log-likelihood of log-probabilities z (torch nll_loss):
//   l = -cw_y z_y, 0 for an ignored row,
// gradient -cw_y at y and 0 elsewhere, Hessian 0 (linear). The mean divides
// like cross_entropy's (sum of w cw_y over the non-ignored rows). A row
// holding a NaN gives NaN (torch reads z_y alone, so a NaN elsewhere in the
// row is lost there).
template <class T>
struct Nll : LabelRows {
  static constexpr int cost = 1;
  bool custom_norm() const { return true; }

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    const int64_t y = labels[r];
    if (skip<kGrad>(y, g, bad)) return 0.0;
    if (row_has_nan(z, C)) return mc::nan_row<kGrad>(g, C);
    const double cwy = cwk(y);
    if constexpr (kGrad) {
      mc::fill(g, C, T(0));
      g[y] = static_cast<T>(-gs * cwy);
    }
    return -cwy * static_cast<double>(z[y]);
  }

  // Short rows in one flat pass (see rowwise.hpp), with row()'s bits: one
  // NaN test over the block (rows tested only when it finds one) and one
  // zero fill of the block's gradient, then a load and a store per row (row
  // by row, the per-row NaN test and fill cost 10 ns a row).
  static constexpr int64_t block_max_C = 32;
  template <bool kGrad>
  FL_INLINE void block(int64_t r0, int64_t n, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                       const double* FL_RESTRICT gs, double* FL_RESTRICT v,
                       bool* FL_RESTRICT bad) const {
    const bool any_nan = row_has_nan(z, n * C);
    if constexpr (kGrad) mc::fill(g, n * C, T(0));
    each_row<kGrad>(r0, n, g, v, bad, [&](int64_t i, int64_t y, T* gi) {
      if (any_nan && row_has_nan(z + i * C, C)) {
        v[i] = mc::nan_row<kGrad>(gi, C);
        return;
      }
      const double cwy = cwk(y);
      if constexpr (kGrad) gi[y] = static_cast<T>(-gs[i] * cwy);
      v[i] = -cwy * static_cast<double>(z[i * C + y]);
    });
  }
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    return mc::linear_row_hess(*this, r, z, g, h, gs, bad);
  }
};

// torch multilabel_soft_margin_loss: the mean over the C classes of binary
// cross-entropy with logits, class weights cw (1 when absent),
//   l = sum_k cw_k (t_k softplus(-z_k) + (1 - t_k) softplus(z_k)) / C,
// gradient cw_k ((1 - t_k) sigma(z_k) - t_k sigma(-z_k)) / C, diagonal Hessian
// cw_k sigma(z_k) sigma(-z_k) / C (exact). softplus and sigma from e^-|z|
// as binary_cross_entropy_with_logits (finite at +-inf logits, 0 * inf read
// as 0).
template <class T>
struct MultilabelSoftMargin : DenseRows<T> {
  using DenseRows<T>::target, DenseRows<T>::cw, DenseRows<T>::C, DenseRows<T>::cwk;
  static constexpr int cost = 6;

  FL_INLINE static T mul0(T c, T s) {
    return (c == T(0) && s == std::numeric_limits<T>::infinity()) ? T(0) : c * s;
  }
  FL_INLINE static T term(T x, T y, T e) {
    const T l = vm::detail::log1p_01(e);
    const T spx = vm::detail::pospart(x) + l, smx = vm::detail::pospart(-x) + l;
    return mul0(y, smx) + mul0(T(1) - y, spx);
  }
  FL_INLINE static void sig(T x, T e, T& sp, T& sm) {
    const T q = T(1) / (T(1) + e);
    const bool pos = x >= T(0);
    sp = pos ? q : e * q;
    sm = pos ? e * q : q;
  }
  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool&) const {
    return row_impl<kGrad>(r, z, g, nullptr, gs);
  }
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool&) const {
    return row_impl<true>(r, z, g, h, gs);
  }
  template <bool kGrad>
  FL_INLINE double row_impl(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs) const {
    const T* FL_RESTRICT t = target + r * C;
    const double* cw_ = cw;
    const double invC = 1.0 / static_cast<double>(C);
    const auto e_of = [&](int64_t k) { return vm::exp_nonpos(vm::detail::negabs(z[k])); };
    double v;
    if constexpr (kGrad) {  // e^-|z| once, into the gradient buffer
      FL_SIMD
      for (int64_t k = 0; k < C; ++k) g[k] = e_of(k);
      v = row_sum(C, [&](int64_t k) {
        const double c = cw_ != nullptr ? cw_[k] : 1.0;
        return c * static_cast<double>(term(z[k], t[k], g[k]));
      });
      if (h != nullptr) {
        for (int64_t k = 0; k < C; ++k) {
          T sp, sm;
          sig(z[k], g[k], sp, sm);
          h[k] = static_cast<T>(gs * invC * cwk(k) * static_cast<double>(sp * sm));
        }
      }
      for (int64_t k = 0; k < C; ++k) {
        T sp, sm;
        sig(z[k], g[k], sp, sm);
        const T d = (T(1) - t[k]) * sp - t[k] * sm;
        g[k] = static_cast<T>(gs * invC * cwk(k) * static_cast<double>(d));
      }
    } else {
      v = row_sum(C, [&](int64_t k) {
        const double c = cw_ != nullptr ? cw_[k] : 1.0;
        return c * static_cast<double>(term(z[k], t[k], e_of(k)));
      });
    }
    return v * invC;
  }

  // The target's gradient (TargetRows): of (1/C) cw_k (t softplus(-x) +
  // (1 - t) softplus(x)), (1/C) cw_k (softplus(-x) - softplus(x)) =
  // -cw_k x_k / C.
  FL_INLINE double target_row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                              bool&) const {
    const double v = row_impl<false>(r, z, g, nullptr, gs);
    const double invC = 1.0 / static_cast<double>(C);
    for (int64_t k = 0; k < C; ++k) {
      g[k] = static_cast<T>(gs * invC * cwk(k) * static_cast<double>(-z[k]));
    }
    return v;
  }

  // Short rows in one flat pass (see rowwise.hpp), with row()'s bits: e^-|z|
  // and the terms of the whole block in flat vector loops (a row of 10 leaves
  // a vector loop mostly unused: 0.5 us a row, row by row, at the baseline
  // level), then each row's sum by short_row_sum, the tree row_sum uses for
  // C <= kChunk; the gradient from the same e, row by row.
  static constexpr int64_t block_max_C = 32;
  static constexpr int64_t kSub = 64;  // rows per sub-block: 16 + 8 KiB of stack
  template <bool kGrad>
  FL_INLINE void block(int64_t r0, int64_t n, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                       const double* FL_RESTRICT gs, double* FL_RESTRICT v,
                       bool* FL_RESTRICT bad) const {
    alignas(64) double tm[kSub * block_max_C];
    alignas(64) T e[kSub * block_max_C];
    const double invC = 1.0 / static_cast<double>(C);
    this->template sub_blocks<kSub>(r0, n, z, [&](int64_t i0, int64_t m, const T* FL_RESTRICT zb,
                                                  const T* FL_RESTRICT tb) {
      const int64_t mC = m * C;
      FL_SIMD
      for (int64_t k = 0; k < mC; ++k) e[k] = vm::exp_nonpos(vm::detail::negabs(zb[k]));
      FL_SIMD
      for (int64_t k = 0; k < mC; ++k) tm[k] = static_cast<double>(term(zb[k], tb[k], e[k]));
      if (cw != nullptr) {
        for (int64_t i = 0; i < m; ++i) {
          double* FL_RESTRICT ti = tm + i * C;
          for (int64_t k = 0; k < C; ++k) ti[k] *= cw[k];
        }
      }
      for (int64_t i = 0; i < m; ++i) {
        v[i0 + i] = short_row_sum(tm + i * C, C) * invC;
        bad[i0 + i] = false;
      }
      if constexpr (kGrad) {
        T* FL_RESTRICT gb = g + i0 * C;
        for (int64_t i = 0; i < m; ++i) {
          const double sc = gs[i0 + i] * invC;
          for (int64_t k = 0; k < C; ++k) tm[i * C + k] = sc * cwk(k);
        }
        FL_SIMD
        for (int64_t k = 0; k < mC; ++k) {
          T sp, sm;
          sig(zb[k], e[k], sp, sm);
          const T d = (T(1) - tb[k]) * sp - tb[k] * sm;
          gb[k] = static_cast<T>(tm[k] * static_cast<double>(d));
        }
      }
    });
  }
};

// torch multilabel_margin_loss. Row r's targets are class indices, the
// first -1 ending the list (what follows it is not read); with J that list
// (repeats counted, as ATen loops over it) and S its set,
//   l = sum_{j in J} sum_{i not in S} max(0, 1 - (z_j - z_i)) / C,
// gradient +1/C at i and -1/C at j for each pair whose term is > 0 (none at
// the kink, as ATen), Hessian 0 (piecewise linear). An index >= C or below
// -1 before the list's end sets `bad` (torch refuses both); a row holding a
// NaN gives NaN (torch's z > 0 test drops a NaN term).
template <class T>
struct MultilabelMargin : DenseRows<int64_t> {
  static constexpr int cost = 4;

  template <bool kGrad>
  FL_INLINE double row(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g, double gs,
                       bool& bad) const {
    const int64_t* FL_RESTRICT tr = target + r * C;
    int64_t n = 0;  // listed targets
    for (; n < C && tr[n] != -1; ++n) {
      if (tr[n] >= C || tr[n] < 0) {
        bad = true;
        if constexpr (kGrad) mc::fill(g, C, T(0));
        return 0.0;
      }
    }
    if (row_has_nan(z, C)) return mc::nan_row<kGrad>(g, C);
    // membership and per-class signed counts of active pairs, in small ints
    constexpr int64_t kStack = 256;
    int32_t stack[2 * kStack];
    std::vector<int32_t> heap;
    int32_t* in = stack;
    if (C > kStack) {
      heap.assign(static_cast<size_t>(2 * C), 0);
      in = heap.data();
    } else {
      std::memset(stack, 0, sizeof(int32_t) * static_cast<size_t>(2 * C));
    }
    int32_t* cnt = in + C;
    for (int64_t a = 0; a < n; ++a) in[tr[a]] = 1;
    double v = 0.0;
    for (int64_t a = 0; a < n; ++a) {
      const int64_t j = tr[a];
      const double zj = static_cast<double>(z[j]);
      v += row_sum(C, [&](int64_t i) {
        const double d = 1.0 - zj + static_cast<double>(z[i]);
        return (in[i] == 0 && d > 0.0) ? d : 0.0;
      });
      if constexpr (kGrad) {
        int32_t active = 0;
        for (int64_t i = 0; i < C; ++i) {
          const bool on = in[i] == 0 && 1.0 - zj + static_cast<double>(z[i]) > 0.0;
          cnt[i] += on ? 1 : 0;
          active += on ? 1 : 0;
        }
        cnt[j] -= active;
      }
    }
    if constexpr (kGrad) {
      const double step = gs / static_cast<double>(C);
      for (int64_t k = 0; k < C; ++k) g[k] = static_cast<T>(step * static_cast<double>(cnt[k]));
    }
    return v / static_cast<double>(C);
  }
  FL_INLINE double row_hess(int64_t r, const T* FL_RESTRICT z, T* FL_RESTRICT g,
                            T* FL_RESTRICT h, double gs, bool& bad) const {
    return mc::linear_row_hess(*this, r, z, g, h, gs, bad);
  }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
