// fastloss/api/ranking.hpp -- entry point of the ranking losses: scores and
// relevance labels of lists of items, (n_lists, list_size), with an optional
// mask of the valid items, on TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class RankingLoss : int {
  pairwise_logistic = 0,
  pairwise_hinge = 1,
  listnet = 2,
  approx_ndcg = 3,
  lambda_rank = 4
};
}  // namespace fastloss

FL_ISA_DECLARE(double ranking_kernel(::fastloss::RankingLoss id,
                                     const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double ranking(RankingLoss id, const TensorArgs& args) {
  FL_ISA_CALL(ranking_kernel, id, args);
}
}  // namespace fastloss
