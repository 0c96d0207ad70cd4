// RL and physics kernels for one ISA level (compiled once per level).
#include "fastloss/api/control.hpp"

#include <stdexcept>

#include "fastloss/control.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using namespace ctl;

// (q, rewards, next_q, dones): n each; dims (n); params (gamma, huber ? 1 : 0)
double td_error(const TensorArgs& a) {
  const int64_t n = a.dims[0];
  const TensorInput expect[] = {{"q", n}, {"rewards", n}, {"next_q", n}, {"dones", n}};
  check_tensor_layout(a, expect, 1, n);
  for (int k = 1; k < 4; ++k)
    if (a.out_grad[k] != nullptr) tensor_fail("td_error: only q is differentiable");
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    const T gamma = static_cast<T>(a.params[0]);
    const T *q = tin<T>(a, 0), *r = tin<T>(a, 1), *nq = tin<T>(a, 2), *d = tin<T>(a, 3);
    T* g = tgrad<T>(a, 0);
    if (a.params[1] != 0.0)
      return per_sample(TdError<T, Huber>{q, r, nq, d, g, gamma, Huber{1.0}}, sample_run<T>(a));
    return per_sample(TdError<T, Mse>{q, r, nq, d, g, gamma, Mse{}}, sample_run<T>(a));
  });
}

// (residual, boundary, data), the last two optional: dims (n_r, n_b, n_d),
// n_r + n_b + n_d samples in that order; params (w_r, w_b, w_d)
double pinn(const TensorArgs& a) {
  const int64_t nr = a.dims[0], nb = a.n_dims > 1 ? a.dims[1] : -1,
                nd = a.n_dims > 2 ? a.dims[2] : -1;
  const TensorInput expect[] = {
      {"residual", nr}, {"boundary", nb, false, false}, {"data", nd, false, false}};
  check_tensor_layout(a, expect, 3, nr + nb + nd);
  for (int k = 1; k < 3; ++k)
    if (a.in[k] == nullptr && a.dims[k] != 0) tensor_fail("pinn: an absent part has size 0");
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    double v = point_part<T>(a, 0, 0, nr, Square<T>{static_cast<T>(a.params[0])});
    if (a.in[1] != nullptr)
      v += point_part<T>(a, 1, nr, nb, Square<T>{static_cast<T>(a.params[1])});
    if (a.in[2] != nullptr)
      v += point_part<T>(a, 2, nr + nb, nd, Square<T>{static_cast<T>(a.params[2])});
    return v;
  });
}

}  // namespace

double control_kernel(ControlLoss id, const TensorArgs& a) {
  if (a.n_dims < 1) throw std::invalid_argument("control: dims missing");
  switch (id) {
    case ControlLoss::td_error: return td_error(a);
    case ControlLoss::pinn: return pinn(a);
  }
  throw std::invalid_argument("unknown control loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
