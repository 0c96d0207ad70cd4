// fastloss/common/reduce.hpp -- the one deterministic summation every kernel uses.
//
// Design. A reduction over n terms is cut into blocks of kBlock consecutive
// terms. Inside a block, term i is added to accumulator (i % L) in index
// order, in float64 -- L = 16 (BlockLanes) for the per-element drivers, 8
// (Lanes) for rows and slices; fixed per reduction, never the vector width --
// and the L accumulators are then combined by a fixed tree. Block totals are
// combined pairwise in index order, the split at the largest power of two
// below the count (pairwise_sum): every aligned run of 2^k blocks is then a
// complete subtree whatever the total, so a stream of chunks that start on
// block boundaries can rebuild the one-shot sum from its chunks' block
// totals (fastloss.Accumulator keeps one partial sum per power of two, a
// binary counter). Every step depends only on n -- not on the thread count,
// the schedule or the vector width -- so the result is bitwise identical on
// 1 or N threads and on every ISA (with -ffp-contract=off, which the build
// sets). The lanes live in vectors of the
// target's width (VAcc: four doubles with AVX, two with SSE2 or NEON): the
// same lane-wise IEEE additions whatever the grouping.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "fastloss/api/types.hpp"
#include "fastloss/common/config.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

constexpr int64_t kBlock = kReductionBlock;  // terms per block (a multiple of kChunk)
constexpr int64_t kChunk = 256;   // terms computed per vector pass into a buffer
constexpr int kLanes = 8;         // float64 accumulators per row/slice block (Lanes)

// Small fixed-size vectors (GCC/Clang vector extensions) for code whose
// natural width is not the loop's: lane-wise IEEE operations, so the same
// bits whatever registers the compiler maps them to (two ymm, one zmm half,
// two or four xmm). Passed by reference: a vector argument or return would
// change the ABI between ISA levels.
typedef double V4d __attribute__((vector_size(32)));
typedef float V4f __attribute__((vector_size(16)));
typedef float V8f __attribute__((vector_size(32)));
// Four consecutive values, widened to float64 (exactly: any instruction
// sequence gives the same bits). GCC 12 lowers __builtin_convertvector from
// four floats to four doubles as two half conversions, two 8-byte loads that
// merge into the previous register (a dependency from one loop iteration to
// the next) and an insert: 4 instructions where x86 has one, and overlap's
// sums loop ran 20% slower than a plain read of the same bytes. x86 gets the
// conversion instructions by name.
FL_INLINE void load4(const double* x, V4d& v) { std::memcpy(&v, x, sizeof v); }
FL_INLINE void load4(const float* x, V4d& v) {
#if defined(__AVX__)
  const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x));
  std::memcpy(&v, &d, sizeof v);
#elif defined(__SSE2__)
  const __m128 f = _mm_loadu_ps(x);
  const __m128d d[2] = {_mm_cvtps_pd(f), _mm_cvtps_pd(_mm_movehl_ps(f, f))};
  std::memcpy(&v, d, sizeof v);
#else
  V4f f;
  std::memcpy(&f, x, sizeof f);
  v = __builtin_convertvector(f, V4d);
#endif
}

// The accumulators' vector: four doubles where the target has 256-bit
// registers, else two (SSE2, NEON), so that an array of them stays in
// registers (GCC lowers a wider generic vector through memory).
#if defined(__AVX__)
typedef double VAcc __attribute__((vector_size(32)));
#else
typedef double VAcc __attribute__((vector_size(16)));
#endif
constexpr int kAccWidth = static_cast<int>(sizeof(VAcc) / sizeof(double));

// kAccWidth consecutive values widened to float64 (exactly).
FL_INLINE void load_acc(const double* x, VAcc& v) { std::memcpy(&v, x, sizeof v); }
FL_INLINE void load_acc(const float* x, VAcc& v) {
#if defined(__AVX__)
  load4(x, v);
#elif defined(__SSE2__)
  const __m128d d =
      _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x))));
  std::memcpy(&v, &d, sizeof v);
#else
  typedef float V2f __attribute__((vector_size(8)));
  V2f f;
  std::memcpy(&f, x, sizeof f);
  v = __builtin_convertvector(f, VAcc);
#endif
}

// L float64 accumulators: term j of a block goes to lane j % L in index
// order, then the lanes are combined by a fixed tree. Lanes (8) serves rows
// and slices, BlockLanes (16) the per-element drivers: at AVX2 four
// independent chains of four-double additions instead of two, so a cheap
// loss's reduction is not held to an addition's latency per eight terms
// (mse on 1e5 float32, one thread: 20 -> 16 us at AVX2).
template <int L>
struct LanesOf {
  static_assert(L == 8 || L == 16, "8 or 16 lanes");
  static constexpr int kQ = L / kAccWidth;  // vectors
  VAcc q[kQ];                               // lane l is q[l / kAccWidth][l % kAccWidth]

  FL_INLINE void zero() {
    for (int i = 0; i < kQ; ++i) q[i] = VAcc{};
  }
  // Add terms t[0..len) whose first index is a multiple of L. Terms are
  // doubles, or floats widened exactly on the way (load_acc). The lanes stay
  // in kQ vector registers through the loop (GCC's own vectorization of a loop
  // over the lanes kept some in scalar chains and in memory), and in memory
  // between calls: not inlined, so the compiler cannot keep them in
  // registers across the caller's loop, whose code then spilled (huber at
  // AVX2 took 30-70% longer). A call per chunk of terms costs nothing.
  template <class U>
  FL_NOINLINE void add(const U* FL_RESTRICT t, int64_t len) {
    VAcc a[kQ];
    for (int i = 0; i < kQ; ++i) a[i] = q[i];
    int64_t j = 0;
    for (; j + L <= len; j += L) step(a, t + j);
    for (int i = 0; i < kQ; ++i) q[i] = a[i];
    if (j < len) tail(t, j, len);
  }
  // a.add(ta, len) and b.add(tb, len) in one loop: two independent sets of
  // chains in flight instead of one after the other.
  template <class U>
  static FL_NOINLINE void add2(LanesOf& a, const double* FL_RESTRICT ta, LanesOf& b,
                               const U* FL_RESTRICT tb, int64_t len) {
    VAcc va[kQ], vb[kQ];
    for (int i = 0; i < kQ; ++i) va[i] = a.q[i], vb[i] = b.q[i];
    int64_t j = 0;
    for (; j + L <= len; j += L) {
      step(va, ta + j);
      step(vb, tb + j);
    }
    for (int i = 0; i < kQ; ++i) a.q[i] = va[i], b.q[i] = vb[i];
    if (j < len) {
      a.tail(ta, j, len);
      b.tail(tb, j, len);
    }
  }
  FL_INLINE double total() const {
    double v[L];
    std::memcpy(v, q, sizeof v);
    return tree(v);
  }
  // The fixed combination of L accumulators.
  static FL_INLINE double tree(const double* a) {
    if constexpr (L == 8) {
      return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    } else {
      return LanesOf<8>::tree(a) + LanesOf<8>::tree(a + 8);
    }
  }

 private:
  template <class U>
  static FL_INLINE void step(VAcc* a, const U* FL_RESTRICT t) {
    for (int i = 0; i < kQ; ++i) {
      VAcc x;
      load_acc(t + kAccWidth * i, x);
      a[i] += x;
    }
  }
  // The last len - j < L terms, lane by lane.
  template <class U>
  FL_INLINE void tail(const U* FL_RESTRICT t, int64_t j, int64_t len) {
    double v[L];
    std::memcpy(v, q, sizeof v);
    for (int l = 0; j + l < len; ++l) v[l] += static_cast<double>(t[j + l]);
    std::memcpy(q, v, sizeof v);
  }
};
using Lanes = LanesOf<kLanes>;
using BlockLanes = LanesOf<16>;

// Pairwise sum of x[0..n) in index order, split at the largest power of two
// h < n: sum(x[0..h)) + sum(x[h..n)). The left part is a perfect tree, so
// every aligned run x[j*2^k .. (j+1)*2^k) inside [0, n) is a subtree of the
// same shape for any n (a stream can rebuild the sum; see the header). The
// split at n/2 this replaced gave a tree whose every node depended on n.
inline double pairwise_sum(const double* x, int64_t n) {
  if (n <= 0) return 0.0;
  if (n == 1) return x[0];
  if (n == 2) return x[0] + x[1];
  int64_t h = 1;
  while (2 * h < n) h *= 2;
  return pairwise_sum(x, h) + pairwise_sum(x + h, n - h);
}

// The leaves of a reduction's tree, for a caller that continues it
// (fastloss.Accumulator): per block b of kBlock terms, out[2b] gets the
// terms' sum and out[2b + 1] the mean's denominator there (the weights' sum,
// or the count of terms). A pairwise_sum of each column then gives the
// one-shot call's bits.
constexpr int64_t kBlockCols = kBlockLeaves;

inline int64_t num_blocks(int64_t n, int64_t block = kBlock) {
  return n <= 0 ? 0 : (n + block - 1) / block;
}

// Scratch for block partials: a small inline buffer, heap beyond it, so a
// call on a few elements does not allocate.
class Partials {
 public:
  explicit Partials(int64_t count, int64_t per_block = 1)
      : stride_(per_block) {
    const int64_t total = count * per_block;
    if (total <= kInline) {
      ptr_ = inline_;
    } else {
      heap_.resize(static_cast<size_t>(total));
      ptr_ = heap_.data();
    }
    std::fill(ptr_, ptr_ + total, 0.0);
  }
  Partials(const Partials&) = delete;
  Partials& operator=(const Partials&) = delete;
  double* operator[](int64_t b) { return ptr_ + b * stride_; }
  double* data() { return ptr_; }

 private:
  static constexpr int64_t kInline = 64;
  double inline_[kInline];
  std::vector<double> heap_;
  double* ptr_;
  int64_t stride_;
};

// The block sums of one per-element pass, shared by blocked_sum and the
// element-wise and box drivers: the terms' sum (kReduce) and, where `wsum`
// is given (only a weighted pass with kReduce asks), the weights' sum in the
// same loop (BlockLanes::add2). Both follow one tree -- BlockLanes per block,
// block totals pairwise -- so the weights' sum has blocked_sum's bits. Each
// parallel task fills a Block and closes it into its block's partial;
// finish() combines the partials and stores the weights' sum in *wsum.
template <bool kReduce, bool kW>
class BlockSums {
 public:
  struct Block {
    BlockLanes acc, wacc;
    Block() {
      acc.zero();
      wacc.zero();
    }
  };
  BlockSums(int64_t nb, double* wsum)
      : nb_(nb), wsum_(kW ? wsum : nullptr), part_(kReduce ? nb : 0), wpart_(wsum_ ? nb : 0) {}
  // Terms t[0..len), and weights w[0..len) when the weights' sum is asked;
  // the first index a multiple of 16 (BlockLanes).
  template <class U, class W>
  FL_INLINE void add(Block& k, const U* t, const W* w, int64_t len) const {
    if constexpr (kReduce) {
      if constexpr (kW) {
        if (wsum_ != nullptr) {
          BlockLanes::add2(k.acc, t, k.wacc, w, len);
          return;
        }
      }
      k.acc.add(t, len);
    }
  }
  FL_INLINE void close(Block& k, int64_t b) {
    if constexpr (kReduce) part_[b][0] = k.acc.total();
    if (kW && wsum_ != nullptr) wpart_[b][0] = k.wacc.total();
  }
  // Block b's partials (after the parallel region): the terms' sum, the
  // weights' sum (a weighted pass that asked for it) or else the block's term
  // count, into out[2b], out[2b + 1] (see kBlockCols); n is the terms' count.
  void blocks(double* out, int64_t n) {
    for (int64_t b = 0; b < nb_; ++b) {
      out[kBlockCols * b] = kReduce ? part_[b][0] : 0.0;
      out[kBlockCols * b + 1] = (kW && wsum_ != nullptr)
                                    ? wpart_[b][0]
                                    : static_cast<double>(std::min(kBlock, n - b * kBlock));
    }
  }
  double partial(int64_t b) { return part_[b][0]; }
  // The terms' sum (0 without kReduce); the weights' sum goes to *wsum.
  double finish() {
    if (kW && wsum_ != nullptr) *wsum_ = pairwise_sum(wpart_.data(), nb_);
    return kReduce ? pairwise_sum(part_.data(), nb_) : 0.0;
  }

 private:
  int64_t nb_;
  double* wsum_;
  Partials part_, wpart_;
};

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
