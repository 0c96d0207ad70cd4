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
// each product copies W, in the tasks that use it, into panels of P =
// Vec<double>::nr vectors (K x P each, P = 16 at every ISA level), so the
// microkernel reads contiguous memory whichever side of W it runs over. Every entry of G and of the
// gradient is one microkernel sum, sequential in t with no FMA: the same
// bits on any thread count, tile order and ISA level. G is symmetric: only
// its upper block triangle is computed, the rest copied across (a product
// commutes exactly, so a copied entry has the bits a computed one would).
// The loops before (a fixed-tree dot per entry, no register blocking) ran at
// ~19 GFLOP/s on 256 x 1024 float32 against torch's BLAS at ~260.
namespace gram {

constexpr int64_t P = tiles::Vec<double>::nr;  // panel width
constexpr int MR = tiles::Vec<double>::mr;     // microkernel rows
static_assert(P % MR == 0, "a panel holds whole register tiles");

// Rows of t per chunk of K: a chunk of one panel (kc x P doubles) stays in
// L1 (<= 32 KiB) and the chunk of all m vectors in L2 (<= 512 KiB).
// Unblocked, each product reread its panels from memory (256 x 4096
// float32, 1 thread: the Gram at 8 GFLOP/s against 32 at 256 x 1024).
inline int64_t chunk_k(int64_t mp) {
  return std::max<int64_t>(16, std::min<int64_t>(256, (int64_t(1) << 16) / mp));
}

// Rows t0 .. t0 + tn of panel q of W's vectors, widened, into dst (tn x P:
// vector q P + u's element t0 + t at t P + u, zero past n): the vectors are
// W's rows (of_rows: n = r, length c) or its columns (n = c, length r).
// Each product packs the panels it is about to use, in the task that uses
// them: a pack of all of W ahead (2 MiB of doubles at 256 x 1024) was
// written to memory and read back (1 thread: the gradient's product at 9
// GFLOP/s against 39 at 256 x 256).
template <class T>
void pack_panel(const T* W, int64_t r, int64_t c, bool of_rows, int64_t q, int64_t t0,
                int64_t tn, double* FL_RESTRICT dst) {
  const int64_t n = of_rows ? r : c;
  const int64_t u0 = q * P, w = std::min(P, n - u0);
  if (of_rows) {
    // a transpose, 16 columns a step (each row read in runs of 16 values)
    for (int64_t s0 = 0; s0 < tn; s0 += 16) {
      const int64_t sn = std::min<int64_t>(16, tn - s0);
      for (int64_t u = 0; u < P; ++u) {
        double* FL_RESTRICT d = dst + s0 * P + u;
        if (u < w) {
          const T* FL_RESTRICT src = W + (u0 + u) * c + t0 + s0;
          for (int64_t t = 0; t < sn; ++t) d[t * P] = static_cast<double>(src[t]);
        } else {
          for (int64_t t = 0; t < sn; ++t) d[t * P] = 0.0;
        }
      }
    }
  } else {
    for (int64_t t = 0; t < tn; ++t) {
      const T* FL_RESTRICT src = W + (t0 + t) * c + u0;
      double* FL_RESTRICT d = dst + t * P;
      FL_SIMD
      for (int64_t u = 0; u < w; ++u) d[u] = static_cast<double>(src[u]);
      for (int64_t u = w; u < P; ++u) d[u] = 0.0;
    }
  }
}

// Rows of M's panels: m rounded up to P, plus 8 (1 KiB) so that panels are
// not a power of two apart (every panel's chunk in the same cache sets).
inline int64_t gram_rows(int64_t m) { return (m + P - 1) / P * P + 8; }

// M = A A^T - I, A the Gram's m vectors from W (of_rows: W's rows, else its
// columns; K their length), into Gp: panel q at Gp + q gs (gs = gram_rows(m)
// P) holds M's columns q P .. q P + P for rows 0 .. gs / P (row i at i P).
// Rows past m are never read; columns past m (in the last panel) are 0
// times the row's entries. rowsq[i] = sum_j M[i][j]^2 (row_sum's tree);
// returns sum_i rowsq[i] (row_sum's tree). Ac: scratch for a chunk of every
// panel, np chunk_k(np P) P doubles.
template <class T>
double gram(const T* W, int64_t r, int64_t c, bool of_rows, double* Ac, double* Gp,
            double* rowsq, int requested) {
  const int64_t m = of_rows ? r : c, K = of_rows ? c : r;
  const int64_t np = (m + P - 1) / P, gs = gram_rows(m) * P, kc = chunk_k(np * P);
  // K in chunks: the chunk of every panel packed (in L2), then its products
  // accumulated in Gp (exactly: a double stored and loaded back), so every
  // entry is still one sum in t order. Panel q of the upper triangle: rows
  // up to its last column, taken largest first (the order changes no bits).
  int nt = threads_for(m * m / 2 * K / 8, np, requested);
  for (int64_t t0 = 0; t0 < K; t0 += kc) {
    const int64_t kn = std::min(kc, K - t0);
    detail::tasks_for<false>(np, threads_for(m * kn, np, nt), [&](int64_t q, int) {
      pack_panel(W, r, c, of_rows, q, t0, kn, Ac + q * kc * P);
    });
    detail::tasks_for<true>(np, nt, [&](int64_t t, int) {
      const int64_t q = np - 1 - t, j0 = q * P;
      const double* y = Ac + q * kc * P;
      const int64_t rows = std::min(j0 + P, m);
      for (int64_t i0 = 0; i0 < rows; i0 += MR) {
        const double* x = Ac + i0 / P * kc * P + i0 % P;
        double* cc = Gp + q * gs + i0 * P;
        if (t0 == 0) {
          tiles::mk<double, MR, false>(kn, x, 1, P, y, P, cc, P);
        } else {
          tiles::mk<double, MR, true>(kn, x, 1, P, y, P, cc, P);
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
      for (int64_t j = 0; j < qi * P; ++j) Gp[j / P * gs + i * P + j % P] = Gp[qi * gs + j * P + ui];
      Gp[qi * gs + i * P + ui] -= 1.0;
      rowsq[i] = row_sum(m, [&](int64_t j) {
        const double x = Gp[j / P * gs + i * P + j % P];
        return x * x;
      });
    }
  });
  return row_sum(m, [&](int64_t i) { return rowsq[i]; });
}

// The gradient's product, f times: rows (r <= c): g[i][k] = sum_j M[i][j]
// W[j][k]; else g[k][i] = sum_j W[k][j] M[j][i]; j < m in order in each
// sum (the microkernel's), M's panels from gram. A task packs kGroup panels
// of W's vectors over j (W's columns, or rows: m long, in its scratch) and
// runs them, chunk by chunk of j (the chunk of all of M's panels kept in L2
// by chunk_k), against every panel of M, into its own float64 accumulators
// of those panels' outputs: W is read once, M once per task. (One panel a
// task: W's stream and g's evicted M from L2 once they passed ~1.5 MiB;
// 256 x 768 float32, 1 thread: the product at 11 GFLOP/s, 36 at 256 x 512.)
template <class T>
void product(const T* W, int64_t r, int64_t c, bool rows, const double* Gp, double f, T* g,
             int requested) {
  constexpr int64_t kGroup = 4;
  const int64_t m = rows ? r : c, len = rows ? c : r;
  const int64_t np = (m + P - 1) / P, gs = gram_rows(m) * P, kc = chunk_k(np * P);
  const int64_t n_outer = (len + P - 1) / P, n_tasks = (n_outer + kGroup - 1) / kGroup;
  // per panel of W: an accumulator (rows: M's rows x P, row i at i P; else P
  // rows x M's columns, row u at u np P) and the packed panel
  const int64_t acc_n = np * P * P, pan_n = m * P;
  const int nt = threads_for(m * len / 8 * m, n_tasks, requested);
  const detail::ThreadScratch scratch(
      nt, static_cast<size_t>(kGroup * (acc_n + pan_n)) * sizeof(double));
  detail::tasks_for<false>(n_tasks, nt, [&](int64_t task, int tid) {
    double* accs = static_cast<double*>(scratch.slot(tid));
    double* pans = accs + kGroup * acc_n;
    const int64_t o0 = task * kGroup, no = std::min(kGroup, n_outer - o0);
    for (int64_t e = 0; e < no; ++e) pack_panel(W, r, c, !rows, o0 + e, 0, m, pans + e * pan_n);
    for (int64_t t0 = 0; t0 < m; t0 += kc) {
      const int64_t kn = std::min(kc, m - t0);
      for (int64_t q = 0; q < np; ++q) {
        const double* mq = Gp + q * gs + t0 * P;  // M's panel q, rows t0 ..
        for (int64_t e = 0; e < no; ++e) {
          const double* wo = pans + e * pan_n + t0 * P;  // W's panel o0 + e, rows t0 ..
          double* acc = accs + e * acc_n;
          for (int64_t u0 = 0; u0 < P; u0 += MR) {
            if (rows && q * P + u0 >= m) break;
            // rows: x = M's rows q P + u0 .. (M[i][j] = M[j][i]), y = W's
            // panel; else x = W's vectors (o0 + e) P + u0 .., y = M's panel q
            const double* x = rows ? mq + u0 : wo + u0;
            const double* y = rows ? wo : mq;
            double* cc = rows ? acc + (q * P + u0) * P : acc + u0 * np * P + q * P;
            const int64_t ldc = rows ? P : np * P;
            if (t0 == 0) {
              tiles::mk<double, MR, false>(kn, x, 1, P, y, P, cc, ldc);
            } else {
              tiles::mk<double, MR, true>(kn, x, 1, P, y, P, cc, ldc);
            }
          }
        }
      }
    }
    for (int64_t e = 0; e < no; ++e) {
      const double* acc = accs + e * acc_n;
      const int64_t k0 = (o0 + e) * P, wk = std::min(P, len - k0);
      if (rows) {
        for (int64_t i = 0; i < m; ++i) {
          T* FL_RESTRICT out = g + i * c + k0;
          const double* FL_RESTRICT cr = acc + i * P;
          for (int64_t u = 0; u < wk; ++u) out[u] = static_cast<T>(f * cr[u]);
        }
      } else {
        for (int64_t u = 0; u < wk; ++u) {
          T* FL_RESTRICT out = g + (k0 + u) * c;
          const double* FL_RESTRICT cr = acc + u * np * P;
          FL_SIMD
          for (int64_t i = 0; i < m; ++i) out[i] = static_cast<T>(f * cr[i]);
        }
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
      double lse = static_cast<double>(m) + std::log(s);
      // z-loss: a row whose max is infinite has that lse, as torch.logsumexp
      // gives it (+inf with a +inf logit, -inf when every logit is -inf): the
      // loss is inf there, not the NaN of inf - inf
      if constexpr (kZ) {
        if (std::isinf(m)) lse = static_cast<double>(m);
      }
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
