// fastloss/regularization.hpp -- auxiliary and regularization losses.
//
// Penalty: a |w| + b w^2 / 2 per weight (l1: a = 1, b = 0; l2: a = 0,
// b = 1; elastic net: a = l1_ratio, b = 1 - l1_ratio), a point rule over
// PointSamples; the subgradient of |w| at 0 is 0 (torch's sign).
// SoftmaxRows: per row of C logits, its softmax entropy (entropy
// regularization) or the square of its log-sum-exp (ST-MoE's router z-loss).
// Center: 1/2 ||x_i - c_{y_i}||^2 per sample (Wen et al. 2016).
// KlUnits: the sparse autoencoder's KL(rho || rho_hat_j) per hidden unit j,
// rho_hat_j the unit's mean activation over the batch.
// Every sum inside a sample is row_sum's (a tree fixed by its length): the
// same bits on any thread count and ISA level.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastloss/api/regularization.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/rowwise.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/tiles.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace reg {

template <class T>
struct Penalty {
  static constexpr int cost = 1;
  T a, b;  // the weights of |w| and w^2 / 2
  FL_INLINE void eval(T x, T& l, T& d) const {
    const T ax = x < T(0) ? -x : x;
    const T sg = x > T(0) ? T(1) : x < T(0) ? T(-1) : x;  // 0 at 0, NaN stays
    // a term whose weight is 0 is left out (0 * inf would be NaN)
    const T l1 = a != T(0) ? a * ax : T(0), l2 = b != T(0) ? b * (T(0.5) * x * x) : T(0);
    const T d1 = a != T(0) ? a * sg : T(0), d2 = b != T(0) ? b * x : T(0);
    l = l1 + l2;
    d = d1 + d2;
  }
};

// Orthogonality: ||A A^T - I||_F^2 over the m vectors of length K whose Gram
// is the smaller (A = W's rows, or W's columns), gradient 4 M W or 4 W M,
// M = A A^T - I. Both are products, run on the pairwise tile engine's
// register-blocked microkernel (tiles::mk) in float64 on W widened exactly
// (a float's products are exact in double, as in the dot loops before):
// W is copied once into panels of P = Vec<double>::nr vectors (K x P each,
// P = 16 at every ISA level), so the microkernel reads contiguous memory
// whichever side of W a product runs over. Every entry of G and of the
// gradient is one microkernel sum, sequential in t with no FMA: the same
// bits on any thread count, tile order and ISA level. G is symmetric: only
// its upper block triangle is computed, the rest copied across (a product
// commutes exactly, so a copied entry has the bits a computed one would).
// The loops before (a fixed-tree dot per entry, no register blocking) ran at
// ~19 GFLOP/s on 256 x 1024 float32 against torch's BLAS at ~260.
namespace gram {

using tiles::Buffer;
constexpr int64_t P = tiles::Vec<double>::nr;  // panel width
constexpr int MR = tiles::Vec<double>::mr;     // microkernel rows
static_assert(P % MR == 0, "a panel holds whole register tiles");

// Panels of n vectors of length K taken from W (r x c, row-major), widened:
// the vectors are W's rows (of_rows: n = r, K = c) or its columns (n = c,
// K = r). Panel q at out + q K P holds vectors q P .. q P + P as K x P (vector
// q P + u's element t at t P + u), zero past n.
template <class T>
void pack(const T* W, int64_t r, int64_t c, bool of_rows, double* out, int nt) {
  const int64_t n = of_rows ? r : c, K = of_rows ? c : r;
  const int64_t np = (n + P - 1) / P;
  detail::tasks_for<false>(np, nt, [&](int64_t q, int) {
    double* FL_RESTRICT dst = out + q * K * P;
    const int64_t u0 = q * P, w = std::min(P, n - u0);
    if (of_rows) {
      // a transpose, P rows at a time, 16 columns a step (each row read in
      // runs of 16 contiguous values)
      for (int64_t t0 = 0; t0 < K; t0 += 16) {
        const int64_t tn = std::min<int64_t>(16, K - t0);
        for (int64_t u = 0; u < P; ++u) {
          const T* FL_RESTRICT src = W + (u0 + u) * c + t0;
          if (u < w) {
            for (int64_t t = 0; t < tn; ++t) dst[(t0 + t) * P + u] = static_cast<double>(src[t]);
          } else {
            for (int64_t t = 0; t < tn; ++t) dst[(t0 + t) * P + u] = 0.0;
          }
        }
      }
    } else {
      for (int64_t t = 0; t < K; ++t) {
        const T* FL_RESTRICT src = W + t * c + u0;
        double* FL_RESTRICT d = dst + t * P;
        FL_SIMD
        for (int64_t u = 0; u < w; ++u) d[u] = static_cast<double>(src[u]);
        for (int64_t u = w; u < P; ++u) d[u] = 0.0;
      }
    }
  });
}

// Rows of t per chunk of the products' K: a chunk of one panel (kc x P
// doubles) stays in L1 (<= 32 KiB) and the chunk of all m vectors in L2
// (<= 512 KiB). Unblocked, each product reread its panels from memory (256 x
// 4096 float32, 1 thread: the Gram at 8 GFLOP/s against 32 at 256 x 1024).
inline int64_t chunk_k(int64_t mp) {
  return std::max<int64_t>(16, std::min<int64_t>(256, (int64_t(1) << 16) / mp));
}

// M = A A^T - I from A's panels (m vectors of length K) into Gp: panel q at
// Gp + q mp P holds M's columns q P .. q P + P for rows 0 .. mp (row i at
// i P), mp = m rounded up to P. Rows past m are never read; columns past m
// (in the last panel) are 0 times the row's entries. rowsq[i] = sum_j
// M[i][j]^2 (row_sum's tree); returns sum_i rowsq[i] (row_sum's tree).
inline double gram(const double* A, int64_t m, int64_t K, double* Gp, double* rowsq,
                   int requested) {
  const int64_t np = (m + P - 1) / P, mp = np * P;
  // K in chunks, one parallel pass each, the entries of G accumulated in Gp
  // (exactly: a double stored and loaded back), so every entry is still one
  // sum in t order. Panel q of the upper triangle: rows up to its last
  // column, taken largest first (the order changes no bits).
  const int64_t kc = chunk_k(mp);
  int nt = threads_for(m * m / 2 * K / 8, np, requested);
  for (int64_t t0 = 0; t0 < K; t0 += kc) {
    const int64_t kn = std::min(kc, K - t0);
    detail::tasks_for<true>(np, nt, [&](int64_t t, int) {
      const int64_t q = np - 1 - t, j0 = q * P;
      const double* y = A + q * K * P + t0 * P;
      const int64_t rows = std::min(j0 + P, m);
      for (int64_t i0 = 0; i0 < rows; i0 += MR) {
        const double* x = A + i0 / P * K * P + t0 * P + i0 % P;
        double* c = Gp + q * mp * P + i0 * P;
        if (t0 == 0) {
          tiles::mk<double, MR, false>(kn, x, 1, P, y, P, c, P);
        } else {
          tiles::mk<double, MR, true>(kn, x, 1, P, y, P, c, P);
        }
      }
    });
  }
  // the lower blocks from the upper ones, the identity, the rows' squares:
  // row i writes only its own entries left of its diagonal block (and its
  // diagonal), and reads only entries right of another row's diagonal block
  constexpr int64_t kRowsTask = 32;
  const int64_t n_tasks = (m + kRowsTask - 1) / kRowsTask;
  nt = threads_for(m * m, n_tasks, requested);
  detail::tasks_for<false>(n_tasks, nt, [&](int64_t tk, int) {
    for (int64_t i = tk * kRowsTask; i < std::min(m, (tk + 1) * kRowsTask); ++i) {
      const int64_t qi = i / P, ui = i % P;
      for (int64_t j = 0; j < qi * P; ++j)
        Gp[j / P * mp * P + i * P + j % P] = Gp[qi * mp * P + j * P + ui];
      Gp[qi * mp * P + i * P + ui] -= 1.0;
      rowsq[i] = row_sum(m, [&](int64_t j) {
        const double x = Gp[j / P * mp * P + i * P + j % P];
        return x * x;
      });
    }
  });
  return row_sum(m, [&](int64_t i) { return rowsq[i]; });
}

// g[a ldg + b] = f sum_{t < K} X(a, t) Y(t, b) for a < na, b < nb, X and Y
// panels (X's panel of a at X + a / P xs, element (t, a % P) at t P + a % P;
// Y's likewise, column b), each sum the microkernel's (sequential in t).
// One side is W's (outer_b: Y; else X), the other M's (m = K vectors, the
// chunk of all of them kept in L2 by chunk_k): a task takes one panel of
// W's side and runs it, chunk by chunk of K, against every panel of M's,
// into its own float64 accumulator (that panel's outputs), so W's panels
// are read from memory once. (Tasks over M's panels reread all of W's per
// task: 256 x 1024 float32, 1 thread: 9 GFLOP/s against 40 at 256 x 256.)
template <class T>
void product(const double* X, int64_t xs, int64_t na, const double* Y, int64_t ys, int64_t nb,
             int64_t K, bool outer_b, double f, T* g, int64_t ldg, int requested) {
  const int64_t npa = (na + P - 1) / P, npb = (nb + P - 1) / P;
  const int64_t n_outer = outer_b ? npb : npa, n_inner = outer_b ? npa : npb;
  const int64_t kc = chunk_k(n_inner * P);
  // the accumulator: outer_b: the inner side's rows x P (row a at a P); else
  // P rows x the inner side's columns (row r at r n_inner P)
  const size_t acc_b = static_cast<size_t>(n_inner * P * P) * sizeof(double);
  const int nt = threads_for(na * nb / 8 * K, n_outer, requested);
  const detail::ThreadScratch scratch(nt, acc_b);
  detail::tasks_for<false>(n_outer, nt, [&](int64_t o, int tid) {
    double* acc = static_cast<double*>(scratch.slot(tid));
    for (int64_t t0 = 0; t0 < K; t0 += kc) {
      const int64_t kn = std::min(kc, K - t0);
      for (int64_t in = 0; in < n_inner; ++in) {
        const int64_t pa = outer_b ? in : o, pb = outer_b ? o : in;
        const double* y = Y + pb * ys + t0 * P;
        for (int64_t a0 = pa * P; a0 < std::min(na, (pa + 1) * P); a0 += MR) {
          const double* x = X + pa * xs + t0 * P + a0 % P;
          double* c = outer_b ? acc + a0 * P : acc + (a0 % P) * n_inner * P + pb * P;
          const int64_t ldc = outer_b ? P : n_inner * P;
          if (t0 == 0) {
            tiles::mk<double, MR, false>(kn, x, 1, P, y, P, c, ldc);
          } else {
            tiles::mk<double, MR, true>(kn, x, 1, P, y, P, c, ldc);
          }
        }
      }
    }
    if (outer_b) {
      const int64_t b0 = o * P, wb = std::min(P, nb - b0);
      for (int64_t a = 0; a < na; ++a) {
        T* FL_RESTRICT out = g + a * ldg + b0;
        const double* FL_RESTRICT cr = acc + a * P;
        for (int64_t u = 0; u < wb; ++u) out[u] = static_cast<T>(f * cr[u]);
      }
    } else {
      for (int64_t a = o * P; a < std::min(na, (o + 1) * P); ++a) {
        T* FL_RESTRICT out = g + a * ldg;
        const double* FL_RESTRICT cr = acc + (a % P) * n_inner * P;
        FL_SIMD
        for (int64_t b = 0; b < nb; ++b) out[b] = static_cast<T>(f * cr[b]);
      }
    }
  });
}

}  // namespace gram

// Rows of C logits: entropy (kZ false) or the squared log-sum-exp (kZ true).
template <class T, bool kZ>
struct SoftmaxRows {
  static constexpr int64_t group = 16;
  static constexpr int cost = 16;
  const T* z;
  T* g;
  int64_t C;
  // the row's p_k = exp(z_k - lse) in float64, taken once: the entropy and
  // the gradient's sums read them (each was an exp of its own before: four a
  // logit for entropy's value+grad)
  size_t scratch_bytes() const { return static_cast<size_t>(C) * sizeof(double); }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void* scratch) const {
    double* FL_RESTRICT pe = static_cast<double*>(scratch);
    for (int64_t i = 0; i < len; ++i) {
      const T* FL_RESTRICT r = z + (lo + i) * C;
      const T m = row_max(r, C);
      const double s =
          row_sum(C, [&](int64_t k) { return static_cast<double>(vm::exp(r[k] - m)); });
      const double lse = static_cast<double>(m) + std::log(s);
      // vm::exp in float64 (about 1 ulp, vectorized, the same bits on every
      // ISA level): std::exp a logit was 3/4 of entropy's time (7.9 against
      // torch's 2.8 ms on 65536 x 32 float32, 2 threads)
      if (!kZ || kGrad) {
        FL_SIMD
        for (int64_t k = 0; k < C; ++k) pe[k] = vm::exp(static_cast<double>(r[k]) - lse);
      }
      double h = 0.0;
      if constexpr (!kZ) {
        // -sum p log p, log p = z - lse; a p of 0 adds 0 (a -inf logit)
        h = row_sum(C, [&](int64_t k) {
          const double lp = static_cast<double>(r[k]) - lse;
          const double p = pe[k];
          return p == 0.0 ? 0.0 : -p * lp;
        });
        value[i] = static_cast<T>(h);
      } else {
        value[i] = static_cast<T>(lse * lse);
      }
      if constexpr (kGrad) {
        T* FL_RESTRICT gr = g + (lo + i) * C;
        const double w = static_cast<double>(gs[i]);
        // entropy: dH/dz_k = -p_k (log p_k + H) = -p_k (z_k - sum_j p_j z_j):
        // the second form has no lse in the difference, whose float32 exps
        // cost a nearly uniform row its digits (log p_k + H cancels there)
        double zbar = 0.0;
        if constexpr (!kZ) {
          const double pz = row_sum(C, [&](int64_t k) {
            const double p = pe[k];
            return p == 0.0 ? 0.0 : p * static_cast<double>(r[k]);
          });
          const double ps = row_sum(C, [&](int64_t k) { return pe[k]; });
          zbar = pz / ps;
        }
        for (int64_t k = 0; k < C; ++k) {
          const double p = pe[k];
          // z-loss: 2 lse p_k
          const double d =
              kZ ? 2.0 * lse * p : (p == 0.0 ? 0.0 : -p * (static_cast<double>(r[k]) - zbar));
          gr[k] = static_cast<T>(w * d);
        }
      }
    }
  }
};

template <class T>
struct Center {
  static constexpr int64_t group = 16;
  static constexpr int cost = 16;
  const T* x;
  const int64_t* labels;
  const T* centers;
  T* g;  // d loss / d x_i (the centers' gradient is summed from it after)
  int64_t D, K;
  size_t scratch_bytes() const { return 0; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void*) const {
    for (int64_t i = 0; i < len; ++i) {
      const int64_t s = lo + i, y = labels[s];
      if (y < 0 || y >= K)
        throw std::invalid_argument("labels: label " + std::to_string(y) + " at sample " +
                                    std::to_string(s) + " is out of range [0, " +
                                    std::to_string(K) + ")");
      const T* FL_RESTRICT xr = x + s * D;
      const T* FL_RESTRICT cr = centers + y * D;
      const double ss = row_sum(D, [&](int64_t k) {
        const double d = static_cast<double>(xr[k] - cr[k]);
        return d * d;
      });
      value[i] = static_cast<T>(0.5 * ss);
      if constexpr (kGrad) {
        T* FL_RESTRICT gr = g + s * D;
        const T w = gs[i];
        FL_SIMD
        for (int64_t k = 0; k < D; ++k) gr[k] = w * (xr[k] - cr[k]);
      }
    }
  }
};

// KL(rho || rho_hat_j) per unit j; its gradient w.r.t. a_ij is the same for
// every sample i: (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) / N.
template <class T>
struct KlUnits {
  static constexpr int64_t group = 64;
  static constexpr int cost = 4;
  const double* rho_hat;  // J column means
  T* g;                   // N x J
  int64_t N, J;
  double rho;
  size_t scratch_bytes() const { return 0; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void*) const {
    // units a piece of 64 at a time: their gradients are written row by row
    // (64 contiguous values a row), not down each column (a new cache line
    // every write: 9.4 ms against 0.5 for the value on 4096 x 256)
    constexpr int64_t kPiece = 64;
    T d[kPiece];
    for (int64_t p0 = 0; p0 < len; p0 += kPiece) {
      const int64_t np = len - p0 < kPiece ? len - p0 : kPiece;
      for (int64_t u = 0; u < np; ++u) {
        const int64_t i = p0 + u;
        const double q = rho_hat[lo + i];
        const double kl =
            rho * std::log(rho / q) + (1.0 - rho) * std::log((1.0 - rho) / (1.0 - q));
        value[i] = static_cast<T>(kl);
        if constexpr (kGrad)
          d[u] = static_cast<T>(static_cast<double>(gs[i]) * (-rho / q + (1.0 - rho) / (1.0 - q)) /
                                static_cast<double>(N));
      }
      if constexpr (kGrad) {
        for (int64_t r = 0; r < N; ++r) {
          T* FL_RESTRICT row = g + r * J + lo + p0;
          for (int64_t u = 0; u < np; ++u) row[u] = d[u];
        }
      }
    }
  }
};

}  // namespace reg
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
