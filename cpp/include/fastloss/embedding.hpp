// fastloss/embedding.hpp -- embedding losses on the per-sample driver.
//
// margin_ranking(x1, x2, y, margin): max(0, -y (x1 - x2) + margin) per
// element, as torch.nn.functional.margin_ranking_loss; its gradient is
// autograd's through clamp_min, which passes the gradient where the clamped
// value is >= 0 (so at the kink too). A NaN propagates into the value and the
// gradient (torch's gradient there is 0).
#pragma once

#include <cstdint>

#include "fastloss/api/embedding.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

template <class T>
struct MarginRanking {
  static constexpr int64_t group = kBlock;  // cheap samples: whole reduction blocks
  static constexpr int cost = 1;
  const T* x1;
  const T* x2;
  const T* y;
  T* g1;  // nullptr: not asked
  T* g2;
  T margin;

  size_t scratch_bytes() const { return 0; }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void*) const {
    const T* FL_RESTRICT a = x1 + lo;
    const T* FL_RESTRICT b = x2 + lo;
    const T* FL_RESTRICT t = y + lo;
    FL_SIMD
    for (int64_t i = 0; i < len; ++i) {
      const T z = -t[i] * (a[i] - b[i]) + margin;
      value[i] = z < T(0) ? T(0) : z;  // NaN propagates, as torch's clamp_min
    }
    if constexpr (kGrad) {
      T* FL_RESTRICT ga = g1 != nullptr ? g1 + lo : nullptr;
      T* FL_RESTRICT gb = g2 != nullptr ? g2 + lo : nullptr;
      for (int64_t i = 0; i < len; ++i) {
        const T z = -t[i] * (a[i] - b[i]) + margin;
        // NaN propagates into the gradient too (torch's clamp_min gives 0)
        const T g = z != z ? z : z >= T(0) ? -t[i] * gs[i] : T(0);
        if (ga != nullptr) ga[i] = g;
        if (gb != nullptr) gb[i] = -g;
      }
    }
  }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
