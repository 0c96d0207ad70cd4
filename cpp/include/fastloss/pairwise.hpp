// fastloss/pairwise.hpp -- the pairwise losses: NT-Xent and CLIP over
// cosine similarities, on the shifted tile engine (pairwise_tiles.hpp) where
// the scale m = 1/temperature or |logit_scale| is at most 30, else on the
// general tile driver (common/tiles.hpp).
//
// Both compute their per-anchor losses with a forward sweep (no N x N
// matrix), hand them to the per-sample driver for the weights, the
// reduction and its gradient scale (Stored below: the blocked sum's bits, as
// every per-sample loss), then run the backward with those scales.
//
// ntxent(z1, z2; t): Z = unit rows of cat(z1, z2) (2N rows), S = Z Z^T / t;
//   anchor a's positive is p(a) = (a + N) mod 2N, its negatives the other
//   2N - 2 rows; l_a = logsumexp_{k != a} S[a, k] - S[a, p(a)]
//   (pytorch-metric-learning's NTXentLoss with labels cat(arange N, arange N)).
//   Gradient: S is symmetric, so d/dZ_a = (1/t) sum_k H[a, k] Z_k with
//   H[a, k] = c_a P[a, k] + c_k P[k, a] - [k = p(a)] (c_a + c_k), symmetric
//   too: the engine computes the blocks on and above the diagonal only.
// clip(U, V, s): S = s U V^T on unit rows; row i's cross-entropy
//   r_i - S[i, i] and column i's q_i - S[i, i] (r, q the row and column
//   log-sum-exps, both from one forward sweep); the per-pair loss is their
//   mean. Gradient: with H the coefficients of both softmaxes, dU = s H V,
//   dV = s H^T U (one pass over the tiles in the engine; two sweeps, over
//   S's rows and over its columns, in the general driver), d/ds = sum H *
//   (U_i . V_j).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "fastloss/api/pairwise.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/tiles.hpp"
#include "fastloss/pairwise_tiles.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// The per-sample driver's view of losses computed beforehand: eval hands
// over loss[i] and keeps the gradient scale the driver gives sample i (its
// weight times the reduction's 1/n or 1/sum(w)) for the backward sweeps.
template <class T>
struct Stored {
  static constexpr int64_t group = kBlock;
  static constexpr int cost = 1;
  const T* loss;
  T* coef;  // nullptr without a gradient

  size_t scratch_bytes() const { return 0; }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    const T* FL_RESTRICT l = loss + lo;
    for (int64_t i = 0; i < len; ++i) value[i] = l[i];
    if constexpr (kGrad) {
      T* FL_RESTRICT c = coef + lo;
      for (int64_t i = 0; i < len; ++i) c[i] = gs[i];
    }
  }
};

// torch.nn.functional.normalize's eps
template <class T>
constexpr T kNormEps = T(1e-12);

// The coefficients of the shifted engine (pairwise_tiles.hpp) for one side:
// w = c / Sigma (the softmax e / Sigma times c), f = c R / Sigma (c (1 - P)
// at the positive), Sigma = E + R; false where a w or f overflows T (a
// weight near T's largest over a tiny Sigma): the general driver then.
template <class T>
bool side_coefs(int64_t n, const T* c, const double* R, const double* E, T* w, T* f) {
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) {
    const double sig = E[i] + R[i];
    const double wd = static_cast<double>(c[i]) / sig;
    const double fd = static_cast<double>(c[i]) * (R[i] / sig);
    w[i] = static_cast<T>(wd);
    f[i] = static_cast<T>(fd);
    ok = ok && !(std::isinf(w[i]) && !std::isinf(wd)) && !(std::isinf(f[i]) && !std::isinf(fd));
  }
  return ok;
}

// A gradient accumulator (ptiles::grads): the gradient rows themselves
// (grow) where all are asked, D fills the panels' width and every block lies
// in one array (no register tile past a block's last row), else scratch of
// whole blocks, Dp wide.
template <class T, class GRow>
struct Acc {
  tiles::Buffer<T> own;
  const GRow* grow;
  int64_t Dp;
  Acc(bool direct, const GRow& g, int64_t n, int64_t dp)
      : own(direct ? 0 : tiles::round_up(n, ptiles::kB) * dp), grow(direct ? &g : nullptr), Dp(dp) {
    if (direct) {
      for (int64_t i = 0; i < n; ++i) std::fill(g(i), g(i) + dp, T(0));
    } else {
      std::fill(own.get(), own.get() + tiles::round_up(n, ptiles::kB) * dp, T(0));
    }
  }
  T* operator()(int64_t i) const { return grow != nullptr ? (*grow)(i) : own.get() + i * Dp; }
};

template <class T>
double ntxent_run(const TensorArgs& a) {
  const int64_t N = a.dims[0], D = a.dims[1], n2 = 2 * N;
  const T* z1 = tin<T>(a, 0);
  const T* z2 = tin<T>(a, 1);
  T* g1 = tgrad<T>(a, 0);
  T* g2 = tgrad<T>(a, 1);
  const T inv_t = static_cast<T>(1.0 / a.params[0]);
  auto xrow = [&](int64_t i) { return i < N ? z1 + i * D : z2 + (i - N) * D; };
  const tiles::Panels<T> Z(n2, D, xrow, kNormEps<T>, a.n_threads);
  auto grow = [&](int64_t i) -> T* {
    if (i < N) return g1 != nullptr ? g1 + i * D : nullptr;
    return g2 != nullptr ? g2 + (i - N) * D : nullptr;
  };
  const bool grad = needs_grad(a.op);
  if (ptiles::shift_ok(static_cast<double>(inv_t))) {
    // the shifted engine: half the tiles (S symmetric), one exponential each
    const ptiles::Pairs<T> pr{{&Z, &Z, inv_t, true, N, a.n_threads}, inv_t};
    tiles::Buffer<double> R(n2), E(n2);
    ptiles::sums(pr, R.get(), static_cast<double*>(nullptr), E.get());
    tiles::Buffer<T> loss(n2);
    for (int64_t i = 0; i < n2; ++i)
      loss.get()[i] = static_cast<T>(vm::log1p(R.get()[i] / E.get()[i]));
    tiles::Buffer<T> coef(grad ? n2 : 0);
    const double v = per_sample(Stored<T>{loss.get(), coef.get()}, sample_run<T>(a));
    if (!grad) return v;
    tiles::Buffer<T> w(n2), f(n2);
    if (side_coefs(n2, coef.get(), R.get(), E.get(), w.get(), f.get())) {
      const int64_t Dp = tiles::round_up(std::max<int64_t>(D, 1), tiles::Vec<T>::nr);
      // N whole blocks: none straddles z1 and z2
      const bool direct = g1 != nullptr && g2 != nullptr && Dp == D && N % ptiles::kB == 0;
      const Acc<T, decltype(grow)> acc(direct, grow, n2, Dp);
      ptiles::grads(pr, xrow, xrow, w.get(), f.get(), w.get(), f.get(), acc, true, acc, false,
                    static_cast<double*>(nullptr));
      ptiles::chain(Z, acc, inv_t, xrow, grow, a.n_threads);
      return v;
    }
    // a coefficient overflowed: the general driver's backward, from the
    // log-sum-exps lse = m + log(Sigma) and 1 - P = R / Sigma
    tiles::Buffer<double> lse(n2), q(n2);
    for (int64_t i = 0; i < n2; ++i) {
      const double sig = E.get()[i] + R.get()[i];
      lse.get()[i] = static_cast<double>(inv_t) + vm::log(sig);
      q.get()[i] = R.get()[i] / sig;
    }
    const tiles::Split<T> l(lse.get(), n2);
    tiles::grad_sweep(pr, coef.get(), l, q.get(), coef.get(), l, q.get(), inv_t, xrow, grow,
                      static_cast<double*>(nullptr));
    return v;
  }
  const tiles::Sweep<T> sw{&Z, &Z, inv_t, true, N, a.n_threads};
  tiles::Buffer<double> lse(n2), l64(n2), q(n2);
  tiles::lse_sweep(sw, tiles::CE{lse.get(), l64.get(), q.get()});
  tiles::Buffer<T> loss(n2);
  for (int64_t i = 0; i < n2; ++i) loss.get()[i] = static_cast<T>(l64.get()[i]);
  tiles::Buffer<T> coef(grad ? n2 : 0);
  const double v = per_sample(Stored<T>{loss.get(), coef.get()}, sample_run<T>(a));
  if (grad) {
    const tiles::Split<T> l(lse.get(), n2);
    tiles::grad_sweep(sw, coef.get(), l, q.get(), coef.get(), l, q.get(), inv_t, xrow, grow,
                      static_cast<double*>(nullptr));
  }
  return v;
}

// CLIP's backward on the general driver: a sweep over S's rows (dU, d/ds),
// one over its columns (dV), from the row and column log-sum-exps r, q and
// their 1 - P at the diagonal, rr, rq.
template <class T, class IRow, class TRow>
void clip_sweeps(const tiles::Panels<T>& U, const tiles::Panels<T>& V, T s, const T* half,
                 const double* r, const double* rr, const double* q, const double* rq,
                 const IRow& irow, const TRow& trow, T* gi, T* gt, T* gs, int64_t D,
                 int n_threads) {
  const int64_t N = U.n();
  const tiles::Sweep<T> rows{&U, &V, s, false, 0, n_threads};
  const tiles::Sweep<T> cols{&V, &U, s, false, 0, n_threads};
  tiles::Buffer<double> rowdot(gs != nullptr ? N : 0);
  const tiles::Split<T> rs(r, N), qs(q, N);
  if (gi != nullptr || gs != nullptr) {
    auto grow = [&](int64_t i) -> T* { return gi != nullptr ? gi + i * D : nullptr; };
    tiles::grad_sweep(rows, half, rs, rr, half, qs, rq, s, irow, grow, rowdot.get());
  }
  if (gt != nullptr) {
    auto grow = [&](int64_t i) -> T* { return gt + i * D; };
    tiles::grad_sweep(cols, half, qs, rq, half, rs, rr, s, trow, grow,
                      static_cast<double*>(nullptr));
  }
  if (gs != nullptr) {
    double t = 0.0;
    for (int64_t i = 0; i < N; ++i) t += rowdot.get()[i];
    gs[0] = static_cast<T>(t);
  }
}

template <class T>
double clip_run(const TensorArgs& a) {
  const int64_t N = a.dims[0], D = a.dims[1];
  const T* img = tin<T>(a, 0);
  const T* txt = tin<T>(a, 1);
  const T s = tin<T>(a, 2)[0];
  T* gi = tgrad<T>(a, 0);
  T* gt = tgrad<T>(a, 1);
  T* gs = tgrad<T>(a, 2);
  auto irow = [&](int64_t i) { return img + i * D; };
  auto trow = [&](int64_t i) { return txt + i * D; };
  const tiles::Panels<T> U(N, D, irow, kNormEps<T>, a.n_threads);
  const tiles::Panels<T> V(N, D, trow, kNormEps<T>, a.n_threads);
  const bool grad = needs_grad(a.op);
  const T m = s < T(0) ? -s : s;
  if (ptiles::shift_ok(static_cast<double>(m))) {
    // the shifted engine: one exponential per entry for both sides, and the
    // backward's three products in one pass (dU, dV from each tile's H)
    const ptiles::Pairs<T> pr{{&U, &V, s, false, 0, a.n_threads}, m};
    tiles::Buffer<double> Rr(N), Rc(N), E(N);
    ptiles::sums(pr, Rr.get(), Rc.get(), E.get());
    tiles::Buffer<T> loss(N);
    for (int64_t i = 0; i < N; ++i) {
      const double e = E.get()[i];
      loss.get()[i] = static_cast<T>(
          (vm::log1p(Rr.get()[i] / e) + vm::log1p(Rc.get()[i] / e)) * 0.5);
    }
    tiles::Buffer<T> coef(grad ? N : 0);
    const double v = per_sample(Stored<T>{loss.get(), coef.get()}, sample_run<T>(a));
    if (!grad) return v;
    T* half = coef.get();
    for (int64_t i = 0; i < N; ++i) half[i] *= T(0.5);  // each side weighs 1/2
    tiles::Buffer<T> wr(N), fr(N), wc(N), fc(N);
    if (side_coefs(N, half, Rr.get(), E.get(), wr.get(), fr.get()) &&
        side_coefs(N, half, Rc.get(), E.get(), wc.get(), fc.get())) {
      const int64_t Dp = tiles::round_up(std::max<int64_t>(D, 1), tiles::Vec<T>::nr);
      auto gir = [&](int64_t i) -> T* { return gi + i * D; };
      auto gtr = [&](int64_t i) -> T* { return gt + i * D; };
      const bool whole = Dp == D && N % ptiles::kB == 0;
      const bool hasU = gi != nullptr, hasV = gt != nullptr;
      const Acc<T, decltype(gir)> accU(hasU && whole, gir, hasU ? N : 0, Dp);
      const Acc<T, decltype(gtr)> accV(hasV && whole, gtr, hasV ? N : 0, Dp);
      tiles::Buffer<double> rowdot(gs != nullptr ? N : 0);
      for (int64_t i = 0; i < (gs != nullptr ? N : 0); ++i) rowdot.get()[i] = 0.0;
      ptiles::grads(pr, irow, trow, wr.get(), fr.get(), wc.get(), fc.get(), accU, hasU, accV, hasV,
                    rowdot.get());
      if (hasU) ptiles::chain(U, accU, s, irow, gir, a.n_threads);
      if (hasV) ptiles::chain(V, accV, s, trow, gtr, a.n_threads);
      if (gs != nullptr) {
        double t = 0.0;
        for (int64_t i = 0; i < N; ++i) t += rowdot.get()[i];
        gs[0] = static_cast<T>(t);
      }
      return v;
    }
    // a coefficient overflowed: the general driver's two backward sweeps,
    // from lse = m + log(Sigma) and 1 - P = R / Sigma on each side
    tiles::Buffer<double> r(N), rr(N), q(N), rq(N);
    for (int64_t i = 0; i < N; ++i) {
      const double sr = E.get()[i] + Rr.get()[i], sc = E.get()[i] + Rc.get()[i];
      r.get()[i] = static_cast<double>(m) + vm::log(sr);
      q.get()[i] = static_cast<double>(m) + vm::log(sc);
      rr.get()[i] = Rr.get()[i] / sr;
      rq.get()[i] = Rc.get()[i] / sc;
    }
    clip_sweeps(U, V, s, half, r.get(), rr.get(), q.get(), rq.get(), irow, trow, gi, gt, gs, D,
                a.n_threads);
    return v;
  }
  const tiles::Sweep<T> rows{&U, &V, s, false, 0, a.n_threads};
  tiles::Buffer<double> r(N), lr(N), rr(N), q(N), lq(N), rq(N);
  // one pass over S for the row and the column cross-entropies
  const tiles::CE cols{q.get(), lq.get(), rq.get()};
  tiles::lse_sweep(rows, tiles::CE{r.get(), lr.get(), rr.get()}, &cols);
  tiles::Buffer<T> loss(N);
  for (int64_t i = 0; i < N; ++i)
    loss.get()[i] = static_cast<T>((lr.get()[i] + lq.get()[i]) * 0.5);
  tiles::Buffer<T> coef(grad ? N : 0);
  const double v = per_sample(Stored<T>{loss.get(), coef.get()}, sample_run<T>(a));
  if (grad) {
    T* half = coef.get();
    for (int64_t i = 0; i < N; ++i) half[i] *= T(0.5);  // each side weighs 1/2
    clip_sweeps(U, V, s, half, r.get(), rr.get(), q.get(), rq.get(), irow, trow, gi, gt, gs, D,
                a.n_threads);
  }
  return v;
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
