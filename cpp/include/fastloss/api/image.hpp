// fastloss/api/image.hpp -- entry point of the image losses (SSIM, MS-SSIM)
// on (N, C, H, W) images, on TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class ImageLoss : int { ssim = 0, ms_ssim = 1 };
}  // namespace fastloss

FL_ISA_DECLARE(double image_kernel(::fastloss::ImageLoss id,
                                   const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double image(ImageLoss id, const TensorArgs& args) {
  FL_ISA_CALL(image_kernel, id, args);
}
}  // namespace fastloss
