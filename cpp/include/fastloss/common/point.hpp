// fastloss/common/point.hpp -- the base every element-wise point functor derives from.
//
// A point functor holds a loss's parameters and its per-element formulas:
//   template <class T> T value(T p, T y, T a) const;
//   template <class T> T grad(T p, T y, T a) const;        // d value / d p
//   template <class T> void grad_hess(T p, T y, T a, T& g, T& h) const;
// and may override value_grad when value and gradient share temporaries, set
// `checks` with an `invalid(p, y, a)` test of the loss's input domain, or be
// `staged` (see below): then it provides stage() and the _s forms instead.
// `a` is the optional per-element auxiliary input (uses_aux). The defaults
// below are for losses that need nothing special. A loss whose value,
// gradient and Hessian share their terms derives from PointFormula (below)
// and writes them once, in one eval.
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
  // checks = true: the driver tests invalid(p, y, a) on every element (in
  // the same pass, on data already in L1; `a` the auxiliary value, 0 without
  // one) and throws InvalidElement.
  static constexpr bool checks = false;
  template <class T>
  FL_INLINE bool invalid(T, T, T) const {
    return false;
  }

  template <class T>
  FL_INLINE void value_grad(T p, T y, T a, T& v, T& g) const {
    v = self().template value<T>(p, y, a);
    g = self().template grad<T>(p, y, a);
  }

  // Staged functors (staged = true) split each element's work in two: the
  // head of a long chain of dependent operations, s = stage(p, y, a) (an
  // exp whose result a log1p, a division... then consume), and the rest,
  // value_s / grad_s / value_grad_s / grad_hess_s(p, y, a, s, ...). The
  // driver runs the stage as a loop of its own over a chunk, into an L1
  // buffer. Why: one loop computing exp, then log1p of it, is bound by the
  // latency of that chain -- the core runs out of scheduler entries before
  // it has two iterations in flight -- while two shorter loops keep the
  // units busy (BCE with logits, avx2: 1.9 -> 1.2 ns per element, the same
  // bits). The driver calls the _s forms only; for other functors they
  // forward to value / grad / value_grad / grad_hess and s is unused.
  // A stage is one value (stage_t<T> = T) unless the functor names a pair,
  // as msle does (vm::QuotK: a quotient and a power of two); the driver keeps
  // each member in an array of its own.
  static constexpr bool staged = false;
  template <class T>
  using stage_t = T;
  template <class T>
  FL_INLINE T stage(T, T, T) const {
    return T(0);
  }
  template <class T>
  FL_INLINE T value_s(T p, T y, T a, T) const {
    return self().template value<T>(p, y, a);
  }
  template <class T>
  FL_INLINE T grad_s(T p, T y, T a, T) const {
    return self().template grad<T>(p, y, a);
  }
  // A staged functor gets value_s then grad_s unless it overrides this.
  template <class T>
  FL_INLINE void value_grad_s(T p, T y, T a, T s, T& v, T& g) const {
    if constexpr (D::staged) {
      v = self().template value_s<T>(p, y, a, s);
      g = self().template grad_s<T>(p, y, a, s);
    } else {
      self().template value_grad<T>(p, y, a, v, g);
    }
  }
  template <class T>
  FL_INLINE void grad_hess_s(T p, T y, T a, T, T& g, T& h) const {
    self().template grad_hess<T>(p, y, a, g, h);
  }

  // binary_fast functors have a cheaper value for targets of 0 or 1,
  // value_bin(p, y, a, s), with the same bits as value_s there (binary
  // cross-entropy: the log of one probability instead of two). The driver
  // uses it for a chunk whose targets are all 0 or 1 (all_binary), so an
  // element's result never depends on its neighbours.
  static constexpr bool binary_fast = false;
  template <class T>
  FL_INLINE T value_bin(T p, T y, T a, T s) const {
    return self().template value_s<T>(p, y, a, s);
  }

 private:
  FL_INLINE const D& self() const { return static_cast<const D&>(*this); }
};

// A loss whose formulas are written once (issue 19): one function computes
// what its flags ask (if constexpr), so value, gradient and Hessian share
// their temporaries and no term is spelled twice,
//   template <class T, bool kV, bool kG, bool kH, class S>
//   void eval(T p, T y, T a, S s, T& v, T& g, T& h) const;
// with s the functor's stage where it is staged (unused otherwise). This
// mixin makes the driver's four verbs of it (the _s forms, which are all
// the driver calls). Under if constexpr an output not asked for is not
// computed, so each verb runs the operations its own body did: the same bits.
template <class D>
struct PointFormula : PointLoss<D> {
  template <class T, class S>
  FL_INLINE T value_s(T p, T y, T a, S s) const {
    T v, g, h;
    self().template eval<T, true, false, false>(p, y, a, s, v, g, h);
    return v;
  }
  template <class T, class S>
  FL_INLINE T grad_s(T p, T y, T a, S s) const {
    T v, g, h;
    self().template eval<T, false, true, false>(p, y, a, s, v, g, h);
    return g;
  }
  template <class T, class S>
  FL_INLINE void value_grad_s(T p, T y, T a, S s, T& v, T& g) const {
    T h;
    self().template eval<T, true, true, false>(p, y, a, s, v, g, h);
  }
  template <class T, class S>
  FL_INLINE void grad_hess_s(T p, T y, T a, S s, T& g, T& h) const {
    T v;
    self().template eval<T, false, true, true>(p, y, a, s, v, g, h);
  }

 private:
  FL_INLINE const D& self() const { return static_cast<const D&>(*this); }
};

// The gradient with respect to the target of an element-wise loss F, for a
// target that is differentiable on request (api/catalogue.hpp, InputSpec's
// on_request): F writes it once, as
//   template <class T> T target_grad(T p, T y, T a) const;   // d value / d y
// and this functor runs it with the arrays' roles swapped (p = target,
// y = pred, as gaussian_nll's var kernel), so the element-wise driver, which
// differentiates its first array, scales it exactly as F's pred gradient
// (weights, the mean's 1/n or 1/sum(w), "none"). The domain check is F's,
// on the swapped arguments, so an invalid element has the same flat index.
template <class F>
struct TargetGrad : PointLoss<TargetGrad<F>> {
  static constexpr int cost = F::cost;
  static constexpr bool uses_aux = F::uses_aux;
  static constexpr bool checks = F::checks;
  F f;
  explicit TargetGrad(const F& f_) : f(f_) {}
  template <class T>
  FL_INLINE bool invalid(T y, T p, T a) const {
    return f.template invalid<T>(p, y, a);
  }
  template <class T>
  FL_INLINE T value(T y, T p, T a) const {
    return f.template value_s<T>(p, y, a, f.template stage<T>(p, y, a));
  }
  template <class T>
  FL_INLINE T grad(T y, T p, T a) const {
    return f.template target_grad<T>(p, y, a);
  }
};

// sign(x) in {-1, 0, +1}, NaN for NaN (a loss's gradient must propagate NaN).
template <class T>
FL_INLINE T sign_nan(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x * T(0));
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
