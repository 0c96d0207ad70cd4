// fastloss/embedding.hpp -- embedding losses on the per-sample driver.
//
// margin_ranking(x1, x2, y, margin): max(0, -y (x1 - x2) + margin) per
// element, as torch.nn.functional.margin_ranking_loss; its gradient is
// autograd's through clamp_min, which passes the gradient where the clamped
// value is >= 0 (so at the kink too); y's gradient -(x1 - x2) there is given
// on request (api/catalogue.hpp). A NaN propagates into the value and the
// gradient (torch's gradient there is 0).
//
// The row losses (triplet_margin, triplet_margin_with_distance,
// cosine_embedding, contrastive) read N rows of D contiguous values per
// input and give one loss per row. Every sum over a row (squared
// differences, dot products, |u|^p) is row_sum's (rowwise.hpp): float64
// terms summed by a tree fixed by D, so the same bits on every ISA level and
// thread count. Each gradient is then a second pass over the row (in L1)
// with per-row coefficients computed once in float64: for p = 2 and the
// cosine distances the gradient of every input is a linear combination of
// the rows, so the pass is one vectorized loop.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "fastloss/api/embedding.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/rowwise.hpp"
#include "fastloss/common/tensors.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

template <class T>
struct MarginRanking {
  static constexpr int64_t group = kBlock;  // cheap samples: whole reduction blocks
  static constexpr int cost = 1;
  const T* x1;
  const T* x2;
  const T* y;
  T* g1;  // nullptr: not asked
  T* g2;
  T* gy;  // y's gradient, given on request (api/catalogue.hpp)
  T margin;

  size_t scratch_bytes() const { return 0; }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    const T* FL_RESTRICT a = x1 + lo;
    const T* FL_RESTRICT b = x2 + lo;
    const T* FL_RESTRICT t = y + lo;
    FL_SIMD
    for (int64_t i = 0; i < len; ++i) {
      const T z = -t[i] * (a[i] - b[i]) + margin;
      value[i] = z < T(0) ? T(0) : z;  // NaN propagates, as torch's clamp_min
    }
    if constexpr (kGrad) {
      T* FL_RESTRICT ga = g1 != nullptr ? g1 + lo : nullptr;
      T* FL_RESTRICT gb = g2 != nullptr ? g2 + lo : nullptr;
      if (ga != nullptr || gb != nullptr) {
        for (int64_t i = 0; i < len; ++i) {
          const T z = -t[i] * (a[i] - b[i]) + margin;
          // NaN propagates into the gradient too (torch's clamp_min gives 0)
          const T g = z != z ? z : z >= T(0) ? -t[i] * gs[i] : T(0);
          if (ga != nullptr) ga[i] = g;
          if (gb != nullptr) gb[i] = -g;
        }
      }
      if (gy != nullptr) {
        // d/dy: -(x1 - x2) where the clamp passes the gradient (z >= 0)
        T* FL_RESTRICT gc = gy + lo;
        for (int64_t i = 0; i < len; ++i) {
          const T d = a[i] - b[i];
          const T z = -t[i] * d + margin;
          gc[i] = z != z ? z : z >= T(0) ? -d * gs[i] : T(0);
        }
      }
    }
  }
};


// ---- row losses ------------------------------------------------------------

// Rows per task of the per-sample driver: a row is D elements (128 in the
// usual embedding), so a task of 16 rows is a few thousand elements, and
// N = 1e5 rows make thousands of tasks (equal contiguous ranges per thread).
constexpr int64_t kRowGroup = 16;

// 1/d for a norm d (>= 0 or NaN): 0 where d == 0 (autograd's norm backward
// masks a zero norm), NaN stays NaN.
inline double inv_norm(double d) { return d == 0.0 ? 0.0 : 1.0 / d; }

// How triplet_margin measures a distance: the p-norm of u = x1 - x2 + eps
// (torch's pairwise_distance), with p = 1, 2 or another real p >= 1; or
// 1 - cosine_similarity(x1, x2) (triplet_margin_with_distance's "cosine").
enum class Dist : int { p1 = 0, p2 = 1, pgen = 2, cosine = 3, pinf = 4 };

// anchor, positive, negative: N rows of D. With swap, the negative distance
// is min(d(a, n), d(p, n)) (a tie splits the gradient in halves, as
// autograd's minimum does). loss = max(0, margin + d(a, p) - d_neg); the
// gradient passes where margin + d(a, p) - d_neg >= 0 (clamp_min's backward)
// and is NaN where that is NaN.
template <class T, Dist kD>
struct Triplet {
  static constexpr int64_t group = kRowGroup;
  static constexpr int cost = 64;  // per row: about D = 64 elements' work
  const T* a;
  const T* p;
  const T* n;
  T* ga;  // nullptr: not asked
  T* gp;
  T* gn;
  int64_t D;
  T margin;
  double pnorm;  // p (Dist::pgen)
  T eps;         // added to x1 - x2 (p-norms); cosine_similarity's eps (cosine)
  bool swap;

  size_t scratch_bytes() const { return 0; }

  // sum over the row of |x - y + eps|^p (p-norms), as float64
  FL_INLINE double norm_sum(const T* FL_RESTRICT x, const T* FL_RESTRICT y) const {
    const T e = eps;
    if constexpr (kD == Dist::p2) {
      return row_sum(D, [&](int64_t j) {
        const double u = static_cast<double>((x[j] - y[j]) + e);
        return u * u;
      });
    } else if constexpr (kD == Dist::p1) {
      return row_sum(D, [&](int64_t j) {
        return static_cast<double>(std::fabs((x[j] - y[j]) + e));
      });
    } else if constexpr (kD == Dist::pinf) {
      // p = inf: the largest |u| (torch's norm); a NaN stays NaN
      double m = 0.0;
      for (int64_t j = 0; j < D; ++j) {
        const double u = std::fabs(static_cast<double>((x[j] - y[j]) + e));
        m = (u > m || u != u) ? u : m;
      }
      return m;
    } else {
      const double q = pnorm;
      return row_sum(D, [&](int64_t j) {
        return std::pow(std::fabs(static_cast<double>((x[j] - y[j]) + e)), q);
      });
    }
  }
  FL_INLINE double dist_of(double s) const {
    if constexpr (kD == Dist::p2) return std::sqrt(s);
    if constexpr (kD == Dist::p1 || kD == Dist::pinf) return s;
    return std::pow(s, 1.0 / pnorm);
  }

  // A distance d(x, y) and whether it was taken scaled (p-norms).
  struct PDist {
    double d;
    bool scaled;
  };
  // torch sums |u|^p unscaled, and so does this where that sum is a normal
  // number of at least 2^-960: every bit as before there. Beyond (a large p,
  // or |u| near the range's ends) the terms under- or overflow -- every
  // |u| < 1 gives 0 at p = 1e4, every |u| > 1 inf -- and the distance is
  // m ||u / m||_p with m = max |u|, whose sum lies in [1, D]. A NaN sum
  // stays NaN; a zero u gives 0, an infinite |u| inf.
  FL_INLINE PDist pdist(const T* FL_RESTRICT x, const T* FL_RESTRICT y) const {
    const double s = norm_sum(x, y);
    if constexpr (kD == Dist::pgen) {
      if (s < 0x1p-960 || s > std::numeric_limits<double>::max()) {
        const T e = eps;
        double m = 0.0;
        for (int64_t j = 0; j < D; ++j) {
          const double u = std::fabs(static_cast<double>((x[j] - y[j]) + e));
          m = u > m ? u : m;
        }
        if (m == 0.0 || m > std::numeric_limits<double>::max()) return {m, false};
        const double q = pnorm;  // (a division: 1/m overflows for a subnormal m)
        const double sm = row_sum(D, [&](int64_t j) {
          return std::pow(std::fabs(static_cast<double>((x[j] - y[j]) + e)) / m, q);
        });
        return {m * std::pow(sm, 1.0 / q), true};
      }
    }
    return {dist_of(s), false};
  }
  // d ||u||_p / d u_j times k, for the p-norms not linear in u: p = 1 gives
  // sign(u) (0 at 0, as torch's sgn), p gives sign(u) |u|^(p-1) k with
  // k = 1 / ||u||^(p-1) passed in.
  FL_INLINE double dir(T u, double k) const {
    const double x = static_cast<double>(u);
    const double sg = x > 0 ? 1.0 : x < 0 ? -1.0 : x;  // NaN stays NaN
    if constexpr (kD == Dist::p1) return sg * k;
    return sg * std::pow(std::fabs(x), pnorm - 1.0) * k;
  }
  // The same for a distance d taken scaled (see pdist): sign(u) (|u| /
  // d)^(p-1), where |u|^(p-1) and d^(p-1) would under- or overflow.
  FL_INLINE double dir_scaled(T u, double d) const {
    const double x = static_cast<double>(u);
    const double sg = x > 0 ? 1.0 : x < 0 ? -1.0 : x;
    return sg * std::pow(std::fabs(x) / d, pnorm - 1.0);
  }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    for (int64_t i = 0; i < len; ++i) {
      const int64_t off = (lo + i) * D;
      const T* FL_RESTRICT A = a + off;
      const T* FL_RESTRICT P = p + off;
      const T* FL_RESTRICT Ng = n + off;
      if constexpr (kD == Dist::cosine) {
        row_cosine<kGrad>(A, P, Ng, off, gs[i], value[i]);
      } else {
        row_pnorm<kGrad>(A, P, Ng, off, gs[i], value[i]);
      }
    }
  }

  // The clamp's gradient factor: gs where z >= 0, 0 below, NaN for NaN.
  static FL_INLINE T clamp_factor(T z, T g) { return z != z ? z : z >= T(0) ? g : T(0); }
  // (alpha, beta): the shares of d(a, n) and d(p, n) in the negative distance.
  FL_INLINE void shares(T dn, T dsw, double& al, double& be) const {
    al = 1.0, be = 0.0;
    if (!swap) return;
    if (dsw < dn) al = 0.0, be = 1.0;
    else if (dsw == dn) al = 0.5, be = 0.5;
  }
  // The loss from the distances d(a, p), d(a, n) and d(p, n) (dsw, read
  // with swap), as torch computes it in T: max(0, margin + dp - d_neg).
  // With kGrad, returns the clamp's gradient factor and (when it is not 0)
  // sets al, be (shares); 0 without kGrad.
  template <bool kGrad>
  FL_INLINE T hinge(T dp, T dn, T dsw, T g, T& value, double& al, double& be) const {
    const T dneg = swap ? (dsw < dn ? dsw : dn) : dn;
    const T z = (margin + dp) - dneg;
    value = z < T(0) ? T(0) : z;
    if constexpr (!kGrad) return T(0);
    const T c = clamp_factor(z, g);
    if (c != T(0)) shares(dn, dsw, al, be);
    return c;
  }
  FL_INLINE void zero_row(int64_t off) const {
    for (T* g : {ga, gp, gn}) {
      if (g == nullptr) continue;
      T* FL_RESTRICT o = g + off;
      FL_SIMD
      for (int64_t j = 0; j < D; ++j) o[j] = T(0);
    }
  }

  template <bool kGrad>
  FL_INLINE void row_pnorm(const T* FL_RESTRICT A, const T* FL_RESTRICT P,
                           const T* FL_RESTRICT Ng, int64_t off, T g, T& value) const {
    const PDist xp = pdist(A, P), xn = pdist(A, Ng);
    const PDist xw = swap ? pdist(P, Ng) : PDist{0.0, false};
    // torch computes each distance in T, then margin + d_pos - d_neg in T
    const T dp = static_cast<T>(xp.d), dn = static_cast<T>(xn.d);
    const T dsw = swap ? static_cast<T>(xw.d) : dn;
    double al, be;
    const T c = hinge<kGrad>(dp, dn, dsw, g, value, al, be);
    if constexpr (kGrad) {
      if (c == T(0)) return zero_row(off);
      const T e = eps;
      T* FL_RESTRICT oa = ga != nullptr ? ga + off : nullptr;
      T* FL_RESTRICT op = gp != nullptr ? gp + off : nullptr;
      T* FL_RESTRICT on = gn != nullptr ? gn + off : nullptr;
      const double cd = static_cast<double>(c);
      if constexpr (kD == Dist::p2) {
        // d ||u|| / du = u / ||u||: every gradient is linear in u, v, w
        const T ku = static_cast<T>(cd * inv_norm(static_cast<double>(dp)));
        const T kv = static_cast<T>(cd * al * inv_norm(static_cast<double>(dn)));
        const T kw = static_cast<T>(cd * be * inv_norm(static_cast<double>(dsw)));
        if (oa != nullptr) {
          FL_SIMD
          for (int64_t j = 0; j < D; ++j) {
            oa[j] = ((A[j] - P[j]) + e) * ku - ((A[j] - Ng[j]) + e) * kv;
          }
        }
        if (op != nullptr) {
          FL_SIMD
          for (int64_t j = 0; j < D; ++j) {
            op[j] = -(((A[j] - P[j]) + e) * ku) - ((P[j] - Ng[j]) + e) * kw;
          }
        }
        if (on != nullptr) {
          FL_SIMD
          for (int64_t j = 0; j < D; ++j) {
            on[j] = ((A[j] - Ng[j]) + e) * kv + ((P[j] - Ng[j]) + e) * kw;
          }
        }
      } else {
        // k = 1 / ||u||^(p-1) (p = 1: 1), 0 for a zero norm; p = inf: 1 /
        // the number of entries where |u| is the largest (torch's norm
        // backward shares the gradient among them)
        auto kof = [&](T d, const T* FL_RESTRICT x, const T* FL_RESTRICT y, const PDist& xd) {
          if constexpr (kD == Dist::p1) return 1.0;
          if constexpr (kD == Dist::pinf) {
            int64_t c = 0;
            for (int64_t j = 0; j < D; ++j)
              c += std::fabs(static_cast<double>((x[j] - y[j]) + e)) == xd.d ? 1 : 0;
            return c > 0 ? 1.0 / static_cast<double>(c) : 0.0;
          }
          return inv_norm(std::pow(static_cast<double>(d), pnorm - 1.0));
        };
        const double ku = kof(dp, A, P, xp);
        const double kv = al != 0.0 ? al * kof(dn, A, Ng, xn) : 0.0;
        const double kw = be != 0.0 ? be * kof(dsw, P, Ng, xw) : 0.0;
        // a distance taken scaled has its gradient scaled too (dir_scaled)
        auto dirof = [&](T u, const PDist& x, double k, double share) {
          if constexpr (kD == Dist::pgen) {
            if (x.scaled) return share * dir_scaled(u, x.d);
          }
          if constexpr (kD == Dist::pinf) {
            // sign(u) k where |u| is the largest, 0 elsewhere
            const double v = static_cast<double>(u);
            const double sg = v > 0 ? 1.0 : v < 0 ? -1.0 : v;
            return std::fabs(v) == x.d ? sg * k : 0.0;
          }
          return dir(u, k);
        };
        for (int64_t j = 0; j < D; ++j) {
          const double du = dirof((A[j] - P[j]) + e, xp, ku, 1.0);
          const double dv = al != 0.0 ? dirof((A[j] - Ng[j]) + e, xn, kv, al) : 0.0;
          const double dw = be != 0.0 ? dirof((P[j] - Ng[j]) + e, xw, kw, be) : 0.0;
          if (oa != nullptr) oa[j] = static_cast<T>(cd * (du - dv));
          if (op != nullptr) op[j] = static_cast<T>(cd * (-du - dw));
          if (on != nullptr) on[j] = static_cast<T>(cd * (dv + dw));
        }
      }
    }
  }

  // cosine: d(x, y) = 1 - S / (max(|x|, eps) max(|y|, eps)) as
  // torch.nn.functional.cosine_similarity (whose clamp of the norms runs
  // under no_grad: the gradient flows through the unclamped norm), S = x.y.
  template <bool kGrad>
  FL_INLINE void row_cosine(const T* FL_RESTRICT A, const T* FL_RESTRICT P,
                            const T* FL_RESTRICT Ng, int64_t off, T g, T& value) const {
    auto dot = [&](const T* FL_RESTRICT x, const T* FL_RESTRICT y) {
      return row_sum(D, [&](int64_t j) {
        return static_cast<double>(x[j]) * static_cast<double>(y[j]);
      });
    };
    const double e = static_cast<double>(eps);
    const double na = std::sqrt(dot(A, A)), np_ = std::sqrt(dot(P, P));
    const double nn = std::sqrt(dot(Ng, Ng));
    const double nac = na < e ? e : na, npc = np_ < e ? e : np_, nnc = nn < e ? e : nn;
    const double cap = dot(A, P) / (nac * npc), can = dot(A, Ng) / (nac * nnc);
    const double cpn = swap ? dot(P, Ng) / (npc * nnc) : 0.0;
    const T dp = static_cast<T>(1.0 - cap), dn = static_cast<T>(1.0 - can);
    const T dsw = swap ? static_cast<T>(1.0 - cpn) : dn;
    double al, be;
    const T c = hinge<kGrad>(dp, dn, dsw, g, value, al, be);
    if constexpr (kGrad) {
      if (c == T(0)) return zero_row(off);
      const double cd = static_cast<double>(c);
      // d cos(x, y) / dx = y / (|x|c |y|c) - cos x / (|x|c |x|)
      const double Aap = 1.0 / (nac * npc), Aan = 1.0 / (nac * nnc), Apn = 1.0 / (npc * nnc);
      const double Ba_ap = cap * inv_norm(nac * na), Bp_ap = cap * inv_norm(npc * np_);
      const double Ba_an = can * inv_norm(nac * na), Bn_an = can * inv_norm(nnc * nn);
      const double Bp_pn = be != 0.0 ? cpn * inv_norm(npc * np_) : 0.0;
      const double Bn_pn = be != 0.0 ? cpn * inv_norm(nnc * nn) : 0.0;
      // loss = margin + (1 - cos_ap) - al (1 - cos_an) - be (1 - cos_pn)
      const T kaa = static_cast<T>(cd * (Ba_ap - al * Ba_an)), kap = static_cast<T>(-cd * Aap),
              kan = static_cast<T>(cd * al * Aan);
      const T kpa = static_cast<T>(-cd * Aap), kpp = static_cast<T>(cd * (Bp_ap - be * Bp_pn)),
              kpn = static_cast<T>(cd * be * Apn);
      const T kna = static_cast<T>(cd * al * Aan), knp = static_cast<T>(cd * be * Apn),
              knn = static_cast<T>(-cd * (al * Bn_an + be * Bn_pn));
      lincomb(ga, off, A, P, Ng, kaa, kap, kan);
      lincomb(gp, off, A, P, Ng, kpa, kpp, kpn);
      lincomb(gn, off, A, P, Ng, kna, knp, knn);
    }
  }

  // g[off + j] = ka A[j] + kb B[j] + kc C[j]
  FL_INLINE void lincomb(T* g, int64_t off, const T* FL_RESTRICT X, const T* FL_RESTRICT Y,
                         const T* FL_RESTRICT Z, T kx, T ky, T kz) const {
    if (g == nullptr) return;
    T* FL_RESTRICT o = g + off;
    FL_SIMD
    for (int64_t j = 0; j < D; ++j) o[j] = (kx * X[j] + ky * Y[j]) + kz * Z[j];
  }
};

// The losses on pairs of rows (cosine_embedding, contrastive): x1 and x2
// hold N rows of D values, label one value per row. One record and one loop
// serve both: Loss::row gives a row's loss and, with kGrad, writes its
// gradients (o1, o2: the rows of g1, g2, or nullptr where not asked).
template <class T, class Loss>
struct RowPairs {
  static constexpr int64_t group = kRowGroup;
  const T* x1;
  const T* x2;
  const T* label;  // N: cosine_embedding's y, contrastive's same
  T* g1;           // nullptr: not asked
  T* g2;
  int64_t D;
  T margin;

  size_t scratch_bytes() const { return 0; }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    const Loss& loss = static_cast<const Loss&>(*this);
    for (int64_t i = 0; i < len; ++i) {
      const int64_t r = lo + i, off = r * D;
      T* o1 = kGrad && g1 != nullptr ? g1 + off : nullptr;
      T* o2 = kGrad && g2 != nullptr ? g2 + off : nullptr;
      value[i] = loss.template row<kGrad>(x1 + off, x2 + off, label[r], kGrad ? gs[i] : T(0), o1,
                                          o2);
    }
  }
};

// cosine_embedding(x1, x2, y, margin) as torch's cosine_embedding_loss
// (aten/src/ATen/native/Loss.cpp): cos = x1.x2 / sqrt((|x1|^2 + 1e-12)
// (|x2|^2 + 1e-12)); loss = 1 - cos where y == 1, max(0, cos - margin)
// where y == -1, 0 for any other y. Sums and cos in float64.
template <class T>
struct CosineEmbedding : RowPairs<T, CosineEmbedding<T>> {
  static constexpr int cost = 48;

  template <bool kGrad>
  FL_INLINE T row(const T* FL_RESTRICT X, const T* FL_RESTRICT Y, T t, T gs,
                  T* FL_RESTRICT o1, T* FL_RESTRICT o2) const {
    constexpr double kEps = 1e-12;  // torch's EPSILON, added to the squared norms
    const int64_t D = this->D;
    auto dot = [&](const T* FL_RESTRICT u, const T* FL_RESTRICT v) {
      return row_sum(D, [&](int64_t j) {
        return static_cast<double>(u[j]) * static_cast<double>(v[j]);
      });
    };
    const double s12 = dot(X, Y);
    const double m1 = dot(X, X) + kEps;
    const double m2 = dot(Y, Y) + kEps;
    const double den = std::sqrt(m1 * m2);
    const double cs = s12 / den;
    double l = 0.0, k = 0.0;  // loss and d loss / d cos
    if (t == T(1)) {
      l = 1.0 - cs;
      k = -1.0;
    } else if (t == T(-1)) {
      const double h = cs - static_cast<double>(this->margin);
      l = h < 0.0 ? 0.0 : h;  // NaN propagates
      k = h != h ? h : h >= 0.0 ? 1.0 : 0.0;
    }
    if constexpr (kGrad) {
      const double c = k * static_cast<double>(gs);
      // d cos / d x1 = x2 / den - cos x1 / m1
      const T k11 = static_cast<T>(c == 0.0 ? 0.0 : -c * cs / m1), k12 = static_cast<T>(c / den);
      const T k22 = static_cast<T>(c == 0.0 ? 0.0 : -c * cs / m2);
      if (o1 != nullptr) {
        FL_SIMD
        for (int64_t j = 0; j < D; ++j) o1[j] = k12 * Y[j] + k11 * X[j];
      }
      if (o2 != nullptr) {
        FL_SIMD
        for (int64_t j = 0; j < D; ++j) o2[j] = k12 * X[j] + k22 * Y[j];
      }
    }
    return static_cast<T>(l);
  }
};

// contrastive(x1, x2, same, margin): Hadsell, Chopra & LeCun (2006),
// same d^2 / 2 + (1 - same) max(0, margin - d)^2 / 2 with d = |x1 - x2|
// (no eps). d/dx1 = (same - (1 - same) max(0, margin - d) / d) (x1 - x2),
// the hinge term's share taken as 0 at d = 0 (where it has no derivative).
template <class T>
struct Contrastive : RowPairs<T, Contrastive<T>> {
  static constexpr int cost = 32;

  template <bool kGrad>
  FL_INLINE T row(const T* FL_RESTRICT X, const T* FL_RESTRICT Y, T same, T gs,
                  T* FL_RESTRICT o1, T* FL_RESTRICT o2) const {
    const int64_t D = this->D;
    const double m = static_cast<double>(this->margin);
    const double d2 = row_sum(D, [&](int64_t j) {
      const double u = static_cast<double>(X[j] - Y[j]);
      return u * u;
    });
    const double d = std::sqrt(d2);
    const double s = static_cast<double>(same);
    const double h0 = m - d;
    const double h = h0 < 0.0 ? 0.0 : h0;  // NaN propagates
    if constexpr (kGrad) {
      const double hinge = d == 0.0 ? 0.0 : (1.0 - s) * h / d;
      const T k = static_cast<T>(static_cast<double>(gs) * (s - hinge));
      if (o1 != nullptr) {
        FL_SIMD
        for (int64_t j = 0; j < D; ++j) o1[j] = (X[j] - Y[j]) * k;
      }
      if (o2 != nullptr) {
        FL_SIMD
        for (int64_t j = 0; j < D; ++j) o2[j] = -((X[j] - Y[j]) * k);
      }
    }
    return static_cast<T>(0.5 * (s * d2 + (1.0 - s) * h * h));
  }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
