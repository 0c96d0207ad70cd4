// fastloss/pairwise.hpp -- the pairwise losses on the tile driver
// (common/tiles.hpp): NT-Xent and CLIP over cosine similarities.
//
// Both compute their per-anchor losses with the tile driver's forward sweep
// (no N x N matrix), hand them to the per-sample driver for the weights, the
// reduction and its gradient scale (Stored below: the blocked sum's bits, as
// every per-sample loss), then run the backward sweeps with those scales.
//
// ntxent(z1, z2; t): Z = unit rows of cat(z1, z2) (2N rows), S = Z Z^T / t;
//   anchor a's positive is p(a) = (a + N) mod 2N, its negatives the other
//   2N - 2 rows; l_a = logsumexp_{k != a} S[a, k] - S[a, p(a)]
//   (pytorch-metric-learning's NTXentLoss with labels cat(arange N, arange N)).
//   Gradient: S is symmetric, so d/dZ_a = (1/t) sum_k H[a, k] Z_k with
//   H[a, k] = c_a P[a, k] + c_k P[k, a] - [k = p(a)] (c_a + c_k), the row
//   softmaxes P read off the one recomputed S[a, k] and both rows' lse.
// clip(U, V, s): S = s U V^T on unit rows; row i's cross-entropy
//   r_i - S[i, i] and column i's q_i - S[i, i] (r, q the row and column
//   log-sum-exps, both from one forward sweep); the per-pair loss is their
//   mean. Gradient: dU by a sweep
//   over S's rows, dV by one over its columns (S^T's rows), d/ds as
//   sum H * (U_i . V_j) from the first.
#pragma once

#include <cstdint>

#include "fastloss/api/pairwise.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/tiles.hpp"

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
  const tiles::Sweep<T> sw{&Z, &Z, inv_t, true, N, a.n_threads};
  tiles::Buffer<double> lse(n2);
  tiles::Buffer<T> spos(n2), loss(n2);
  tiles::lse_sweep(sw, lse.get(), spos.get());
  for (int64_t i = 0; i < n2; ++i)
    loss.get()[i] = static_cast<T>(lse.get()[i] - static_cast<double>(spos.get()[i]));
  const bool grad = needs_grad(a.op);
  tiles::Buffer<T> coef(grad ? n2 : 0);
  const double v = per_sample(Stored<T>{loss.get(), coef.get()}, sample_run<T>(a));
  if (grad) {
    auto grow = [&](int64_t i) -> T* {
      if (i < N) return g1 != nullptr ? g1 + i * D : nullptr;
      return g2 != nullptr ? g2 + (i - N) * D : nullptr;
    };
    const tiles::Split<T> l(lse.get(), n2);
    tiles::grad_sweep(sw, coef.get(), l, coef.get(), l, inv_t, xrow, grow,
                      static_cast<double*>(nullptr));
  }
  return v;
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
  const tiles::Sweep<T> rows{&U, &V, s, false, 0, a.n_threads};
  const tiles::Sweep<T> cols{&V, &U, s, false, 0, a.n_threads};
  tiles::Buffer<double> r(N), q(N);
  tiles::Buffer<T> sr(N), loss(N);
  // one pass over S for the row and the column log-sum-exps
  tiles::lse_sweep(rows, r.get(), sr.get(), q.get());
  for (int64_t i = 0; i < N; ++i) {
    const double d = static_cast<double>(sr.get()[i]);
    loss.get()[i] = static_cast<T>(((r.get()[i] - d) + (q.get()[i] - d)) * 0.5);
  }
  const bool grad = needs_grad(a.op);
  tiles::Buffer<T> coef(grad ? N : 0);
  const double v = per_sample(Stored<T>{loss.get(), coef.get()}, sample_run<T>(a));
  if (grad) {
    T* half = coef.get();
    for (int64_t i = 0; i < N; ++i) half[i] *= T(0.5);  // each side weighs 1/2
    tiles::Buffer<double> rowdot(gs != nullptr ? N : 0);
    const tiles::Split<T> rs(r.get(), N), qs(q.get(), N);
    if (gi != nullptr || gs != nullptr) {
      auto grow = [&](int64_t i) -> T* { return gi != nullptr ? gi + i * D : nullptr; };
      tiles::grad_sweep(rows, half, rs, half, qs, s, irow, grow, rowdot.get());
    }
    if (gt != nullptr) {
      auto grow = [&](int64_t i) -> T* { return gt + i * D; };
      tiles::grad_sweep(cols, half, qs, half, rs, s, trow, grow,
                        static_cast<double*>(nullptr));
    }
    if (gs != nullptr) {
      double t = 0.0;
      for (int64_t i = 0; i < N; ++i) t += rowdot.get()[i];
      gs[0] = static_cast<T>(t);
    }
  }
  return v;
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
