// fastloss/api/generative.hpp -- entry point of the generative-model losses
// (GAN, WGAN, WGAN-GP, VAE), on TensorArgs (api/tensors.hpp).
#pragma once

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"

namespace fastloss {
// Order is ABI between bindings and kernels; the catalogue names them.
enum class GenerativeLoss : int {
  gan_discriminator = 0,
  gan_generator = 1,
  hinge_gan_discriminator = 2,
  hinge_gan_generator = 3,
  wasserstein_critic = 4,
  wasserstein_generator = 5,
  gradient_penalty = 6,
  elbo = 7,
};
}  // namespace fastloss

FL_ISA_DECLARE(double generative_kernel(::fastloss::GenerativeLoss id,
                                        const ::fastloss::TensorArgs& args))

namespace fastloss {
inline double generative(GenerativeLoss id, const TensorArgs& args) {
  FL_ISA_CALL(generative_kernel, id, args);
}
}  // namespace fastloss
