// Element-wise loops over fastloss's vectorized math, for one ISA level
// (compiled once per level). Each loop is a plain `omp simd` loop that the
// compiler vectorizes at the level's width.
#include "fastloss/api/vmath.hpp"

#include <stdexcept>

#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

struct Exp {
  template <class T>
  FL_INLINE T operator()(T x) const { return vm::exp(x); }
};
struct Log {
  template <class T>
  FL_INLINE T operator()(T x) const { return vm::log(x); }
};
struct ExpNonpos {
  template <class T>
  FL_INLINE T operator()(T x) const { return vm::exp_nonpos(x); }
};
struct LogNormal {
  template <class T>
  FL_INLINE T operator()(T x) const { return vm::log_normal(x); }
};
struct Log1p {
  template <class T>
  FL_INLINE T operator()(T x) const { return vm::log1p(x); }
};
struct Softplus {
  template <class T>
  FL_INLINE T operator()(T x) const { return vm::softplus(x); }
};
struct Sigmoid {
  template <class T>
  FL_INLINE T operator()(T x) const { return vm::sigmoid(x); }
};

struct Log1pDiff {
  template <class T>
  FL_INLINE T operator()(T x, T y) const { return vm::log1p_diff(x, y); }
};

template <class T, class F>
void apply(F f, const void* xv, void* outv, int64_t n) {
  const T* FL_RESTRICT x = static_cast<const T*>(xv);
  T* FL_RESTRICT out = static_cast<T*>(outv);
  FL_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

template <class T, class F>
void apply2(F f, const void* xv, const void* yv, void* outv, int64_t n) {
  const T* FL_RESTRICT x = static_cast<const T*>(xv);
  const T* FL_RESTRICT y = static_cast<const T*>(yv);
  T* FL_RESTRICT out = static_cast<T*>(outv);
  FL_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], y[i]);
}

template <class F>
void apply_any(F f, DType dtype, const void* x, void* out, int64_t n) {
  if (dtype == DType::f32)
    apply<float>(f, x, out, n);
  else
    apply<double>(f, x, out, n);
}

}  // namespace

void vmath_kernel(VmathFn fn, DType dtype, const void* x, const void* y, void* out,
                  int64_t n) {
  switch (fn) {
    case VmathFn::exp: return apply_any(Exp{}, dtype, x, out, n);
    case VmathFn::log: return apply_any(Log{}, dtype, x, out, n);
    case VmathFn::log1p: return apply_any(Log1p{}, dtype, x, out, n);
    case VmathFn::softplus: return apply_any(Softplus{}, dtype, x, out, n);
    case VmathFn::sigmoid: return apply_any(Sigmoid{}, dtype, x, out, n);
    case VmathFn::exp_nonpos: return apply_any(ExpNonpos{}, dtype, x, out, n);
    case VmathFn::log_normal: return apply_any(LogNormal{}, dtype, x, out, n);
    case VmathFn::log1p_diff:
      if (dtype == DType::f32) return apply2<float>(Log1pDiff{}, x, y, out, n);
      return apply2<double>(Log1pDiff{}, x, y, out, n);
  }
  throw std::invalid_argument("vmath: unknown function id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
