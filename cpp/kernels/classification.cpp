// Binary classification kernels for one ISA level (compiled once per level).
#include "fastloss/api/classification.hpp"

#include <stdexcept>

#include "fastloss/classification.hpp"
#include "fastloss/common/elementwise.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

double classification_kernel(ClassificationLoss id, const ElemArgs& a) {
  using L = ClassificationLoss;
  switch (id) {
    case L::binary_cross_entropy: return elementwise_any(BinaryCrossEntropy{}, a);
    case L::binary_cross_entropy_with_logits:
      if (a.aux != nullptr) return elementwise_any(BceWithLogits<true>{}, a);
      return elementwise_any(BceWithLogits<false>{a.params[0]}, a);
    case L::hinge: return elementwise_any(Hinge{a.params[0]}, a);
    case L::squared_hinge: return elementwise_any(SquaredHinge{a.params[0]}, a);
    case L::sigmoid_focal: {
      const double alpha = a.params[0], gamma = a.params[1];
      if (gamma == 0.0) return elementwise_any(SigmoidFocal<FocalGamma::zero>{alpha, gamma}, a);
      if (gamma == 1.0) return elementwise_any(SigmoidFocal<FocalGamma::one>{alpha, gamma}, a);
      if (gamma == 2.0) return elementwise_any(SigmoidFocal<FocalGamma::two>{alpha, gamma}, a);
      return elementwise_any(SigmoidFocal<FocalGamma::general>{alpha, gamma}, a);
    }
  }
  throw std::invalid_argument("unknown classification loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
