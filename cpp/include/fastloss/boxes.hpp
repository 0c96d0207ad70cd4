// fastloss/boxes.hpp -- bounding-box regression losses (IoU, GIoU, DIoU, CIoU)
// on the per-sample driver.
//
// Design. A box is a row of 4 numbers (x1, y1, x2, y2); pred and target are
// n such rows, the per-sample loss has one value per box and the gradient
// has pred's shape. As for element-wise losses, a loss is only its formulas:
// a box functor F with
//   template <class T, bool kGrad> T eval(const Box<T>& p, const Box<T>& t,
//                                         Box<T>& g) const;
// returning the loss of one box and, when kGrad, writing d loss / d p into g,
// plus `static constexpr int cost` (relative work per box). BoxRows makes F
// a sample functor of the per-sample driver (common/persample.hpp), which
// owns the rest: weights, reduction, threads and the deterministic blocked
// sum. A task is a group of kChunk boxes, first transposed into
// structure-of-arrays buffers in the thread's scratch, so the per-box
// formulas run in one `omp simd` loop over unit-stride lanes; gradients are
// transposed back. The driver stores each box's (weighted) loss and sums
// them with blocked_sum, the tree this file's own loop used before (BlockLanes
// per kBlock boxes, block totals pairwise), so the bits did not change.
//
// The formulas transcribe torchvision (ops/_utils.py `_loss_inter_union`,
// giou_loss.py, diou_loss.py, ciou_loss.py) and their gradients are written
// out by hand as torch's autograd computes them, including its conventions:
// at a tie torch.max/torch.min send half the gradient to each argument; the
// intersection is computed only where it is positive (index_put under a
// mask), so no gradient flows through it elsewhere -- which is why disjoint
// boxes have finite gradients; CIoU's alpha is a constant for the gradient
// (torch.no_grad), and CIoU's inner DIoU/IoU uses the fixed eps 1e-7 whatever
// eps is passed (torchvision calls _diou_iou_loss without it), the passed eps
// entering only alpha's denominator.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "fastloss/api/boxes.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/reduce.hpp"  // kChunk
#include "fastloss/common/run_fields.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// ---------------------------------------------------------------- atan
// Vectorizable arctangent (Cephes atan.c / atanf.c), branch-free: the range
// reductions are selects, and only +,-,*,/ and bit moves are used, so every
// vector width returns the same bits. atan(+-inf) = +-pi/2, NaN -> NaN, the
// sign of zero is kept. Within 1 ulp (double) and 3 ulp (float) of the exact
// value: tests/test_boxes.py checks it against numpy.arctan.
namespace boxmath {

FL_INLINE double copysign_bits(double mag, double sgn) {
  const int64_t s = vm::d_to_bits(sgn) & static_cast<int64_t>(0x8000000000000000ULL);
  return vm::bits_to_d(vm::d_to_bits(mag) | s);
}
FL_INLINE float copysign_bits(float mag, float sgn) {
  const int32_t s = vm::f_to_bits(sgn) & static_cast<int32_t>(0x80000000U);
  return vm::bits_to_f(vm::f_to_bits(mag) | s);
}

// Select c ? a : b. With AVX2 (no AVX-512), GCC (default -ftrapping-math)
// will not if-convert `c ? a - 1 : a`: it sinks the arithmetic into a branch
// it may not speculate, and the loop stays scalar (2-2.5x slower). A select
// on the bits has no branch to sink into. AVX-512 if-converts with masks and
// is faster with the plain select, as is scalar baseline code; the result
// is the same value either way, so every ISA still returns the same bits.
#if defined(__AVX2__) && !defined(__AVX512F__)
FL_INLINE double bsel(bool c, double a, double b) {
  const int64_t m = -static_cast<int64_t>(c);
  return vm::bits_to_d((vm::d_to_bits(a) & m) | (vm::d_to_bits(b) & ~m));
}
FL_INLINE float bsel(bool c, float a, float b) {
  const int32_t m = -static_cast<int32_t>(c);
  return vm::bits_to_f((vm::f_to_bits(a) & m) | (vm::f_to_bits(b) & ~m));
}
#else
template <class T>
FL_INLINE T bsel(bool c, T a, T b) {
  return c ? a : b;
}
#endif

FL_INLINE double atan(double x) {
  // |x| > tan(3pi/8): atan = pi/2 + atan(-1/|x|); |x| > 0.66: pi/4 +
  // atan((|x|-1)/(|x|+1)); else atan(|x|). Then a degree 4/5 rational in z.
  const double ax = vm::vabs(x);
  const bool big = ax > 2.41421356237309504880;
  const bool mid = (!big) & (ax > 0.66);
  const double num = bsel(big, -1.0, bsel(mid, ax - 1.0, ax));
  const double den = bsel(big, ax, bsel(mid, ax + 1.0, 1.0));
  const double r = num / den;
  const double y0 = big ? 1.57079632679489661923 : (mid ? 0.78539816339744830962 : 0.0);
  const double more = big ? 6.123233995736765886130e-17 : (mid ? 3.061616997868382943065e-17 : 0.0);
  const double z = r * r;
  const double p =
    (((-8.750608600031904122785e-1 * z - 1.615753718733365076637e1) * z -
      7.500855792314704667340e1) * z - 1.228866684490136173410e2) * z -
    6.485021904942025371773e1;
  const double q =
    ((((z + 2.485846490142306297962e1) * z + 1.650270098316988542046e2) * z +
      4.328810604912902668951e2) * z + 4.853903996359136964868e2) * z +
    1.945506571482613964425e2;
  double w = r * (z * p / q) + r;
  w = w + more;
  return copysign_bits(y0 + w, x);
}

FL_INLINE float atan(float x) {
  // Cephes atanf: thresholds tan(3pi/8) and tan(pi/8), odd polynomial.
  const float ax = vm::vabs(x);
  const bool big = ax > 2.414213562373095f;
  const bool mid = (!big) & (ax > 0.4142135623730950f);
  const float num = bsel(big, -1.0f, bsel(mid, ax - 1.0f, ax));
  const float den = bsel(big, ax, bsel(mid, ax + 1.0f, 1.0f));
  const float r = num / den;
  const float y0 = big ? 1.5707963267948966f : (mid ? 0.7853981633974483f : 0.0f);
  const float z = r * r;
  const float p =
    (((8.05374449538e-2f * z - 1.38776856032e-1f) * z + 1.99777106478e-1f) * z -
     3.33329491539e-1f) * z * r + r;
  return copysign_bits(y0 + p, x);
}

// torch.maximum / torch.minimum values: NaN in either argument gives NaN.
template <class T>
FL_INLINE T nmax(T a, T b) {
  return a != a ? a : (b != b ? b : (a < b ? b : a));
}
template <class T>
FL_INLINE T nmin(T a, T b) {
  return a != a ? a : (b != b ? b : (a > b ? b : a));
}
// Their derivatives with respect to the first argument, as torch's autograd
// defines them: 1/2 at a tie (derivatives.yaml, maximum/minimum).
// (bsel keeps GCC from folding `g * (c ? 0.5 : 1)` into a branch.)
template <class T>
FL_INLINE T dmax(T a, T b) {
  return bsel(a < b, T(0), bsel(a == b, T(0.5), T(1)));
}
template <class T>
FL_INLINE T dmin(T a, T b) {
  return bsel(a > b, T(0), bsel(a == b, T(0.5), T(1)));
}

}  // namespace boxmath

template <class T>
struct Box {
  T x1, y1, x2, y2;
};

// ---------------------------------------------------------------- pieces
// Intersection, union and IoU of one pair (torchvision _loss_inter_union and
// iou = inter / (union + eps)), with the backward pass from the gradients of
// the loss with respect to iou and union.
template <class T>
struct IouPart {
  T wp, hp;          // pred width and height
  T iw, ih;          // intersection width and height (if positive)
  bool mask;         // intersection non-empty (torchvision's mask)
  T inter, uni, den, iou;

  FL_INLINE void forward(const Box<T>& p, const Box<T>& t, T eps) {
    using namespace boxmath;
    const T ix1 = nmax(p.x1, t.x1), iy1 = nmax(p.y1, t.y1);
    const T ix2 = nmin(p.x2, t.x2), iy2 = nmin(p.y2, t.y2);
    mask = (iy2 > iy1) & (ix2 > ix1);
    iw = ix2 - ix1;
    ih = iy2 - iy1;
    inter = bsel(mask, iw * ih, T(0));
    wp = p.x2 - p.x1;
    hp = p.y2 - p.y1;
    uni = wp * hp + (t.x2 - t.x1) * (t.y2 - t.y1) - inter;
    den = uni + eps;
    iou = inter / den;
  }

  // Add to g the gradient of a loss whose partials are g_iou (through iou)
  // and g_uni (through union other than via iou).
  FL_INLINE void backward(const Box<T>& p, const Box<T>& t, T g_iou, T g_uni, Box<T>& g) const {
    using namespace boxmath;
    const T gi = g_iou / den;                    // d iou / d inter
    const T gu = g_uni - g_iou * (iou / den);    // total d / d union
    const T gin = bsel(mask, gi - gu, T(0));     // union = A_p + A_t - inter
    // pred area: (x2 - x1)(y2 - y1)
    g.x1 = g.x1 - gu * hp;
    g.x2 = g.x2 + gu * hp;
    g.y1 = g.y1 - gu * wp;
    g.y2 = g.y2 + gu * wp;
    // inter = (min(x2) - max(x1)) (min(y2) - max(y1)) where the mask holds
    const T gw = gin * ih, gh = gin * iw;
    g.x1 = g.x1 - gw * dmax(p.x1, t.x1);
    g.x2 = g.x2 + gw * dmin(p.x2, t.x2);
    g.y1 = g.y1 - gh * dmax(p.y1, t.y1);
    g.y2 = g.y2 + gh * dmin(p.y2, t.y2);
  }
};

// Smallest enclosing box: its width and height, and the backward pass.
template <class T>
struct Enclosure {
  T cw, ch;
  FL_INLINE void forward(const Box<T>& p, const Box<T>& t) {
    using namespace boxmath;
    cw = nmax(p.x2, t.x2) - nmin(p.x1, t.x1);
    ch = nmax(p.y2, t.y2) - nmin(p.y1, t.y1);
  }
  FL_INLINE void backward(const Box<T>& p, const Box<T>& t, T g_cw, T g_ch, Box<T>& g) const {
    using namespace boxmath;
    g.x1 = g.x1 - g_cw * dmin(p.x1, t.x1);
    g.x2 = g.x2 + g_cw * dmax(p.x2, t.x2);
    g.y1 = g.y1 - g_ch * dmin(p.y1, t.y1);
    g.y2 = g.y2 + g_ch * dmax(p.y2, t.y2);
  }
};

// DIoU penalty: centre distance squared over the enclosing diagonal squared
// (+ eps), torchvision _diou_iou_loss. Returns 1 - iou + penalty.
template <class T>
struct DiouPart {
  IouPart<T> io;
  Enclosure<T> en;
  T dx, dy, dist, diag, pen;

  FL_INLINE T forward(const Box<T>& p, const Box<T>& t, T eps) {
    io.forward(p, t, eps);
    en.forward(p, t);
    diag = en.cw * en.cw + en.ch * en.ch + eps;
    dx = (p.x2 + p.x1) / T(2) - (t.x1 + t.x2) / T(2);
    dy = (p.y2 + p.y1) / T(2) - (t.y1 + t.y2) / T(2);
    dist = dx * dx + dy * dy;
    pen = dist / diag;
    return T(1) - io.iou + pen;
  }
  // Gradient of (1 - iou + penalty), added to g.
  FL_INLINE void backward(const Box<T>& p, const Box<T>& t, Box<T>& g) const {
    const T g_dist = T(1) / diag;
    const T g_diag = -(pen / diag);
    en.backward(p, t, g_diag * (T(2) * en.cw), g_diag * (T(2) * en.ch), g);
    const T gx = g_dist * (T(2) * dx) / T(2), gy = g_dist * (T(2) * dy) / T(2);
    g.x1 = g.x1 + gx;
    g.x2 = g.x2 + gx;
    g.y1 = g.y1 + gy;
    g.y2 = g.y2 + gy;
    io.backward(p, t, T(-1), T(0), g);
  }
};

// ---------------------------------------------------------------- losses
struct BoxLossBase {
  static constexpr int cost = 8;  // a few divisions per box
  double eps;
  explicit BoxLossBase(double e) : eps(e) {}
};

// 1 - inter / (union + eps)
struct BoxIou : BoxLossBase {
  using BoxLossBase::BoxLossBase;
  template <class T, bool kGrad>
  FL_INLINE T eval(const Box<T>& p, const Box<T>& t, Box<T>& g) const {
    IouPart<T> io;
    io.forward(p, t, T(eps));
    if constexpr (kGrad) io.backward(p, t, T(-1), T(0), g);
    return T(1) - io.iou;
  }
};

// 1 - iou + (area_c - union) / (area_c + eps)   (generalized_box_iou_loss)
struct BoxGiou : BoxLossBase {
  using BoxLossBase::BoxLossBase;
  template <class T, bool kGrad>
  FL_INLINE T eval(const Box<T>& p, const Box<T>& t, Box<T>& g) const {
    const T e = T(eps);
    IouPart<T> io;
    Enclosure<T> en;
    io.forward(p, t, e);
    en.forward(p, t);
    const T area = en.cw * en.ch;
    const T ad = area + e;
    const T q = (area - io.uni) / ad;
    if constexpr (kGrad) {
      const T g_num = T(1) / ad;        // d q / d (area - union)
      const T g_area = g_num - q / ad;  // through the numerator and ad
      en.backward(p, t, g_area * en.ch, g_area * en.cw, g);
      io.backward(p, t, T(-1), -g_num, g);
    }
    return T(1) - (io.iou - q);
  }
};

// 1 - iou + centre_dist^2 / (diag_c^2 + eps)   (distance_box_iou_loss)
struct BoxDiou : BoxLossBase {
  using BoxLossBase::BoxLossBase;
  template <class T, bool kGrad>
  FL_INLINE T eval(const Box<T>& p, const Box<T>& t, Box<T>& g) const {
    DiouPart<T> d;
    const T v = d.forward(p, t, T(eps));
    if constexpr (kGrad) d.backward(p, t, g);
    return v;
  }
};

// diou(eps=1e-7) + alpha v, v = 4/pi^2 (atan(w_t/h_t) - atan(w_p/h_p))^2,
// alpha = v / (1 - iou + v + eps) held constant  (complete_box_iou_loss)
struct BoxCiou : BoxLossBase {
  using BoxLossBase::BoxLossBase;
  static constexpr double kDiouEps = 1e-7;  // torchvision's fixed inner eps
  static constexpr double kFourOverPi2 =
      4.0 / (3.14159265358979323846 * 3.14159265358979323846);
  template <class T, bool kGrad>
  FL_INLINE T eval(const Box<T>& p, const Box<T>& t, Box<T>& g) const {
    DiouPart<T> d;
    const T diou = d.forward(p, t, T(kDiouEps));
    const T r = d.io.wp / d.io.hp;
    const T delta = boxmath::atan((t.x2 - t.x1) / (t.y2 - t.y1)) - boxmath::atan(r);
    const T v = T(kFourOverPi2) * (delta * delta);
    const T alpha = v / (T(1) - d.io.iou + v + T(eps));
    if constexpr (kGrad) {
      d.backward(p, t, g);
      // d (alpha v) / d atan(r) = -alpha * 4/pi^2 * 2 delta
      const T g_at = -(alpha * T(kFourOverPi2) * (T(2) * delta));
      // d atan(w/h) / dw = h / (w^2 + h^2) = 1 / (h (r^2 + 1)), d / dh =
      // -w / (w^2 + h^2) = -r / (h (r^2 + 1)), as torch's autograd writes
      // them. For a thin box (|r| > 2^20) r^2 overflows (float32 once
      // h < ~1e-19 |w|) and g_r * (r / h) gives inf * 0 = NaN; there the
      // same derivatives in q = 1/r = h/w, (q / (w (1 + q^2)), -1 / (w (1 +
      // q^2))), have no overflow. A select, so every other box keeps its bits.
      // h = 0 stays torch's NaN: atan(w/h) jumps there, it has no derivative.
      const T g_r = g_at / (r * r + T(1));
      const T q = d.io.hp / d.io.wp;
      const T g_wq = g_at / (d.io.wp * (q * q + T(1)));
      const bool thin = (vm::vabs(r) > T(1048576)) & (d.io.hp != T(0));
      const T g_w = boxmath::bsel(thin, g_wq * q, g_r / d.io.hp);
      const T g_h = boxmath::bsel(thin, -g_wq, -(g_r * (r / d.io.hp)));
      g.x1 = g.x1 - g_w;
      g.x2 = g.x2 + g_w;
      g.y1 = g.y1 - g_h;
      g.y2 = g.y2 + g_h;
    }
    return diou + alpha * v;
  }
};

// ---------------------------------------------------------------- driver
// A per-box formula F as a sample functor of the per-sample driver
// (common/persample.hpp). Boxes are cheap, so a task is a reduction block of
// kBlock boxes (the driver then sums its terms in cache), worked through in
// chunks of kChunk transposed into structure-of-arrays buffers in the
// thread's scratch so that F runs in one `omp simd` loop over unit-stride
// lanes; the gradient, already scaled, is transposed back.
template <class T, class F>
struct BoxRows {
  static constexpr int64_t group = kBlock;
  static constexpr int cost = F::cost;
  const F& f;
  const T* pred;    // 4n
  const T* target;  // 4n
  T* grad;          // 4n, when a gradient is asked

  size_t scratch_bytes() const { return 3 * 4 * kChunk * sizeof(T); }  // P, Y, G

  template <bool kGrad>
  FL_INLINE void eval(int64_t lo, int64_t len, const T* gs, T* val, void* scratch) const {
    for (int64_t c = 0; c < len; c += kChunk) {
      chunk<kGrad>(lo + c, std::min(kChunk, len - c), gs + c, val + c, scratch);
    }
  }

  template <bool kGrad>
  FL_INLINE void chunk(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT val,
                       void* scratch) const {
    T* FL_RESTRICT P = static_cast<T*>(__builtin_assume_aligned(scratch, 64));
    T* FL_RESTRICT Y = P + 4 * kChunk;
    T* FL_RESTRICT G = Y + 4 * kChunk;
    to_soa(pred + 4 * lo, target + 4 * lo, P, Y, len);
    FL_SIMD
    for (int64_t i = 0; i < len; ++i) {
      const Box<T> bp{P[i], P[kChunk + i], P[2 * kChunk + i], P[3 * kChunk + i]};
      const Box<T> bt{Y[i], Y[kChunk + i], Y[2 * kChunk + i], Y[3 * kChunk + i]};
      Box<T> bg{T(0), T(0), T(0), T(0)};
      val[i] = f.template eval<T, kGrad>(bp, bt, bg);
      if constexpr (kGrad) {
        const T s = gs[i];
        G[i] = bg.x1 * s;
        G[kChunk + i] = bg.y1 * s;
        G[2 * kChunk + i] = bg.x2 * s;
        G[3 * kChunk + i] = bg.y2 * s;
      }
    }
    if constexpr (kGrad) from_soa(G, grad + 4 * lo, len);
  }

  // The transpositions take their buffers as restrict parameters: the
  // scratch is a pointer the compiler cannot tell apart from the inputs and
  // outputs otherwise. giou / ciou value_and_grad, 1e6 float32 boxes, one
  // thread, best of 40 in 3 runs: 4.70-4.82 / 6.82-7.06 ms with the former
  // stack buffers, 4.94-5.42 / 7.39-8.08 with the scratch through plain
  // pointers, 4.22-4.89 / 6.58-6.98 with these (a loaded 2-core machine).
  static FL_INLINE void to_soa(const T* FL_RESTRICT pc, const T* FL_RESTRICT yc,
                               T* FL_RESTRICT P, T* FL_RESTRICT Y, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      for (int j = 0; j < 4; ++j) {
        P[j * kChunk + i] = pc[4 * i + j];
        Y[j * kChunk + i] = yc[4 * i + j];
      }
    }
  }
  static FL_INLINE void from_soa(const T* FL_RESTRICT G, T* FL_RESTRICT gc, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      for (int j = 0; j < 4; ++j) gc[4 * i + j] = G[j * kChunk + i];
    }
  }
};

// Run a per-box loss over a.n boxes. Returns the reduced value for a scalar
// reduction with a value asked. The mean of zero boxes is 0 (torchvision:
// `0.0 * loss.sum()`).
template <class T, class F>
double rows4(const F& f, const BoxArgs& a) {
  if (a.n == 0) return 0.0;
  const BoxRows<T, F> rows{f, static_cast<const T*>(a.pred), static_cast<const T*>(a.target),
                           static_cast<T*>(a.out_grad)};
  SampleRun<T> run = run_fields<SampleRun<T>>(a);
  run.n = a.n;
  run.out_blocks = a.out_blocks;
  return per_sample(rows, run);
}

template <class F>
double rows4_any(const F& f, const BoxArgs& a) {
  return a.dtype == DType::f32 ? rows4<float>(f, a) : rows4<double>(f, a);
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
