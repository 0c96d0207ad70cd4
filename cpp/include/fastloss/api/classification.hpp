// fastloss/api/classification.hpp -- entry point of the binary classification kernels.
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/types.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the Python layer names them.
// binary_cross_entropy_with_logits reads pos_weight from params[0], or from
// the per-element aux array when one is given.
enum class ClassificationLoss : int {
  binary_cross_entropy = 0,
  binary_cross_entropy_with_logits = 1,
  hinge = 2,
  squared_hinge = 3,
  sigmoid_focal = 4,
  soft_margin = 5,
  hinge_embedding = 6,
  // the target's gradients (given on request): run with pred = target and
  // target = pred (TargetGrad, common/point.hpp)
  binary_cross_entropy_target = 7,
  binary_cross_entropy_with_logits_target = 8,
};
}  // namespace fastloss

FL_ISA_DECLARE(double classification_kernel(::fastloss::ClassificationLoss id,
                                            const ::fastloss::ElemArgs& args))

namespace fastloss {
inline double classification(ClassificationLoss id, const ElemArgs& args) {
  FL_ISA_CALL(classification_kernel, id, args);
}
}  // namespace fastloss
