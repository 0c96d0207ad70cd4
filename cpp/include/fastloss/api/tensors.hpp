// fastloss/api/tensors.hpp -- the argument record of the losses whose inputs
// are several arrays of shapes of their own.
//
// The first five families (element-wise, row, slice, box) each have a record
// that names its arrays (pred, target, labels...). The families added after
// them -- embeddings, pairwise similarities, sequences, ranked lists, images,
// generative models, regularizers, clustering, RL and physics -- take k
// positional inputs of different shapes, several of them differentiable:
// TensorArgs carries them as numbered arrays with their sizes, one gradient
// output per input, the per-sample loss's size (weights and reduction="none"
// values), integer outputs (the labels a kernel assigns), the integer
// dimensions the Python layer read off the shapes, and up to kMaxParams real
// parameters. A family's kernel entry checks that the
// sizes agree with the dimensions (check_tensor_layout below) before it
// reads anything, so the record is safe whatever the caller passes.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastloss/api/types.hpp"

namespace fastloss {

struct TensorArgs {
  static constexpr int kMaxInputs = 8;
  static constexpr int kMaxDims = 8;
  static constexpr int kMaxParams = 8;
  static constexpr int kMaxIntOutputs = 2;

  DType dtype = DType::f64;  // of every real input, gradient, weight and value
  Op op = Op::value;
  Reduction reduction = Reduction::mean;
  int n_inputs = 0;
  // Input k: C-contiguous, in_size[k] elements of `dtype`, or of int64 when
  // in_int[k] (labels, lengths, masks); nullptr for an absent optional input.
  const void* in[kMaxInputs] = {};
  int64_t in_size[kMaxInputs] = {};
  bool in_int[kMaxInputs] = {};
  // d loss / d input k, in_size[k] elements; nullptr where not asked.
  void* out_grad[kMaxInputs] = {};
  // The per-sample loss has n_samples values: weights and the
  // reduction="none" output have that many; "mean" divides by it (or by the
  // weights' sum).
  int64_t n_samples = 0;
  const void* weight = nullptr;  // n_samples, optional
  void* out_value = nullptr;     // n_samples, reduction == none and a value is asked
  // Integer output k (kmeans_inertia's labels): C-contiguous, writable,
  // out_int_size[k] int64 elements; nullptr where not asked. A kernel names
  // the ones it writes (check_tensor_layout) and refuses any other.
  int64_t* out_int[kMaxIntOutputs] = {};
  int64_t out_int_size[kMaxIntOutputs] = {};
  int n_out_ints = 0;
  int64_t dims[kMaxDims] = {};   // the family's sizes (N, D, T, C, ...)
  int n_dims = 0;
  double params[kMaxParams] = {};
  int n_params = 0;
  int n_threads = 1;
};

// A kernel entry's check of its layout: the inputs it reads, in order, as
// (name, elements expected, integer or real, required); throws
// std::invalid_argument (a ValueError in Python) naming the first mismatch.
struct TensorInput {
  const char* name;
  int64_t size;
  bool integer = false;
  bool required = true;
};

inline void tensor_fail(const std::string& what) { throw std::invalid_argument(what); }

// An integer output a kernel may write, as (name, elements expected); it is
// optional: the kernel writes it only where the caller passed one.
struct TensorIntOutput {
  const char* name;
  int64_t size;
};

inline void check_int_outputs(const TensorArgs& a, const TensorIntOutput* expect, int n) {
  if (a.n_out_ints < 0 || a.n_out_ints > TensorArgs::kMaxIntOutputs)
    tensor_fail("n_out_ints out of range");
  for (int k = 0; k < a.n_out_ints; ++k) {
    if (a.out_int[k] == nullptr) continue;
    if (k >= n)
      tensor_fail(n == 0 ? "this loss has no integer outputs"
                         : "out_ints: at most " + std::to_string(n) + " integer output(s)");
    if (a.out_int_size[k] != expect[k].size)
      tensor_fail(std::string(expect[k].name) + ": expected " + std::to_string(expect[k].size) +
                  " elements, got " + std::to_string(a.out_int_size[k]));
  }
}

template <int N>
void check_tensor_inputs(const TensorArgs& a, const TensorInput (&expect)[N], int n_dims,
                         int64_t n_samples) {
  if (a.n_inputs != N)
    tensor_fail("expected " + std::to_string(N) + " inputs, got " + std::to_string(a.n_inputs));
  if (a.n_dims != n_dims)
    tensor_fail("expected " + std::to_string(n_dims) + " dims, got " + std::to_string(a.n_dims));
  for (int d = 0; d < n_dims; ++d)
    if (a.dims[d] < 0) tensor_fail("dims must be >= 0");
  if (a.n_samples != n_samples)
    tensor_fail("n_samples " + std::to_string(a.n_samples) + " does not match the inputs' " +
                std::to_string(n_samples));
  for (int k = 0; k < N; ++k) {
    const TensorInput& e = expect[k];
    if (a.in[k] == nullptr) {
      if (e.required) tensor_fail(std::string(e.name) + " is required");
      if (a.out_grad[k] != nullptr) tensor_fail(std::string(e.name) + ": a gradient of nothing");
      continue;
    }
    if (a.in_int[k] != e.integer)
      tensor_fail(std::string(e.name) + (e.integer ? ": expected an int64 array"
                                                   : ": expected a real array"));
    if (a.in_size[k] != e.size)
      tensor_fail(std::string(e.name) + ": expected " + std::to_string(e.size) +
                  " elements, got " + std::to_string(a.in_size[k]));
    if (e.integer && a.out_grad[k] != nullptr)
      tensor_fail(std::string(e.name) + ": an integer input has no gradient");
  }
  if (a.op == Op::grad_hess) tensor_fail("this loss has no Hessian (grad_hess)");
}

// The layout of a kernel without integer outputs (it refuses any).
template <int N>
void check_tensor_layout(const TensorArgs& a, const TensorInput (&expect)[N], int n_dims,
                         int64_t n_samples) {
  check_tensor_inputs(a, expect, n_dims, n_samples);
  check_int_outputs(a, nullptr, 0);
}

// ... and of one with integer outputs, in order.
template <int N, int M>
void check_tensor_layout(const TensorArgs& a, const TensorInput (&expect)[N], int n_dims,
                         int64_t n_samples, const TensorIntOutput (&outs)[M]) {
  check_tensor_inputs(a, expect, n_dims, n_samples);
  check_int_outputs(a, outs, M);
}

}  // namespace fastloss
