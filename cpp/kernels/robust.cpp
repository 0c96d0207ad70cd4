// Robust regression kernels for one ISA level (compiled once per level).
#include "fastloss/api/robust.hpp"

#include <stdexcept>

#include "fastloss/robust.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using namespace rob;

// (pred, target, alpha, scale): n, n, 1 or n, 1 or n; dims (n, n_alpha,
// n_scale). A gradient w.r.t. alpha or scale is per element: asked only of
// an alpha or scale of n values (the caller broadcasts and sums back).
double barron(const TensorArgs& a) {
  const int64_t n = a.dims[0], na = a.dims[1], nc = a.dims[2];
  if ((na != 1 && na != n) || (nc != 1 && nc != n))
    tensor_fail("barron: alpha and scale have 1 or pred's number of values");
  const TensorInput expect[] = {{"pred", n}, {"target", n}, {"alpha", na}, {"scale", nc}};
  check_tensor_layout(a, expect, 3, n);
  if (a.out_grad[1] != nullptr) tensor_fail("barron: target is not differentiable");
  if ((a.out_grad[2] != nullptr && na != n) || (a.out_grad[3] != nullptr && nc != n))
    tensor_fail("barron: a gradient w.r.t. alpha or scale needs one value per element");
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const T *p = tin<T>(a, 0), *t = tin<T>(a, 1), *al = tin<T>(a, 2), *sc = tin<T>(a, 3);
    T *gp = tgrad<T>(a, 0), *ga = tgrad<T>(a, 2), *gc = tgrad<T>(a, 3);
    const auto run = sample_run<T>(a);
    const bool va = na == n && n != 1, vc = nc == n && n != 1;
    if (va && vc) return per_sample(Barron<T, true, true>{p, t, al, sc, gp, ga, gc}, run);
    if (va) return per_sample(Barron<T, true, false>{p, t, al, sc, gp, ga, gc}, run);
    if (vc) return per_sample(Barron<T, false, true>{p, t, al, sc, gp, ga, gc}, run);
    return per_sample(Barron<T, false, false>{p, t, al, sc, gp, ga, gc}, run);
  });
}

}  // namespace

double robust_kernel(RobustLoss id, const TensorArgs& a) {
  if (a.n_dims < 1) throw std::invalid_argument("robust: dims missing");
  switch (id) {
    case RobustLoss::barron: return barron(a);
  }
  throw std::invalid_argument("unknown robust loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
