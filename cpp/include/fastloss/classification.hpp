// fastloss/classification.hpp -- binary classification losses, element-wise:
// one prediction (probability, logit or score) per target.
//
// Design: each loss is a point functor (common/point.hpp) run by the
// element-wise driver (common/elementwise.hpp). Invalid elements are found
// in the kernel's own pass and reported after it, so the formulas need only
// propagate NaN.
//
// Numerics:
// - Logit losses use softplus(x) = log(1 + e^x) and sigmoid from vmath,
//   finite for every finite x. For x = +-inf a term "c * softplus(x)" with
//   c = 0 is 0 * inf; we take its limit 0 (mul0 below), so a label that
//   agrees with an infinite logit costs 0 and one that disagrees costs +inf,
//   with a finite gradient. (PyTorch returns NaN there: pytorch/pytorch#49844.)
// - Input domains (probabilities in [0, 1], hinge labels in {-1, 0, +1})
//   are checked by the driver in the same pass (PointLoss::invalid).
// - binary_cross_entropy clamps each log at -100 and floors the gradient's
//   denominator p (1 - p) at float(1e-12), both exactly as ATen does
//   (EPSILON is a float constant in ATen, so double inputs see
//   double(float(1e-12)) = 9.999999960041972e-13).
// - max/min here are written so a NaN operand comes out NaN.
#pragma once

#include <cmath>
#include <limits>

#include "fastloss/common/point.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace cls {

// c * s with the limit 0 * (+inf) = 0 (s is a softplus, never -inf). A NaN
// in either operand still gives NaN.
template <class T>
FL_INLINE T mul0(T c, T s) {
  return (c == T(0) && s == std::numeric_limits<T>::infinity()) ? T(0) : c * s;
}

// max(x, lo) that keeps NaN.
template <class T>
FL_INLINE T clamp_lo(T x, T lo) {
  return x < lo ? lo : x;
}

// The logistic functions of x all start from e = e^-|x| in (0, 1] (NaN for
// NaN): the first stage of the logit losses (PointLoss::staged).
template <class T>
FL_INLINE T exp_negabs(T x) {
  return vm::exp_nonpos(vm::detail::negabs(x));
}

// sigmoid(x) and sigmoid(-x) given e = e^-|x|, both to full relative
// accuracy. NaN: x >= 0 is false, e and r are NaN, so both are NaN.
template <class T>
FL_INLINE void sigmoid_pair_from(T x, T e, T& sp, T& sm) {
  const T r = T(1) / (T(1) + e);
  const bool pos = x >= T(0);
  sp = pos ? r : e * r;
  sm = pos ? e * r : r;
}

// softplus(x) and softplus(-x) given e = e^-|x|: one log1p, the same bits
// as vm::softplus(x) and vm::softplus(-x).
template <class T>
FL_INLINE void softplus_pair_from(T x, T e, T& spx, T& smx) {
  const T l = vm::detail::log1p_01(e);
  spx = vm::detail::pospart(x) + l;  // NaN: l is NaN
  smx = vm::detail::pospart(-x) + l;
}

}  // namespace cls

// -(y max(log p, -100) + (1 - y) max(log(1 - p), -100))   (torch binary_cross_entropy)
// Gradient as ATen's backward: (p - y) / max(p (1 - p), float(1e-12)). This
// is not the derivative of the clamped value where a clamp is active (there
// the value is flat); it is what PyTorch's autograd returns.
struct BinaryCrossEntropy : PointLoss<BinaryCrossEntropy> {
  static constexpr int cost = 4;
  static constexpr bool checks = true;  // p and y in [0, 1] (NaN passes)
  template <class T>
  FL_INLINE bool invalid(T p, T y, T) const {
    return p < T(0) || p > T(1) || y < T(0) || y > T(1);
  }
  template <class T>
  FL_INLINE T value(T p, T y, T) const {
    const T lp = cls::clamp_lo(vm::log(p), T(-100));
    const T lq = cls::clamp_lo(vm::log1p(-p), T(-100));
    return -(y * lp + (T(1) - y) * lq);
  }
  // y = 1: -max(log p, -100); y = 0: -max(log1p(-p), -100). The bits of
  // value: y lp + (1 - y) lq adds a zero (0 times a clamped log, which is
  // finite) to the term that counts, and that is exact, signed zeros too:
  // the other term is <= 0 and only -0 + +0 could differ, which needs the
  // counted term to be -0: lq = log1p(-0) with y = 0, where 0 * lp = -0 as
  // well.
  static constexpr bool binary_fast = true;
  template <class T>
  FL_INLINE T value_bin(T p, T y, T, T) const {
    return -cls::clamp_lo(vm::log_or_log1p_neg(p, y == T(1)), T(-100));
  }
  template <class T>
  FL_INLINE T grad(T p, T y, T) const {
    const T eps = static_cast<T>(1e-12f);
    return (p - y) / cls::clamp_lo((T(1) - p) * p, eps);
  }
  // d value / d y, the target's gradient (TargetGrad), as PyTorch's autograd
  // gives it: log(1 - p) - log p, the logs unclamped (+inf at p = 0, -inf at
  // p = 1; like the gradient w.r.t. p, not the derivative of the clamped
  // value where a clamp is active).
  template <class T>
  FL_INLINE T target_grad(T p, T, T) const {
    return vm::log1p(-p) - vm::log(p);
  }
  // d/dp of (p - y) / (p (1 - p)) = (p^2 - 2 p y + y) / (p (1 - p))^2, which
  // is y / p^2 + (1 - y) / (1 - p)^2; the same floor as the gradient's.
  static constexpr bool has_hess = true;
  template <class T>
  FL_INLINE void grad_hess(T p, T y, T, T& g, T& h) const {
    const T eps = static_cast<T>(1e-12f);
    const T inv = T(1) / cls::clamp_lo((T(1) - p) * p, eps);
    g = (p - y) * inv;
    h = (p * p - T(2) * p * y + y) * (inv * inv);
  }
};

// pw y softplus(-x) + (1 - y) softplus(x)   (torch binary_cross_entropy_with_logits)
// pw (pos_weight) is 1 when absent, a constant (kAux = false) or the
// per-element auxiliary input (kAux = true).
// Gradient (1 - y) sigma(x) - pw y sigma(-x); Hessian exact:
// (pw y + 1 - y) sigma(x) sigma(-x).
template <bool kAux>
struct BceWithLogits : PointFormula<BceWithLogits<kAux>> {
  static constexpr int cost = 4;
  static constexpr bool uses_aux = kAux;
  static constexpr bool has_hess = true;
  double pos_weight;
  explicit BceWithLogits(double pw = 1.0) : pos_weight(pw) {}

  template <class T>
  FL_INLINE T pw(T a) const {
    return kAux ? a : static_cast<T>(pos_weight);
  }
  static constexpr bool staged = true;
  template <class T>
  FL_INLINE T stage(T x, T, T) const {
    return cls::exp_negabs(x);
  }
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T x, T y, T a, S e, T& v, T& g, T& h) const {
    const T c = pw(a) * y;
    if constexpr (kV) {
      T spx, smx;
      cls::softplus_pair_from(x, e, spx, smx);
      v = cls::mul0(c, smx) + cls::mul0(T(1) - y, spx);
    }
    if constexpr (kG) {
      T sp, sm;
      cls::sigmoid_pair_from(x, e, sp, sm);
      g = (T(1) - y) * sp - c * sm;
      if constexpr (kH) h = (c + T(1) - y) * (sp * sm);
    }
  }
  // d value / d y, the target's gradient (TargetGrad): pw softplus(-x) -
  // softplus(x), written (pw - 1) softplus(-x) - x (softplus(x) -
  // softplus(-x) = x): -x exactly without pos_weight, as torch's. The
  // limit 0 * inf = 0 of the value's mul0 at x = -inf.
  template <class T>
  FL_INLINE T target_grad(T x, T, T a) const {
    T spx, smx;
    cls::softplus_pair_from(x, cls::exp_negabs(x), spx, smx);
    return cls::mul0(pw(a) - T(1), smx) - x;
  }
};

// Hinge losses: z = margin - y s with y read as -1 (y <= 0) or +1 (y > 0).
namespace cls {
// A hinge label is -1, 0 (read as -1) or +1; NaN passes (and gives NaN).
// y (y^2 - 1) is 0 exactly for those three: y^2 rounds to 1 only for |y| = 1
// (the floats next to 1 square to floats next to 1), tiny y give -y, huge
// ones inf; NaN fails the ordered compare (one vcmpneq_oq). Four vector ops
// instead of four compares and their ors.
template <class T>
FL_INLINE bool bad_label(T y) {
  return std::islessgreater(y * (y * y - T(1)), T(0));
}
// The label as -1 or +1 for a label that passes bad_label (0 -> -1, NaN
// stays NaN); other values give garbage, which the driver's domain check
// turns into an error before any result is returned.
template <class T>
FL_INLINE T pm_one(T y) {
  return y == T(0) ? T(-1) : y;
}
// max(0, z) with NaN kept (one vmaxps), given zero = 0 as a value the
// compiler cannot see (margin - margin, margin finite): with a literal 0,
// GCC moves the float->double conversion of the driver's sum into both arms
// of the select and widens the mask instead (six vector ops, not one).
template <class T>
FL_INLINE T relu(T z, T zero) {
  return zero > z ? zero : z;
}

// What the two hinge losses share: labels in {-1, 0, +1} checked in the
// driver's pass, a margin, and a Hessian.
template <class D>
struct MarginHinge : PointFormula<D> {
  static constexpr bool checks = true;
  template <class T>
  FL_INLINE bool invalid(T, T y, T) const {
    return bad_label(y);
  }
  static constexpr bool has_hess = true;
  double margin;
  explicit MarginHinge(double m) : margin(m) {}
};
}  // namespace cls

// max(0, margin - y s). Subgradient at the kink (z = 0) is -y, as PyTorch's
// autograd of clamp(z, min=0) gives (clamp passes the gradient where
// z >= min).
// Piecewise linear: Hessian 0 (undefined at the hinge); boosting adapters
// substitute a positive constant.
struct Hinge : cls::MarginHinge<Hinge> {
  using MarginHinge::MarginHinge;
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T s, T y, T, S, T& v, T& g, T& h) const {
    const T m = static_cast<T>(margin);
    const T ys = cls::pm_one(y);
    const T z = m - ys * s;  // NaN if s or y is
    if constexpr (kV) v = cls::relu(z, m - m);
    if constexpr (kG) g = z >= T(0) ? -ys : (z != z ? z : T(0));
    if constexpr (kH) h = g - g;
  }
};

// max(0, margin - y s)^2, gradient -2 y max(0, margin - y s).
// Hessian 2 y^2 = 2 where the margin is violated (z > 0), 0 elsewhere.
struct SquaredHinge : cls::MarginHinge<SquaredHinge> {
  using MarginHinge::MarginHinge;
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T s, T y, T, S, T& v, T& g, T& h) const {
    const T ys = cls::pm_one(y);
    const T z = static_cast<T>(margin) - ys * s;
    const T zp = T(0) > z ? T(0) : z;  // NaN stays NaN
    if constexpr (kV) v = zp * zp;
    if constexpr (kG) g = (T(-2) * ys) * zp;
    if constexpr (kH) h = z > T(0) ? T(2) : (z != z ? z : T(0));
  }
};

// alpha_t ce q^gamma   (torchvision.ops.sigmoid_focal_loss), with
//   ce = y softplus(-x) + (1 - y) softplus(x)        (BCE with logits)
//   q  = 1 - p_t = y sigma(-x) + (1 - y) sigma(x)    (computed without 1 - p)
//   alpha_t = alpha y + (1 - alpha)(1 - y), or 1 when alpha < 0.
// d/dx = alpha_t (dce q^gamma + gamma ce q^(gamma-1) dq), with
//   dce = (1 - y) sigma(x) - y sigma(-x), dq = (1 - 2y) sigma(x) sigma(-x).
// The second term's limit is 0 when q or sigma(x) sigma(-x) is 0 (both
// vanish with ce, or faster than ce grows), which keeps the gradient finite
// at x = +-1e4 and +-inf where autograd gives 0 * inf = NaN.
// kGamma selects q^gamma: 0 -> 1 (0^0 = 1, as torch.pow), 1 -> q, 2 -> q*q,
// -1 -> exp(gamma log q). Instantiating per case keeps the loop free of
// branches on the parameters (a select on a member defeated vectorization).
enum class FocalGamma : int { zero = 0, one = 1, two = 2, general = -1 };

template <FocalGamma kGamma>
struct SigmoidFocal : PointFormula<SigmoidFocal<kGamma>> {
  static constexpr int cost = 6;
  double gamma;
  double a0, a1;  // alpha_t = a0 + a1 y
  SigmoidFocal(double alpha, double g)
      : gamma(g), a0(alpha < 0.0 ? 1.0 : 1.0 - alpha), a1(alpha < 0.0 ? 0.0 : 2.0 * alpha - 1.0) {}

  template <class T>
  FL_INLINE T qpow(T q) const {
    if constexpr (kGamma == FocalGamma::zero) return T(1) + (q - q);  // NaN in, NaN out
    if constexpr (kGamma == FocalGamma::one) return q;
    if constexpr (kGamma == FocalGamma::two) return q * q;
    if constexpr (kGamma == FocalGamma::general)
      return vm::exp(static_cast<T>(gamma) * vm::log(q));
  }
  static constexpr bool staged = true;
  template <class T>
  FL_INLINE T stage(T x, T, T) const {
    return cls::exp_negabs(x);
  }
  // The Hessian is exact, in the pass of the gradient. With s = sigma(x)
  // sigma(-x) = ce'', q' = (1 - 2y) s, q'' = (1 - 2y) s (sigma(-x) - sigma(x)):
  //   f'' = ce'' q^g + 2 g ce' q^(g-1) q' + g (g-1) ce q^(g-2) q'^2 + g ce q^(g-1) q''
  // and with r = s / q (in [0, 1] for y in [0, 1]: q >= min(sigma(x), sigma(-x)))
  //   f'' = q^g [s + g r (2 (1 - 2y) ce' + (1 - 2y) ce ((g - 1)(1 - 2y) r
  //                                                   + sigma(-x) - sigma(x)))]
  // which never forms q^(g-2). The g-terms' limit is 0 where q or s is 0
  // (as in the gradient), so the Hessian is finite at +-inf logits too.
  static constexpr bool has_hess = true;
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T x, T y, T, S e, T& v, T& g, T& h) const {
    T spx, smx, sp, sm;
    cls::softplus_pair_from(x, e, spx, smx);
    cls::sigmoid_pair_from(x, e, sp, sm);
    const T q = y * sm + (T(1) - y) * sp;
    const T qg = qpow(q);
    const T c = cls::mul0(y, smx) + cls::mul0(T(1) - y, spx);
    const T at = static_cast<T>(a0) + static_cast<T>(a1) * y;
    if constexpr (kV) v = at * cls::mul0(qg, c);
    if constexpr (kG) {
      const T gm = static_cast<T>(gamma);
      const T s = sp * sm;
      const T dce = (T(1) - y) * sp - y * sm;
      // q^(gamma - 1) s as q^gamma / q * s where q > 0.
      const T qm1 = qg / (q == T(0) ? T(1) : q);
      const T t2 = gm * c * (T(1) - T(2) * y) * (qm1 * s);
      const bool vanish = q == T(0) || s == T(0);
      g = at * (dce * qg + (vanish ? T(0) : t2));
      if constexpr (kH) {
        const T r = s / (q == T(0) ? T(1) : q);
        const T a2 = T(1) - T(2) * y;
        const T inner = T(2) * a2 * dce + a2 * c * ((gm - T(1)) * a2 * r + (sm - sp));
        h = at * (qg * (s + (vanish ? T(0) : gm * r * inner)));
      }
    }
  }
};

// log(1 + exp(-y x))   (torch soft_margin_loss), as softplus(-u) with u = y x:
// max(-u, 0) + log1p(e^-|u|), finite for every finite u (torch's
// log1p(exp(-y x)) overflows to inf past -u ~ 89 in float32). Any real y
// follows the formula (PyTorch's targets are -1 and +1).
// Gradient -y sigma(-u); Hessian y^2 sigma(u) sigma(-u), exact.
struct SoftMargin : PointFormula<SoftMargin> {
  static constexpr int cost = 4;
  static constexpr bool has_hess = true;
  static constexpr bool staged = true;
  template <class T>
  FL_INLINE T stage(T x, T y, T) const {
    return cls::exp_negabs(y * x);
  }
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T x, T y, T, S e, T& v, T& g, T& h) const {
    if constexpr (kV) v = vm::detail::pospart(-(y * x)) + vm::detail::log1p_01(e);
    if constexpr (kG) {
      T sp, sm;
      cls::sigmoid_pair_from(y * x, e, sp, sm);
      g = -y * sm;
      if constexpr (kH) h = (y * y) * (sp * sm);
    }
  }
};

// torch hinge_embedding_loss, term by term as ATen writes it:
//   l = [y != 1] max(0, margin - x) + [y != -1] x
// so x where y = 1, max(0, margin - x) where y = -1 (any other y gets both
// terms, as in PyTorch). Gradient [y != -1] - [y != 1][margin - x >= 0]
// (clamp_min passes the gradient at the kink, as autograd does); NaN where
// x is NaN. Piecewise linear: Hessian 0.
struct HingeEmbedding : PointFormula<HingeEmbedding> {
  static constexpr bool has_hess = true;
  double margin;
  explicit HingeEmbedding(double m) : margin(m) {}
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T x, T y, T, S, T& v, T& g, T& h) const {
    const T m = static_cast<T>(margin);
    if constexpr (kV) {
      const T cl = cls::relu(m - x, m - m);
      v = (y != T(1) ? cl : T(0)) + (y != T(-1) ? x : T(0));
    }
    if constexpr (kG) {
      const T z = m - x;
      const T gx = (y != T(-1) ? T(1) : T(0)) - ((y != T(1) && z >= T(0)) ? T(1) : T(0));
      g = x != x ? x : gx;
    }
    if constexpr (kH) h = x != x ? x : T(0);
  }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
