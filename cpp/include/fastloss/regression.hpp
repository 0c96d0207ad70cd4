// fastloss/regression.hpp -- regression losses: pred and target of one shape.
//
// Design: each loss is a point functor (common/point.hpp); the element-wise
// driver (common/elementwise.hpp) owns the loop, weights, reduction and
// threads. Conventions, matching PyTorch: r = pred - target; no 1/2 factor
// on mse; at r = 0 the L1 subgradient is 0 (torch.sign(0) = 0).
// Functors whose formulas differ by a flag (log link, log input, full) are
// templates on that flag, so the hot loop holds no branch and no wasted
// transcendental call. msle and tweedie check their domains in the
// kernel's own pass (PointLoss::invalid; tweedie's bounds follow from its
// power and link, set when the functor is built); in a loss without a
// check, a value outside the domain gives NaN/inf, never a crash. rmse is not
// element-wise and has no functor: the Python layer runs Mse and applies
// the chain rule of the square root.
#pragma once

#include <cmath>
#include <limits>

#include "fastloss/common/point.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// (p - y)^2
struct Mse : PointFormula<Mse> {
  static constexpr bool has_hess = true;
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T& h) const {
    const T r = p - y;
    if constexpr (kV) v = r * r;
    if constexpr (kG) g = T(2) * r;
    if constexpr (kH) h = T(2) + (g - g);  // NaN in -> NaN Hessian
  }
};

// |p - y|
// Piecewise linear: the Hessian is 0 wherever it exists (not at r = 0);
// boosting adapters substitute a positive constant (see fastloss.xgboost).
struct Mae : PointFormula<Mae> {
  static constexpr bool has_hess = true;
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T& h) const {
    const T r = p - y;
    if constexpr (kV) v = vm::vabs(r);
    if constexpr (kG) g = sign_nan(r);
    if constexpr (kH) h = g - g;  // 0, NaN for NaN input
  }
};

// 0.5 r^2 if |r| < delta else delta (|r| - 0.5 delta)   (torch huber_loss)
// Hessian 1 inside the quadratic zone, 0 in the linear zones (exact
// everywhere but at |r| = delta, where the second derivative jumps).
struct Huber : PointFormula<Huber> {
  static constexpr bool has_hess = true;
  double delta;
  explicit Huber(double d) : delta(d) {}
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T& h) const {
    const T d = T(delta), r = p - y, ar = vm::vabs(r);
    const bool in = ar < d;
    if constexpr (kV) v = in ? T(0.5) * r * r : d * (ar - T(0.5) * d);
    if constexpr (kG) g = in ? r : d * sign_nan(r);
    if constexpr (kH) h = in ? T(1) : (r != r ? r : T(0));
  }
};

// 0.5 r^2 / beta if |r| < beta else |r| - 0.5 beta   (torch smooth_l1_loss)
// Hessian 1 / beta inside the quadratic zone, 0 outside (exact but at
// |r| = beta).
struct SmoothL1 : PointFormula<SmoothL1> {
  static constexpr bool has_hess = true;
  double beta;
  explicit SmoothL1(double b) : beta(b) {}
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T& h) const {
    const T b = T(beta), r = p - y, ar = vm::vabs(r);
    const bool in = ar < b;
    if constexpr (kV) v = in ? T(0.5) * r * r / b : ar - T(0.5) * b;
    if constexpr (kG) g = in ? r / b : sign_nan(r);
    if constexpr (kH) h = in ? T(1) / b : (r != r ? r : T(0));
  }
};

// log cosh(r)   (Keras LogCosh). With u = e^{-2|r|} in (0, 1] and
// t = tanh|r| = -expm1(-2|r|) / (2 + expm1(-2|r|)) (accurate for tiny |r|):
//   |r| < 1:  log cosh r = -0.5 log1p(-t^2)  (no cancellation: ~ r^2/2)
//   |r| >= 1: log cosh r = |r| + log1p(u) - log 2  (no overflow for any r;
//             at |r| >= 1 the result is >= 0.43, so no cancellation either)
// One exp, one log (for expm1), one division and one log1p per element: u
// serves both branches and tanh, and the branch picks log1p's argument.
// Gradient tanh r, Hessian 1 - tanh^2 r = 4u / (1 + u)^2 (never 1 - t*t for
// large |r|, where it would cancel to 0).
struct LogCosh : PointFormula<LogCosh> {
  static constexpr int cost = 6;
  static constexpr bool has_hess = true;
  // tanh(ar) for ar = |r| and u = e^{-2 ar}: expm1(x), x = -2 ar, by Kahan's
  // trick (u - 1) x / log u, folded into t = -em / (2 + em) as one quotient
  // -n / (2 log u + n), n = (u - 1) x. u = 1 (tiny ar): tanh ar = ar; u
  // subnormal or 0 (ar > 43.6 in float, 354 in double, or inf): 1.
  template <class T>
  FL_INLINE static T tanh_abs(T ar, T u) {
    const T n = (u - T(1)) * (T(-2) * ar);
    const T t = -n / (T(2) * vm::log(u) + n);
    // u below the smallest normal: tanh ar = 1 - 2u is 1 in T, and the
    // vector log of a subnormal u is not accurate (it gave 1.4e-2 off)
    return vm::select(u == T(1), ar,
                      vm::select(u < std::numeric_limits<T>::min(), T(1), t));
  }
  // u = e^{-2|r|}, the head of every chain below, is the first stage
  // (PointLoss::staged).
  static constexpr bool staged = true;
  template <class T>
  FL_INLINE T stage(T p, T y, T) const {
    return vm::exp_nonpos(T(-2) * vm::vabs(p - y));
  }
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S u, T& v, T& g, T& h) const {
    const T r = p - y, ar = vm::vabs(r);
    const T t = tanh_abs(ar, u);
    if constexpr (kV) {
      const bool small = ar < T(1);
      const T l = vm::log1p(vm::select(small, -(t * t), u));
      v = small ? T(-0.5) * l : (ar + l) - T(0.693147180559945309417);
    }
    if constexpr (kG) g = sign_nan(r) * t;
    if constexpr (kH) {
      const T d = T(1) + u;
      h = T(4) * u / (d * d);
    }
  }
};

// Pinball loss (sklearn mean_pinball_loss), q = quantile in (0, 1), d = y - p:
//   q d if d >= 0 else (q - 1) d;  gradient -q if d >= 0 else 1 - q
// (sklearn's PinballLoss takes -q at the kink too); Hessian 0, exact away
// from the kink.
struct Quantile : PointFormula<Quantile> {
  static constexpr bool has_hess = true;
  double q;
  explicit Quantile(double q_) : q(q_) {}
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T& h) const {
    const T d = y - p;
    if constexpr (kV) v = d >= T(0) ? T(q) * d : (T(q) - T(1)) * d;
    if constexpr (kG) g = d != d ? d : (d >= T(0) ? -T(q) : T(1) - T(q));
    if constexpr (kH) h = g - g;  // 0, NaN for NaN input
  }
  // d value / d y, for TargetGrad (the target on request): the gradient's
  // negation, q or q - 1 (the pinball loss is not symmetric in p and y, so
  // the swapped pass of the symmetric losses does not serve)
  template <class T>
  FL_INLINE T target_grad(T p, T y, T a) const {
    T v, g, h;
    eval<T, false, true, false>(p, y, a, 0, v, g, h);
    return -g;
  }
};

// Mean absolute percentage error (sklearn), a fraction:
//   |p - y| / max(|y|, eps), eps = 2^-52 (np.finfo(np.float64).eps, also for
//   float32, as sklearn). Gradient sign(p - y) / max(|y|, eps).
// Linear in p on either side of y: Hessian 0 (undefined at p = y).
struct Mape : PointFormula<Mape> {
  static constexpr double kEps = 2.220446049250313080847e-16;
  static constexpr bool has_hess = true;
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T& h) const {
    const T den = vm::vmax(vm::vabs(y), T(kEps));
    if constexpr (kV) v = vm::vabs(p - y) / den;
    if constexpr (kG) g = sign_nan(p - y) / den;
    if constexpr (kH) h = g - g;
  }
};

// Squared log error (sklearn mean_squared_log_error):
//   (log1p p - log1p y)^2, gradient 2 (log1p p - log1p y) / (1 + p).
// Inputs <= -1 are refused (checks). d = log1p p - log1p y is
// vm::log1p_diff: one quotient and one polynomial, accurate where p and y
// are close; its two stages are the functor's (PointLoss::staged).
// Hessian: d/dp of 2 d / (1 + p) = 2 (1 - d) / (1 + p)^2 (negative where d > 1).
struct Msle : PointFormula<Msle> {
  static constexpr int cost = 4;
  static constexpr bool checks = true;  // p, y > -1 (NaN passes)
  template <class T>
  FL_INLINE bool invalid(T p, T y, T) const {
    return p <= T(-1) || y <= T(-1);
  }
  static constexpr bool staged = true;
  template <class T>
  using stage_t = vm::QuotK<T>;
  template <class T>
  FL_INLINE vm::QuotK<T> stage(T p, T y, T) const {
    return vm::log1p_diff_stage(p, y);
  }
  static constexpr bool has_hess = true;
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S q, T& v, T& g, T& h) const {
    const T d = vm::log1p_diff_finish(p, y, q);
    if constexpr (kV) v = d * d;
    if constexpr (kG) g = T(2) * d / (T(1) + p);
    if constexpr (kH) {
      const T inv = T(1) / (T(1) + p);
      h = T(2) * (T(1) - d) * (inv * inv);
    }
  }
};

// Poisson negative log likelihood (torch poisson_nll_loss):
//   log input:  e^p - y p;                 grad e^p - y;          Hessian e^p
//   otherwise:  p - y log(p + eps);        grad 1 - y / (p + eps); Hessian y / (p + eps)^2
//   full adds the Stirling term y log y - y + 0.5 log(2 pi y) where y > 1
//   (0 elsewhere, as torch masks it), which does not depend on p.
//   Target gradient (on request): -p or -log(p + eps), full adds
//   log y + 1 / (2 y) where y > 1.
template <bool LogInput, bool Full>
struct PoissonNll : PointLoss<PoissonNll<LogInput, Full>> {
  static constexpr int cost = 4;
  static constexpr bool has_hess = true;
  double eps;
  explicit PoissonNll(double e) : eps(e) {}
  template <class T>
  FL_INLINE static T stirling(T y) {
    const T ly = vm::log(y);
    const T s = y * ly - y + T(0.5) * (ly + T(1.83787706640934548356));  // log(2 pi)
    return y > T(1) ? s : T(0);
  }
  template <class T>
  FL_INLINE T value(T p, T y, T) const {
    T v;
    if constexpr (LogInput) {
      v = vm::exp(p) - y * p;
    } else {
      v = p - y * vm::log(p + T(eps));
    }
    if constexpr (Full) v = v + stirling(y);
    return v;
  }
  template <class T>
  FL_INLINE T grad(T p, T y, T) const {
    if constexpr (LogInput) {
      return vm::exp(p) - y;
    } else {
      return T(1) - y / (p + T(eps));
    }
  }
  // d value / d y, the target's gradient (TargetGrad): -p or -log(p + eps),
  // and with full the Stirling term's log y + 1 / (2 y) where y > 1 (0
  // elsewhere, as torch's mask passes no gradient there).
  template <class T>
  FL_INLINE T target_grad(T p, T y, T) const {
    T d;
    if constexpr (LogInput) {
      d = -p;
    } else {
      d = -vm::log(p + T(eps));
    }
    if constexpr (Full) d = d + (y > T(1) ? vm::log(y) + T(0.5) / y : T(0));
    return d;
  }
  template <class T>
  FL_INLINE void grad_hess(T p, T y, T, T& g, T& h) const {
    if constexpr (LogInput) {
      const T e = vm::exp(p);
      g = e - y;
      h = e;
    } else {
      const T q = T(1) / (p + T(eps));
      g = T(1) - y * q;
      h = y * q * q;
    }
  }
};

// Gaussian negative log likelihood (torch gaussian_nll_loss), a = var:
//   v = max(var, eps) (NaN kept), 0.5 (log v + r^2 / v) [+ 0.5 log(2 pi) if full];
//   gradient w.r.t. pred only: r / v (torch clamps a copy of var under no_grad).
struct GaussianNll : PointFormula<GaussianNll> {
  static constexpr int cost = 3;
  static constexpr bool uses_aux = true;
  static constexpr bool has_hess = true;  // w.r.t. pred (the mean): 1 / v
  // var >= 0 (torch: "var has negative entry/entries"; NaN passes). The
  // NumPy path checks it in Python first, with var's own index; under
  // fastloss.jax's jit this is the check (a value no trace can see).
  static constexpr bool checks = true;
  template <class T>
  FL_INLINE bool invalid(T, T, T a) const {
    return a < T(0);
  }
  double eps, add;
  GaussianNll(double e, bool full) : eps(e), add(full ? 0.918938533204672741780 : 0.0) {}
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T a, S, T& v, T& g, T& h) const {
    const T vc = a < T(eps) ? T(eps) : a;  // the clamped var
    const T r = p - y;
    if constexpr (kV) v = T(0.5) * (vm::log(vc) + r * r / vc) + T(add);
    if constexpr (kG) g = r / vc;
    if constexpr (kH) h = T(1) / vc + (g - g);
  }
};

// d/d var of GaussianNll, for the var input's gradient: run with p = var,
// y = target, a = pred (the element-wise driver differentiates its first
// array). torch clamps a copy of var under no_grad, so the gradient passes
// the clamp unchanged: 0.5 (1 / v - r^2 / v^2) with v = max(var, eps).
struct GaussianNllVar : PointLoss<GaussianNllVar> {
  static constexpr int cost = 3;
  static constexpr bool uses_aux = true;
  GaussianNll f;
  GaussianNllVar(double e, bool full) : f(e, full) {}
  template <class T>
  FL_INLINE T value(T var, T y, T pred) const {
    return f.value_s<T>(pred, y, var, T(0));
  }
  template <class T>
  FL_INLINE T grad(T var, T y, T pred) const {
    const T v = var < T(f.eps) ? T(f.eps) : var;
    const T q = (pred - y) / v;
    return T(0.5) * (T(1) / v - q * q);
  }
};

// |r|^p for a power p > 0, r = p - y: perceptual's per-layer term for the
// powers other than 1 and 2 (those run mae and mse, whose bits they keep):
//   value |r|^p = exp(p log|r|)  (0 at r = 0, inf at |r| = inf),
//   gradient p |r|^(p-1) sign(r), 0 at r = 0 for every p.
// At r = 0 with p < 1 the slope is infinite; torch's autograd of
// abs(r).pow(p) gives NaN there (inf * 0) and this gives 0, as mae's
// subgradient does. The gradient is its own exp (not p v / r): v underflows
// to 0 before |r|^(p-1) does, and inf / inf would be NaN.
struct AbsPower : PointFormula<AbsPower> {
  static constexpr int cost = 3;
  static constexpr bool has_hess = false;
  double pw;
  explicit AbsPower(double q) : pw(q) {}
  template <class T, bool kV, bool kG, bool kH, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T&) const {
    const T r = p - y;
    const T l = vm::log(vm::vabs(r));
    if constexpr (kV) v = vm::exp(T(pw) * l);
    if constexpr (kG) {
      const T m = T(pw) * vm::exp(T(pw - 1.0) * l);
      g = r == T(0) ? T(0) : m * sign_nan(r);
    }
  }
};

// Pseudo-Huber (Charbonnier) loss, XGBoost's reg:pseudohubererror with
// huber_slope = delta: with r = p - y, u = |r| / delta, s = sqrt(1 + u^2),
//   value delta^2 (s - 1),  gradient r / s,  Hessian 1 / s^3.
// s - 1 cancels for small u and 1 + u^2 overflows for large u, so the
// formulas are written with k = min(u, 1/u) <= 1 and t = sqrt(1 + k^2):
//   u <= 1: s = t,      s - 1 = k^2 / (t + 1)
//   u > 1:  s = u t,    delta^2 (s - 1) = delta^2 u / (t + k) (not / by u^2)
// so no intermediate overflows before the result does; r = +-inf gives inf,
// gradient +-delta and Hessian 0. One function serves the three outputs.
struct PseudoHuber : PointFormula<PseudoHuber> {
  static constexpr int cost = 2;
  static constexpr bool has_hess = true;
  double delta;
  explicit PseudoHuber(double d) : delta(d) {}
  template <class T, bool kValue, bool kGrad, bool kHess, class S>
  FL_INLINE void eval(T p, T y, T, S, T& v, T& g, T& h) const {
    const T d = T(delta), r = p - y, u = vm::vabs(r) / d;
    const bool big = u > T(1);
    const T k = big ? T(1) / u : u;
    const T t = std::sqrt(T(1) + k * k);
    // d^2 (sqrt(1 + u^2) - 1) = d^2 u / (t + k) = r^2 / (t + 1): no d^2,
    // which overflows for a huge delta (inf * 0 = NaN)
    if constexpr (kValue) v = big ? d * vm::vabs(r) / (t + k) : r * r / (t + T(1));
    if constexpr (kGrad) g = big ? d * sign_nan(r) / t : r / t;
    if constexpr (kHess) {
      const T s = big ? u * t : t;
      h = T(1) / (s * s * s);
    }
  }
};

// Tweedie deviance (sklearn mean_tweedie_deviance), mean mu, power p:
//   p = 0: (y - mu)^2
//   p = 1: 2 (y log(y / mu) - y + mu)            (y log(y / mu) = 0 at y = 0)
//   p = 2: 2 (log(mu / y) + y / mu - 1)
//   else:  2 (max(y, 0)^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p))
// d/dmu = 2 mu^-p (mu - y), d2/dmu2 = 2 mu^(-p-1) (p y + (1-p) mu).
// Log link (Log = true): pred is the raw score s, mu = e^s, and
// d/ds = 2 (mu^(2-p) - y mu^(1-p)), d2/ds2 = 2 ((2-p) mu^(2-p) - (1-p) y mu^(1-p)),
// twice sklearn's HalfTweedieLoss and LightGBM's tweedie objective.
// Powers are x^k = exp(k log x); with the log link mu^k = exp(k s) directly.
// Identity link at mu = +inf: the limits (the formulas give inf - inf or
// inf * 0 there): the deviance is +inf for p <= 2 and 2 y^(2-p)/((1-p)(2-p))
// for p > 2, d/dmu is 0 for p > 1, 2 at p = 1 and +inf for p < 1, d2/dmu2 0
// for p > 0 and +inf for p < 0; a NaN or infinite target still gives NaN.
// A select on s == +inf, so every finite mu keeps its bits.
enum class TweedieKind { normal, poisson, gamma, general };

template <TweedieKind K, bool Log>
struct Tweedie : PointLoss<Tweedie<K, Log>> {
  // power 0 with the identity link is mse (regression.cpp runs Mse for it)
  static_assert(K != TweedieKind::normal || Log, "tweedie power 0, identity link: use Mse");
  static constexpr int cost = 6;
  static constexpr bool has_hess = true;
  double p, k1, k2, k12;  // p, 1/(1-p), 1/(2-p), 1/((1-p)(2-p))
  // The domain (scikit-learn's): y > 0 for p >= 2, y >= 0 for 1 <= p < 2,
  // any y for p <= 0; pred > 0 with the identity link unless p = 0. Checked
  // in the kernel's own pass (NaN passes: it gives NaN, not an error) as two
  // compares: y < y_lim, s < s_lim, where "> 0" is ">= the smallest
  // subnormal" and no bound is -inf.
  float y_lim_f, s_lim_f;
  double y_lim_d, s_lim_d;
  explicit Tweedie(double power)
      : p(power),
        k1(K == TweedieKind::general ? 1.0 / (1.0 - power) : 0.0),
        k2(K == TweedieKind::general ? 1.0 / (2.0 - power) : 0.0),
        k12(K == TweedieKind::general ? 1.0 / ((1.0 - power) * (2.0 - power)) : 0.0),
        y_lim_f(lim<float>(power >= 1.0, power >= 2.0)),
        s_lim_f(lim<float>(!Log && power != 0.0, true)),
        y_lim_d(lim<double>(power >= 1.0, power >= 2.0)),
        s_lim_d(lim<double>(!Log && power != 0.0, true)) {}
  template <class T>
  static T lim(bool bounded, bool strict) {
    if (!bounded) return -std::numeric_limits<T>::infinity();
    return strict ? std::numeric_limits<T>::denorm_min() : T(0);
  }

  static constexpr bool checks = true;
  template <class T>
  FL_INLINE bool invalid(T s, T y, T) const {
    if constexpr (sizeof(T) == 4) {
      return y < y_lim_f || s < s_lim_f;
    } else {
      return y < y_lim_d || s < s_lim_d;
    }
  }

  // v where s is finite, lim (+ 0 * y: NaN for a NaN or infinite y) at
  // mu = s = +inf (identity link).
  template <class T>
  static FL_INLINE T at_inf(T s, T y, T lim, T v) {
    return s == std::numeric_limits<T>::infinity() ? lim + (y - y) : v;
  }

  // mu^(1-p) and mu^(2-p) (general kind only).
  template <class T>
  FL_INLINE void powers(T s, T& mu, T& m1, T& m2) const {
    if constexpr (Log) {
      mu = vm::exp(s);
      m1 = vm::exp(T(1.0 - p) * s);
      m2 = vm::exp(T(2.0 - p) * s);
    } else {
      mu = s;
      m1 = vm::exp(T(1.0 - p) * vm::log(s));
      m2 = mu * m1;
    }
  }

  template <class T>
  FL_INLINE T value(T s, T y, T) const {
    if constexpr (K == TweedieKind::normal) {
      const T r = y - vm::exp(s);
      return r * r;
    } else if constexpr (K == TweedieKind::poisson) {
      if constexpr (Log) {
        const T yl = y == T(0) ? T(0) : y * (vm::log(y) - s);
        return T(2) * (yl - y + vm::exp(s));
      } else {
        const T yl = y == T(0) ? T(0) : y * vm::log(y / s);
        return at_inf(s, y, s, T(2) * (yl - y + s));
      }
    } else if constexpr (K == TweedieKind::gamma) {
      if constexpr (Log) {
        return T(2) * (s - vm::log(y) + y * vm::exp(-s) - T(1));
      } else {
        return T(2) * (vm::log(s / y) + y / s - T(1));
      }
    } else {
      T mu, m1, m2;
      powers(s, mu, m1, m2);
      const T yp = vm::exp(T(2.0 - p) * vm::log(vm::vmax(y, T(0))));
      const T v = T(2) * (yp * T(k12) - y * m1 * T(k1) + m2 * T(k2));
      if constexpr (Log) {
        return v;
      } else {
        const T inf = std::numeric_limits<T>::infinity();
        return at_inf(s, y, p < 2.0 ? inf : T(2) * (yp * T(k12)), v);
      }
    }
  }

  template <class T>
  FL_INLINE T grad(T s, T y, T a) const {
    T g = T(0), h = T(0);
    grad_hess_impl<T, false>(s, y, a, g, h);
    return g;
  }
  template <class T>
  FL_INLINE void grad_hess(T s, T y, T a, T& g, T& h) const {
    grad_hess_impl<T, true>(s, y, a, g, h);
  }

  template <class T, bool kHess>
  FL_INLINE void grad_hess_impl(T s, T y, T, T& g, T& h) const {
    if constexpr (K == TweedieKind::normal) {
      const T mu = vm::exp(s);
      g = T(2) * (mu - y) * mu;
      if constexpr (kHess) h = T(2) * (T(2) * mu - y) * mu;
    } else if constexpr (K == TweedieKind::poisson) {
      if constexpr (Log) {
        const T mu = vm::exp(s);
        g = T(2) * (mu - y);
        if constexpr (kHess) h = T(2) * mu;
      } else {
        const T q = y / s;
        g = T(2) * (T(1) - q);
        if constexpr (kHess) h = T(2) * q / s;
      }
    } else if constexpr (K == TweedieKind::gamma) {
      if constexpr (Log) {
        const T q = y * vm::exp(-s);
        g = T(2) * (T(1) - q);
        if constexpr (kHess) h = T(2) * q;
      } else {
        const T inv = T(1) / s;
        g = at_inf(s, y, T(0), T(2) * (s - y) * inv * inv);
        if constexpr (kHess) h = at_inf(s, y, T(0), T(2) * (T(2) * y - s) * inv * inv * inv);
      }
    } else {
      T mu, m1, m2;
      powers(s, mu, m1, m2);
      if constexpr (Log) {
        g = T(2) * (m2 - y * m1);
        if constexpr (kHess) h = T(2) * (T(2.0 - p) * m2 - T(1.0 - p) * y * m1);
      } else {
        const T mp = m1 / mu;  // mu^-p
        const T inf = std::numeric_limits<T>::infinity();
        g = at_inf(s, y, p > 1.0 ? T(0) : inf, T(2) * mp * (mu - y));
        if constexpr (kHess) {
          h = at_inf(s, y, p > 0.0 ? T(0) : inf,
                     T(2) * (mp / mu) * (T(p) * y + T(1.0 - p) * mu));
        }
      }
    }
  }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
