// Pairwise kernels for one ISA level (compiled once per level).
#include "fastloss/api/pairwise.hpp"

#include <stdexcept>

#include "fastloss/pairwise.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

// inputs (z1, z2), N x D each; dims (N, D); params (temperature); 2N samples
double ntxent(const TensorArgs& a) {
  const int64_t n = a.dims[0], d = a.dims[1];
  const TensorInput expect[] = {{"z1", n * d}, {"z2", n * d}};
  check_tensor_layout(a, expect, 2, 2 * n);
  if (!(a.n_params >= 1 && a.params[0] > 0.0))
    throw std::invalid_argument("ntxent: temperature must be > 0");
  return with_dtype(a, [&](auto zero) { return ntxent_run<decltype(zero)>(a); });
}

// inputs (image_emb, text_emb, logit_scale), N x D, N x D, 1; dims (N, D);
// N samples (one per pair)
double clip(const TensorArgs& a) {
  const int64_t n = a.dims[0], d = a.dims[1];
  const TensorInput expect[] = {{"image_emb", n * d}, {"text_emb", n * d}, {"logit_scale", 1}};
  check_tensor_layout(a, expect, 2, n);
  return with_dtype(a, [&](auto zero) { return clip_run<decltype(zero)>(a); });
}

}  // namespace

double pairwise_kernel(PairwiseLoss id, const TensorArgs& a) {
  if (a.n_dims < 2) throw std::invalid_argument("pairwise: dims missing");
  switch (id) {
    case PairwiseLoss::ntxent: return ntxent(a);
    case PairwiseLoss::clip: return clip(a);
  }
  throw std::invalid_argument("unknown pairwise loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
