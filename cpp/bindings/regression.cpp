#include "fastloss/api/regression.hpp"

#include "common.hpp"

void register_regression(pybind11::module_& m) {
  fastloss::bind::def_elementwise<fastloss::RegressionLoss, &fastloss::regression>(
      m, "regression", "Element-wise regression kernels (see fastloss.regression).");
}
