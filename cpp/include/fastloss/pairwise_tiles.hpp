// fastloss/pairwise_tiles.hpp -- the shifted, one-exponential tile engine of
// NT-Xent and CLIP (pairwise.hpp): fewer products and exponentials than the
// general tile driver (common/tiles.hpp), which stays as their fallback.
//
// Fixed shift. On unit rows |A_a . B_k| <= 1, so S = scale * A_a . B_k lies
// in [-m, m], m = |scale|: e = exp(S - m) in [exp(-2m), 1] needs no running
// maximum, and where 2m <= 2 kMaxShift = 60 every e is a normal float with
// all its digits (exp(-60) = 8.7e-27). Each entry then costs one exponential,
// used by both sides: the row sums R (and the column sums, CLIP; for NT-Xent
// S is symmetric, so a column's sum is a row's), and in the backward both
// softmaxes, e / Sigma_a and e / Sigma_k, as e * (w_a + w_k), w = coefficient
// / Sigma. Larger scales (NT-Xent's temperature < 1/30, CLIP's logit_scale >
// 30) take the general driver.
//
// Near-zero losses keep their digits: the positive's term E_a (exp in double
// of the one float S) is kept apart from the others' sum R_a, so
//   loss_a = log(Sigma_a / E_a) = log1p(R_a / E_a),   Sigma_a = E_a + R_a,
// and the positive's coefficient P - 1 = -R_a / Sigma_a, both without the
// cancellation of lse - S or of 1 - P.
//
// Blocks and rounds. Rows are cut into blocks of kB; a task is a pair of
// blocks (I, J): the kB x kB tile of dot products (the general driver's
// microkernel on its panels), then its exponentials, then either its sums
// (forward) or its coefficients H and both products dA_I += H B_J and
// dB_J += H^T A_I (backward; 3 products for the 5 of two sweeps, CLIP).
// NT-Xent computes only the pairs I < J and the diagonal I = J (S and H are
// symmetric: half the products and exponentials of the full matrix).
// A task writes the rows of I and of J, so the pairs are run in rounds in
// which no block appears twice: CLIP's round r is the pairs (I, I + r mod
// nb); NT-Xent's the round-robin tournament's rounds (the circle method),
// then one round of the diagonal blocks. Rounds run one after the other, the
// pairs of a round in parallel: every row's sums and gradient accumulate
// their blocks in round order whatever thread ran a pair, so the bits depend
// neither on the thread count nor on the schedule (CLIP's forward gives a
// task kGroup rounds of one row block, the same sums in the same order: see
// sums); and, as in the general
// driver, each element of a product is a sequential sum without FMA: the
// same bits at every ISA level.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastloss/common/config.hpp"
#include "fastloss/common/parallel.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tiles.hpp"
#include "fastloss/common/vmath.hpp"

#if FL_HAVE_OPENMP
#include <omp.h>
#endif

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace ptiles {

using tiles::Buffer;
using tiles::kLanes;
using tiles::Panels;
using tiles::round_up;
using tiles::Vec;

constexpr int64_t kB = 128;          // rows (and columns) of a block
constexpr double kMaxShift = 30.0;   // the largest m of the fixed shift (see above)
static_assert(kB % Vec<float>::nr == 0 && kB % Vec<double>::nr == 0, "block shape");

inline bool shift_ok(double m) { return m >= 0.0 && m <= kMaxShift; }  // NaN: false

// The pairs of blocks and their rounds.
struct Rounds {
  bool sym;    // NT-Xent: pairs I < J, then the diagonal round
  int64_t nb;  // blocks
  int64_t m;   // sym: nb rounded up to even (a dummy block where odd)
  Rounds(bool s, int64_t n_blocks) : sym(s), nb(n_blocks), m(n_blocks + (n_blocks & 1)) {}
  int64_t count() const { return nb == 0 ? 0 : sym ? m : nb; }  // rounds
  int64_t tasks(int64_t r) const { return sym && r < m - 1 ? m / 2 : nb; }
  // the pair of task t of round r; false where it holds the dummy block
  bool pair(int64_t r, int64_t t, int64_t& I, int64_t& J) const {
    if (!sym) {
      I = t, J = (t + r) % nb;
      return true;
    }
    if (r == m - 1) {
      I = J = t;
      return true;
    }
    const int64_t q = m - 1;  // the circle method: slot q fixed, the rest rotate
    int64_t a, b;
    if (t == 0) {
      a = r, b = q;
    } else {
      a = (r + t) % q, b = (r - t + q) % q;
    }
    if (a == nb || b == nb) return false;
    I = std::min(a, b), J = std::max(a, b);
    return true;
  }
};

// task(I, J, thread) for every pair, round after round (see the header).
// No exception may leave it (an OpenMP region).
template <class Task>
void run_rounds(const Rounds& rs, int nt, const Task& task) {
  const int64_t nr = rs.count();
#if FL_HAVE_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int tid = omp_get_thread_num();
      for (int64_t r = 0; r < nr; ++r) {
        const int64_t n = rs.tasks(r);
#pragma omp for schedule(static)
        for (int64_t t = 0; t < n; ++t) {
          int64_t I, J;
          if (rs.pair(r, t, I, J)) task(I, J, tid);
        }
      }
    }
    return;
  }
#endif
  for (int64_t r = 0; r < nr; ++r) {
    for (int64_t t = 0; t < rs.tasks(r); ++t) {
      int64_t I, J;
      if (rs.pair(r, t, I, J)) task(I, J, 0);
    }
  }
}

// The dot products A_{i0 + r} . B_{j0 + c}, r < round_up(mi, MR),
// c < round_up(nj, P), into tile (kB x kB, row-major): past n, the panels'
// zero rows give 0.
template <class T>
void dots(const Panels<T>& A, int64_t i0, int64_t mi, const Panels<T>& B, int64_t j0,
          int64_t nj, T* FL_RESTRICT tile) {
  constexpr int64_t P = Vec<T>::nr;
  constexpr int64_t MR = Vec<T>::mr;
  const int64_t D = A.d();
  for (int64_t jp = 0; jp * P < nj; ++jp) {
    const T* y = B.panel(j0 + jp * P);
    for (int64_t q = 0; q * MR < mi; ++q) {
      const int64_t i = i0 + q * MR;
      tiles::mk<T, MR, false>(D, A.panel(i) + i % P, 1, P, y, P, tile + q * MR * kB + jp * P, kB);
    }
  }
}

// Rows j0 .. j0 + nj of X's unit rows in strips of P columns: strip q
// (columns q P .. q P + P, zero past D) at out + q kB P, row t at t P. The
// backward's products read a strip as the microkernel's y, P contiguous
// values per t (row-major rows Dp apart, 1 KiB at D = 256, put a strip's 128
// rows in 8 of the L1's 64 sets). Taken from the input rows, x / den as the
// panels were (the same division, the same bits), where the panels would
// need a transpose: contiguous reads and writes (measured on the transpose
// from the panels: 12% of CLIP's value+grad, 1 thread, N = 2048).
template <class T, class XRow>
void pack(const Panels<T>& X, const XRow& xrow, int64_t j0, int64_t nj, int64_t Dp,
          T* FL_RESTRICT out) {
  constexpr int64_t P = Vec<T>::nr;
  const int64_t D = X.d();
  for (int64_t t = 0; t < nj; ++t) {
    const T* FL_RESTRICT x = xrow(j0 + t);
    const T dv = X.den(j0 + t);
    for (int64_t q = 0; q * P < Dp; ++q) {
      T* FL_RESTRICT dst = out + q * kB * P + t * P;
      const int64_t w = std::min(P, D - q * P);
      FL_SIMD
      for (int64_t e = 0; e < w; ++e) dst[e] = x[q * P + e] / dv;
      for (int64_t e = w; e < P; ++e) dst[e] = T(0);
    }
  }
}

// What the engine reads: the general driver's tiles::Sweep (S[a, k] =
// scale * A_a . B_k, a's positive pos(a) = (a + shift) mod nB, k = a skipped
// where skip_diag: NT-Xent, whose S is symmetric too, which the engine
// uses), and the shift m = |scale|. A Pairs is the Sweep of the general
// driver's fallback as it stands.
template <class T>
struct Pairs : tiles::Sweep<T> {
  T m;
  int64_t blocks() const { return (this->A->n() + kB - 1) / kB; }  // nA == nB
  int threads() const {
    const int64_t work = this->A->n() * this->B->n() / 8 * std::max<int64_t>(this->A->d(), 1);
    return threads_for(work, this->skip_diag ? blocks() / 2 + 1 : blocks(), this->n_threads);
  }
};

// e = exp(S - m) over the tile's rows r < mi and columns c < nj (zero past
// nj up to njp), the positives' terms taken out into E (double) and the
// skipped diagonal zeroed. E[a] is written by the task holding (a, pos(a)),
// and for sym E[k] too, k = pos(a) (S[k, a] is the same number).
template <class T>
void exps(const Pairs<T>& s, int64_t i0, int64_t mi, int64_t j0, int64_t nj,
          const T* FL_RESTRICT dot, T* FL_RESTRICT e, double* E) {
  constexpr int64_t P = Vec<T>::nr;
  const int64_t njp = round_up(nj, P);
  const T sc = s.scale, m = s.m;
  for (int64_t r = 0; r < mi; ++r) {
    const T* FL_RESTRICT d = dot + r * kB;
    T* FL_RESTRICT er = e + r * kB;
    FL_SIMD
    for (int64_t c = 0; c < nj; ++c) er[c] = vm::exp_nonpos(sc * d[c] - m);
    for (int64_t c = nj; c < njp; ++c) er[c] = T(0);
    const int64_t a = i0 + r, p = s.pos(a);
    if (p >= j0 && p < j0 + nj) {
      if (E != nullptr) {
        const T S = sc * d[p - j0];
        const double x = vm::exp(static_cast<double>(S) - static_cast<double>(m));
        E[a] = x;
        if (s.skip_diag) E[p] = x;
      }
      er[p - j0] = T(0);
    }
    if (s.skip_diag && a >= j0 && a < j0 + nj) er[a - j0] = T(0);
  }
}

// Forward: R[a] = sum of e over a's row less its positive (and, sym, its
// diagonal); E[a] its positive's term; C[k] likewise over column k (CLIP;
// sym: C = R, a column being a row). All in double.
//
// CLIP's rounds are taken kGroup at a time: in a group, the task of row
// block I runs its pairs (I, I + r), r in order, so A_I is read from memory
// once for the group's tiles, where one round at a time read a new A_I and
// B_J for every tile (1 thread, 2048 x 512: the products ran at ~2/3 of the
// general driver's speed, whose row tiles stay in the cache across their
// column blocks). A row's sums are added in the same order as round by
// round; a column block's, which the group's tasks write concurrently, go to
// one partial per round, added to C after the group in round order: the
// same numbers added in the same order, so the same bits as round by round,
// and a barrier per group instead of per round.
constexpr int64_t kGroup = 16;  // rounds per group: partials of kGroup x nB doubles

// One tile's sums (see sums): R[a] += its row sums; its column sums
// added to colsum[c] (add) or stored there (!add).
template <class T>
void tile_sums(const Pairs<T>& s, int64_t I, int64_t J, unsigned char* slot, double* R,
               double* E, double* colsum, bool add) {
  const int64_t n = s.A->n();
  const size_t tile_b = kB * kB * sizeof(T);
  T* dot = reinterpret_cast<T*>(slot);
  T* e = reinterpret_cast<T*>(slot + tile_b);
  double* cs = reinterpret_cast<double*>(slot + 2 * tile_b);
  const int64_t i0 = I * kB, mi = std::min(kB, n - i0);
  const int64_t j0 = J * kB, nj = std::min(kB, s.B->n() - j0);
  constexpr int64_t P = Vec<T>::nr;
  const int64_t njp = round_up(nj, P);
  dots(*s.A, i0, mi, *s.B, j0, nj, dot);
  exps(s, i0, mi, j0, nj, dot, e, E);
  // rows: 16 fixed lanes of doubles, then in lane order
  for (int64_t r = 0; r < mi; ++r) {
    const T* FL_RESTRICT er = e + r * kB;
    double lane[kLanes] = {};
    for (int64_t c = 0; c < njp; c += kLanes) {
      FL_SIMD
      for (int64_t l = 0; l < kLanes; ++l) lane[l] += static_cast<double>(er[c + l]);
    }
    double t = 0.0;
    for (int64_t l = 0; l < kLanes; ++l) t += lane[l];
    R[i0 + r] += t;
  }
  if (s.skip_diag && I == J) return;  // its columns are its rows
  // columns: rows in order
  for (int64_t c = 0; c < nj; ++c) cs[c] = 0.0;
  for (int64_t r = 0; r < mi; ++r) {
    const T* FL_RESTRICT er = e + r * kB;
    FL_SIMD
    for (int64_t c = 0; c < nj; ++c) cs[c] += static_cast<double>(er[c]);
  }
  if (add) {
    for (int64_t c = 0; c < nj; ++c) colsum[c] += cs[c];
  } else {
    for (int64_t c = 0; c < nj; ++c) colsum[c] = cs[c];
  }
}

template <class T>
void sums(const Pairs<T>& s, double* R, double* C, double* E) {
  const int64_t n = s.A->n();
  const Rounds rs(s.skip_diag, s.blocks());
  const int nt = s.threads();
  for (int64_t a = 0; a < n; ++a) R[a] = 0.0, E[a] = 0.0;
  const size_t tile_b = kB * kB * sizeof(T);
  const detail::ThreadScratch scratch(nt, 2 * tile_b + kB * sizeof(double));
  if (s.skip_diag) {
    run_rounds(rs, nt, [&](int64_t I, int64_t J, int tid) {
      unsigned char* slot = static_cast<unsigned char*>(scratch.slot(tid));
      tile_sums(s, I, J, slot, R, E, R + J * kB, true);
    });
    return;
  }
  const int64_t nb = s.blocks(), nB = s.B->n();
  for (int64_t a = 0; a < nB; ++a) C[a] = 0.0;
  const Buffer<double> part(std::min(kGroup, nb) * nB);
  for (int64_t r0 = 0; r0 < nb; r0 += kGroup) {
    const int64_t g = std::min(kGroup, nb - r0);
    // tasks in any order on any thread (dynamic: a loaded core's tasks go
    // to the other): what each writes, and the order of every sum, is fixed
    detail::tasks_for<true>(nb, nt, [&](int64_t I, int tid) {
      unsigned char* slot = static_cast<unsigned char*>(scratch.slot(tid));
      for (int64_t r = r0; r < r0 + g; ++r) {
        const int64_t J = (I + r) % nb;  // Rounds::pair, CLIP
        tile_sums(s, I, J, slot, R, E, part.get() + (r - r0) * nB + J * kB, false);
      }
    });
    for (int64_t r = 0; r < g; ++r) {
      const double* FL_RESTRICT pr = part.get() + r * nB;
      FL_SIMD
      for (int64_t k = 0; k < nB; ++k) C[k] += pr[k];
    }
  }
}

// Backward: with H[a, k] = e (wa[a] + wb[k]) off the positives (the two
// softmaxes' coefficients), -(fa[a] + fb[k]) on k = pos(a), 0 on a skipped
// diagonal, accumulate accA(a) += sum_k H[a, k] B_k (where hasA) and
// accB(k) += sum_a H[a, k] A_a (where hasB; sym: accA's rows, hasB
// ignored), xa(a) and xb(k) the input rows of the panels A and B; rowdot[a] += sum_k H[a, k] * (A_a . B_k) where asked (CLIP's
// d/d logit_scale). acc(i) is row i of an accumulator, Dp wide, a block's
// rows one after another, round_up(n, MR) rows in all (a block's products
// run over whole register tiles).
template <class T, class XA, class XB, class AccA, class AccB>
void grads(const Pairs<T>& s, const XA& xa, const XB& xb, const T* wa, const T* fa, const T* wb,
           const T* fb, const AccA& accA, bool hasA, const AccB& accB, bool hasB,
           double* rowdot) {
  constexpr int64_t P = Vec<T>::nr;
  constexpr int64_t MR = Vec<T>::mr;
  const int64_t n = s.A->n(), D = s.A->d();
  const int64_t Dp = round_up(std::max<int64_t>(D, 1), P);
  const Rounds rs(s.skip_diag, s.blocks());
  const int nt = s.threads();
  const size_t tile_b = kB * kB * sizeof(T);
  // H's rows kH apart, not a power of two: the transposed product reads a
  // column of H, one line per row
  constexpr int64_t kH = kB + 16;
  const size_t h_b = kB * kH * sizeof(T);
  const size_t pack_b = static_cast<size_t>(kB * Dp) * sizeof(T);
  const detail::ThreadScratch scratch(nt, 2 * tile_b + h_b + 2 * pack_b);
  run_rounds(rs, nt, [&](int64_t I, int64_t J, int tid) {
    unsigned char* slot = static_cast<unsigned char*>(scratch.slot(tid));
    T* dot = reinterpret_cast<T*>(slot);
    T* e = reinterpret_cast<T*>(slot + tile_b);
    T* h = reinterpret_cast<T*>(slot + 2 * tile_b);  // kB x kH
    T* pa = reinterpret_cast<T*>(slot + 2 * tile_b + h_b);           // A_I's rows
    T* pb = reinterpret_cast<T*>(slot + 2 * tile_b + h_b + pack_b);  // B_J's rows
    const int64_t i0 = I * kB, mi = std::min(kB, n - i0), mq = round_up(mi, MR);
    const int64_t j0 = J * kB, nj = std::min(kB, s.B->n() - j0);
    const int64_t njp = round_up(nj, P), njq = round_up(nj, MR);
    dots(*s.A, i0, mi, *s.B, j0, nj, dot);
    exps(s, i0, mi, j0, nj, dot, e, static_cast<double*>(nullptr));
    const T* FL_RESTRICT wbj = wb + j0;
    for (int64_t r = 0; r < mq; ++r) {
      T* FL_RESTRICT hr = h + r * kH;
      if (r >= mi) {
        for (int64_t c = 0; c < njp; ++c) hr[c] = T(0);
        continue;
      }
      const int64_t a = i0 + r, p = s.pos(a);
      const T* FL_RESTRICT er = e + r * kB;
      const T w = wa[a];
      FL_SIMD
      for (int64_t c = 0; c < njp; ++c) hr[c] = er[c] * (w + (c < nj ? wbj[c] : T(0)));
      if (p >= j0 && p < j0 + nj) hr[p - j0] = -(fa[a] + fb[p]);
      if (s.skip_diag && a >= j0 && a < j0 + nj) hr[a - j0] = T(0);
      if (rowdot != nullptr) {
        const T* FL_RESTRICT dr = dot + r * kB;
        double lane[kLanes] = {};
        for (int64_t c = 0; c < njp; c += kLanes) {
          FL_SIMD
          for (int64_t l = 0; l < kLanes; ++l)
            lane[l] += static_cast<double>(hr[c + l]) * static_cast<double>(dr[c + l]);
        }
        double t = 0.0;
        for (int64_t l = 0; l < kLanes; ++l) t += lane[l];
        rowdot[a] += t;
      }
    }
    // accA[a] += sum_k H[a, k] B_k: H's rows broadcast, B_J's rows packed.
    // A register tile's rows, then the next: each accumulator row is read
    // and written front to back (the products of a tile are its own, so the
    // order of the tiles changes no bits; strips outer, each accumulator row
    // was touched 128 bytes at a time, 1 thread, 2048 x 512: 5-8% slower)
    if (hasA) {
      pack(*s.B, xb, j0, nj, Dp, pb);
      T* acc = accA(i0);
      for (int64_t r0 = 0; r0 < mq; r0 += MR)
        for (int64_t d0 = 0; d0 < Dp; d0 += P)
          tiles::mk<T, MR, true>(nj, h + r0 * kH, kH, 1, pb + d0 * kB, P, acc + r0 * Dp + d0, Dp);
    }
    // accB[k] += sum_a H[a, k] A_a: H's columns broadcast, A_I's rows packed
    const bool side_b = s.skip_diag ? (hasA && I != J) : hasB;
    if (side_b) {
      // zero H's columns nj .. njq (read as the register tile's columns)
      for (int64_t r = 0; r < mi; ++r)
        for (int64_t c = nj; c < njq; ++c) h[r * kH + c] = T(0);
      pack(*s.A, xa, i0, mi, Dp, pa);
      T* acc = s.skip_diag ? accA(j0) : accB(j0);
      for (int64_t c0 = 0; c0 < njq; c0 += MR)
        for (int64_t d0 = 0; d0 < Dp; d0 += P)
          tiles::mk<T, MR, true>(mi, h + c0, 1, kH, pa + d0 * kB, P, acc + c0 * Dp + d0, Dp);
    }
  });
}

// The gradient rows: acc(a) chained through a's normalization
// (tiles::chain_row), acc and g possibly the same rows. Rows in parallel:
// each row's own arithmetic.
template <class T, class Acc, class XRow, class GRow>
void chain(const Panels<T>& X, const Acc& acc, T outscale, const XRow& xrow, const GRow& grow,
           int n_threads) {
  const int64_t n = X.n(), D = X.d();
  const int64_t n_tasks = (n + 255) / 256;
  const int nt = threads_for(n * std::max<int64_t>(D, 1), n_tasks, n_threads);
  detail::tasks_for<false>(n_tasks, nt, [&](int64_t t, int) {
    for (int64_t a = t * 256; a < std::min(n, (t + 1) * 256); ++a) {
      T* g = grow(a);
      if (g != nullptr) tiles::chain_row(X, a, xrow(a), acc(a), outscale, g);
    }
  });
}

}  // namespace ptiles
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
