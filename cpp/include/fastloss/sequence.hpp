// fastloss/sequence.hpp -- sequence losses on the per-sample driver.
//
// ctc(logits, targets, input_lengths, target_lengths, blank, zero_infinity,
// batch_first): connectionist temporal classification (Graves et al. 2006)
// on unnormalized logits, as torch.nn.functional.ctc_loss applied to
// log_softmax(logits). One sequence is one sample (a task of the driver):
//   - its log_softmax normalizers lse_t (one per time step, from the
//     logits' row, a fixed-order sum so every ISA level gives the same bits)
//     and the log-probabilities of its extended labels E_t(s) = x[t, l'_s] -
//     lse_t, l' = (blank, l_1, blank, l_2, ..., blank), S = 2L + 1;
//   - the forward variables in log space, alpha_t(s) = E_t(s) +
//     logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), alpha_{t-1}(s-2) when
//     l'_s is a label that differs from l'_{s-2}), kept for every t;
//   - nll = -logsumexp(alpha_{T-1}(S-1), alpha_{T-1}(S-2));
//   - with a gradient, the backward variables (without the emission at t,
//     so alpha + beta is the log-probability of the paths through (t, s))
//     two rows at a time, each row's posteriors exp(alpha + beta + nll)
//     summed per class into acc, and d nll / d x[t, c] = softmax_t(c) -
//     acc(c) directly (autograd's route through log_softmax gives the same
//     up to rounding); rows t >= T_i get 0, as in torch.
// Every log-sum-exp runs over s in a vectorizable loop (vm::exp/vm::log, no
// libm); the scatter into classes and the sums over classes are scalar, in
// a fixed order.
// torch's "mean" divides each sequence's loss by its target length (at least
// 1) before averaging over the batch: with `per_length` the functor returns
// that quotient as the sample's value (and scales its gradient alike), and
// the driver's mean divides by N (or sum(w)).
// An impossible alignment (T_i shorter than L plus its repeats) has nll =
// inf: the value is inf (0 with zero_infinity) and the gradient 0 (torch's
// is NaN without zero_infinity). NaN logits propagate.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "fastloss/api/sequence.hpp"
#include "fastloss/common/config.hpp"
#include "fastloss/common/persample.hpp"
#include "fastloss/common/tensors.hpp"
#include "fastloss/common/vmath.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace ctc_detail {

// log(exp(a) + exp(b) + exp(c)) with -inf terms allowed (all -inf: -inf,
// never NaN) and NaN propagating. The largest term is 1 after the shift, so
// two exps, not three: m + log(1 + exp(mid - m) + exp(low - m)), the
// argument in [1, 3] (log_normal). Three-term log-sum-exps are most of
// CTC's work; against three exps and a log, a same-window A/B of the two
// builds (baseline ISA, 1 thread, T=200 N=64 C=32 L=40 float32, on 2 cores
// loaded ~15) gave value medians 18.7-24.7 ms against 24.3-26.6 ms, value
// and gradient 49.9-70.9 ms against 56.8-71.7 ms.
template <class T>
FL_INLINE T lse3(T a, T b, T c) {
  constexpr T kInf = std::numeric_limits<T>::infinity();
  const T lo_ab = vm::vmin(a, b), hi_ab = vm::vmax(a, b);
  const T m = vm::vmax(hi_ab, c);
  const T mid = vm::vmax(lo_ab, vm::vmin(hi_ab, c));
  const T low = vm::vmin(lo_ab, c);
  const T r = m + vm::log_normal(T(1) + vm::exp_nonpos(mid - m) + vm::exp_nonpos(low - m));
  // all -inf: -inf (r is NaN there); a NaN term: NaN (the compares drop it)
  const T out = vm::select(m == -kInf, -kInf, r);
  return vm::select(a != a, a, vm::select(b != b, b, vm::select(c != c, c, out)));
}

constexpr int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

// Offsets (in elements of T) of one thread's scratch: lse (Tm), E (Tm x Sm),
// alpha (Tm rows of Sm + 2: two -inf entries in front, so s - 1 and s - 2
// are in the row), the virtual row alpha_{-1}, the skip mask (Sm + 2), two
// beta rows (Sm + 2: two -inf entries behind), the posteriors (Sm), the
// class sums (C); then the extended labels as int64 (Sm).
struct Layout {
  int64_t sm, sp, lse, e, alpha, v0, mask, b0, b1, post, acc, end;
  Layout(int64_t tm, int64_t lm, int64_t c) {
    sm = 2 * lm + 1;
    sp = round16(sm + 2);
    lse = 0;
    e = lse + round16(tm);
    alpha = e + round16(tm * sm);
    v0 = alpha + tm * sp;
    mask = v0 + sp;
    b0 = mask + sp;
    b1 = b0 + sp;
    post = b1 + sp;
    acc = post + sp;
    end = acc + round16(c);
  }
};

}  // namespace ctc_detail

template <class T>
struct Ctc {
  static constexpr int64_t group = 1;  // one sequence per task
  static constexpr int cost = 1;       // sample_cost says more
  const T* x;               // logits, (T, N, C) or (N, T, C)
  const int64_t* targets;   // labels of sequence n at targets + off[n]
  const int64_t* off;       // N offsets into targets
  const int64_t* ilen;      // N input lengths, in [0, T]
  const int64_t* tlen;      // N target lengths
  T* g;                     // d/d logits, nullptr: not asked
  int64_t t_max, c, blank;  // time steps of the array, classes, the blank
  int64_t st, sn;           // element strides of a time step and of a sequence
  int64_t ti_max, l_max;    // largest input and target length (scratch)
  bool zero_infinity, per_length;

  size_t scratch_bytes() const {
    const ctc_detail::Layout ly(ti_max, l_max, c);
    return static_cast<size_t>(ly.end) * sizeof(T) +
           static_cast<size_t>(ctc_detail::round16(ly.sm)) * sizeof(int64_t);
  }

  // Cells of the forward-backward (T_i (2L_i + 1), each a few exps and a
  // log, fwd and bwd) and the softmax rows, in the driver's cost units.
  int64_t sample_cost(int64_t i) const {
    return 16 * ilen[i] * (2 * tlen[i] + 1) + 4 * ilen[i] * c + 1;
  }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const T* FL_RESTRICT gs, T* FL_RESTRICT value,
            void* scratch) const {
    for (int64_t i = 0; i < len; ++i) one<kGrad>(lo + i, kGrad ? gs[i] : T(0), value + i, scratch);
  }

 private:
  // The cells (t, s) that can lie on a path: s <= 2t + 1 (two extended
  // labels a step at most from the start) and s >= S - 2(T_i - t) (to the
  // end in the steps left). Outside, alpha (beta) is -inf, so the loops
  // skip them (a fifth of the cells at T = 200, L = 40); every cell inside
  // reads only cells inside the band of its neighbour row, so the values
  // are those of the full rows, bit for bit.
  static void band(int64_t t, int64_t ti, int64_t S, int64_t& lo, int64_t& hi) {
    lo = S - 2 * (ti - t);
    if (lo < 0) lo = 0;
    hi = 2 * t + 2;
    if (hi > S) hi = S;
  }

  template <bool kGrad>
  void one(int64_t n, T gscale, T* value, void* scratch) const {
    using namespace ctc_detail;
    constexpr T kInf = std::numeric_limits<T>::infinity();
    const int64_t ti = ilen[n], L = tlen[n], S = 2 * L + 1;
    const Layout ly(ti_max, l_max, c);
    T* FL_RESTRICT base = static_cast<T*>(scratch);
    int64_t* FL_RESTRICT lab = reinterpret_cast<int64_t*>(base + ly.end);
    const int64_t* tg = targets + off[n];
    for (int64_t k = 0; k < L; ++k) {
      const int64_t l = tg[k];
      if (l < 0 || l >= c || l == blank) {
        throw std::invalid_argument(
            "targets: label " + std::to_string(l) + " of sequence " + std::to_string(n) +
            " (position " + std::to_string(k) + ") must be in [0, " + std::to_string(c) +
            ") and differ from blank=" + std::to_string(blank));
      }
    }
    T* FL_RESTRICT mask = base + ly.mask;
    for (int64_t s = 0; s < S; ++s) {
      lab[s] = s % 2 == 1 ? tg[s / 2] : blank;
      mask[s] = s % 2 == 1 && s >= 3 && lab[s] != lab[s - 2] ? T(0) : -kInf;
    }
    mask[S] = mask[S + 1] = -kInf;

    // log_softmax normalizers and the extended labels' log-probabilities
    T* FL_RESTRICT lse = base + ly.lse;
    T* FL_RESTRICT E = base + ly.e;
    T* FL_RESTRICT tmp = base + ly.acc;  // C values, free until the backward pass
    const T* xs = x + n * sn;
    for (int64_t t = 0; t < ti; ++t) {
      const T* FL_RESTRICT xr = xs + t * st;
      T m = xr[0];
      for (int64_t k = 1; k < c; ++k) m = vm::vmax(m, xr[k]);
      m = vm::select(m == -kInf, T(0), m);  // a row of -inf: NaN below, as torch's
      FL_SIMD
      for (int64_t k = 0; k < c; ++k) tmp[k] = vm::exp_nonpos(xr[k] - m);
      T sum = T(0);
      for (int64_t k = 0; k < c; ++k) sum += tmp[k];  // in order: the same bits on every ISA
      lse[t] = m + vm::log(sum);
      T* FL_RESTRICT er = E + t * ly.sm;
      for (int64_t s = 0; s < S; ++s) er[s] = xr[lab[s]] - lse[t];
    }

    // forward: alpha_{-1} is 0 at s = 0, -inf elsewhere
    T* FL_RESTRICT v0 = base + ly.v0;
    for (int64_t s = 0; s < S + 2; ++s) v0[s] = -kInf;
    v0[2] = T(0);
    T* FL_RESTRICT alpha = base + ly.alpha;
    for (int64_t t = 0; t < ti; ++t) {
      const T* FL_RESTRICT prev = t == 0 ? v0 : alpha + (t - 1) * ly.sp;
      T* FL_RESTRICT cur = alpha + t * ly.sp;
      const T* FL_RESTRICT er = E + t * ly.sm;
      int64_t lo, hi;
      band(t, ti, S, lo, hi);
      for (int64_t s = 0; s < lo + 2; ++s) cur[s] = -kInf;
      FL_SIMD
      for (int64_t s = lo; s < hi; ++s) {
        cur[s + 2] = er[s] + lse3(prev[s + 2], prev[s + 1], prev[s] + mask[s]);
      }
      for (int64_t s = hi > lo ? hi : lo; s < S; ++s) cur[s + 2] = -kInf;
    }
    const T* last = ti == 0 ? v0 : alpha + (ti - 1) * ly.sp;
    const T ll = lse3(last[S + 1], S >= 2 ? last[S] : -kInf, -kInf);
    const T nll = -ll;
    const bool impossible = nll == kInf;
    const T len1 = static_cast<T>(L > 1 ? L : 1);
    // nll / max(L, 1) as torch divides it (with per_length: a "mean")
    *value = impossible && zero_infinity ? T(0) : per_length ? nll / len1 : nll;
    if constexpr (!kGrad) return;

    T* gb = g + n * sn;
    auto zero_row = [&](int64_t t) {
      T* FL_RESTRICT gr = gb + t * st;
      FL_SIMD
      for (int64_t k = 0; k < c; ++k) gr[k] = T(0);
    };
    // an impossible alignment has no gradient (inf - inf); torch gives NaN
    // without zero_infinity, 0 with it: 0 either way here
    for (int64_t t = impossible ? 0 : ti; t < t_max; ++t) zero_row(t);
    if (impossible) return;
    const T gsl = per_length ? gscale / len1 : gscale;

    // backward: B_T is 0 at s = S - 1, -inf elsewhere; beta'_t(s) =
    // lse3(B_{t+1}(s), B_{t+1}(s+1), B_{t+1}(s+2) + mask(s+2)), B_t = E_t + beta'_t
    T* FL_RESTRICT bn = base + ly.b0;
    T* FL_RESTRICT bc = base + ly.b1;
    for (int64_t s = 0; s < S + 2; ++s) bn[s] = bc[s] = -kInf;
    bn[S - 1] = T(0);
    T* FL_RESTRICT post = base + ly.post;
    T* FL_RESTRICT acc = base + ly.acc;
    for (int64_t t = ti - 1; t >= 0; --t) {
      const T* FL_RESTRICT a = alpha + t * ly.sp + 2;
      const T* FL_RESTRICT er = E + t * ly.sm;
      int64_t lo, hi;
      band(t, ti, S, lo, hi);
      for (int64_t s = 0; s < lo; ++s) bc[s] = -kInf;
      FL_SIMD
      for (int64_t s = lo; s < hi; ++s) {
        const T bp = lse3(bn[s], bn[s + 1], bn[s + 2] + mask[s + 2]);
        post[s] = vm::exp(a[s] + bp + nll);
        bc[s] = er[s] + bp;
      }
      for (int64_t s = hi > lo ? hi : lo; s < S; ++s) bc[s] = -kInf;
      for (int64_t k = 0; k < c; ++k) acc[k] = T(0);
      for (int64_t s = lo; s < hi; ++s) acc[lab[s]] += post[s];
      const T* FL_RESTRICT xr = xs + t * st;
      T* FL_RESTRICT gr = gb + t * st;
      const T lt = lse[t];
      FL_SIMD
      for (int64_t k = 0; k < c; ++k) gr[k] = gsl * (vm::exp_nonpos(xr[k] - lt) - acc[k]);
      T* sw = bn;
      bn = bc;
      bc = sw;
    }
  }
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
