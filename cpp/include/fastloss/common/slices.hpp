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
// When a gradient is asked and a group's inputs fit in cache (at most
// kFuseBytes), the three steps run group by group in one parallel pass
// instead, so the gradient reads the target from cache, not from memory a
// second time; the units, trees and results are the same.
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

// Largest group (its pred and target bytes) run in one pass: sums, score,
// gradient (see slices below). The gradient re-reads the group's target
// right after its sums read it: from L2 for small groups, from L3 for groups
// up to a few MiB a thread, instead of from memory in a third pass after all
// the sums. dice on 16 x 4 x 256 x 256 float32 (2 MiB groups), 2 threads:
// value+grad 1.15-1.25x mse's on the same bytes with a 512 KiB limit, 1.02-1.1x
// with this one. Where L3 is too small for it, the re-read comes from memory,
// as in three passes.
constexpr int64_t kFuseBytes = int64_t(4096) << 10;

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

static_assert(kLanes == 8, "unit_sums keeps the lanes in two vectors of four");

// Sums of unit u into part ([quantity][unit]: I, P, T). Term k of the unit
// goes to lane k % kLanes in index order, as Lanes::add would put it (lo is
// a multiple of kBlock), but straight from the inputs, eight terms a step
// with the accumulators in registers: no buffer between.
template <class T>
FL_INLINE void unit_sums(const SliceUnits& su, const T* FL_RESTRICT p, const T* FL_RESTRICT y,
                         int64_t u, double* FL_RESTRICT part) {
  int64_t s, lo, hi;
  su.range(u, s, lo, hi);
  const T* ps = p + s * su.K;
  const T* ys = y + s * su.K;
  V4d i0 = {}, i1 = {}, p0 = {}, p1 = {}, t0 = {}, t1 = {};
  int64_t k = lo;
  for (; k + kLanes <= hi; k += kLanes) {
    V4d pa, pb, ya, yb;
    load4(ps + k, pa);
    load4(ps + k + 4, pb);
    load4(ys + k, ya);
    load4(ys + k + 4, yb);
    i0 += pa * ya;
    i1 += pb * yb;
    p0 += pa;
    p1 += pb;
    t0 += ya;
    t1 += yb;
  }
  double ai[kLanes], ap[kLanes], at[kLanes];
  for (int l = 0; l < 4; ++l) {
    ai[l] = i0[l], ai[l + 4] = i1[l];
    ap[l] = p0[l], ap[l + 4] = p1[l];
    at[l] = t0[l], at[l + 4] = t1[l];
  }
  for (int l = 0; k + l < hi; ++l) {
    const double pv = static_cast<double>(ps[k + l]);
    const double yv = static_cast<double>(ys[k + l]);
    ai[l] += pv * yv;
    ap[l] += pv;
    at[l] += yv;
  }
  part[u] = Lanes::tree(ai);
  part[su.units + u] = Lanes::tree(ap);
  part[2 * su.units + u] = Lanes::tree(at);
}

// Gradient of unit u: a_s * t + b_s per element.
template <class T>
FL_INLINE void unit_grad(const SliceUnits& su, const T* FL_RESTRICT y, const double* ca,
                         const double* cb, T* FL_RESTRICT g, int64_t u) {
  int64_t s, lo, hi;
  su.range(u, s, lo, hi);
  const T* ys = y + s * su.K;
  T* gs = g + s * su.K;
  const double a = ca[s], b = cb[s];
  FL_SIMD
  for (int64_t k = lo; k < hi; ++k) gs[k] = static_cast<T>(a * static_cast<double>(ys[k]) + b);
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

  const SliceUnits su(S, K);
  const int64_t U = su.units, nb = su.nb;
  double denom = 1.0;
  // out_blocks: per kBlock groups, the losses' sum and the denominator's
  double* leaves = a.out_blocks;
  if (a.reduction == Reduction::mean) {
    if (w != nullptr) {
      denom = blocked_sum(w, G, a.n_threads, 0, 1, leaves != nullptr ? leaves + 1 : nullptr);
    } else {
      denom = static_cast<double>(G);
      if (leaves != nullptr) block_counts(G, leaves + 1);
    }
  }
  const double scale = a.reduction == Reduction::mean ? 1.0 / denom : 1.0;
  // Scratch sized before the parallel regions: nothing allocates inside them.
  // Block partials are laid out [quantity][slice][block].
  Partials part(3 * U);
  const size_t ns = static_cast<size_t>(S);
  std::vector<double> loss(static_cast<size_t>(G)), mom(3 * ns), ca(ns), cb(ns);
  const double* pd = part.data();
  double* I = mom.data();
  double* P = I + S;
  double* Tm = P + S;
  T* gout = static_cast<T*>(a.out_grad);

  // Group g from its slices' block partials: moments, loss, and the
  // gradient's coefficients with the weight and the reduction's scale in.
  const auto score_group = [&](int64_t g) {
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
  };

  // With a gradient asked and groups small enough to stay in a core's cache
  // between their sums and their gradient, and enough of them to share out,
  // one pass runs group after group: sums, score, gradient. The gradient
  // then reads the target from cache instead of memory a second time. The
  // sums are the same units as below, so the bits are those of three passes.
  const int64_t group_elems = C * K;
  const int64_t group_bytes = 2 * group_elems * static_cast<int64_t>(sizeof(T));
  const int64_t per_task = std::max<int64_t>(1, 4 * kBlock / std::max<int64_t>(group_elems, 1));
  const int64_t ftasks = (G + per_task - 1) / per_task;
  if (grad && group_bytes <= kFuseBytes && (a.n_threads <= 1 || ftasks >= 4 * a.n_threads)) {
    const int ntf = threads_for(S * K * F::cost, ftasks, a.n_threads);
    parallel_for(ftasks, ntf, [&](int64_t task) {
      const int64_t g1 = std::min(G, (task + 1) * per_task);
      for (int64_t g = task * per_task; g < g1; ++g) {
        const int64_t u0 = g * C * nb, u1 = u0 + C * nb;
        for (int64_t u = u0; u < u1; ++u) unit_sums(su, p, y, u, part.data());
        score_group(g);
        for (int64_t u = u0; u < u1; ++u) unit_grad(su, y, ca.data(), cb.data(), gout, u);
      }
    });
  } else {
    // 1. sums
    const int nt = threads_for(S * K * F::cost, su.tasks, a.n_threads);
    parallel_for(su.tasks, nt, [&](int64_t task) {
      const int64_t u1 = std::min(U, (task + 1) * su.per_task);
      for (int64_t u = task * su.per_task; u < u1; ++u) unit_sums(su, p, y, u, part.data());
    });
    // 2. per group: loss, coefficients of the gradient
    constexpr int64_t kGroups = 256;  // groups per task
    const int64_t gtasks = (G + kGroups - 1) / kGroups;
    parallel_for(gtasks, threads_for(S * 64, gtasks, a.n_threads), [&](int64_t task) {
      const int64_t g1 = std::min(G, (task + 1) * kGroups);
      for (int64_t g = task * kGroups; g < g1; ++g) score_group(g);
    });
    // 3. gradient
    if (grad) {
      parallel_for(su.tasks, nt, [&](int64_t task) {
        const int64_t u1 = std::min(U, (task + 1) * su.per_task);
        for (int64_t u = task * su.per_task; u < u1; ++u)
          unit_grad(su, y, ca.data(), cb.data(), gout, u);
      });
    }
  }

  if (!value) return 0.0;
  if (!reduce) {
    T* ov = static_cast<T*>(a.out_value);
    for (int64_t g = 0; g < G; ++g) ov[g] = static_cast<T>(loss[static_cast<size_t>(g)]);
    return 0.0;
  }
  const double total = blocked_sum(loss.data(), G, a.n_threads, 0, 1, leaves);
  return a.reduction == Reduction::mean ? total / denom : total;
}

// Dispatch on dtype: the one place a per-slice loss meets float/double.
template <class F>
double slices_any(const F& f, const SliceArgs& a) {
  return a.dtype == DType::f32 ? slices<float>(f, a) : slices<double>(f, a);
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
