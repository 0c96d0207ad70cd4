// fastloss/api/boxes.hpp -- entry point of the bounding-box kernels.
//
// Boxes arrive as rows of 4 numbers (x1, y1, x2, y2). BoxArgs is ElemArgs's
// counterpart for them: `n` counts boxes, so pred, target and out_grad hold
// 4n contiguous elements and weight and out_value hold n.
#pragma once

#include <cstdint>

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/types.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the Python layer names them.
enum class BoxLoss : int { iou = 0, giou = 1, diou = 2, ciou = 3 };

struct BoxArgs {
  DType dtype = DType::f64;
  Op op = Op::value;
  Reduction reduction = Reduction::mean;
  int64_t n = 0;                  // number of boxes
  const void* pred = nullptr;     // 4n
  const void* target = nullptr;   // 4n
  const void* weight = nullptr;   // n, optional
  void* out_value = nullptr;      // n, reduction == none and a value is asked
  void* out_grad = nullptr;       // 4n
  double* out_blocks = nullptr;   // optional, a mean's value: per-block sums (reduce.hpp)
  double eps = 1e-7;
  int n_threads = 1;
};
}  // namespace fastloss

FL_ISA_DECLARE(double boxes_kernel(::fastloss::BoxLoss id, const ::fastloss::BoxArgs& args))
// The vectorized atan the CIoU kernel uses, element-wise over n values of
// dtype `dt` (exposed so the tests can hold it against numpy.arctan).
FL_ISA_DECLARE(void boxes_atan_kernel(::fastloss::DType dt, int64_t n, const void* x, void* out))

namespace fastloss {
inline double boxes(BoxLoss id, const BoxArgs& args) { FL_ISA_CALL(boxes_kernel, id, args); }
inline void boxes_atan(DType dt, int64_t n, const void* x, void* out) {
  FL_ISA_CALL(boxes_atan_kernel, dt, n, x, out);
}
}  // namespace fastloss
