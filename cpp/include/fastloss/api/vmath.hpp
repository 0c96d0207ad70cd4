// fastloss/api/vmath.hpp -- entry point exposing fastloss's own vectorized
// math (fastloss/common/vmath.hpp) element by element, for tests and
// benchmarks: the loop runs at the dispatched ISA level.
#pragma once

#include <cstdint>

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/types.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels.
enum class VmathFn : int {
  exp = 0,
  log = 1,
  log1p = 2,
  softplus = 3,
  sigmoid = 4,
  log1p_diff = 5,
  exp_nonpos = 6,
  log_normal = 7
};
}  // namespace fastloss

FL_ISA_DECLARE(void vmath_kernel(::fastloss::VmathFn fn, ::fastloss::DType dtype,
                                 const void* x, const void* y, void* out, int64_t n))

namespace fastloss {
// out[i] = fn(x[i]) for i < n, or fn(x[i], y[i]) for the two-argument
// log1p_diff (y is ignored by the others); x, y and out hold n contiguous
// elements of dtype.
inline void vmath(VmathFn fn, DType dtype, const void* x, const void* y, void* out, int64_t n) {
  FL_ISA_CALL(vmath_kernel, fn, dtype, x, y, out, n);
}
}  // namespace fastloss
