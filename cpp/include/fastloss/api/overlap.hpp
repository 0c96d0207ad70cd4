// fastloss/api/overlap.hpp -- entry point of the overlap (segmentation) kernels.
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/slices.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the Python layer names them.
enum class OverlapLoss : int { dice = 0, iou = 1, tversky = 2, generalized_dice = 3 };
}  // namespace fastloss

FL_ISA_DECLARE(double overlap_kernel(::fastloss::OverlapLoss id,
                                     const ::fastloss::SliceArgs& args))

namespace fastloss {
inline double overlap(OverlapLoss id, const SliceArgs& args) {
  FL_ISA_CALL(overlap_kernel, id, args);
}
}  // namespace fastloss
