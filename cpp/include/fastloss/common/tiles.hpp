// fastloss/common/tiles.hpp -- the pairwise tile driver: losses over the
// similarity matrix S = scale * A B^T of two sets of unit rows (NT-Xent,
// CLIP), computed tile by tile so that the nA x nB matrix is never held.
//
// Layout. The rows of A and B are normalized once, up front, into panels
// (Panels below): the rows cut into groups of kNR = 16, each group stored as
// a D x 16 block (row r's element d at d * 16 + r), rows past n zero. That
// is inputs-sized scratch (N x D), the only large allocation.
//
// Forward (lse_sweep): parallel over row tiles of kRows rows; a thread runs
// its tile across the columns in blocks of kCols: the block's dot products
// by the microkernel (below), then per row an online (streaming)
// log-sum-exp: the block's maximum, the running sum rescaled to it, the
// block's exponentials added in 16 fixed lanes then widened to double in
// lane order. Every row is computed by one thread, columns in one fixed
// order, so its log-sum-exp has the same bits on any thread count.
//
// Backward (grad_sweep), flash-attention style: a second sweep over the row
// tiles recomputes each block's dot products, forms the coefficients
//   H[a, k] = ca[a] e^{S - la[a]} + cb[k] e^{S - lb[k]} - [k = p(a)] (ca[a] + cb[k])
// (d loss / d S[a, k] for the losses here: the row side's softmax and, where
// the column side has one, its softmax too, since S is read by both) and
// accumulates dA = outscale * H B into the tile's D x kRows accumulator, k in
// order; then the gradient is chained through the normalization into the
// input row. Column sums are never needed: the key side's gradient is a
// second sweep with A and B swapped (CLIP), or, S being symmetric, is folded
// into H itself (NT-Xent). So again each output row is one thread's, summed
// in one order: no partial buffers, the bits do not depend on the thread
// count.
//
// Microkernel (mk): C[r][0..16) += sum_t x(r, t) * y[t][0..16) for r < MR,
// t in order, on GCC/Clang vectors of the ISA's width (16 lanes are 1, 2 or
// 4 of them): every output element is a sequential sum over t, the same bits
// at every ISA level, and -ffp-contract=off keeps the products
// and sums apart (no FMA) as everywhere in fastloss. The forward calls it
// with x = A's panel (a broadcast per row), y = B's panel; the backward with
// x = B's panel read across its rows (d), y = the transposed coefficients.
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

constexpr int64_t kNR = 16;     // panel width, microkernel columns
constexpr int kMR = 4;          // microkernel rows
constexpr int64_t kRows = 64;   // rows of a tile (a multiple of kNR)
constexpr int64_t kCols = 256;  // columns of a block (a multiple of kNR)

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// The vector registers of this ISA level, in bytes: the microkernel's 16
// lanes are 16 / (kVecBytes / sizeof T) native vectors (GCC's lowering of a
// 16-lane vector wider than the registers went through the stack: half the
// speed at baseline, measured on a 64 x 256 x 256 tile).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif

template <class T>
struct Vec {
  typedef T type __attribute__((vector_size(kVecBytes)));
  static constexpr int64_t lanes = kVecBytes / sizeof(T);
  static constexpr int per16 = static_cast<int>(kNR / lanes);
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

// C[r][0..16) (+)= sum_{t < K} x[r * xr + t * xt] * y[t * ldy + 0..16), r < MR.
template <class T, int MR, bool kLoad>
FL_INLINE void mk(int64_t K, const T* FL_RESTRICT x, int64_t xr, int64_t xt,
                  const T* FL_RESTRICT y, int64_t ldy, T* FL_RESTRICT c, int64_t ldc) {
  using V = typename Vec<T>::type;
  constexpr int W = Vec<T>::per16;
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

// Unit rows in panels (see the header). row(i) gives input row i (D values);
// den[i] = max(||row i||, eps), the divisor (torch.nn.functional.normalize).
template <class T>
class Panels {
 public:
  template <class Row>
  Panels(int64_t n, int64_t d, const Row& row, T eps, int n_threads)
      : n_(n), d_(d), np_(round_up(n, kNR)), p_(np_ * d), den_(n), below_(n) {
    const int64_t n_panels = np_ / kNR;
    const int nt = threads_for(np_ * std::max<int64_t>(d, 1), n_panels, n_threads);
    T* P = p_.get();
    T* den = den_.get();
    unsigned char* below = below_.get();
    detail::tasks_for<false>(n_panels, nt, [&](int64_t g, int) {
      T* blk = P + g * kNR * d;
      for (int64_t r = 0; r < kNR; ++r) {
        const int64_t i = g * kNR + r;
        if (i >= n) {
          for (int64_t k = 0; k < d; ++k) blk[k * kNR + r] = T(0);
          continue;
        }
        const T* x = row(i);
        double ss = 0.0;
        for (int64_t k = 0; k < d; ++k) ss += static_cast<double>(x[k]) * static_cast<double>(x[k]);
        T nrm = static_cast<T>(std::sqrt(ss));
        const T dv = nrm > eps ? nrm : (nrm != nrm ? nrm : eps);  // NaN propagates
        den[i] = dv;
        below[i] = nrm < eps;
        for (int64_t k = 0; k < d; ++k) blk[k * kNR + r] = x[k] / dv;
      }
    });
  }
  int64_t n() const { return n_; }
  int64_t d() const { return d_; }
  const T* panel(int64_t i) const { return p_.get() + i / kNR * kNR * d_; }  // i % 16 == 0
  const T* data() const { return p_.get(); }
  T den(int64_t i) const { return den_.get()[i]; }
  bool below(int64_t i) const { return below_.get()[i] != 0; }
  T unit(int64_t i, int64_t k) const { return p_.get()[i / kNR * kNR * d_ + k * kNR + i % kNR]; }

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
  const int64_t nq = (mi + kMR - 1) / kMR;
  for (int64_t jp = 0; jp * kNR < nj; ++jp) {
    const T* y = B.panel(j0 + jp * kNR);
    for (int64_t q = 0; q < nq; ++q) {
      const int64_t i = i0 + q * kMR;
      const T* x = A.panel(i) + i % kNR;
      mk<T, kMR, false>(D, x, 1, kNR, y, kNR, tile + q * kMR * kCols + jp * kNR, kCols);
    }
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

// Forward: lse[a] = log sum_{k (!= a)} exp(S[a, k]), spos[a] = S[a, p(a)].
template <class T>
void lse_sweep(const Sweep<T>& s, T* FL_RESTRICT lse, T* FL_RESTRICT spos) {
  const int64_t nA = s.A->n(), nB = s.B->n();
  const int64_t n_tiles = (nA + kRows - 1) / kRows;
  const int nt = sweep_threads(s, n_tiles);
  const detail::ThreadScratch scratch(nt, kRows * kCols * sizeof(T));
  const T ninf = -std::numeric_limits<T>::infinity();
  detail::tasks_for<false>(n_tiles, nt, [&](int64_t tt, int tid) {
    T* tile = static_cast<T*>(scratch.slot(tid));
    const int64_t i0 = tt * kRows, mi = std::min(kRows, nA - i0);
    T m[kRows];
    double sum[kRows];
    for (int64_t r = 0; r < kRows; ++r) m[r] = ninf, sum[r] = 0.0;
    for (int64_t j0 = 0; j0 < nB; j0 += kCols) {
      const int64_t nj = std::min(kCols, nB - j0), nj16 = round_up(nj, kNR);
      dot_tile(*s.A, i0, mi, *s.B, j0, nj, tile);
      for (int64_t r = 0; r < mi; ++r) {
        const int64_t a = i0 + r;
        T* FL_RESTRICT row = tile + r * kCols;
        FL_SIMD
        for (int64_t c = 0; c < nj16; ++c) row[c] = c < nj ? s.scale * row[c] : ninf;
        const int64_t p = s.pos(a);
        if (p >= j0 && p < j0 + nj) spos[a] = row[p - j0];
        if (s.skip_diag && a >= j0 && a < j0 + nj) row[a - j0] = ninf;
        T mb = ninf;
        for (int64_t c = 0; c < nj16; ++c) mb = row[c] > mb ? row[c] : mb;
        const T mn = mb > m[r] ? mb : m[r];
        if (mn == ninf) continue;  // every column so far skipped
        T lane[kNR] = {};
        for (int64_t c = 0; c < nj16; c += kNR) {
          FL_SIMD
          for (int64_t l = 0; l < kNR; ++l) lane[l] += vm::exp_nonpos(row[c + l] - mn);
        }
        double bs = 0.0;
        for (int64_t l = 0; l < kNR; ++l) bs += static_cast<double>(lane[l]);
        const double rescale =
            m[r] == ninf ? 0.0 : vm::exp(static_cast<double>(m[r]) - static_cast<double>(mn));
        sum[r] = sum[r] * rescale + bs;
        m[r] = mn;
      }
    }
    for (int64_t r = 0; r < mi; ++r) {
      // a NaN score fails every compare above: its row's sum carries it
      lse[i0 + r] = static_cast<T>(static_cast<double>(m[r]) + vm::log(sum[r]));
    }
  });
}

// Backward: for every row a of A whose gradient is asked (grow(a) != nullptr
// or rowdot asked), with the coefficients H of the header:
//   grow(a) <- d/dx of outscale * sum_k H[a, k] B_k, chained through a's
//   normalization (x = xrow(a), the input row);
//   rowdot[a] = sum_k H[a, k] * (A_a . B_k)  (CLIP's d/d logit_scale).
template <class T, class XRow, class GRow>
void grad_sweep(const Sweep<T>& s, const T* ca, const T* la, const T* cb, const T* lb,
                T outscale, const XRow& xrow, const GRow& grow, double* rowdot) {
  const int64_t nA = s.A->n(), nB = s.B->n(), D = s.A->d();
  const int64_t n_tiles = (nA + kRows - 1) / kRows;
  const int nt = sweep_threads(s, n_tiles);
  const size_t tile_b = kRows * kCols * sizeof(T);
  const size_t acc_b = static_cast<size_t>(std::max<int64_t>(D, 1)) * kRows * sizeof(T);
  const detail::ThreadScratch scratch(nt, 2 * tile_b + acc_b + kRows * sizeof(double));
  detail::tasks_for<false>(n_tiles, nt, [&](int64_t tt, int tid) {
    unsigned char* slot = static_cast<unsigned char*>(scratch.slot(tid));
    T* tile = reinterpret_cast<T*>(slot);
    T* ht = reinterpret_cast<T*>(slot + tile_b);  // kCols x kRows: H transposed
    T* acc = reinterpret_cast<T*>(slot + 2 * tile_b);  // D x kRows: dA transposed
    double* rd = reinterpret_cast<double*>(slot + 2 * tile_b + acc_b);
    const int64_t i0 = tt * kRows, mi = std::min(kRows, nA - i0);
    bool rows = false;
    for (int64_t r = 0; r < mi; ++r) rows = rows || grow(i0 + r) != nullptr;
    if (!rows && rowdot == nullptr) return;
    std::fill(acc, acc + D * kRows, T(0));
    for (int64_t r = 0; r < kRows; ++r) rd[r] = 0.0;
    for (int64_t j0 = 0; j0 < nB; j0 += kCols) {
      const int64_t nj = std::min(kCols, nB - j0);
      dot_tile(*s.A, i0, mi, *s.B, j0, nj, tile);
      const int64_t nj16 = round_up(nj, kNR);
      for (int64_t r = 0; r < kRows; ++r) {
        const int64_t a = i0 + r;
        if (r >= mi) {
          for (int64_t c = 0; c < nj; ++c) ht[c * kRows + r] = T(0);
          continue;
        }
        T* FL_RESTRICT row = tile + r * kCols;  // dot products, then H in place
        T dots[kCols];
        if (rowdot != nullptr) std::memcpy(dots, row, static_cast<size_t>(nj16) * sizeof(T));
        const T ca_ = ca[a], la_ = la[a];
        const T* FL_RESTRICT cbj = cb + j0;
        const T* FL_RESTRICT lbj = lb + j0;
        FL_SIMD
        for (int64_t c = 0; c < nj; ++c) {
          const T S = s.scale * row[c];
          row[c] = ca_ * vm::exp_nonpos(S - la_) + cbj[c] * vm::exp_nonpos(S - lbj[c]);
        }
        for (int64_t c = nj; c < nj16; ++c) row[c] = T(0);
        // the fix-ups, on the one or two columns they concern
        const int64_t p = s.pos(a);
        if (p >= j0 && p < j0 + nj) row[p - j0] -= ca_ + cb[p];
        if (s.skip_diag && a >= j0 && a < j0 + nj) row[a - j0] = T(0);
        for (int64_t c = 0; c < nj; ++c) ht[c * kRows + r] = row[c];
        if (rowdot != nullptr) {
          // sum_k H * dot in 16 fixed lanes, widened: the same bits at every width
          double lane[kNR] = {};
          for (int64_t c = 0; c < nj16; c += kNR) {
            FL_SIMD
            for (int64_t l = 0; l < kNR; ++l)
              lane[l] += static_cast<double>(row[c + l]) * static_cast<double>(dots[c + l]);
          }
          for (int64_t l = 0; l < kNR; ++l) rd[r] += lane[l];
        }
      }
      if (!rows) continue;
      // acc[d][r] += sum_k B[k][d] * H[r][k], k in order
      const T* B0 = s.B->data();
      for (int64_t d0 = 0; d0 < D; d0 += kMR) {
        const int mr = static_cast<int>(std::min<int64_t>(kMR, D - d0));
        for (int64_t av = 0; av < kRows; av += kNR) {
          T* c = acc + d0 * kRows + av;
          for (int64_t kp = 0; kp < nj; kp += kNR) {
            const int64_t K = std::min(kNR, nj - kp);
            const T* x = B0 + (j0 + kp) / kNR * kNR * D + d0 * kNR;  // B[k][d0 + r]: r * 16 + t
            const T* y = ht + kp * kRows + av;
            switch (mr) {
              case 4: mk<T, 4, true>(K, x, kNR, 1, y, kRows, c, kRows); break;
              case 3: mk<T, 3, true>(K, x, kNR, 1, y, kRows, c, kRows); break;
              case 2: mk<T, 2, true>(K, x, kNR, 1, y, kRows, c, kRows); break;
              default: mk<T, 1, true>(K, x, kNR, 1, y, kRows, c, kRows); break;
            }
          }
        }
      }
    }
    if (rowdot != nullptr) {
      for (int64_t r = 0; r < mi; ++r) rowdot[i0 + r] = rd[r];
    }
    if (!rows) return;
    // chain through u = x / den: dx = (g - u (u . g)) / den, g = outscale * acc
    for (int64_t r = 0; r < mi; ++r) {
      const int64_t a = i0 + r;
      T* g = grow(a);
      if (g == nullptr) continue;
      const T* x = xrow(a);
      const T den = s.A->den(a);
      double ug = 0.0;
      for (int64_t k = 0; k < D; ++k) {
        const T gk = outscale * acc[k * kRows + r];
        g[k] = gk;
        ug += static_cast<double>(x[k] / den) * static_cast<double>(gk);
      }
      // torch: the norm clamped at eps passes no gradient below eps
      const bool below = s.A->below(a);
      const T ugt = static_cast<T>(ug);
      for (int64_t k = 0; k < D; ++k) {
        const T u = x[k] / den;
        g[k] = below ? g[k] / den : (g[k] - u * ugt) / den;
      }
    }
  });
}

}  // namespace tiles
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
