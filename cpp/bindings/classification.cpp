#include "fastloss/api/classification.hpp"

#include "common.hpp"

void register_classification(pybind11::module_& m) {
  fastloss::bind::def_elementwise<fastloss::ClassificationLoss, &fastloss::classification>(
      m, "classification",
      "Element-wise binary classification kernels (binary_cross_entropy, "
      "binary_cross_entropy_with_logits, hinge, squared_hinge, sigmoid_focal).");
}
