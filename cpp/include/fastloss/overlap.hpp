// fastloss/overlap.hpp -- overlap (segmentation) losses: dice, IoU, Tversky,
// generalized Dice.
//
// Design: each loss is a score functor for the per-slice driver
// (common/slices.hpp), which hands it the sums I = sum(p*t), P = sum(p),
// T = sum(t) of a slice (or of the C class slices of a sample) and wants the
// loss back with dL/dI and dL/dP. Every loss here is 1 - N/D with N, D
// linear in I, P, T, so with r = N/D:
//   dL/dI = -(dN/dI - r dD/dI) / D,   dL/dP = -(dN/dP - r dD/dP) / D.
// Convention: where D == 0 (only an all-empty slice with smooth = 0 gets
// there for inputs in [0, 1]) the loss is 0 and its gradient 0 -- a perfect
// match of two empty masks -- instead of 0/0. NaN inputs make D NaN, not 0,
// so NaN still propagates.
#pragma once

#include <cstdint>
#include <limits>

#include "fastloss/common/config.hpp"
#include "fastloss/common/slices.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace detail {
// 1 - N/D and its derivatives from those of N and D.
FL_INLINE double one_minus_ratio(double N, double D, double nI, double nP, double dDI,
                                 double dDP, double& dI, double& dP) {
  if (D == 0.0) {
    dI = 0.0;
    dP = 0.0;
    return 0.0;
  }
  const double r = N / D;
  dI = -(nI - r * dDI) / D;
  dP = -(nP - r * dDP) / D;
  return 1.0 - r;
}
}  // namespace detail

// 1 - (2 I + s) / (P + T + s)
struct Dice : SliceScore<Dice> {
  double smooth;
  explicit Dice(double s) : smooth(s) {}
  FL_INLINE double slice(double I, double P, double T, double& dI, double& dP) const {
    return detail::one_minus_ratio(2.0 * I + smooth, P + T + smooth, 2.0, 0.0, 0.0, 1.0, dI, dP);
  }
};

// 1 - (I + s) / (P + T - I + s)   (soft Jaccard)
struct Iou : SliceScore<Iou> {
  double smooth;
  explicit Iou(double s) : smooth(s) {}
  FL_INLINE double slice(double I, double P, double T, double& dI, double& dP) const {
    return detail::one_minus_ratio(I + smooth, P + T - I + smooth, 1.0, 0.0, -1.0, 1.0, dI, dP);
  }
};

// 1 - (TP + s) / (TP + alpha FP + beta FN + s), FP = P - I, FN = T - I.
struct Tversky : SliceScore<Tversky> {
  double alpha, beta, smooth;
  Tversky(double a, double b, double s) : alpha(a), beta(b), smooth(s) {}
  FL_INLINE double slice(double I, double P, double T, double& dI, double& dP) const {
    const double D = I + alpha * (P - I) + beta * (T - I) + smooth;
    return detail::one_minus_ratio(I + smooth, D, 1.0, 0.0, 1.0 - alpha - beta, alpha, dI, dP);
  }
};

// Sudre et al. 2017 over the C class slices of one sample:
//   w_c = 1 / T_c^2,  1 - (2 sum_c w_c I_c + s) / (sum_c w_c (P_c + T_c) + s).
// A class absent from the target (w_c = inf) gets the largest finite weight
// of the sample; if every class is absent all weights are 0 (MONAI's rule:
// infs set to 0, then to the max, which is 0), so the loss is 1 - s/s = 0.
// The weights depend on the target only: constants for the gradient.
struct GeneralizedDice {
  static constexpr int cost = 1;
  double smooth;
  explicit GeneralizedDice(double s) : smooth(s) {}
  FL_INLINE double group(const double* I, const double* P, const double* T, int64_t C,
                         double* dI, double* dP) const {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    // dI/dP hold the weights until the end (they are overwritten last).
    double wmax = 0.0;
    bool nan = false;
    for (int64_t c = 0; c < C; ++c) {
      const double w = 1.0 / (T[c] * T[c]);
      dI[c] = w;
      if (w != w) nan = true;
      else if (w != kInf && w > wmax) wmax = w;
    }
    // NaN in a target makes its weight NaN; torch.max would propagate it.
    if (nan) wmax = std::numeric_limits<double>::quiet_NaN();
    double num = 0.0, den = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      if (dI[c] == kInf) dI[c] = wmax;
      num += dI[c] * I[c];
      den += dI[c] * (P[c] + T[c]);
    }
    const double N = 2.0 * num + smooth, D = den + smooth;
    if (D == 0.0) {
      for (int64_t c = 0; c < C; ++c) dI[c] = dP[c] = 0.0;
      return 0.0;
    }
    const double r = N / D;
    for (int64_t c = 0; c < C; ++c) {
      const double w = dI[c];
      dI[c] = -(2.0 * w) / D;
      dP[c] = (r * w) / D;
    }
    return 1.0 - r;
  }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
