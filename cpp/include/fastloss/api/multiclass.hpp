// fastloss/api/multiclass.hpp -- entry point of the multiclass kernels.
//
// Multiclass losses read logits/scores of shape (..., C), the class axis
// last, flattened by the Python layer into `rows` rows of `classes`
// contiguous values; the per-sample loss has one value per row.
#pragma once

#include <cstdint>

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/types.hpp"

namespace fastloss {

// Order is ABI between bindings and kernels; the Python layer names them.
enum class MulticlassLoss : int {
  cross_entropy = 0,
  multiclass_hinge = 1,
  softmax_focal = 2,
  kl_div = 3,
  brier = 4,
  categorical_hinge = 5,
  nll = 6,
  multilabel_soft_margin = 7,
  multilabel_margin = 8,
  // the dense target's gradients (given on request): out_grad receives
  // d loss / d target (target's shape, pred's), scaled as the pred gradient
  kl_div_target = 9,
  multilabel_soft_margin_target = 10,
  cross_entropy_target = 11,  // probability targets only
};

// Arguments of a row-wise loss. Arrays are C-contiguous; float arrays have
// `dtype` except class_weight (float64).
struct RowArgs {
  DType dtype = DType::f64;
  Op op = Op::value;
  Reduction reduction = Reduction::mean;
  int64_t rows = 0;
  int64_t classes = 0;
  const void* pred = nullptr;            // rows * classes
  const void* target = nullptr;          // rows * classes, dense targets (or nullptr)
  const int64_t* labels = nullptr;       // rows (or n_labels) integer labels, or nullptr
  int64_t n_labels = 0;                  // entries of labels: rows, or rows * classes
                                         // (multilabel_margin's class-index rows)
  const void* weight = nullptr;          // rows, optional sample weights
  const double* class_weight = nullptr;  // classes, optional
  void* out_value = nullptr;             // rows (reduction none)
  void* out_grad = nullptr;              // rows * classes
  void* out_hess = nullptr;              // rows * classes (grad_hess: the diagonal)
  int64_t ignore_index = -100;
  double params[4] = {0, 0, 0, 0};
  double* out_blocks = nullptr;          // optional: see RowIO::out_blocks
  int n_threads = 1;
};

}  // namespace fastloss

FL_ISA_DECLARE(double multiclass_kernel(::fastloss::MulticlassLoss id,
                                        const ::fastloss::RowArgs& args))

namespace fastloss {
inline double multiclass(MulticlassLoss id, const RowArgs& args) {
  FL_ISA_CALL(multiclass_kernel, id, args);
}
}  // namespace fastloss
