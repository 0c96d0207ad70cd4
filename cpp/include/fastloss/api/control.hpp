// fastloss/api/control.hpp -- entry point of the RL and physics losses (TD
// error, physics-informed residuals), on TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class ControlLoss : int { td_error = 0, pinn = 1 };
}  // namespace fastloss

FL_ISA_DECLARE(double control_kernel(::fastloss::ControlLoss id,
                                     const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double control(ControlLoss id, const TensorArgs& args) {
  FL_ISA_CALL(control_kernel, id, args);
}
}  // namespace fastloss
