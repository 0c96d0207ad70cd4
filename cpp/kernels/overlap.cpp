// Overlap kernels for one ISA level (compiled once per level).
#include "fastloss/api/overlap.hpp"

#include <stdexcept>

#include "fastloss/common/slices.hpp"
#include "fastloss/overlap.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

double overlap_kernel(OverlapLoss id, const SliceArgs& a) {
  // Per-slice scores take one slice per sample; only generalized Dice groups.
  if (id != OverlapLoss::generalized_dice && a.group != 1)
    throw std::invalid_argument("overlap: this loss scores one slice per sample (group 1)");
  switch (id) {
    case OverlapLoss::dice: return slices_any(Dice{a.params[0]}, a);
    case OverlapLoss::iou: return slices_any(Iou{a.params[0]}, a);
    case OverlapLoss::tversky:
      return slices_any(Tversky{a.params[0], a.params[1], a.params[2]}, a);
    case OverlapLoss::generalized_dice: return slices_any(GeneralizedDice{a.params[0]}, a);
  }
  throw std::invalid_argument("unknown overlap loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
