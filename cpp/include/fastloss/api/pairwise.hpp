// fastloss/api/pairwise.hpp -- entry point of the pairwise losses: losses over
// the similarity matrix of two sets of embeddings (NT-Xent, CLIP), computed
// by the tile driver (common/tiles.hpp) without ever holding that matrix, on
// TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class PairwiseLoss : int { ntxent = 0, clip = 1 };
}  // namespace fastloss

FL_ISA_DECLARE(double pairwise_kernel(::fastloss::PairwiseLoss id,
                                      const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double pairwise(PairwiseLoss id, const TensorArgs& args) {
  FL_ISA_CALL(pairwise_kernel, id, args);
}
}  // namespace fastloss
