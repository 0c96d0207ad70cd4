// One kernel call as both bindings describe it: fastloss._core.run (run.cpp,
// from NumPy arrays) and the XLA FFI handler (xla.cpp, from XLA buffers).
//
// A binding checks what only it can see (an array's dtype, contiguity,
// writability), hands over raw pointers with their element counts and sets
// n_threads; the rest -- which sizes each family needs, which outputs an
// operation needs, the family's argument record and the kernel entry point --
// is here, once, for every family. No Python and no XLA in this file: errors
// are std::invalid_argument, which pybind11 turns into ValueError and xla.cpp
// into an FFI error.
#pragma once

#include <cstdint>
#include <vector>

#include "fastloss/api/tensors.hpp"
#include "fastloss/api/types.hpp"

namespace fastloss {
namespace bind {

// The kernel families, name and code: the one list. The enum and the table
// below are made from it, and fastloss._loss reads the codes by name through
// _core.families(), so a code is written once. From `embedding` on, a family
// reads TensorArgs (several inputs). (14 is linear_cross_entropy's family,
// which runs multiclass's kernel and has no code of its own here.)
#define FASTLOSS_FAMILIES(X)                                                                   \
  X(regression, 0) X(classification, 1) X(multiclass, 2) X(overlap, 3) X(boxes, 4)          \
  X(embedding, 5) X(pairwise, 6) X(sequence, 7) X(ranking, 8) X(image, 9) X(generative, 10) \
  X(regularization, 11) X(clustering, 12) X(control, 13) X(robust, 15)

enum class Family : int {
#define FL_FAMILY_ENUM(name, code) name = code,
  FASTLOSS_FAMILIES(FL_FAMILY_ENUM)
#undef FL_FAMILY_ENUM
};

struct FamilyCode {
  const char* name;
  Family family;
};
inline constexpr FamilyCode kFamilies[] = {
#define FL_FAMILY_ROW(name, code) {#name, Family::name},
    FASTLOSS_FAMILIES(FL_FAMILY_ROW)
#undef FL_FAMILY_ROW
};

inline bool is_tensor_family(int family) {
  return family >= static_cast<int>(Family::embedding);
}

// An argument: its data (nullptr when not given) and its element count.
struct In {
  const void* data = nullptr;
  int64_t size = 0;
};
struct Out {
  void* data = nullptr;
  int64_t size = 0;
};

// A broadcast argument read as a pattern: element k reads
// values[(k / repeat) % period] (element-wise families; period 0: none).
struct Pattern {
  int64_t period = 0, repeat = 1;
};

struct KernelCall {
  int family = 0, id = 0, op = 0, reduction = 0;
  DType dtype = DType::f64;  // pred's; the other real inputs and outputs have it too
  In pred, target, weight, aux;
  Pattern pred_pattern, target_pattern, weight_pattern, aux_pattern;
  // The element count when pred is a pattern (element-wise); -1: pred's size.
  int64_t size = -1;
  In labels;        // int64: one per row, or one per score (multilabel_margin)
  In class_weight;  // float64
  Out out_value, out_grad, out_hess;
  Out out_blocks;   // float64: a mean's per-block leaves (run.cpp's header)
  int64_t classes = 0, slices = 0, slice_size = 0, group = 1, ignore_index = -100;
  double params[TensorArgs::kMaxParams] = {};
  int n_params = 0;
  // The several-input families: the inputs after pred (data nullptr: an
  // absent optional one), which of pred and them are int64, one gradient
  // output per input (pred first; empty: none asked), the family's sizes
  // and the per-sample loss's size.
  std::vector<In> inputs;
  std::vector<char> in_int;  // 1 + inputs.size() entries when given
  std::vector<Out> out_grads;
  std::vector<int64_t> dims;
  int64_t samples = 0;
  // int64 outputs the kernel writes (data nullptr: not asked): kmeans_inertia's
  // labels; each kernel checks their sizes.
  std::vector<Out> out_ints;
  int n_threads = 1;
};

// Checks the sizes against the family's layout, fills the family's argument
// record and runs its kernel. Returns the reduced value (meaningful when a
// value is asked with reduction sum or mean). Safe to call without the GIL.
double run_kernel(const KernelCall& c);

}  // namespace bind
}  // namespace fastloss
