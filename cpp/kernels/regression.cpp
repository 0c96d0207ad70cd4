// Regression kernels for one ISA level (compiled once per level).
#include "fastloss/api/regression.hpp"

#include "fastloss/api/catalogue.hpp"

#include <stdexcept>

#include "fastloss/common/elementwise.hpp"
#include "fastloss/regression.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// The catalogue tells the Python layer which losses have a Hessian; the
// functors decide it. These keep the two from drifting.
#define FL_AGREES(name, ...)                                                  \
  static_assert(catalogue::find(name).has_hess == __VA_ARGS__::has_hess, name ": catalogue has_hess")
FL_AGREES("mse", Mse);
FL_AGREES("mae", Mae);
FL_AGREES("huber", Huber);
FL_AGREES("smooth_l1", SmoothL1);
FL_AGREES("log_cosh", LogCosh);
FL_AGREES("quantile", Quantile);
FL_AGREES("mape", Mape);
FL_AGREES("msle", Msle);
FL_AGREES("poisson_nll", PoissonNll<true, false>);
FL_AGREES("gaussian_nll", GaussianNll);
FL_AGREES("tweedie", Tweedie<TweedieKind::general, false>);
FL_AGREES("pseudo_huber", PseudoHuber);
#undef FL_AGREES

namespace {

template <bool Log>
double tweedie_run(double power, const ElemArgs& a) {
  if (power == 0.0) {
    // the identity link: the deviance (y - mu)^2 is mse's (p - y)^2 with the
    // same operations (negation is exact), gradient and Hessian too
    if constexpr (Log) {
      return elementwise_any(Tweedie<TweedieKind::normal, Log>{power}, a);
    } else {
      return elementwise_any(Mse{}, a);
    }
  }
  if (power == 1.0) return elementwise_any(Tweedie<TweedieKind::poisson, Log>{power}, a);
  if (power == 2.0) return elementwise_any(Tweedie<TweedieKind::gamma, Log>{power}, a);
  if (power > 0.0 && power < 1.0)
    throw std::invalid_argument("tweedie: power in (0, 1) is not a Tweedie distribution");
  return elementwise_any(Tweedie<TweedieKind::general, Log>{power}, a);
}

// poisson_nll's kernel (Target: its target's gradient, run with pred and
// target swapped by TargetGrad) for the catalogue's (log_input, full, eps).
template <bool Target>
double poisson_run(const ElemArgs& a) {
  const auto run = [&a](auto f) {
    if constexpr (Target) {
      return elementwise_any(TargetGrad<decltype(f)>{f}, a);
    } else {
      return elementwise_any(f, a);
    }
  };
  const bool log_input = a.params[0] != 0.0, full = a.params[1] != 0.0;
  const double eps = a.params[2];
  if (log_input) {
    return full ? run(PoissonNll<true, true>{eps}) : run(PoissonNll<true, false>{eps});
  }
  return full ? run(PoissonNll<false, true>{eps}) : run(PoissonNll<false, false>{eps});
}

}  // namespace

// a.params[i] is the catalogue's i-th parameter of the loss (api/catalogue.hpp;
// the Python layer packs them in that order, _catalogue.scalar_pack).
double regression_kernel(RegressionLoss id, const ElemArgs& a) {
  switch (id) {
    case RegressionLoss::mse: return elementwise_any(Mse{}, a);
    case RegressionLoss::mae: return elementwise_any(Mae{}, a);
    case RegressionLoss::huber: return elementwise_any(Huber{a.params[0]}, a);
    case RegressionLoss::smooth_l1: return elementwise_any(SmoothL1{a.params[0]}, a);
    case RegressionLoss::log_cosh: return elementwise_any(LogCosh{}, a);
    case RegressionLoss::quantile: return elementwise_any(Quantile{a.params[0]}, a);
    case RegressionLoss::quantile_target:
      return elementwise_any(TargetGrad<Quantile>(Quantile{a.params[0]}), a);
    case RegressionLoss::mape: return elementwise_any(Mape{}, a);
    case RegressionLoss::msle: return elementwise_any(Msle{}, a);
    case RegressionLoss::poisson_nll:
      return poisson_run<false>(a);
    case RegressionLoss::gaussian_nll:
      if (a.aux == nullptr) throw std::invalid_argument("gaussian_nll: var is required");
      return elementwise_any(GaussianNll{a.params[1], a.params[0] != 0.0}, a);
    case RegressionLoss::pseudo_huber: return elementwise_any(PseudoHuber{a.params[0]}, a);
    case RegressionLoss::gaussian_nll_var:
      if (a.aux == nullptr) throw std::invalid_argument("gaussian_nll: pred is required");
      return elementwise_any(GaussianNllVar{a.params[1], a.params[0] != 0.0}, a);
    case RegressionLoss::abs_power: return elementwise_any(AbsPower{a.params[0]}, a);
    case RegressionLoss::poisson_nll_target:
      return poisson_run<true>(a);
    case RegressionLoss::tweedie:
      return a.params[1] != 0.0 ? tweedie_run<true>(a.params[0], a)
                                : tweedie_run<false>(a.params[0], a);
  }
  throw std::invalid_argument("unknown regression loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
