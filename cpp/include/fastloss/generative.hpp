// fastloss/generative.hpp -- the generative-model losses.
//
// GAN and WGAN losses are means of a point rule over the discriminator's
// (critic's) outputs: on real samples and on generated ("fake") ones, each
// part its own mean (the loss is mean_real + mean_fake, as the papers and
// every implementation write it). A point rule R gives the loss of one
// output x and its derivative:
//   static constexpr int cost;
//   static constexpr int sign;   // l = sign * x (Negate, Identity), else 0
//   static void eval(T x, T& l, T& d);
// A NaN output gives a NaN loss and a NaN derivative (also where the rule
// is linear and its derivative a constant). Each part runs on the
// element-wise engine (RuleElem: elementwise.hpp, as mse), gradient_penalty
// and elbo on the per-sample driver.
//
// gradient_penalty: per sample (||g|| - t)^2 over a row of K gradient
// values (WGAN-GP, Gulrajani et al. 2017); at ||g|| = 0 the derivative of the
// norm is taken as 0, as torch's vector_norm backward does.
// elbo: per sample sum_p rec(recon_p, x_p) + beta * KL(N(mu, e^logvar) ||
// N(0, I)), KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - e^logvar_j).
// Every sum inside a sample has row_sum's tree (rowwise.hpp; gradient_penalty
// computes it several rows at a time, sumsq_rows): a tree fixed by its
// length, the same bits on any thread count and ISA level.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastloss/api/generative.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/elementwise.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/point.hpp"
#include "fastloss/common/reduce.hpp"
#include "fastloss/common/rowwise.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace gen {

template <class T>
FL_INLINE T nan_or(T x, T d) {
  return x != x ? x : d;
}

// -log sigmoid(x) = softplus(-x): a real sample scored x (the discriminator's
// logit), and the non-saturating generator's loss of a fake one.
struct LogisticReal {
  static constexpr int cost = 4;
  static constexpr int sign = 0;
  template <class T>
  static FL_INLINE void eval(T x, T& l, T& d) {
    l = vm::softplus(-x);
    d = -vm::sigmoid(-x);
  }
};
// -log(1 - sigmoid(x)) = softplus(x): a fake sample, for the discriminator.
struct LogisticFake {
  static constexpr int cost = 4;
  static constexpr int sign = 0;
  template <class T>
  static FL_INLINE void eval(T x, T& l, T& d) {
    l = vm::softplus(x);
    d = vm::sigmoid(x);
  }
};
// log(1 - sigmoid(x)) = -softplus(x): the original (saturating) generator loss.
struct LogisticSaturating {
  static constexpr int cost = 4;
  static constexpr int sign = 0;
  template <class T>
  static FL_INLINE void eval(T x, T& l, T& d) {
    l = -vm::softplus(x);
    d = -vm::sigmoid(x);
  }
};
// relu(1 - x) and relu(1 + x): the hinge discriminator (relu' = 0 at 0, as torch).
struct HingeReal {
  static constexpr int cost = 1;
  static constexpr int sign = 0;
  template <class T>
  static FL_INLINE void eval(T x, T& l, T& d) {
    const T z = T(1) - x;
    l = z < T(0) ? T(0) : z;  // NaN propagates
    d = nan_or(x, z > T(0) ? T(-1) : T(0));
  }
};
struct HingeFake {
  static constexpr int cost = 1;
  static constexpr int sign = 0;
  template <class T>
  static FL_INLINE void eval(T x, T& l, T& d) {
    const T z = T(1) + x;
    l = z < T(0) ? T(0) : z;
    d = nan_or(x, z > T(0) ? T(1) : T(0));
  }
};
// -x and x: the Wasserstein critic on real and fake samples, and the hinge
// and Wasserstein generators (-x).
struct Negate {
  static constexpr int cost = 1;
  static constexpr int sign = -1;
  template <class T>
  static FL_INLINE void eval(T x, T& l, T& d) {
    l = -x;
    d = nan_or(x, T(-1));
  }
};
struct Identity {
  static constexpr int cost = 1;
  static constexpr int sign = 1;
  template <class T>
  static FL_INLINE void eval(T x, T& l, T& d) {
    l = x;
    d = nan_or(x, T(1));
  }
};

// A point rule as an element-wise functor (point.hpp): the loss of pred
// alone, target unread. The element-wise engine writes each term straight
// into its chunk's float64 buffer; the per-sample driver (PointSamples, which
// these parts ran on) stored each value first and widened it in a second
// loop, and on 1e6 float32 scores took 0.18 ms where mse took 0.09 (2
// threads). The bits are the per-sample driver's: the same products (w *
// scale times d, w times l widened) into the same tree (BlockSums).
template <class R>
struct RuleElem : PointLoss<RuleElem<R>> {
  static constexpr int cost = R::cost;
  template <class T>
  FL_INLINE T value(T p, T, T) const {
    T l, d;
    R::eval(p, l, d);
    return l;
  }
  template <class T>
  FL_INLINE T grad(T p, T, T) const {
    T l, d;
    R::eval(p, l, d);
    return d;
  }
  template <class T>
  FL_INLINE void value_grad(T p, T, T, T& v, T& g) const {
    R::eval(p, v, g);
  }
};

// Rows a gradient-penalty task takes at once: their sums of squares run side
// by side (see sumsq_rows); two where the accumulators are SSE2 registers
// (four would not fit in sixteen).
constexpr int kPenaltyRows = kAccWidth == 4 ? 4 : 2;

// The sums of squares of R rows of K values (x, x + K, ...), each with
// row_sum's tree -- term k into lane k % 8 in index order, the lanes then
// combined as Lanes::tree -- so each has the bits of row_sum over its row.
// One row's 8 lanes are two chains of four-double additions, held to an
// addition's latency per 8 terms; R rows keep 2R chains in flight, and the
// squares go straight into the lanes (row_sum stores them in a buffer first).
template <int R, class T>
FL_INLINE void sumsq_rows(const T* FL_RESTRICT x, int64_t K, double* out) {
  V4d a[R], b[R];
  for (int r = 0; r < R; ++r) a[r] = b[r] = V4d{};
  int64_t j = 0;
  for (; j + 8 <= K; j += 8) {
    for (int r = 0; r < R; ++r) {
      V4d x0, x1;
      load4(x + r * K + j, x0);
      load4(x + r * K + j + 4, x1);
      a[r] += x0 * x0;
      b[r] += x1 * x1;
    }
  }
  for (int r = 0; r < R; ++r) {
    double v[8];
    std::memcpy(v, &a[r], sizeof a[r]);
    std::memcpy(v + 4, &b[r], sizeof b[r]);
    for (int l = 0; j + l < K; ++l) {
      const double t = static_cast<double>(x[r * K + j + l]);
      v[l] += t * t;
    }
    out[r] = Lanes::tree(v);
  }
}

// (||g_i|| - t)^2 over rows of K values.
template <class T>
struct GradientPenalty {
  static constexpr int64_t group = kPenaltyRows;
  static constexpr int cost = 1;
  const T* x;
  T* g;
  int64_t K;
  double t;
  size_t scratch_bytes() const { return 0; }
  int64_t sample_cost(int64_t) const { return K + 1; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void*) const {
    double ss[kPenaltyRows];
    if (len == kPenaltyRows) {
      sumsq_rows<kPenaltyRows>(x + lo * K, K, ss);
    } else {
      for (int64_t i = 0; i < len; ++i) sumsq_rows<1>(x + (lo + i) * K, K, ss + i);
    }
    for (int64_t i = 0; i < len; ++i) {
      const T* FL_RESTRICT r = x + (lo + i) * K;
      const double norm = std::sqrt(ss[i]);
      const double dev = norm - t;
      value[i] = static_cast<T>(dev * dev);
      if constexpr (kGrad) {
        T* FL_RESTRICT gr = g + (lo + i) * K;
        // d/dr_k = 2 (norm - t) r_k / norm; 0 at norm == 0 (torch). The
        // factor stays float64: for a row of float32 subnormals 2 / norm
        // overflows float32 while its product with r_k does not.
        const double c = norm > 0.0    ? 2.0 * dev / norm * static_cast<double>(gs[i])
                         : norm == 0.0 ? 0.0
                                       : norm;  // NaN
        FL_SIMD
        for (int64_t k = 0; k < K; ++k) gr[k] = static_cast<T>(c * static_cast<double>(r[k]));
      }
    }
  }
};

// The ELBO of a VAE, per sample: reconstruction summed over P values plus
// beta times the Gaussian KL over Z latent dimensions.
template <class T>
struct Elbo {
  static constexpr int64_t group = 1;
  static constexpr int cost = 1;
  const T* recon;
  const T* x;
  const T* mu;
  const T* logvar;
  T* g_recon;  // nullptr where not asked
  T* g_mu;
  T* g_logvar;
  int64_t P, Z;
  bool mse;
  double beta;
  size_t scratch_bytes() const { return 0; }
  int64_t sample_cost(int64_t) const { return 4 * P + 2 * Z + 1; }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void*) const {
    for (int64_t i = 0; i < len; ++i) {
      const int64_t s = lo + i;
      const T* FL_RESTRICT r = recon + s * P;
      const T* FL_RESTRICT y = x + s * P;
      const T* FL_RESTRICT m = mu + s * Z;
      const T* FL_RESTRICT lv = logvar + s * Z;
      double rec;
      if (mse) {
        rec = row_sum(P, [&](int64_t k) {
          const T d = r[k] - y[k];
          return static_cast<double>(d * d);
        });
      } else {
        // y softplus(-r) + (1 - y) softplus(r), with 0 * inf = 0
        auto term = [&](int64_t k, T e) {
          const T l1 = vm::detail::log1p_01(e);
          const T sp = vm::detail::pospart(r[k]) + l1, sm = vm::detail::pospart(-r[k]) + l1;
          const T a = y[k] == T(0) ? T(0) : y[k] * sm;
          const T b = y[k] == T(1) ? T(0) : (T(1) - y[k]) * sp;
          return static_cast<double>(a + b);
        };
        if (kGrad && g_recon != nullptr) {
          // the gradient w (sigmoid(r) - y) in the same pass, from the same
          // e = exp(-|r|): vm::sigmoid's own formula, so the same bits as a
          // second pass, without its second exp (elbo's value+grad ran 2.3x
          // bce_with_logits' on the same recon)
          const T w = gs[i];
          T* FL_RESTRICT gr = g_recon + s * P;
          rec = row_sum(P, [&](int64_t k) {
            const T e = vm::exp_nonpos(vm::detail::negabs(r[k]));
            gr[k] = w * ((r[k] >= T(0) ? T(1) : e) / (T(1) + e) - y[k]);
            return term(k, e);
          });
        } else {
          rec = row_sum(P, [&](int64_t k) {
            return term(k, vm::exp_nonpos(vm::detail::negabs(r[k])));
          });
        }
      }
      const double kl = -0.5 * row_sum(Z, [&](int64_t j) {
        return static_cast<double>(T(1) + lv[j] - m[j] * m[j] - vm::exp(lv[j]));
      });
      value[i] = static_cast<T>(rec + beta * kl);
      if constexpr (kGrad) {
        const T w = gs[i];
        if (g_recon != nullptr) {
          T* FL_RESTRICT gr = g_recon + s * P;
          if (mse) {
            FL_SIMD
            for (int64_t k = 0; k < P; ++k) gr[k] = w * (T(2) * (r[k] - y[k]));
          }  // bce's gradient: written in the value's pass above
        }
        const T bw = static_cast<T>(beta) * w;
        if (g_mu != nullptr) {
          T* FL_RESTRICT gm = g_mu + s * Z;
          FL_SIMD
          for (int64_t j = 0; j < Z; ++j) gm[j] = bw * m[j];
        }
        if (g_logvar != nullptr) {
          T* FL_RESTRICT gl = g_logvar + s * Z;
          FL_SIMD
          for (int64_t j = 0; j < Z; ++j) gl[j] = bw * (T(0.5) * (vm::exp(lv[j]) - T(1)));
        }
      }
    }
  }
};

}  // namespace gen
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
