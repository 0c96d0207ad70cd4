// fastloss/common/tensors.hpp -- what the several-input families share on the
// kernel side: typed access to a TensorArgs record and the per-sample run it
// describes.
#pragma once

#include <cstdint>

#include "fastloss/api/tensors.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/run_fields.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// Input k as T (a real input) or int64 (an integer one); nullptr if absent.
template <class T>
const T* tin(const TensorArgs& a, int k) {
  return static_cast<const T*>(a.in[k]);
}
template <class T>
T* tgrad(const TensorArgs& a, int k) {
  return static_cast<T*>(a.out_grad[k]);
}

// The per-sample driver's run over a.n_samples samples (persample.hpp): the
// op, reduction, weights and reduction="none" output of the record.
template <class T>
SampleRun<T> sample_run(const TensorArgs& a) {
  SampleRun<T> r = run_fields<SampleRun<T>>(a);
  r.n = a.n_samples;
  return r;
}

// One array of n values x, one sample each, whose loss is a point rule R:
//   static constexpr int cost;           relative work per value
//   void eval(T x, T& l, T& d) const;    the loss of x and its derivative
template <class T, class R>
struct PointSamples {
  static constexpr int64_t group = kBlock;  // cheap samples: whole reduction blocks
  static constexpr int cost = R::cost;
  R rule;
  const T* x;
  T* g;  // nullptr: not asked
  size_t scratch_bytes() const { return 0; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    const T* FL_RESTRICT xs = x + lo;
    if constexpr (kGrad) {
      T* FL_RESTRICT gx = g + lo;
      FL_SIMD
      for (int64_t i = 0; i < len; ++i) {
        T l, d;
        rule.eval(xs[i], l, d);
        value[i] = l;
        gx[i] = gs[i] * d;
      }
    } else {
      FL_SIMD
      for (int64_t i = 0; i < len; ++i) {
        T d;
        rule.eval(xs[i], value[i], d);
      }
    }
  }
};

// A loss of parts, each the mean (or sum) of a point rule over one input
// (a GAN's real and fake outputs, a PINN's residuals): part k covers the n
// samples from `off` of the record's weights and reduction="none" values,
// and returns its reduced value. A part whose gradient is not asked runs
// the value alone, or not at all for a gradient-only call.
template <class T, class R>
double point_part(const TensorArgs& a, int k, int64_t off, int64_t n, const R& rule = R{}) {
  SampleRun<T> r = sample_run<T>(a);
  T* g = tgrad<T>(a, k);
  if (g == nullptr) {
    if (!needs_value(a.op)) return 0.0;
    r.op = Op::value;
  }
  r.n = n;
  if (r.weight != nullptr) r.weight += off;
  if (r.out_value != nullptr) r.out_value += off;
  return per_sample(PointSamples<T, R>{rule, tin<T>(a, k), g}, r);
}

// Call body.template operator()<T>() with T the record's dtype.
template <class Body>
double with_dtype(const TensorArgs& a, const Body& body) {
  return a.dtype == DType::f32 ? body(float{}) : body(double{});
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
