// fastloss/common/tiles.hpp -- the pairwise tile driver: losses over the
// similarity matrix S = scale * A B^T of two sets of unit rows (NT-Xent,
// CLIP), computed tile by tile so that the nA x nB matrix is never held.
//
// Layout. The rows of A and B are normalized once, up front, into panels
// (Panels below): the rows cut into groups of P = Vec<T>::nr (16 or 32), each
// group stored as a D x P block (row r's element d at d * P + r), rows past n
// zero. That is inputs-sized scratch (N x D), the only large allocation.
//
// Forward (lse_sweep): parallel over row tiles of kRows rows; a thread runs
// its tile across the columns in blocks of kCols: the block's dot products
// by the microkernel (below), then per row an online (streaming)
// log-sum-exp: the block's maximum, the running sum rescaled to it, the
// block's exponentials added in 16 fixed lanes of doubles, then in lane
// order, the positive's term kept apart (see ce_parts). Every row is computed by one thread, columns in one fixed
// order, so its log-sum-exp has the same bits on any thread count. Where the
// columns' log-sum-exps are asked too (CLIP), each tile also leaves per
// column a partial over its rows, merged in tile order (see lse_sweep).
//
// Backward (grad_sweep), flash-attention style: a second sweep over the row
// tiles recomputes each block's dot products, forms the coefficients
//   H[a, k] = ca[a] e^{S - la[a]} + cb[k] e^{S - lb[k]} - [k = p(a)] (ca[a] + cb[k])
// (d loss / d S[a, k] for the losses here: the row side's softmax and, where
// the column side has one, its softmax too, since S is read by both; at the
// positive, ca (P - 1) + cb (P' - 1) from the forward's 1 - P = R / Sigma) and
// accumulates dA = outscale * H B into the tile's kRows x D accumulator, k in
// order; then the gradient is chained through the normalization into the
// input row. Column sums are never needed: the key side's gradient is a
// second sweep with A and B swapped (CLIP), or, S being symmetric, is folded
// into H itself (NT-Xent). So again each output row is one thread's, summed
// in one order: no partial buffers, the bits do not depend on the thread
// count.
//
// Microkernel (mk): C[r][0..nr) += sum_t x(r, t) * y[t][0..nr) for r < MR,
// t in order, on GCC/Clang vectors of the ISA's width: every output element
// is a sequential sum over t, so the register tile's shape (Vec: 8 x 32 for
// float at AVX-512, 4 x 16 at AVX2, ...) changes no bits, and
// -ffp-contract=off keeps the products and sums apart (no FMA) as everywhere
// in fastloss: the same bits at every ISA level. The forward calls it with
// x = A's panel (a broadcast per row), y = B's panel; the backward with x =
// the coefficients H (a broadcast per row), y = the block's B rows, packed
// row-major.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>

#include "fastloss/api/buffers.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/parallel.hpp"
#include "fastloss/common/persample.hpp"  // detail::ThreadScratch, tasks_for
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace tiles {

constexpr int64_t kLanes = 16;  // fixed lanes of the exponential sums (the bits)
constexpr int64_t kRows = 64;   // rows of a tile (a multiple of every panel width)
constexpr int64_t kCols = 256;  // columns of a block (a multiple of every panel width)

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// The vector registers of this ISA level, in bytes, and how many of them
// (GCC's lowering of a vector wider than the registers goes through the
// stack: half the speed at baseline, measured on a 64 x 256 x 256 tile).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kAccRegs = 16;  // of 32 registers: the rest for y, x and products
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kAccRegs = 8;  // of 16
#else
constexpr int kVecBytes = 16;
constexpr int kAccRegs = 8;  // of 16
#endif

// The register tile of this ISA level and type: MR rows x kNR columns of
// accumulators, kNR = NV native vectors. The tile's shape changes only which
// products are in flight together, never an element's sum (sequential over
// t), so every shape gives the same bits. 32 columns where a row of 16 is one
// vector (AVX-512 float: 8 x 32, 16 accumulators, against 4 x 16 = 4 before),
// else 16.
template <class T>
struct Vec {
  typedef T type __attribute__((vector_size(kVecBytes)));
  static constexpr int64_t lanes = kVecBytes / sizeof(T);
  static constexpr int64_t nr = lanes >= 16 ? 2 * lanes : 16;  // panel width
  static constexpr int nv = static_cast<int>(nr / lanes);
  static constexpr int mr = kAccRegs / nv >= 8 ? 8 : kAccRegs / nv;
  static_assert(kRows % nr == 0 && kCols % nr == 0 && nr % mr == 0, "tile shapes");
};

// An array of n T from the buffer cache (a training loop calling again gets
// the same pages back).
template <class T>
class Buffer {
 public:
  explicit Buffer(int64_t n)
      : p_(n > 0 ? static_cast<T*>(buffers::allocate(static_cast<size_t>(n) * sizeof(T)))
                 : nullptr) {
    if (n > 0 && p_ == nullptr) throw std::bad_alloc();
  }
  ~Buffer() { buffers::release(p_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  T* get() const { return p_; }

 private:
  T* p_;
};

// C[r][0..nr) (+)= sum_{t < K} x[r * xr + t * xt] * y[t * ldy + 0..nr), r < MR:
// each element's products summed in t order (no FMA: -ffp-contract=off).
template <class T, int MR, bool kLoad>
FL_INLINE void mk(int64_t K, const T* FL_RESTRICT x, int64_t xr, int64_t xt,
                  const T* FL_RESTRICT y, int64_t ldy, T* FL_RESTRICT c, int64_t ldc) {
  using V = typename Vec<T>::type;
  constexpr int W = Vec<T>::nv;
  constexpr int64_t L = Vec<T>::lanes;
  V acc[MR][W];
  for (int r = 0; r < MR; ++r) {
    for (int w = 0; w < W; ++w) {
      if (kLoad) {
        std::memcpy(&acc[r][w], c + r * ldc + w * L, sizeof(V));
      } else {
        acc[r][w] = V{};
      }
    }
  }
  for (int64_t t = 0; t < K; ++t) {
    V yv[W];
    for (int w = 0; w < W; ++w) std::memcpy(&yv[w], y + t * ldy + w * L, sizeof(V));
    const T* xt_ = x + t * xt;
    for (int r = 0; r < MR; ++r) {
      const T xv = xt_[r * xr];
      for (int w = 0; w < W; ++w) acc[r][w] += xv * yv[w];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int w = 0; w < W; ++w) std::memcpy(c + r * ldc + w * L, &acc[r][w], sizeof(V));
}

// Unit rows in panels of P = Vec<T>::nr rows (see the header). row(i) gives input row i (D values);
// den[i] = max(||row i||, eps), the divisor (torch.nn.functional.normalize).
template <class T>
class Panels {
 public:
  static constexpr int64_t P = Vec<T>::nr;  // panel width
  template <class Row>
  Panels(int64_t n, int64_t d, const Row& row, T eps, int n_threads)
      : n_(n), d_(d), np_(round_up(n, P)), p_(np_ * d), den_(n), below_(n) {
    const int64_t n_panels = np_ / P;
    const int nt = threads_for(np_ * std::max<int64_t>(d, 1), n_panels, n_threads);
    T* out = p_.get();
    T* den = den_.get();
    unsigned char* below = below_.get();
    detail::tasks_for<false>(n_panels, nt, [&](int64_t g, int) {
      T* blk = out + g * P * d;
      for (int64_t r = 0; r < P; ++r) {
        const int64_t i = g * P + r;
        if (i >= n) {
          for (int64_t k = 0; k < d; ++k) blk[k * P + r] = T(0);
          continue;
        }
        const T* x = row(i);
        double ss = 0.0;
        for (int64_t k = 0; k < d; ++k) ss += static_cast<double>(x[k]) * static_cast<double>(x[k]);
        T nrm = static_cast<T>(std::sqrt(ss));
        const T dv = nrm > eps ? nrm : (nrm != nrm ? nrm : eps);  // NaN propagates
        den[i] = dv;
        below[i] = nrm < eps;
        for (int64_t k = 0; k < d; ++k) blk[k * P + r] = x[k] / dv;
      }
    });
  }
  int64_t n() const { return n_; }
  int64_t d() const { return d_; }
  const T* panel(int64_t i) const { return p_.get() + i / P * P * d_; }  // i % P == 0
  const T* data() const { return p_.get(); }
  T den(int64_t i) const { return den_.get()[i]; }
  bool below(int64_t i) const { return below_.get()[i] != 0; }
  T unit(int64_t i, int64_t k) const { return p_.get()[i / P * P * d_ + k * P + i % P]; }

 private:
  int64_t n_, d_, np_;
  Buffer<T> p_;
  Buffer<T> den_;
  Buffer<unsigned char> below_;
};

// The dot products of rows i0 .. i0 + mi of A with columns j0 .. j0 + nj of
// B into tile (kRows x kCols, row-major); mi, nj rounded up to the microkernel.
template <class T>
void dot_tile(const Panels<T>& A, int64_t i0, int64_t mi, const Panels<T>& B, int64_t j0,
              int64_t nj, T* FL_RESTRICT tile) {
  const int64_t D = A.d();
  constexpr int64_t P = Vec<T>::nr;
  constexpr int64_t MR = Vec<T>::mr;
  const int64_t nq = (mi + MR - 1) / MR;
  for (int64_t jp = 0; jp * P < nj; ++jp) {
    const T* y = B.panel(j0 + jp * P);
    for (int64_t q = 0; q < nq; ++q) {
      const int64_t i = i0 + q * MR;
      const T* x = A.panel(i) + i % P;
      mk<T, MR, false>(D, x, 1, P, y, P, tile + q * MR * kCols + jp * P, kCols);
    }
  }
}

// Row a's gradient g = outscale * acc chained through its normalization u =
// x / den: dx = (g - u (u . g)) / den, u . g summed in double, k in order;
// torch's norm clamped at eps passes no gradient below eps. x is the input
// row; acc and g may be the same row (each k is read before it is written).
// Both drivers' backwards end here.
template <class T>
void chain_row(const Panels<T>& X, int64_t a, const T* x, const T* acc, T outscale, T* g) {
  const int64_t D = X.d();
  const T den = X.den(a);
  double ug = 0.0;
  for (int64_t k = 0; k < D; ++k) {
    const T gk = outscale * acc[k];
    g[k] = gk;
    ug += static_cast<double>(x[k] / den) * static_cast<double>(gk);
  }
  const bool below = X.below(a);
  const T ugt = static_cast<T>(ug);
  for (int64_t k = 0; k < D; ++k) {
    const T u = x[k] / den;
    g[k] = below ? g[k] / den : (g[k] - u * ugt) / den;
  }
}

// What a sweep reads: S[a, k] = scale * A_a . B_k; k == a skipped where
// skip_diag (NT-Xent's self-similarity); a's positive is p(a) = (a + shift)
// mod nB.
template <class T>
struct Sweep {
  const Panels<T>* A;
  const Panels<T>* B;
  T scale;
  bool skip_diag;
  int64_t shift;
  int n_threads;
  int64_t pos(int64_t a) const { return (a + shift) % B->n(); }
};

template <class T>
int sweep_threads(const Sweep<T>& s, int64_t n_tiles) {
  const int64_t work = s.A->n() * s.B->n() / 8 * std::max<int64_t>(s.A->d(), 1);
  return threads_for(work, n_tiles, s.n_threads);
}

// One side's cross-entropies against the positives (the rows, or CLIP's
// columns), n entries of double: lse the log-sum-exp (the backward's
// softmax), loss = lse - S_pos and rest = 1 - P_pos, these two without
// cancellation (ce_parts).
struct CE {
  double* lse;
  double* loss;
  double* rest;
};

// Entry i of a CE from a row's maximum m (its positive's S included), the
// sum R of its negatives' exp(S - m) and its positive's S, sp. The
// positive's term E = exp(sp - m) is kept apart from R, as the fixed-shift
// engine (pairwise_tiles.hpp) and the reference do; Sigma = E + R and
//   loss = log(Sigma / E) = log1p(R) where the positive is the maximum
//          (E = 1): a loss near 0 keeps its relative digits, where log(Sigma)
//          kept an absolute error ~1e-16 only (3% off a loss of 2.6e-14 at
//          scale 40, 0 for one of 3e-21 at 60: tests/test_pairwise.py);
//        = log(Sigma) + (m - sp) else: some negative is the maximum, so
//          R >= 1 and loss >= log 2, nothing cancels (and E may underflow,
//          which log1p(R / E) would not survive);
//   rest = R / Sigma, the positive's 1 - P without the cancellation of
//          1 - E / Sigma.
inline void ce_parts(double m, double sp, double R, const CE& out, int64_t i) {
  const double x = sp - m;  // <= 0; NaN where a score is
  const double sig = vm::exp(x) + R;
  const double ls = vm::log(sig);
  out.lse[i] = m + ls;
  out.loss[i] = x == 0.0 ? vm::log1p(R) : ls - x;
  out.rest[i] = R / sig;
}

// Forward: the rows' cross-entropies (rows, a CE of nA entries) over
// S[a, k], k != a where skip_diag, against S[a, p(a)]: per row its maximum
// and the sum of its negatives' exponentials, streamed over the blocks, the
// maximum in T (exact) and the sums in double lanes: a float32 lane holding
// the maximum's 1 would drop the digits of the small terms, which are all of
// a loss near 0. Where cols is asked (CLIP; not with skip_diag, and nA ==
// nB: column p(a)'s positive is row a's), the columns' too, from the same
// dot products (one pass over S for both sides, where CLIP ran a second
// sweep over S^T before).
//
// The columns are taken in chunks of kChunk; in a chunk, every row tile is
// a task: its blocks' dot products, its rows' streaming sums (carried from
// chunk to chunk in per-row arrays: a row still sees its blocks in column
// order, one at a time) and, per column, the tile's partial (its maximum
// over the tile's rows and the sum of exp(S - max) over them, rows in
// order). After the chunk's tasks, each column merges its partials in tile
// order. Which thread ran a tile changes no sum: the bits depend on neither
// the thread count nor the schedule.
constexpr int64_t kChunk = 2048;  // columns per chunk (a multiple of kCols)

template <class T>
void lse_sweep(const Sweep<T>& s, const CE& rows, const CE* cols_out = nullptr) {
  constexpr int64_t P = Vec<T>::nr;
  const int64_t nA = s.A->n(), nB = s.B->n();
  const int64_t n_tiles = (nA + kRows - 1) / kRows;
  const int nt = sweep_threads(s, n_tiles);
  const bool cols = cols_out != nullptr;
  const detail::ThreadScratch scratch(nt, kRows * kCols * sizeof(T));
  const T ninf = -std::numeric_limits<T>::infinity();
  Buffer<T> rmax(nA), spos_(nA);
  Buffer<double> rsum(nA);
  T* FL_RESTRICT spos = spos_.get();
  for (int64_t a = 0; a < nA; ++a) rmax.get()[a] = ninf, rsum.get()[a] = 0.0;
  Buffer<double> cmax(cols ? nB : 0), csum(cols ? nB : 0);  // the columns' m and R
  const int64_t chunk = std::min(kChunk, round_up(std::max<int64_t>(nB, 1), kCols));
  Buffer<T> pmax(cols ? n_tiles * chunk : 0);
  Buffer<double> psum(cols ? n_tiles * chunk : 0);  // double: as the rows' lanes
  for (int64_t c0 = 0; c0 < nB; c0 += chunk) {
    const int64_t c1 = std::min(nB, c0 + chunk);
    detail::tasks_for<false>(n_tiles, nt, [&](int64_t tt, int tid) {
      T* tile = static_cast<T*>(scratch.slot(tid));
      const int64_t i0 = tt * kRows, mi = std::min(kRows, nA - i0);
      T* FL_RESTRICT m = rmax.get() + i0;
      double* FL_RESTRICT sum = rsum.get() + i0;
      for (int64_t j0 = c0; j0 < c1; j0 += kCols) {
        const int64_t nj = std::min(kCols, nB - j0), njp = round_up(nj, P);
        dot_tile(*s.A, i0, mi, *s.B, j0, nj, tile);
        for (int64_t r = 0; r < mi; ++r) {
          const int64_t a = i0 + r;
          T* FL_RESTRICT row = tile + r * kCols;
          FL_SIMD
          for (int64_t c = 0; c < njp; ++c) row[c] = c < nj ? s.scale * row[c] : ninf;
          const int64_t p = s.pos(a);
          const bool has_p = p >= j0 && p < j0 + nj;
          if (has_p) spos[a] = row[p - j0];
          if (s.skip_diag && a >= j0 && a < j0 + nj) row[a - j0] = ninf;
          // the block's maximum in kLanes lanes (a maximum is exact: any
          // grouping gives the same value; NaN fails every compare)
          T lm[kLanes];
          for (int64_t l = 0; l < kLanes; ++l) lm[l] = ninf;
          for (int64_t c = 0; c < njp; c += kLanes) {
            FL_SIMD
            for (int64_t l = 0; l < kLanes; ++l) lm[l] = row[c + l] > lm[l] ? row[c + l] : lm[l];
          }
          T mb = ninf;
          for (int64_t l = 0; l < kLanes; ++l) mb = lm[l] > mb ? lm[l] : mb;
          const T mn = mb > m[r] ? mb : m[r];
          // the positive counts in the maximum, its term not in the sum
          // (ce_parts takes it from spos), nor in its column's (CLIP)
          if (has_p) row[p - j0] = ninf;
          if (mn == ninf) continue;  // every column so far skipped
          double lane[kLanes] = {};
          for (int64_t c = 0; c < njp; c += kLanes) {
            T e[kLanes];  // the exponentials in T, then widened: both loops vectorize
            FL_SIMD
            for (int64_t l = 0; l < kLanes; ++l) e[l] = vm::exp_nonpos(row[c + l] - mn);
            FL_SIMD
            for (int64_t l = 0; l < kLanes; ++l) lane[l] += static_cast<double>(e[l]);
          }
          double bs = 0.0;
          for (int64_t l = 0; l < kLanes; ++l) bs += lane[l];
          const double rescale =
              m[r] == ninf ? 0.0 : vm::exp(static_cast<double>(m[r]) - static_cast<double>(mn));
          sum[r] = sum[r] * rescale + bs;
          m[r] = mn;
        }
        if (!cols) continue;
        // the columns' partials over this tile's rows, rows in order
        T* FL_RESTRICT cm = pmax.get() + tt * chunk + (j0 - c0);
        double* FL_RESTRICT cs = psum.get() + tt * chunk + (j0 - c0);
        FL_SIMD
        for (int64_t c = 0; c < nj; ++c) cm[c] = ninf, cs[c] = 0.0;
        for (int64_t r = 0; r < mi; ++r) {
          const T* FL_RESTRICT row = tile + r * kCols;
          FL_SIMD
          for (int64_t c = 0; c < nj; ++c) cm[c] = row[c] > cm[c] ? row[c] : cm[c];
        }
        // the positives, out of the rows above, still count in their
        // columns' maxima
        for (int64_t r = 0; r < mi; ++r) {
          const int64_t p = s.pos(i0 + r);
          if (p < j0 || p >= j0 + nj) continue;
          const T v = spos[i0 + r];
          cm[p - j0] = v > cm[p - j0] ? v : cm[p - j0];
        }
        for (int64_t r = 0; r < mi; ++r) {
          const T* FL_RESTRICT row = tile + r * kCols;
          FL_SIMD
          for (int64_t c = 0; c < nj; ++c) {
            // a column of NaN keeps cm = -inf: its sum must carry the NaN
            const T e = cm[c] == ninf ? row[c] - row[c] : vm::exp_nonpos(row[c] - cm[c]);
            cs[c] += static_cast<double>(e);
          }
        }
      }
    });
    if (!cols) continue;
    const int nc = threads_for((c1 - c0) * n_tiles * 8, (c1 - c0 + kCols - 1) / kCols, s.n_threads);
    detail::tasks_for<false>((c1 - c0 + kCols - 1) / kCols, nc, [&](int64_t b, int) {
      for (int64_t k = c0 + b * kCols; k < std::min(c1, c0 + (b + 1) * kCols); ++k) {
        T mk_ = ninf;
        double sk = 0.0;
        for (int64_t tt = 0; tt < n_tiles; ++tt) {
          const T pm = pmax.get()[tt * chunk + (k - c0)];
          const double ps = psum.get()[tt * chunk + (k - c0)];
          if (pm == ninf) {
            sk += ps;  // nothing above -inf in the tile: 0, or the NaN it holds
            continue;
          }
          if (pm > mk_) {
            sk = (mk_ == ninf ? 0.0 : sk * vm::exp(static_cast<double>(mk_) - static_cast<double>(pm))) + ps;
            mk_ = pm;
          } else {
            sk += ps * vm::exp(static_cast<double>(pm) - static_cast<double>(mk_));
          }
        }
        cmax.get()[k] = static_cast<double>(mk_);
        csum.get()[k] = sk;
      }
    });
  }
  // a NaN score fails every compare above: its row's sum carries it, or,
  // the positive's, x = sp - m in ce_parts
  for (int64_t a = 0; a < nA; ++a) {
    const double sp = static_cast<double>(spos[a]);
    ce_parts(static_cast<double>(rmax.get()[a]), sp, rsum.get()[a], rows, a);
    if (cols) {
      const int64_t k = s.pos(a);
      ce_parts(cmax.get()[k], sp, csum.get()[k], *cols_out, k);
    }
  }
}

// A log-sum-exp (double) as T hi + lo: S - hi is near-exact where S is near
// the log-sum-exp (Sterbenz), so (S - hi) - lo keeps the digits a float32
// lse would lose (a softmax near 1: the gradient's 1 - p). lo is 0 for double.
template <class T>
struct Split {
  Buffer<T> hi_, lo_;
  const T* hi;
  const T* lo;
  Split(const double* l, int64_t n) : hi_(n), lo_(n), hi(hi_.get()), lo(lo_.get()) {
    for (int64_t i = 0; i < n; ++i) {
      hi_.get()[i] = static_cast<T>(l[i]);
      lo_.get()[i] = static_cast<T>(l[i] - static_cast<double>(hi_.get()[i]));
    }
  }
};

// Backward: for every row a of A whose gradient is asked (grow(a) != nullptr
// or rowdot asked), with the coefficients H of the header (la, lb the two
// sides' log-sum-exps, qa, qb their 1 - P at the positives, CE::rest):
//   grow(a) <- d/dx of outscale * sum_k H[a, k] B_k, chained through a's
//   normalization (x = xrow(a), the input row);
//   rowdot[a] = sum_k H[a, k] * (A_a . B_k)  (CLIP's d/d logit_scale).
template <class T, class XRow, class GRow>
void grad_sweep(const Sweep<T>& s, const T* ca, const Split<T>& la, const double* qa,
                const T* cb, const Split<T>& lb, const double* qb, T outscale,
                const XRow& xrow, const GRow& grow, double* rowdot) {
  constexpr int64_t P = Vec<T>::nr;
  constexpr int64_t MR = Vec<T>::mr;
  const int64_t nA = s.A->n(), nB = s.B->n(), D = s.A->d();
  const int64_t Dp = round_up(std::max<int64_t>(D, 1), P);
  const int64_t n_tiles = (nA + kRows - 1) / kRows;
  const int nt = sweep_threads(s, n_tiles);
  const size_t tile_b = kRows * kCols * sizeof(T);
  const size_t pack_b = static_cast<size_t>(kCols * Dp) * sizeof(T);
  const size_t acc_b = static_cast<size_t>(kRows * Dp) * sizeof(T);
  const detail::ThreadScratch scratch(nt, tile_b + pack_b + acc_b + kRows * sizeof(double));
  detail::tasks_for<false>(n_tiles, nt, [&](int64_t tt, int tid) {
    unsigned char* slot = static_cast<unsigned char*>(scratch.slot(tid));
    T* tile = reinterpret_cast<T*>(slot);  // dot products, then H in place
    T* bp = reinterpret_cast<T*>(slot + tile_b);  // kCols x Dp: the block's B rows
    T* acc = reinterpret_cast<T*>(slot + tile_b + pack_b);  // kRows x Dp: dA
    double* rd = reinterpret_cast<double*>(slot + tile_b + pack_b + acc_b);
    const int64_t i0 = tt * kRows, mi = std::min(kRows, nA - i0);
    const int64_t mq = round_up(mi, MR);
    bool rows = false;
    for (int64_t r = 0; r < mi; ++r) rows = rows || grow(i0 + r) != nullptr;
    if (!rows && rowdot == nullptr) return;
    std::fill(acc, acc + kRows * Dp, T(0));
    for (int64_t r = 0; r < kRows; ++r) rd[r] = 0.0;
    for (int64_t j0 = 0; j0 < nB; j0 += kCols) {
      const int64_t nj = std::min(kCols, nB - j0);
      dot_tile(*s.A, i0, mi, *s.B, j0, nj, tile);
      const int64_t njp = round_up(nj, P);
      for (int64_t r = 0; r < mq; ++r) {
        const int64_t a = i0 + r;
        T* FL_RESTRICT row = tile + r * kCols;
        if (r >= mi) {
          for (int64_t c = 0; c < nj; ++c) row[c] = T(0);
          continue;
        }
        T dots[kCols];
        if (rowdot != nullptr) std::memcpy(dots, row, static_cast<size_t>(njp) * sizeof(T));
        const int64_t p = s.pos(a);
        const bool has_p = p >= j0 && p < j0 + nj;
        const T ca_ = ca[a], la_ = la.hi[a], lal_ = la.lo[a];
        const T* FL_RESTRICT cbj = cb + j0;
        const T* FL_RESTRICT lbj = lb.hi + j0;
        const T* FL_RESTRICT lblj = lb.lo + j0;
        const T sc = s.scale;
        // two loops, one exponential each: GCC vectorizes neither half when
        // both are in one body ("latch block not empty")
        T hb[kCols];
        FL_SIMD
        for (int64_t c = 0; c < nj; ++c) {
          const T S = sc * row[c];
          hb[c] = cbj[c] * vm::exp_nonpos((S - lbj[c]) - lblj[c]);
        }
        FL_SIMD
        for (int64_t c = 0; c < nj; ++c) {
          const T S = sc * row[c];
          row[c] = ca_ * vm::exp_nonpos((S - la_) - lal_) + hb[c];
        }
        for (int64_t c = nj; c < njp; ++c) row[c] = T(0);
        // the fix-ups, on the one or two columns they concern. The positive's
        // ca (P - 1) + cb (P' - 1), each 1 - P the forward's R / Sigma in
        // double: 1 - P in T (float32: 0.5% off the gradient at a loss of
        // 4e-6, the fuzz harness's seed 0 input 46274), or as 1 - exp(S -
        // lse) (the lse's absolute error, all of a loss near 1e-14), loses
        // its digits
        if (has_p) {
          row[p - j0] = static_cast<T>(-(static_cast<double>(ca_) * qa[a] +
                                         static_cast<double>(cb[p]) * qb[p]));
        }
        if (s.skip_diag && a >= j0 && a < j0 + nj) row[a - j0] = T(0);
        if (rowdot != nullptr) {
          // sum_k H * dot in 16 fixed lanes, widened: the same bits at every width
          double lane[kLanes] = {};
          for (int64_t c = 0; c < njp; c += kLanes) {
            FL_SIMD
            for (int64_t l = 0; l < kLanes; ++l)
              lane[l] += static_cast<double>(row[c + l]) * static_cast<double>(dots[c + l]);
          }
          for (int64_t l = 0; l < kLanes; ++l) rd[r] += lane[l];
        }
      }
      if (!rows) continue;
      // the block's unit rows of B, row-major (Dp wide, zero past D): the
      // microkernel's y. 1/kRows of the products' work, and it lets one call
      // run over the block's nj columns instead of 16 at a time.
      for (int64_t kp = 0; kp < nj; kp += P) {
        const T* pan = s.B->panel(j0 + kp);
        const int64_t np_ = std::min(P, nj - kp);
        for (int64_t l = 0; l < np_; ++l) {
          T* FL_RESTRICT dst = bp + (kp + l) * Dp;
          for (int64_t d = 0; d < D; ++d) dst[d] = pan[d * P + l];
          for (int64_t d = D; d < Dp; ++d) dst[d] = T(0);
        }
      }
      // acc[r][d] += sum_k H[r][k] * B[k][d], k in order (the products and
      // their order as when B was the broadcast side: a product commutes)
      for (int64_t d0 = 0; d0 < Dp; d0 += P) {
        for (int64_t r0 = 0; r0 < mq; r0 += MR) {
          mk<T, MR, true>(nj, tile + r0 * kCols, kCols, 1, bp + d0, Dp, acc + r0 * Dp + d0, Dp);
        }
      }
    }
    if (rowdot != nullptr) {
      for (int64_t r = 0; r < mi; ++r) rowdot[i0 + r] = rd[r];
    }
    if (!rows) return;
    for (int64_t r = 0; r < mi; ++r) {
      T* g = grow(i0 + r);
      if (g != nullptr) chain_row(*s.A, i0 + r, xrow(i0 + r), acc + r * Dp, outscale, g);
    }
  });
}

}  // namespace tiles
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
