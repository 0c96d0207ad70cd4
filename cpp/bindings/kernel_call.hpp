// One kernel call as both bindings describe it: fastloss._core.run (run.cpp,
// from NumPy arrays) and the XLA FFI handlers (xla.cpp, from XLA buffers).
//
// A binding checks what only it can see (an array's dtype, contiguity,
// writability) and hands over raw pointers with their element counts; the
// rest -- which sizes each family needs, which outputs an operation needs,
// the family's argument record and the kernel entry point -- is here, once.
// No Python and no XLA in this file: errors are std::invalid_argument, which
// pybind11 turns into ValueError and xla.cpp into an FFI error.
#pragma once

#include <cstdint>

#include "fastloss/api/types.hpp"

namespace fastloss {
namespace bind {

// The kernel families, as fastloss._loss names them (FAMILIES there).
enum class Family : int { regression = 0, classification = 1, multiclass = 2, overlap = 3,
                          boxes = 4 };

// An argument: its data (nullptr when not given) and its element count.
struct In {
  const void* data = nullptr;
  int64_t size = 0;
};
struct Out {
  void* data = nullptr;
  int64_t size = 0;
};

struct KernelCall {
  int family = 0, id = 0, op = 0, reduction = 0;
  DType dtype = DType::f64;  // pred's; target, weight, aux and outputs have it too
  In pred, target, weight, aux;
  In labels;        // int64
  In class_weight;  // float64
  Out out_value, out_grad, out_hess;
  // A broadcast weight / aux read as a pattern: element k reads
  // values[(k / repeat) % period] (element-wise families only; period 0: none).
  int64_t weight_period = 0, weight_repeat = 1, aux_period = 0, aux_repeat = 1;
  int64_t classes = 0, slices = 0, slice_size = 0, group = 1, ignore_index = -100;
  double params[4] = {0, 0, 0, 0};
  int n_threads = 1;
};

// Checks the sizes against the family's layout, fills the family's argument
// record and runs its kernel. Returns the reduced value (meaningful when a
// value is asked with reduction sum or mean). Safe to call without the GIL.
double run_kernel(const KernelCall& c);

}  // namespace bind
}  // namespace fastloss
