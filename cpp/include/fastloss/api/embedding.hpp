// fastloss/api/embedding.hpp -- entry point of the embedding losses: losses of
// two or three arrays compared sample by sample (margin ranking, triplet,
// cosine embedding, contrastive), on TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class EmbeddingLoss : int {
  margin_ranking = 0,
  triplet_margin = 1,
  triplet_margin_with_distance = 2,
  cosine_embedding = 3,
  contrastive = 4,
};
}  // namespace fastloss

FL_ISA_DECLARE(double embedding_kernel(::fastloss::EmbeddingLoss id,
                                       const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double embedding(EmbeddingLoss id, const TensorArgs& args) {
  FL_ISA_CALL(embedding_kernel, id, args);
}
}  // namespace fastloss
