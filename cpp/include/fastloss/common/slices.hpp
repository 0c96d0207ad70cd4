// fastloss/common/slices.hpp -- the one driver behind every per-slice loss.
//
// Design. A per-slice loss scores each slice of K elements from three sums,
// I = sum(p*t), P = sum(p), T = sum(t); every overlap loss (dice, IoU,
// Tversky, generalized Dice) is a function of those. Slices come in groups of
// C consecutive slices (C = 1 but for losses that combine the classes of a
// sample); a group gives one per-sample loss. The loss's functor F holds only
// the formulas:
//   static constexpr int cost;              // relative work per element
//   double group(const double* I, const double* P, const double* T,
//                int64_t C, double* dI, double* dP) const;
// returns the group's loss and writes dL/dI_c and dL/dP_c for its slices
// (T depends on the target only, so no dL/dT is needed). The gradient of an
// element is then dL/dp = dL/dI * t + dL/dP -- one multiply-add per element.
//
// The driver owns the rest: three passes.
//  1. Sums. Each slice is cut into blocks of kBlock elements (a unit is one
//     (slice, block) pair); a unit's sums use Lanes in index order, and a
//     slice's block totals are combined by pairwise_sum. The tree depends on
//     K only. Units are dealt to tasks in runs of about kBlock elements, so
//     a few huge slices still use every thread and many tiny slices do not
//     make one task each; which thread runs a unit changes no bit.
//  2. Groups. The functor turns each group's sums into a loss and per-slice
//     coefficients (weights and the reduction's scale folded in).
//  3. Gradient. The same units again, writing (a_s * t + b_s) per element.
// Sums and coefficients are float64 whatever the input dtype; the reduced
// value is the deterministic blocked sum of the per-sample losses.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "fastloss/api/slices.hpp"
#include "fastloss/api/types.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/elementwise.hpp"
#include "fastloss/common/parallel.hpp"
#include "fastloss/common/reduce.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// Base of a functor that scores each slice alone (group size 1): the derived
// class provides
//   double slice(double I, double P, double T, double& dI, double& dP) const;
template <class D>
struct SliceScore {
  static constexpr int cost = 1;
  FL_INLINE double group(const double* I, const double* P, const double* T, int64_t C,
                         double* dI, double* dP) const {
    const D& self = static_cast<const D&>(*this);
    double total = 0.0;
    for (int64_t c = 0; c < C; ++c) total += self.slice(I[c], P[c], T[c], dI[c], dP[c]);
    return total;
  }
};

namespace detail {

// Work split shared by the sums pass and the gradient pass: units
// u = s * nb + b, dealt in runs of `per_task` units.
struct SliceUnits {
  int64_t S, K, nb, units, per_task, tasks;
  SliceUnits(int64_t s, int64_t k) : S(s), K(k) {
    nb = num_blocks(K);
    units = S * nb;
    per_task = K >= kBlock ? 1 : std::max<int64_t>(1, kBlock / std::max<int64_t>(K, 1));
    tasks = units == 0 ? 0 : (units + per_task - 1) / per_task;
  }
  // Elements [lo, hi) of slice s covered by unit u.
  FL_INLINE void range(int64_t u, int64_t& s, int64_t& lo, int64_t& hi) const {
    s = u / nb;
    lo = (u - s * nb) * kBlock;
    hi = std::min(K, lo + kBlock);
  }
};

template <class T>
void slice_sums(const SliceUnits& su, const T* FL_RESTRICT p, const T* FL_RESTRICT y,
                double* FL_RESTRICT part, int nt) {
  const int64_t U = su.units;
  parallel_for(su.tasks, nt, [&](int64_t task) {
    const int64_t u0 = task * su.per_task, u1 = std::min(U, u0 + su.per_task);
    alignas(64) double ti[kChunk];
    alignas(64) double tp[kChunk];
    alignas(64) double tt[kChunk];
    for (int64_t u = u0; u < u1; ++u) {
      int64_t s, lo, hi;
      su.range(u, s, lo, hi);
      const T* ps = p + s * su.K;
      const T* ys = y + s * su.K;
      Lanes ai, ap, at;
      ai.zero();
      ap.zero();
      at.zero();
      for (int64_t c = lo; c < hi; c += kChunk) {
        const int64_t len = std::min(kChunk, hi - c);
        FL_SIMD
        for (int64_t i = 0; i < len; ++i) {
          const double pv = static_cast<double>(ps[c + i]);
          const double yv = static_cast<double>(ys[c + i]);
          ti[i] = pv * yv;
          tp[i] = pv;
          tt[i] = yv;
        }
        ai.add(ti, len);
        ap.add(tp, len);
        at.add(tt, len);
      }
      part[u] = ai.total();
      part[U + u] = ap.total();
      part[2 * U + u] = at.total();
    }
  });
}

template <class T>
void slice_grad(const SliceUnits& su, const T* FL_RESTRICT y, const double* FL_RESTRICT ca,
                const double* FL_RESTRICT cb, T* FL_RESTRICT g, int nt) {
  parallel_for(su.tasks, nt, [&](int64_t task) {
    const int64_t u0 = task * su.per_task, u1 = std::min(su.units, u0 + su.per_task);
    for (int64_t u = u0; u < u1; ++u) {
      int64_t s, lo, hi;
      su.range(u, s, lo, hi);
      const T* ys = y + s * su.K;
      T* gs = g + s * su.K;
      const double a = ca[s], b = cb[s];
      FL_SIMD
      for (int64_t k = lo; k < hi; ++k) gs[k] = static_cast<T>(a * static_cast<double>(ys[k]) + b);
    }
  });
}

}  // namespace detail

// Run a per-slice loss. Returns the reduced value for a scalar reduction with
// a value asked; per-sample values and the gradient go to the SliceArgs
// buffers.
template <class T, class F>
double slices(const F& f, const SliceArgs& a) {
  using namespace detail;
  const int64_t S = a.slices, K = a.slice_size, C = a.group;
  if (S < 0 || K < 0 || C < 1 || S % C != 0)
    throw std::invalid_argument("slices: bad slice layout (slices, slice_size, group)");
  if (a.op == Op::grad_hess) throw std::invalid_argument("this loss has no Hessian (grad_hess)");
  const int64_t G = S / C;
  const T* p = static_cast<const T*>(a.pred);
  const T* y = static_cast<const T*>(a.target);
  const T* w = static_cast<const T*>(a.weight);
  const bool value = needs_value(a.op), grad = needs_grad(a.op);
  const bool reduce = a.reduction != Reduction::none;

  // 1. sums, block partials laid out [quantity][slice][block]
  const SliceUnits su(S, K);
  const int nt = threads_for(S * K * F::cost, su.tasks, a.n_threads);
  Partials part(3 * su.units);
  slice_sums(su, p, y, part.data(), nt);

  // 2. per group: loss, coefficients of the gradient
  double denom = 1.0;
  if (a.reduction == Reduction::mean)
    denom = w != nullptr ? blocked_sum(w, G, a.n_threads) : static_cast<double>(G);
  const double scale = a.reduction == Reduction::mean ? 1.0 / denom : 1.0;
  // Scratch sized before the parallel region: nothing allocates inside it.
  const size_t ns = static_cast<size_t>(S);
  std::vector<double> loss(static_cast<size_t>(G)), mom(3 * ns), ca(ns), cb(ns);
  constexpr int64_t kGroups = 256;  // groups per task of pass 2
  const int64_t gtasks = (G + kGroups - 1) / kGroups;
  const int ntg = threads_for(S * 64, gtasks, a.n_threads);
  const int64_t U = su.units, nb = su.nb;
  const double* pd = part.data();
  double* I = mom.data();
  double* P = I + S;
  double* Tm = P + S;
  parallel_for(gtasks, ntg, [&](int64_t task) {
    const int64_t g1 = std::min(G, (task + 1) * kGroups);
    for (int64_t g = task * kGroups; g < g1; ++g) {
      const int64_t s0 = g * C;
      for (int64_t s = s0; s < s0 + C; ++s) {
        I[s] = pairwise_sum(pd + s * nb, nb);
        P[s] = pairwise_sum(pd + U + s * nb, nb);
        Tm[s] = pairwise_sum(pd + 2 * U + s * nb, nb);
      }
      const double l = f.group(I + s0, P + s0, Tm + s0, C, &ca[s0], &cb[s0]);
      const double wg = w != nullptr ? static_cast<double>(w[g]) : 1.0;
      loss[static_cast<size_t>(g)] = w != nullptr ? l * wg : l;
      const double k = wg * scale;
      for (int64_t s = s0; s < s0 + C; ++s) {
        ca[static_cast<size_t>(s)] *= k;
        cb[static_cast<size_t>(s)] *= k;
      }
    }
  });

  // 3. gradient, value
  if (grad) slice_grad(su, y, ca.data(), cb.data(), static_cast<T*>(a.out_grad), nt);
  if (!value) return 0.0;
  if (!reduce) {
    T* ov = static_cast<T*>(a.out_value);
    for (int64_t g = 0; g < G; ++g) ov[g] = static_cast<T>(loss[static_cast<size_t>(g)]);
    return 0.0;
  }
  const double total = blocked_sum(loss.data(), G, a.n_threads);
  return a.reduction == Reduction::mean ? total / denom : total;
}

// Dispatch on dtype: the one place a per-slice loss meets float/double.
template <class F>
double slices_any(const F& f, const SliceArgs& a) {
  return a.dtype == DType::f32 ? slices<float>(f, a) : slices<double>(f, a);
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
