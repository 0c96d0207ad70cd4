// fastloss/api/sequence.hpp -- entry point of the sequence losses (CTC), on
// TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class SequenceLoss : int { ctc = 0 };
}  // namespace fastloss

FL_ISA_DECLARE(double sequence_kernel(::fastloss::SequenceLoss id,
                                      const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double sequence(SequenceLoss id, const TensorArgs& args) {
  FL_ISA_CALL(sequence_kernel, id, args);
}
}  // namespace fastloss
