// Embedding kernels for one ISA level (compiled once per level).
#include "fastloss/api/embedding.hpp"

#include <stdexcept>

#include "fastloss/embedding.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

// inputs (x1, x2, y), n elements each; dims (n); params (margin)
double margin_ranking(const TensorArgs& a) {
  const int64_t n = a.dims[0];
  const TensorInput expect[] = {{"x1", n}, {"x2", n}, {"y", n}};
  check_tensor_layout(a, expect, 1, n);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const MarginRanking<T> s{tin<T>(a, 0), tin<T>(a, 1), tin<T>(a, 2), tgrad<T>(a, 0),
                             tgrad<T>(a, 1), static_cast<T>(a.params[0])};
    return per_sample(s, sample_run<T>(a));
  });
}

}  // namespace

double embedding_kernel(EmbeddingLoss id, const TensorArgs& a) {
  if (a.n_dims < 1) throw std::invalid_argument("embedding: dims missing");
  switch (id) {
    case EmbeddingLoss::margin_ranking: return margin_ranking(a);
  }
  throw std::invalid_argument("unknown embedding loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
