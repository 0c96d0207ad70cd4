// fastloss/api/types.hpp -- the vocabulary shared by kernels and bindings.
//
// Nothing here does arithmetic: these are the enums and argument records the
// bindings fill from Python objects and the kernels read. They live outside
// the ISA namespaces because every ISA's kernels take the same records.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastloss {

enum class DType : int { f32 = 0, f64 = 1 };
enum class Reduction : int { none = 0, sum = 1, mean = 2 };
// What a call computes. `value_grad` is one fused pass.
enum class Op : int { value = 0, grad = 1, value_grad = 2, grad_hess = 3 };

// Terms per block of the reductions' blocked sum (kBlock in
// common/reduce.hpp; fastloss.BLOCK), and the doubles a block's leaves take
// in an out_blocks array (its sum, its denominator).
constexpr int64_t kReductionBlock = 4096;
constexpr int64_t kBlockLeaves = 2;

inline bool needs_value(Op op) { return op == Op::value || op == Op::value_grad; }
inline bool needs_grad(Op op) { return op != Op::value; }

// Arguments of an element-wise loss: every array has `n` contiguous elements
// of `dtype` (the Python layer has converted and broadcast them).
struct ElemArgs {
  DType dtype = DType::f64;
  Op op = Op::value;
  Reduction reduction = Reduction::mean;
  int64_t n = 0;
  const void* pred = nullptr;
  const void* target = nullptr;
  const void* weight = nullptr;  // optional per-element sample weights
  const void* aux = nullptr;     // optional per-element parameter (e.g. var)
  // *_period > 0: the array holds a pattern of *_period values and element k
  // reads it at (k / *_repeat) % *_period (a broadcast argument, not
  // materialized); 0: the array holds n values.
  int64_t weight_period = 0;
  int64_t weight_repeat = 1;
  int64_t aux_period = 0;
  int64_t aux_repeat = 1;
  int64_t pred_period = 0;  // pred and target too: a broadcast input
  int64_t pred_repeat = 1;
  int64_t target_period = 0;
  int64_t target_repeat = 1;
  void* out_value = nullptr;     // reduction == none and a value is asked
  void* out_grad = nullptr;
  void* out_hess = nullptr;
  // Optional, for a mean's value: per reduction block, its sum and its
  // denominator (kBlockCols doubles a block; fastloss.Accumulator).
  double* out_blocks = nullptr;
  double params[4] = {0, 0, 0, 0};
  int n_threads = 1;
};

// Thrown after a kernel pass that met an element outside the loss's domain
// (PointLoss::invalid); `index` is the lowest such flat index on any thread
// count. The Python layer words the message (it knows the argument names).
struct InvalidElement : std::invalid_argument {
  int64_t index;
  explicit InvalidElement(int64_t i)
      : std::invalid_argument("invalid element at flat index " + std::to_string(i)), index(i) {}
};

}  // namespace fastloss
