// fastloss/common/tensors.hpp -- what the several-input families share on the
// kernel side: typed access to a TensorArgs record and the per-sample run it
// describes.
#pragma once

#include <cstdint>

#include "fastloss/api/tensors.hpp"
#include "fastloss/common/persample.hpp"

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
  SampleRun<T> r;
  r.op = a.op;
  r.reduction = a.reduction;
  r.n = a.n_samples;
  r.weight = static_cast<const T*>(a.weight);
  r.out_value = static_cast<T*>(a.out_value);
  r.n_threads = a.n_threads;
  return r;
}

// Call body.template operator()<T>() with T the record's dtype.
template <class Body>
double with_dtype(const TensorArgs& a, const Body& body) {
  return a.dtype == DType::f32 ? body(float{}) : body(double{});
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
