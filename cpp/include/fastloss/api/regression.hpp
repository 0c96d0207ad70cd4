// fastloss/api/regression.hpp -- entry point of the regression kernels.
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/types.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the Python layer names them.
// rmse has no id: the Python layer runs mse and applies the square root.
enum class RegressionLoss : int {
  mse = 0,
  mae = 1,
  huber = 2,
  smooth_l1 = 3,
  log_cosh = 4,
  quantile = 5,      // params: quantile
  mape = 6,
  msle = 7,
  poisson_nll = 8,   // params: log_input (0/1), full (0/1), eps
  gaussian_nll = 9,  // params: eps, full (0/1); aux: var
  tweedie = 10,      // params: power, link (0 identity, 1 log)
  pseudo_huber = 11,  // params: delta
  gaussian_nll_var = 12,  // gaussian_nll's var gradient: pred = var, aux = pred
  abs_power = 13,  // params: p (perceptual's |r|^p for p other than 1 and 2)
  poisson_nll_target = 14,  // poisson_nll's target gradient: pred = target, target = pred
  quantile_target = 15,  // quantile's target gradient: pred = target, target = pred
};
}  // namespace fastloss

FL_ISA_DECLARE(double regression_kernel(::fastloss::RegressionLoss id,
                                        const ::fastloss::ElemArgs& args))

namespace fastloss {
inline double regression(RegressionLoss id, const ElemArgs& args) {
  FL_ISA_CALL(regression_kernel, id, args);
}
}  // namespace fastloss
