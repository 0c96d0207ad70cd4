// Image kernels (SSIM, MS-SSIM) for one ISA level (compiled once per level).
#include "fastloss/api/image.hpp"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "fastloss/image.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

using namespace img;

// (pred, target): N C H W each; dims (N, C, H, W, win_size); params
// (k1 * data_range, k2 * data_range, sigma[, the MS-SSIM weights: 1 to 5, one
// per level])
double run_image(ImageLoss id, const TensorArgs& a) {
  const int64_t N = a.dims[0], C = a.dims[1], H = a.dims[2], W = a.dims[3], ws = a.dims[4];
  const int64_t n = N * C * H * W;
  const TensorInput expect[] = {{"pred", n}, {"target", n}};
  check_tensor_layout(a, expect, 5, N);
  if (a.out_grad[1] != nullptr) tensor_fail("image losses: only pred is differentiable");
  if (ws < 1 || ws % 2 == 0) tensor_fail("win_size must be odd and >= 1");
  if (H < ws || W < ws) tensor_fail("images must be at least win_size in height and width");
  const int levels = a.n_params - 3;
  if (id == ImageLoss::ssim ? levels != 0 : (levels < 1 || levels > MsSsimImages<double>::kLevels))
    tensor_fail("image: wrong number of parameters");
  if (id == ImageLoss::ms_ssim) {
    int64_t h = H, w = W;
    for (int l = 1; l < levels; ++l) h = pooled(h), w = pooled(w);
    if ((H < W ? H : W) <= (ws - 1) * 16 || h < ws || w < ws)
      tensor_fail("ms_ssim: images must be larger than (win_size - 1) * 2**4");
  }
  const double sigma = a.params[2];
  // The window: exp(-(k - r)^2 / (2 sigma^2)) over ws taps, normalized.
  std::vector<double> gd(static_cast<size_t>(ws));
  double gsum = 0.0;
  for (int64_t k = 0; k < ws; ++k) {
    const double x = static_cast<double>(k - ws / 2);
    gd[k] = std::exp(-(x * x) / (2.0 * sigma * sigma));
    gsum += gd[k];
  }
  for (auto& v : gd) v /= gsum;
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    std::vector<T> g(gd.begin(), gd.end());
    Ssim<T> s{g.data(), ws, static_cast<T>(a.params[0] * a.params[0]),
              static_cast<T>(a.params[1] * a.params[1])};
    const T* X = tin<T>(a, 0);
    const T* Y = tin<T>(a, 1);
    if (id == ImageLoss::ssim)
      return per_sample(SsimImages<T>{s, X, Y, tgrad<T>(a, 0), C, H, W}, sample_run<T>(a));
    MsSsimImages<T> f{s, X, Y, tgrad<T>(a, 0), C, H, W, levels, {}};
    for (int l = 0; l < levels; ++l) f.w[l] = a.params[3 + l];
    return per_sample(f, sample_run<T>(a));
  });
}

}  // namespace

double image_kernel(ImageLoss id, const TensorArgs& a) {
  if (a.n_dims < 5) throw std::invalid_argument("image: dims missing");
  switch (id) {
    case ImageLoss::ssim:
    case ImageLoss::ms_ssim: return run_image(id, a);
  }
  throw std::invalid_argument("unknown image loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
