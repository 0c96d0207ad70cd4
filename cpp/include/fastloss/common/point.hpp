// fastloss/common/point.hpp -- the base every element-wise point functor derives from.
//
// A point functor holds a loss's parameters and its per-element formulas:
//   template <class T> T value(T p, T y, T a) const;
//   template <class T> T grad(T p, T y, T a) const;        // d value / d p
//   template <class T> void grad_hess(T p, T y, T a, T& g, T& h) const;
// and may override value_grad when value and gradient share temporaries, and
// set `checks` with an `invalid(p, y)` test of the loss's input domain.
// `a` is the optional per-element auxiliary input (uses_aux). The defaults
// below are for losses that need nothing special.
#pragma once

#include "fastloss/common/config.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

template <class D>
struct PointLoss {
  static constexpr int cost = 1;         // relative work per element
  static constexpr bool uses_aux = false;
  static constexpr bool has_hess = false;
  // checks = true: the driver tests invalid(p, y) on every element (in the
  // same pass, on data already in L1) and throws InvalidElement.
  static constexpr bool checks = false;
  template <class T>
  FL_INLINE bool invalid(T, T) const {
    return false;
  }

  template <class T>
  FL_INLINE void value_grad(T p, T y, T a, T& v, T& g) const {
    const D& self = static_cast<const D&>(*this);
    v = self.template value<T>(p, y, a);
    g = self.template grad<T>(p, y, a);
  }
};

// sign(x) in {-1, 0, +1}, NaN for NaN (a loss's gradient must propagate NaN).
template <class T>
FL_INLINE T sign_nan(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x * T(0));
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
