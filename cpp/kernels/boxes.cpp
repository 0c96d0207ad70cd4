// Bounding-box kernels for one ISA level (compiled once per level).
#include "fastloss/api/boxes.hpp"

#include <stdexcept>

#include "fastloss/boxes.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

double boxes_kernel(BoxLoss id, const BoxArgs& a) {
  switch (id) {
    case BoxLoss::iou: return rows4_any(BoxIou{a.eps}, a);
    case BoxLoss::giou: return rows4_any(BoxGiou{a.eps}, a);
    case BoxLoss::diou: return rows4_any(BoxDiou{a.eps}, a);
    case BoxLoss::ciou: return rows4_any(BoxCiou{a.eps}, a);
  }
  throw std::invalid_argument("unknown box loss id");
}

namespace {
template <class T>
void atan_loop(int64_t n, const T* FL_RESTRICT x, T* FL_RESTRICT out) {
  FL_SIMD
  for (int64_t i = 0; i < n; ++i) out[i] = boxmath::atan(x[i]);
}
}  // namespace

void boxes_atan_kernel(DType dt, int64_t n, const void* x, void* out) {
  if (dt == DType::f32) {
    atan_loop(n, static_cast<const float*>(x), static_cast<float*>(out));
  } else {
    atan_loop(n, static_cast<const double*>(x), static_cast<double*>(out));
  }
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
