// fastloss/control.hpp -- RL and physics losses on the per-sample driver.
//
// td_error: the one-step TD loss of DQN. Per sample
//   target = r + gamma (1 - done) next_q      (held constant: no gradient)
//   delta  = q - target
//   loss   = huber(delta) (delta 1: torch's smooth_l1_loss / huber_loss) or delta^2,
//            regression.hpp's Huber and Mse functors
// computed in the inputs' dtype in that order, as torch computes the target
// tensor. pinn: a weighted sum of means of squared residuals, each part its
// own mean (PointSamples over a Square rule scaled by the part's weight).
#pragma once

#include <cstdint>

#include "fastloss/api/control.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/regression.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace ctl {

// F: the regression point functor of the loss on delta = q - target
// (Huber{1} or Mse), its formulas not written again here.
template <class T, class F>
struct TdError {
  static constexpr int64_t group = kBlock;
  static constexpr int cost = 2;
  const T* q;
  const T* r;
  const T* next_q;
  const T* done;
  T* g;
  T gamma;
  F f;
  size_t scratch_bytes() const { return 0; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    const T* FL_RESTRICT qs = q + lo;
    const T* FL_RESTRICT rs = r + lo;
    const T* FL_RESTRICT ns = next_q + lo;
    const T* FL_RESTRICT ds = done + lo;
    T* FL_RESTRICT gq = kGrad ? g + lo : nullptr;
    FL_SIMD
    for (int64_t i = 0; i < len; ++i) {
      const T target = rs[i] + gamma * (T(1) - ds[i]) * ns[i];
      T l, dl, h;
      f.template eval<T, true, kGrad, false>(qs[i], target, T(0), T(0), l, dl, h);
      value[i] = l;
      if constexpr (kGrad) gq[i] = gs[i] * dl;
    }
  }
};

// c x^2: one part of the PINN loss, weighted by c.
template <class T>
struct Square {
  static constexpr int cost = 1;
  T c;
  FL_INLINE void eval(T x, T& l, T& d) const {
    l = c * (x * x);
    d = T(2) * c * x;
  }
};

}  // namespace ctl
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
