// Clustering kernels for one ISA level (compiled once per level).
#include "fastloss/api/clustering.hpp"

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "fastloss/clustering.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using namespace clu;

// The run on panels of W vectors of centers (clustering.hpp).
template <class T, int W>
double run(const TensorArgs& a, int64_t n, int64_t d, int64_t k) {
  const T* C = tin<T>(a, 1);
  T* g = tgrad<T>(a, 1);
  const Centers<T, W> cs(C, k, d);
  // the gradient's per-block partials (see clustering.hpp)
  std::vector<double> part(g != nullptr ? static_cast<size_t>(num_blocks(n) * k * (d + 1)) : 0);
  const double v = per_sample(
      KmeansRows<T, W>{tin<T>(a, 0), C, cs.panels.data(), cs.norms.data(), cs.n_panels, d, k,
                       a.n_out_ints > 0 ? a.out_int[0] : nullptr,
                       g != nullptr ? part.data() : nullptr},
      sample_run<T>(a));
  if (g != nullptr) kmeans_center_grad<T>(C, part.data(), n, d, k, g);
  return v;
}

// (X, centers): n x d, k x d reals; integer output 0 (optional): the n
// labels; dims (n, d, k); one sample per row.
double kmeans_inertia(const TensorArgs& a) {
  if (a.n_dims != 3) tensor_fail("kmeans_inertia: expected dims (n, d, k)");
  const int64_t n = a.dims[0], d = a.dims[1], k = a.dims[2];
  if (k < 1 && n > 0) tensor_fail("centers: at least one center is needed");
  const TensorInput expect[] = {{"X", n * d}, {"centers", k * d}};
  const TensorIntOutput outs[] = {{"labels", n}};
  check_tensor_layout(a, expect, 3, n, outs);
  if (a.out_grad[0] != nullptr) tensor_fail("kmeans_inertia: X is not differentiable");
  if (k > std::numeric_limits<int32_t>::max())
    tensor_fail("centers: at most 2^31 - 1 centers");  // float32's lane indices are int32
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    return k <= Vec<T>::lanes ? run<T, 1>(a, n, d, k) : run<T, 2>(a, n, d, k);
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
