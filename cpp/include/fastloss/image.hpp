// fastloss/image.hpp -- SSIM and MS-SSIM on (N, C, H, W) images, one image
// per task on the per-sample driver (persample.hpp).
//
// One channel of one image (a "plane", H x W) with a Gaussian window g of
// ws taps (normalized over its taps, as pytorch_msssim's _fspecial_gauss_1d
// and scipy's truncated gaussian_filter give it) has, on the valid region
// (Ho = H - ws + 1 by Wo = W - ws + 1), the five blurred moments
//   mx = g*X, my = g*Y, exx = g*(X X), eyy = g*(Y Y), exy = g*(X Y)
// (separable and valid: rows then columns), and with
//   sxx = exx - mx^2, syy = eyy - my^2, sxy = exy - mx my,
//   L = (2 mx my + C1) / (mx^2 + my^2 + C1), CS = (2 sxy + C2) / (sxx + syy + C2)
// SSIM = mean(L CS) and cs = mean(CS) over the valid region. The gradient
// w.r.t. X of a_s SSIM + a_c cs is, by the chain rule through the blurs,
//   g^T * G1 + 2 X (g^T * G2) + Y (g^T * G3)
// where G1, G2, G3 are d/dmx, d/dexx, d/dexy of the map sum (times a_s, a_c
// and 1/(Ho Wo)) and g^T* is the adjoint of the valid blur: a full
// convolution with the flipped window, written here as a scatter.
//
// Bits: every map value is a fixed sequence of T operations (taps in order,
// no contraction: -ffp-contract=off) whatever the vector width, and the means
// are row_sum's fixed tree, so every ISA level gives the same bits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastloss/api/image.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/rowwise.hpp"
#include "fastloss/common/tensors.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {
namespace img {

// The maps of one plane: sizes and the scratch layout (T elements).
template <class T>
struct Plane {
  int64_t H, W, ws;
  int64_t Ho() const { return H - ws + 1; }
  int64_t Wo() const { return W - ws + 1; }
  // hz: 5 H Wo (row pass; later the S/CS maps or the G maps), m: 5 Ho Wo
  // (the moments), t: 3 H Wo (column adjoint), rows: 6 W.
  static size_t elems(int64_t H, int64_t W, int64_t ws) {
    const int64_t Ho = H - ws + 1, Wo = W - ws + 1;
    return static_cast<size_t>(5 * H * Wo + 5 * Ho * Wo + 3 * H * Wo + 6 * W);
  }
};

template <class T>
struct Ssim {
  const T* g;  // ws taps
  int64_t ws;
  T C1, C2;

  // The five moments of X, Y (H x W) into m (5 maps of Ho x Wo).
  void moments(const T* FL_RESTRICT X, const T* FL_RESTRICT Y, int64_t H, int64_t W,
               T* FL_RESTRICT hz, T* FL_RESTRICT m, T* FL_RESTRICT rows) const {
    const int64_t Wo = W - ws + 1, Ho = H - ws + 1;
    T* FL_RESTRICT xx = rows;
    T* FL_RESTRICT yy = rows + W;
    T* FL_RESTRICT xy = rows + 2 * W;
    for (int64_t i = 0; i < H; ++i) {
      const T* FL_RESTRICT x = X + i * W;
      const T* FL_RESTRICT y = Y + i * W;
      FL_SIMD
      for (int64_t j = 0; j < W; ++j) {
        xx[j] = x[j] * x[j];
        yy[j] = y[j] * y[j];
        xy[j] = x[j] * y[j];
      }
      const T* src[5] = {x, y, xx, yy, xy};
      for (int s = 0; s < 5; ++s) {
        const T* FL_RESTRICT a = src[s];
        T* FL_RESTRICT o = hz + (s * H + i) * Wo;
        const T g0 = g[0];
        FL_SIMD
        for (int64_t j = 0; j < Wo; ++j) o[j] = g0 * a[j];
        for (int64_t k = 1; k < ws; ++k) {
          const T gk = g[k];
          FL_SIMD
          for (int64_t j = 0; j < Wo; ++j) o[j] = o[j] + gk * a[j + k];
        }
      }
    }
    for (int s = 0; s < 5; ++s) {
      for (int64_t i = 0; i < Ho; ++i) {
        T* FL_RESTRICT o = m + (s * Ho + i) * Wo;
        const T* FL_RESTRICT a = hz + (s * H + i) * Wo;
        const T g0 = g[0];
        FL_SIMD
        for (int64_t j = 0; j < Wo; ++j) o[j] = g0 * a[j];
        for (int64_t k = 1; k < ws; ++k) {
          const T gk = g[k];
          const T* FL_RESTRICT b = a + k * Wo;
          FL_SIMD
          for (int64_t j = 0; j < Wo; ++j) o[j] = o[j] + gk * b[j];
        }
      }
    }
  }

  // (mean SSIM, mean CS) over the valid region, from the moments m; uses
  // buf (2 P) for the maps.
  void stats(const T* FL_RESTRICT m, int64_t P, T* FL_RESTRICT buf, double& s_mean,
             double& cs_mean) const {
    const T *mx = m, *my = m + P, *exx = m + 2 * P, *eyy = m + 3 * P, *exy = m + 4 * P;
    T* FL_RESTRICT sm = buf;
    T* FL_RESTRICT cm = buf + P;
    const T c1 = C1, c2 = C2;
    FL_SIMD
    for (int64_t q = 0; q < P; ++q) {
      const T a = mx[q], b = my[q];
      const T l = (T(2) * a * b + c1) / (a * a + b * b + c1);
      const T cs = (T(2) * (exy[q] - a * b) + c2) / ((exx[q] - a * a) + (eyy[q] - b * b) + c2);
      cm[q] = cs;
      sm[q] = l * cs;
    }
    const double inv = 1.0 / static_cast<double>(P);
    s_mean = row_sum(P, [&](int64_t q) { return static_cast<double>(sm[q]); }) * inv;
    cs_mean = row_sum(P, [&](int64_t q) { return static_cast<double>(cm[q]); }) * inv;
  }

  // gX = d/dX (a_s sum(S) + a_c sum(CS)) over the valid region (the caller
  // folds 1/P into a_s, a_c), overwriting gX (H x W).
  void grad(const T* FL_RESTRICT X, const T* FL_RESTRICT Y, int64_t H, int64_t W,
            const T* FL_RESTRICT m, T a_s, T a_c, T* FL_RESTRICT G, T* FL_RESTRICT t,
            T* FL_RESTRICT rows, T* FL_RESTRICT gX) const {
    const int64_t Wo = W - ws + 1, Ho = H - ws + 1, P = Ho * Wo;
    const T *mx = m, *my = m + P, *exx = m + 2 * P, *eyy = m + 3 * P, *exy = m + 4 * P;
    T* FL_RESTRICT G1 = G;
    T* FL_RESTRICT G2 = G + P;
    T* FL_RESTRICT G3 = G + 2 * P;
    const T c1 = C1, c2 = C2;
    FL_SIMD
    for (int64_t q = 0; q < P; ++q) {
      const T a = mx[q], b = my[q];
      const T B1 = a * a + b * b + c1;
      const T l = (T(2) * a * b + c1) / B1;
      const T B2 = (exx[q] - a * a) + (eyy[q] - b * b) + c2;
      const T cs = (T(2) * (exy[q] - a * b) + c2) / B2;
      const T u = T(2) * (a_s * l + a_c) / B2;
      G3[q] = u;
      G2[q] = -(u * cs) / T(2);
      G1[q] = a_s * cs * T(2) * (b - l * a) / B1 + u * (cs * a - b);
    }
    // column adjoint: t[s][i + k] += g[k] G_s[i]
    std::memset(t, 0, sizeof(T) * static_cast<size_t>(3 * H * Wo));
    for (int s = 0; s < 3; ++s) {
      for (int64_t i = 0; i < Ho; ++i) {
        const T* FL_RESTRICT a = G + (s * Ho + i) * Wo;
        for (int64_t k = 0; k < ws; ++k) {
          const T gk = g[k];
          T* FL_RESTRICT o = t + (s * H + i + k) * Wo;
          FL_SIMD
          for (int64_t j = 0; j < Wo; ++j) o[j] = o[j] + gk * a[j];
        }
      }
    }
    // row adjoint, row by row, then the product rule
    T* FL_RESTRICT ra = rows;
    T* FL_RESTRICT rb = rows + W;
    T* FL_RESTRICT rc = rows + 2 * W;
    T* rs[3] = {ra, rb, rc};
    for (int64_t i = 0; i < H; ++i) {
      for (int s = 0; s < 3; ++s) {
        T* FL_RESTRICT o = rs[s];
        const T* FL_RESTRICT a = t + (s * H + i) * Wo;
        FL_SIMD
        for (int64_t j = 0; j < W; ++j) o[j] = T(0);
        for (int64_t k = 0; k < ws; ++k) {
          const T gk = g[k];
          T* FL_RESTRICT ok = o + k;
          FL_SIMD
          for (int64_t j = 0; j < Wo; ++j) ok[j] = ok[j] + gk * a[j];
        }
      }
      const T* FL_RESTRICT x = X + i * W;
      const T* FL_RESTRICT y = Y + i * W;
      T* FL_RESTRICT o = gX + i * W;
      FL_SIMD
      for (int64_t j = 0; j < W; ++j) o[j] = ra[j] + T(2) * x[j] * rb[j] + y[j] * rc[j];
    }
  }
};

// 1 - SSIM per image (channels averaged).
template <class T>
struct SsimImages {
  static constexpr int64_t group = 1;
  static constexpr int cost = 64;
  Ssim<T> s;
  const T* X;
  const T* Y;
  T* gX;  // nullptr where not asked
  int64_t C, H, W;
  size_t scratch_bytes() const { return sizeof(T) * Plane<T>::elems(H, W, s.ws); }
  int64_t sample_cost(int64_t) const { return C * H * W * (8 * s.ws + 40); }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void* scratch) const {
    const int64_t ws = s.ws, Ho = H - ws + 1, Wo = W - ws + 1, P = Ho * Wo;
    T* hz = static_cast<T*>(scratch);
    T* m = hz + 5 * H * Wo;
    T* t = m + 5 * Ho * Wo;
    T* rows = t + 3 * H * Wo;
    for (int64_t i = 0; i < len; ++i) {
      const int64_t n = lo + i;
      double total = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t off = (n * C + c) * H * W;
        s.moments(X + off, Y + off, H, W, hz, m, rows);
        double sm, cm;
        s.stats(m, P, hz, sm, cm);
        total += sm;
        if constexpr (kGrad) {
          // d(1 - mean_c SSIM_c)/dX: -gs / (C P) per map value
          const T a_s = static_cast<T>(-static_cast<double>(gs[i]) /
                                       (static_cast<double>(C) * static_cast<double>(P)));
          s.grad(X + off, Y + off, H, W, m, a_s, T(0), hz, t, rows, gX + off);
        }
      }
      value[i] = static_cast<T>(1.0 - total / static_cast<double>(C));
    }
  }
};

// Level sizes of MS-SSIM's pyramid: avg_pool2d(kernel 2, stride 2, padding
// s % 2, zeros counted) halves s to (s + s % 2) / 2.
inline int64_t pooled(int64_t s) { return (s + s % 2) / 2; }

// avg_pool2d as pytorch_msssim calls it, from a (H x W) to b.
template <class T>
void pool(const T* FL_RESTRICT a, int64_t H, int64_t W, T* FL_RESTRICT b) {
  const int64_t ph = H % 2, pw = W % 2, Hb = pooled(H), Wb = pooled(W);
  for (int64_t i = 0; i < Hb; ++i) {
    const int64_t r0 = 2 * i - ph, r1 = r0 + 1;
    for (int64_t j = 0; j < Wb; ++j) {
      const int64_t c0 = 2 * j - pw, c1 = c0 + 1;
      const T v00 = (r0 >= 0 && c0 >= 0) ? a[r0 * W + c0] : T(0);
      const T v01 = (r0 >= 0 && c1 < W) ? a[r0 * W + c1] : T(0);
      const T v10 = (r1 < H && c0 >= 0) ? a[r1 * W + c0] : T(0);
      const T v11 = (r1 < H && c1 < W) ? a[r1 * W + c1] : T(0);
      b[i * Wb + j] = (((v00 + v01) + v10) + v11) / T(4);
    }
  }
}

// ga (H x W) += the adjoint of pool applied to gb.
template <class T>
void pool_adjoint(const T* FL_RESTRICT gb, int64_t H, int64_t W, T* FL_RESTRICT ga) {
  const int64_t ph = H % 2, pw = W % 2, Wb = pooled(W);
  for (int64_t r = 0; r < H; ++r) {
    const int64_t i = (r + ph) / 2;
    for (int64_t c = 0; c < W; ++c) {
      const int64_t j = (c + pw) / 2;
      ga[r * W + c] = ga[r * W + c] + gb[i * Wb + j] / T(4);
    }
  }
}

// 1 - MS-SSIM per image: L levels of the pyramid (one per weight, 1 to
// kLevels, as pytorch_msssim takes len(weights)), cs (relu'd) at all but the
// last and SSIM (relu'd) at the last, each to the power of its weight,
// multiplied per channel, the product averaged over channels.
template <class T>
struct MsSsimImages {
  static constexpr int64_t group = 1;
  static constexpr int cost = 64;
  static constexpr int kLevels = 5;
  Ssim<T> s;
  const T* X;
  const T* Y;
  T* gX;
  int64_t C, H, W;
  int L;  // levels used, 1..kLevels
  double w[kLevels];
  int64_t lh(int l) const {
    int64_t v = H;
    for (int k = 0; k < l; ++k) v = pooled(v);
    return v;
  }
  int64_t lw(int l) const {
    int64_t v = W;
    for (int k = 0; k < l; ++k) v = pooled(v);
    return v;
  }
  // pyramid: levels 1.. of X, Y and their gradients
  size_t pyramid_elems() const {
    size_t e = 0;
    for (int l = 1; l < L; ++l) e += static_cast<size_t>(lh(l) * lw(l));
    return e;
  }
  size_t scratch_bytes() const {
    return sizeof(T) * (Plane<T>::elems(H, W, s.ws) + 3 * pyramid_elems());
  }
  int64_t sample_cost(int64_t) const { return C * H * W * (12 * s.ws + 60); }
  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* gs, T* value, void* scratch) const {
    const int64_t ws = s.ws;
    T* hz = static_cast<T*>(scratch);
    T* m = hz + 5 * H * (W - ws + 1);
    T* t = m + 5 * (H - ws + 1) * (W - ws + 1);
    T* rows = t + 3 * H * (W - ws + 1);
    T* pyr = rows + 6 * W;
    const size_t pe = pyramid_elems();
    const T* xs[kLevels];
    const T* ys[kLevels];
    T* px[kLevels] = {};  // the pooled levels (1..), xs/ys point to them
    T* py[kLevels] = {};
    T* gl[kLevels];
    int64_t hs[kLevels], wsz[kLevels];
    {
      size_t off = 0;
      for (int l = 0; l < L; ++l) {
        hs[l] = lh(l);
        wsz[l] = lw(l);
        if (l > 0) {
          px[l] = pyr + off;
          py[l] = pyr + pe + off;
          xs[l] = px[l];
          ys[l] = py[l];
          gl[l] = pyr + 2 * pe + off;
          off += static_cast<size_t>(hs[l] * wsz[l]);
        }
      }
    }
    for (int64_t i = 0; i < len; ++i) {
      const int64_t n = lo + i;
      double total = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t off = (n * C + c) * H * W;
        xs[0] = X + off;
        ys[0] = Y + off;
        double raw[kLevels];
        for (int l = 0; l < L; ++l) {
          if (l > 0) {
            pool(xs[l - 1], hs[l - 1], wsz[l - 1], px[l]);
            pool(ys[l - 1], hs[l - 1], wsz[l - 1], py[l]);
          }
          const int64_t P = (hs[l] - ws + 1) * (wsz[l] - ws + 1);
          s.moments(xs[l], ys[l], hs[l], wsz[l], hz, m, rows);
          double sm, cm;
          s.stats(m, P, hz, sm, cm);
          raw[l] = l + 1 < L ? cm : sm;
        }
        double f[kLevels], prod = 1.0;
        for (int l = 0; l < L; ++l) {
          f[l] = std::pow(raw[l] < 0.0 ? 0.0 : raw[l], w[l]);  // relu; NaN stays NaN
          prod *= f[l];
        }
        total += prod;
        if constexpr (kGrad) {
          gl[0] = gX + off;
          const double scale = -static_cast<double>(gs[i]) / static_cast<double>(C);
          for (int l = L - 1; l >= 0; --l) {
            // d prod / d raw_l: w_l raw_l^(w_l - 1) times the other factors,
            // 0 where relu clipped (raw_l <= 0), as torch's relu backward
            // (a NaN passes through it)
            double d = 0.0;
            if (!(raw[l] <= 0.0)) {
              d = w[l] * std::pow(raw[l], w[l] - 1.0);
              for (int k = 0; k < L; ++k)
                if (k != l) d *= f[k];
            }
            const int64_t P = (hs[l] - ws + 1) * (wsz[l] - ws + 1);
            const T a = static_cast<T>(scale * d / static_cast<double>(P));
            s.moments(xs[l], ys[l], hs[l], wsz[l], hz, m, rows);
            const bool last = l + 1 == L;
            s.grad(xs[l], ys[l], hs[l], wsz[l], m, last ? a : T(0), last ? T(0) : a, hz, t,
                   rows, gl[l]);
            if (!last) pool_adjoint(gl[l + 1], hs[l], wsz[l], gl[l]);
          }
        }
      }
      value[i] = static_cast<T>(1.0 - total / static_cast<double>(C));
    }
  }
};

}  // namespace img
}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
