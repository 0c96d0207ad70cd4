// Embedding kernels for one ISA level (compiled once per level).
#include "fastloss/api/embedding.hpp"

#include "fastloss/api/catalogue.hpp"

#include <cstdint>
#include <limits>
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
    const MarginRanking<T> s{tin<T>(a, 0), tin<T>(a, 1),  tin<T>(a, 2),
                             tgrad<T>(a, 0), tgrad<T>(a, 1), tgrad<T>(a, 2),
                             static_cast<T>(a.params[0])};
    return per_sample(s, sample_run<T>(a));
  });
}

// N rows of D, as dims (N, D) (check_tensor_layout then checks that there
// are two dims; unset ones read 0); refuses a size that overflows.
int64_t rows_size(const TensorArgs& a) {
  const int64_t n = a.dims[0], d = a.dims[1];
  if (n < 0 || d < 0) tensor_fail("dims must be >= 0");
  if (d > 0 && n > INT64_MAX / d) tensor_fail("dims: N * D overflows");
  return n * d;
}

template <Dist kD, class T>
double run_triplet(const TensorArgs& a, T margin, double p, T eps, bool swap) {
  const Triplet<T, kD> s{tin<T>(a, 0),   tin<T>(a, 1),   tin<T>(a, 2), tgrad<T>(a, 0),
                         tgrad<T>(a, 1), tgrad<T>(a, 2), a.dims[1],    margin,
                         p,              eps,            swap};
  return per_sample(s, sample_run<T>(a));
}

// inputs (anchor, positive, negative), N x D each; dims (N, D);
// params (margin, p, eps, swap)
double triplet_margin(const TensorArgs& a) {
  const int64_t nd = rows_size(a);
  const TensorInput expect[] = {{"anchor", nd}, {"positive", nd}, {"negative", nd}};
  check_tensor_layout(a, expect, 2, a.dims[0]);
  const double p = a.params[1];
  // p's domain is the catalogue's (kTripletMarginParams), which the Python
  // layer checks first; a direct call of the entry point (_core.run, the XLA
  // handler) is held to the same entry, read from there
  constexpr const catalogue::ParamSpec& p_spec = catalogue::find_param("triplet_margin", "p");
  if (!catalogue::admits(p_spec, p))
    tensor_fail("p: outside its domain in the catalogue (kTripletMarginParams)");
  const bool swap = a.params[3] != 0.0;
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const T m = static_cast<T>(a.params[0]), e = static_cast<T>(a.params[2]);
    if (p == 2.0) return run_triplet<Dist::p2>(a, m, p, e, swap);
    if (p == 1.0) return run_triplet<Dist::p1>(a, m, p, e, swap);
    if (p == std::numeric_limits<double>::infinity())
      return run_triplet<Dist::pinf>(a, m, p, e, swap);
    return run_triplet<Dist::pgen>(a, m, p, e, swap);
  });
}

// as triplet_margin; params (margin, distance: 0 euclidean, 1 cosine, swap)
double triplet_margin_with_distance(const TensorArgs& a) {
  const int64_t nd = rows_size(a);
  const TensorInput expect[] = {{"anchor", nd}, {"positive", nd}, {"negative", nd}};
  check_tensor_layout(a, expect, 2, a.dims[0]);
  const int dist = static_cast<int>(a.params[1]);
  if (dist != 0 && dist != 1) tensor_fail("distance: unknown code");
  const bool swap = a.params[2] != 0.0;
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const T m = static_cast<T>(a.params[0]);
    // torch's pairwise_distance (p = 2, eps = 1e-6) and cosine_similarity's
    // eps = 1e-8, their defaults
    if (dist == 0) return run_triplet<Dist::p2>(a, m, 2.0, static_cast<T>(1e-6), swap);
    return run_triplet<Dist::cosine>(a, m, 2.0, static_cast<T>(1e-8), swap);
  });
}

// cosine_embedding and contrastive: inputs (x1, x2 N x D; a label per row,
// named `label`: y or same); dims (N, D); params (margin)
template <template <class> class Loss>
double row_pairs(const TensorArgs& a, const char* label) {
  const int64_t nd = rows_size(a), n = a.dims[0];
  const TensorInput expect[] = {{"x1", nd}, {"x2", nd}, {label, n}};
  check_tensor_layout(a, expect, 2, n);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const Loss<T> s{{tin<T>(a, 0), tin<T>(a, 1), tin<T>(a, 2), tgrad<T>(a, 0), tgrad<T>(a, 1),
                     a.dims[1], static_cast<T>(a.params[0])}};
    return per_sample(s, sample_run<T>(a));
  });
}

}  // namespace

double embedding_kernel(EmbeddingLoss id, const TensorArgs& a) {
  if (a.n_dims < 1) throw std::invalid_argument("embedding: dims missing");
  switch (id) {
    case EmbeddingLoss::margin_ranking: return margin_ranking(a);
    case EmbeddingLoss::triplet_margin: return triplet_margin(a);
    case EmbeddingLoss::triplet_margin_with_distance: return triplet_margin_with_distance(a);
    case EmbeddingLoss::cosine_embedding: return row_pairs<CosineEmbedding>(a, "y");
    case EmbeddingLoss::contrastive: return row_pairs<Contrastive>(a, "same");
  }
  throw std::invalid_argument("unknown embedding loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
