// Binary classification kernels for one ISA level (compiled once per level).
#include "fastloss/api/classification.hpp"

#include "fastloss/api/catalogue.hpp"

#include <stdexcept>

#include "fastloss/classification.hpp"
#include "fastloss/common/elementwise.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// The catalogue tells the Python layer which losses have a Hessian; the
// functors decide it. These keep the two from drifting.
#define FL_AGREES(name, ...)                                                  \
  static_assert(catalogue::find(name).has_hess == __VA_ARGS__::has_hess, name ": catalogue has_hess")
FL_AGREES("binary_cross_entropy", BinaryCrossEntropy);
FL_AGREES("binary_cross_entropy_with_logits", BceWithLogits<false>);
FL_AGREES("hinge", Hinge);
FL_AGREES("squared_hinge", SquaredHinge);
FL_AGREES("sigmoid_focal", SigmoidFocal<FocalGamma::general>);
FL_AGREES("soft_margin", SoftMargin);
FL_AGREES("hinge_embedding", HingeEmbedding);
#undef FL_AGREES

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
    case L::soft_margin: return elementwise_any(SoftMargin{}, a);
    case L::hinge_embedding: return elementwise_any(HingeEmbedding{a.params[0]}, a);
    case L::binary_cross_entropy_target:
      return elementwise_any(TargetGrad<BinaryCrossEntropy>{BinaryCrossEntropy{}}, a);
    case L::binary_cross_entropy_with_logits_target: {
      using Aux = BceWithLogits<true>;
      using Const = BceWithLogits<false>;
      if (a.aux != nullptr) return elementwise_any(TargetGrad<Aux>{Aux{}}, a);
      return elementwise_any(TargetGrad<Const>{Const{a.params[0]}}, a);
    }
  }
  throw std::invalid_argument("unknown classification loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
