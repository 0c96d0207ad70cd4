// fastloss/api/robust.hpp -- entry point of the robust regression losses
// (Barron's general and adaptive loss), on TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class RobustLoss : int { barron = 0 };
}  // namespace fastloss

FL_ISA_DECLARE(double robust_kernel(::fastloss::RobustLoss id,
                                    const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double robust(RobustLoss id, const TensorArgs& args) {
  FL_ISA_CALL(robust_kernel, id, args);
}
}  // namespace fastloss
