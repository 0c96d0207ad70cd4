// Clustering kernels for one ISA level (compiled once per level).
#include "fastloss/api/clustering.hpp"

#include <stdexcept>
#include <vector>

#include "fastloss/clustering.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using namespace clu;

// (X, centers[, labels]): n x d, k x d reals, then optionally an int64 array
// of n the kernel WRITES the labels into (the record has no integer output:
// the caller passes a fresh buffer it owns, never a user's input); dims
// (n, d, k); one sample per row.
double kmeans_inertia(const TensorArgs& a) {
  if (a.n_dims != 3) tensor_fail("kmeans_inertia: expected dims (n, d, k)");
  const int64_t n = a.dims[0], d = a.dims[1], k = a.dims[2];
  if (k < 1 && n > 0) tensor_fail("centers: at least one center is needed");
  const TensorInput expect[] = {{"X", n * d}, {"centers", k * d}, {"labels", n, true, false}};
  check_tensor_layout(a, expect, 3, n);
  if (a.out_grad[0] != nullptr) tensor_fail("kmeans_inertia: X is not differentiable");
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const T* X = tin<T>(a, 0);
    const T* C = tin<T>(a, 1);
    T* g = tgrad<T>(a, 1);
    int64_t* labels = const_cast<int64_t*>(tin<int64_t>(a, 2));
    const std::vector<T> tiles = center_tiles(C, k, d);
    std::vector<int64_t> own_labels;
    std::vector<T> gscale;
    if (g != nullptr) {
      if (labels == nullptr) {
        own_labels.resize(static_cast<size_t>(n));
        labels = own_labels.data();
      }
      gscale.resize(static_cast<size_t>(n));
    }
    const double v = per_sample(
        KmeansRows<T>{X, tiles.data(), d, k, labels, g != nullptr ? gscale.data() : nullptr},
        sample_run<T>(a));
    if (g != nullptr) kmeans_center_grad<T>(X, C, labels, gscale.data(), n, d, k, g, a.n_threads);
    return v;
  });
}

}  // namespace

double clustering_kernel(ClusteringLoss id, const TensorArgs& a) {
  switch (id) {
    case ClusteringLoss::kmeans_inertia: return kmeans_inertia(a);
  }
  throw std::invalid_argument("unknown clustering loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
