// Generative-model kernels for one ISA level (compiled once per level).
#include "fastloss/api/generative.hpp"

#include <stdexcept>

#include "fastloss/generative.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using namespace gen;

// Part k of a GAN loss (the real or the fake outputs) through the
// element-wise engine: its n samples from `off` of the record's weights and
// reduction="none" values, and its reduced value. A part whose gradient is
// not asked runs the value alone, or not at all for a gradient-only call.
template <class T, class R>
double rule_part(const TensorArgs& a, int k, int64_t off, int64_t n) {
  ElemArgs e;
  e.dtype = a.dtype;
  e.op = a.op;
  e.reduction = a.reduction;
  e.n = n;
  e.pred = a.in[k];
  e.target = a.in[k];  // never read (RuleElem)
  e.out_grad = a.out_grad[k];
  if (e.out_grad == nullptr) {
    if (!needs_value(a.op)) return 0.0;
    e.op = Op::value;
  }
  if constexpr (R::sign != 0) {
    // A linear rule's unweighted sum or mean is sign times the inputs' sum:
    // blocked_sum widens each input as it reads it, straight into the
    // lanes of the same tree (no term buffer): the bits of the sum of the
    // terms sign * x_i -- negation is exact and rounding symmetric; a zero
    // sum stays +0, as the terms' sum is; only the sign of a NaN made by
    // inf - inf may differ -- where the element-wise pass, a term buffer
    // between the rule and the lanes, took about twice torch's float32 mean
    // on 1e6 float32 scores.
    if (e.op == Op::value && a.weight == nullptr && a.reduction != Reduction::none) {
      const double s = blocked_sum(static_cast<const T*>(e.pred), n, a.n_threads);
      const double v = R::sign < 0 && s != 0.0 ? -s : s;
      return a.reduction == Reduction::mean ? v / static_cast<double>(n) : v;
    }
  }
  if (a.weight != nullptr) e.weight = static_cast<const T*>(a.weight) + off;
  if (a.out_value != nullptr) e.out_value = static_cast<T*>(a.out_value) + off;
  e.n_threads = a.n_threads;
  return elementwise<T>(RuleElem<R>{}, e);
}

// (real, fake): dims (N, M), N + M samples, real first
template <class Real, class Fake>
double two_parts(const TensorArgs& a) {
  const int64_t N = a.dims[0], M = a.n_dims > 1 ? a.dims[1] : -1;
  const TensorInput expect[] = {{"real", N}, {"fake", M}};
  check_tensor_layout(a, expect, 2, N + M);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const double vr = rule_part<T, Real>(a, 0, 0, N);
    return vr + rule_part<T, Fake>(a, 1, N, M);
  });
}

// (fake,): dims (M)
template <class R>
double one_part(const TensorArgs& a) {
  const int64_t M = a.dims[0];
  const TensorInput expect[] = {{"fake", M}};
  check_tensor_layout(a, expect, 1, M);
  return with_dtype(a, [&](auto zero) { return rule_part<decltype(zero), R>(a, 0, 0, M); });
}

// (grads,): dims (N, K); params (target_norm)
double gradient_penalty(const TensorArgs& a) {
  const int64_t N = a.dims[0], K = a.n_dims > 1 ? a.dims[1] : -1;
  if (K >= 0 && N > 0 && K > INT64_MAX / N) tensor_fail("grads: size overflows");
  const TensorInput expect[] = {{"grads", N * K}};
  check_tensor_layout(a, expect, 2, N);
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    return per_sample(GradientPenalty<T>{tin<T>(a, 0), tgrad<T>(a, 0), K, a.params[0]},
                      sample_run<T>(a));
  });
}

// (recon, x, mu, logvar): dims (N, P, Z); params (mse ? 1 : 0, beta)
double elbo(const TensorArgs& a) {
  const int64_t N = a.dims[0], P = a.n_dims > 1 ? a.dims[1] : -1,
                Z = a.n_dims > 2 ? a.dims[2] : -1;
  if (N > 0 && ((P > 0 && P > INT64_MAX / N) || (Z > 0 && Z > INT64_MAX / N)))
    tensor_fail("elbo: size overflows");
  const TensorInput expect[] = {{"recon", N * P}, {"x", N * P}, {"mu", N * Z}, {"logvar", N * Z}};
  check_tensor_layout(a, expect, 3, N);
  if (a.out_grad[1] != nullptr) tensor_fail("x: not differentiable here");
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const Elbo<T> s{tin<T>(a, 0),   tin<T>(a, 1),   tin<T>(a, 2),   tin<T>(a, 3),
                    tgrad<T>(a, 0), tgrad<T>(a, 2), tgrad<T>(a, 3), P,
                    Z,              a.params[0] != 0.0, a.params[1]};
    return per_sample(s, sample_run<T>(a));
  });
}

}  // namespace

double generative_kernel(GenerativeLoss id, const TensorArgs& a) {
  if (a.n_dims < 1) throw std::invalid_argument("generative: dims missing");
  using G = GenerativeLoss;
  switch (id) {
    case G::gan_discriminator: return two_parts<LogisticReal, LogisticFake>(a);
    case G::gan_generator:
      return a.params[0] != 0.0 ? one_part<LogisticReal>(a) : one_part<LogisticSaturating>(a);
    case G::hinge_gan_discriminator: return two_parts<HingeReal, HingeFake>(a);
    case G::hinge_gan_generator: return one_part<Negate>(a);
    case G::wasserstein_critic: return two_parts<Negate, Identity>(a);
    case G::wasserstein_generator: return one_part<Negate>(a);
    case G::gradient_penalty: return gradient_penalty(a);
    case G::elbo: return elbo(a);
  }
  throw std::invalid_argument("unknown generative loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
