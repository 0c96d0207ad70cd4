// fastloss/api/clustering.hpp -- entry point of the clustering losses
// (k-means inertia), on TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class ClusteringLoss : int { kmeans_inertia = 0 };
}  // namespace fastloss

FL_ISA_DECLARE(double clustering_kernel(::fastloss::ClusteringLoss id,
                                        const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double clustering(ClusteringLoss id, const TensorArgs& args) {
  FL_ISA_CALL(clustering_kernel, id, args);
}
}  // namespace fastloss
