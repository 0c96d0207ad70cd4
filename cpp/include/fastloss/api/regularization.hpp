// fastloss/api/regularization.hpp -- entry point of the auxiliary and
// regularization losses (weight penalties, entropy, center loss,
// orthogonality, sparsity, mixture-of-experts balancing), on TensorArgs.
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class RegularizationLoss : int {
  l1_penalty = 0,
  l2_penalty = 1,
  elastic_net = 2,
  entropy = 3,
  center = 4,
  orthogonality = 5,
  kl_sparsity = 6,
  moe_load_balancing = 7,
  router_z_loss = 8,
};
}  // namespace fastloss

FL_ISA_DECLARE(double regularization_kernel(::fastloss::RegularizationLoss id,
                                            const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double regularization(RegularizationLoss id, const TensorArgs& args) {
  FL_ISA_CALL(regularization_kernel, id, args);
}
}  // namespace fastloss
