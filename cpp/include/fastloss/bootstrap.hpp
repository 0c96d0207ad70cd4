// fastloss/bootstrap.hpp -- the resampling buckets of fastloss.Accumulator's
// bootstrap (python/fastloss/_accumulate.py: bootstrap_buckets is this hash
// in NumPy, the tests hold the two together).
//
// Global row r falls in bucket LOW[r mod 2^16] XOR HIGH(r >> 16) of kBuckets:
// tabulation hashing over two splitmix64 tables, so two rows collide with
// probability 1 / kBuckets whether or not they share their high bits, and a
// row's bucket depends on its index alone (not on the chunk carrying it).
// bucket_add scatters per-row values into per-bucket sums in row order --
// np.bincount's order, so the same bits -- one pass, the hash inline.
// Serial: a chunk's scatter is a small part of its cost, and a serial sum in
// row order is the same for any thread count.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <type_traits>
#include <cstdint>
#include <stdexcept>
#include <vector>

#if defined(__GNUC__) || defined(__clang__)
#define FL_BOOT_INLINE inline __attribute__((always_inline))
#else
#define FL_BOOT_INLINE inline
#endif

namespace fastloss {
namespace bootstrap {

constexpr int kBucketBits = 10;
constexpr int64_t kBuckets = int64_t{1} << kBucketBits;  // fastloss.BOOTSTRAP_BUCKETS
constexpr int kLowBits = 16;

// splitmix64's finalizer of x * golden ratio (_accumulate._splitmix).
inline uint64_t splitmix64(uint64_t x) {
  x *= 0x9E3779B97F4A7C15ull;
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

// The buckets of the low 16 bits (built once; thread-safe static init).
inline const std::array<uint16_t, size_t{1} << kLowBits>& low_table() {
  static const auto table = [] {
    std::array<uint16_t, size_t{1} << kLowBits> t{};
    for (uint64_t i = 0; i < t.size(); ++i)
      t[i] = static_cast<uint16_t>(splitmix64(i) >> (64 - kBucketBits));
    return t;
  }();
  return table;
}

// The bucket term of the high bits (bit 62 set: apart from the low table).
inline int64_t high_bucket(int64_t r) {
  const uint64_t h = (static_cast<uint64_t>(r) >> kLowBits) | (uint64_t{1} << 62);
  return static_cast<int64_t>(splitmix64(h) >> (64 - kBucketBits));
}

inline int64_t bucket_of(int64_t r) {
  return low_table()[static_cast<size_t>(r) & ((size_t{1} << kLowBits) - 1)] ^ high_bucket(r);
}

// LanesOf<16>::tree (common/reduce.hpp): the fixed combination of 16 lanes.
inline double tree8(const double* a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
inline double tree16(const double* a) { return tree8(a) + tree8(a + 8); }

// out[bucket(first + i) + kBuckets * group[i]] += x[i] (or `constant` where x
// is nullptr) for i = 0 .. n-1 in order; group nullptr: group 0. `groups`:
// out holds kBuckets * groups values; a code outside [0, groups) throws
// before anything is added.
template <class T, class G>
void bucket_add(const T* x, double constant, int64_t n, int64_t first, const G* group,
                int64_t groups, double* out) {
  if (group != nullptr) {
    for (int64_t i = 0; i < n; ++i)
      if (group[i] < 0 || static_cast<int64_t>(group[i]) >= groups)
        throw std::invalid_argument("group: a code outside [0, groups)");
  }
  const uint16_t* low = low_table().data();
  constexpr int64_t kWindow = int64_t{1} << kLowBits;
  int64_t i = 0;
  while (i < n) {
    const int64_t r = first + i;
    const int64_t lo = r & (kWindow - 1);
    const int64_t m = std::min(n - i, kWindow - lo);  // rows sharing r's high bits
    const int64_t hb = high_bucket(r);
    const uint16_t* lw = low + lo;
    const T* xs = x != nullptr ? x + i : nullptr;
    if (group == nullptr) {
      if (xs != nullptr) {
        for (int64_t j = 0; j < m; ++j) out[lw[j] ^ hb] += static_cast<double>(xs[j]);
      } else {
        for (int64_t j = 0; j < m; ++j) out[lw[j] ^ hb] += constant;
      }
    } else {
      const G* gs = group + i;
      for (int64_t j = 0; j < m; ++j) {
        const int64_t k = (lw[j] ^ hb) + kBuckets * static_cast<int64_t>(gs[j]);
        out[k] += xs != nullptr ? static_cast<double>(xs[j]) : constant;
      }
    }
    i += m;
  }
}

// The mean's block leaves of an element-wise loss rebuilt from its terms,
// and the bootstrap's bucket sums, in one pass over a chunk (ungrouped
// fastloss.Accumulator with bootstrap=: the loss's reduction="none" pass
// plus this one replace its mean pass plus a second "none" pass and two
// np.bincount passes).
//
// v: the n terms of reduction="none" without weights (as the kernel computes
// them, T); w: nullptr or the per-row weights as the kernel reads them (T:
// the inputs' dtype), term i belonging to row i / per_row.
// leaves (nullptr or 2 * ceil(n / block) doubles): per block of `block` terms
// the sum of double(v) * double(w) and the sum of double(w) (unweighted: the
// terms' count) in the element-wise driver's order (common/reduce.hpp,
// BlockSums over BlockLanes: term j of a block into lane j % 16 in index
// order from 0.0, then LanesOf<16>::tree), so the bits of Loss._blocks (the
// tests hold the two together). num, den (kBuckets doubles each): per bucket
// of global row first_row + i / per_row, the same products in term order,
// and per row double(w) * per_row (or per_row); den may be nullptr.
namespace detail {

// 16 lanes: term i of a block into lane i % 16 (t[0] is the block's first),
// held in eight two-double vectors (lane-wise IEEE additions: the bits of
// one scalar chain per lane) so they stay in registers.
typedef double V2d __attribute__((vector_size(16)));

FL_BOOT_INLINE void add_lanes(double* acc, const double* t, int64_t len) {
  V2d a[8];
  std::memcpy(a, acc, sizeof a);
  int64_t i = 0;
  for (; i + 16 <= len; i += 16) {
    for (int q = 0; q < 8; ++q) {
      V2d x;
      std::memcpy(&x, t + i + 2 * q, sizeof x);
      a[q] += x;
    }
  }
  std::memcpy(acc, a, sizeof a);
  for (int l = 0; i + l < len; ++l) acc[l] += t[i + l];
}

template <class T, bool kW, bool kOne>
void terms_pass(const T* v, const T* w, int64_t n, int64_t per_row, int64_t first_row,
                int64_t block, double* leaves, double* num, double* den) {
  const uint16_t* low = low_table().data();
  constexpr int64_t kWindow = int64_t{1} << kLowBits;
  const double dper = static_cast<double>(per_row);
  std::vector<double> tbuf(static_cast<size_t>(block)), wbuf(kW ? static_cast<size_t>(block) : 0);
  double* tb = tbuf.data();
  double* wb = wbuf.data();
  int64_t row = 0, j = 0;  // (per_row > 1) the current term's row and place in it
  // num and den interleaved while the pass runs (copied in, added to in
  // term order, copied back: the same bits): separate arrays 8 KiB apart
  // (numpy rows) 4K-alias, and each pair of stores waited on the other
  std::vector<double> nd(static_cast<size_t>(2 * kBuckets));
  for (int64_t k = 0; k < kBuckets; ++k) {
    nd[2 * k] = num[k];
    nd[2 * k + 1] = den != nullptr ? den[k] : 0.0;
  }
  double* const out_num = num;
  double* const out_den = den;
  num = nd.data();
  den = out_den != nullptr ? nd.data() + 1 : nullptr;
  for (int64_t lo = 0; lo < n; lo += block) {
    const int64_t len = std::min(n - lo, block);
    // the block's terms as the mean adds them: double(v) * double(w)
    const double* t0 = tb;  // the terms as doubles (float64 unweighted: v itself)
    if constexpr (kOne && !kW && std::is_same_v<T, double>) {
      t0 = v + lo;
    } else if constexpr (kOne) {
      for (int64_t i = 0; i < len; ++i) {
        if constexpr (kW) {
          wb[i] = static_cast<double>(w[lo + i]);
          tb[i] = static_cast<double>(v[lo + i]) * wb[i];
        } else {
          tb[i] = static_cast<double>(v[lo + i]);
        }
      }
    } else {
      int64_t r = row, q = j;
      for (int64_t i = 0; i < len; ++i) {
        const double rw = kW ? static_cast<double>(w[r]) : 1.0;
        if constexpr (kW) wb[i] = rw;
        tb[i] = kW ? static_cast<double>(v[lo + i]) * rw : static_cast<double>(v[lo + i]);
        if (++q == per_row) q = 0, ++r;
      }
    }
    if (leaves != nullptr) {
      double acc[16] = {}, wacc[16] = {};
      add_lanes(acc, t0, len);
      if constexpr (kW) add_lanes(wacc, wb, len);
      leaves[2 * (lo / block)] = tree16(acc);
      leaves[2 * (lo / block) + 1] = kW ? tree16(wacc) : static_cast<double>(len);
    }
    // the bucket sums, in term order
    if constexpr (kOne) {
      for (int64_t i = 0; i < len;) {
        const int64_t r = first_row + lo + i;
        const int64_t off = r & (kWindow - 1);
        const int64_t m = std::min(len - i, kWindow - off);  // rows sharing r's high bits
        const int64_t hb = high_bucket(r);
        const uint16_t* lw = low + off;
        const double* t = t0 + i;
        if (den == nullptr) {
          for (int64_t k = 0; k < m; ++k) num[2 * (lw[k] ^ hb)] += t[k];
        } else if constexpr (kW) {
          const double* ww = wb + i;
          for (int64_t k = 0; k < m; ++k) {
            const int64_t bk = lw[k] ^ hb;
            num[2 * bk] += t[k];
            den[2 * bk] += ww[k];
          }
        } else {
          for (int64_t k = 0; k < m; ++k) {
            const int64_t bk = lw[k] ^ hb;
            num[2 * bk] += t[k];
            den[2 * bk] += 1.0;
          }
        }
        i += m;
      }
    } else {
      int64_t bkt = bucket_of(first_row + row);
      for (int64_t i = 0; i < len; ++i) {
        if (j == 0) {  // a new row: its bucket and denominator
          bkt = bucket_of(first_row + row);
          if (den != nullptr) den[2 * bkt] += kW ? wb[i] * dper : dper;
        }
        num[2 * bkt] += tb[i];
        if (++j == per_row) j = 0, ++row;
      }
    }
  }
  for (int64_t k = 0; k < kBuckets; ++k) {
    out_num[k] = nd[2 * k];
    if (out_den != nullptr) out_den[k] = nd[2 * k + 1];
  }
}

}  // namespace detail

template <class T>
void terms_pass(const T* v, const T* w, int64_t n, int64_t per_row, int64_t first_row,
                int64_t block, double* leaves, double* num, double* den) {
  if (per_row < 1 || block < 16 || block % 16 != 0 || first_row < 0)
    throw std::invalid_argument(
        "per_row must be >= 1, block a multiple of 16 and first_row >= 0");
  const int64_t f = first_row;
  if (w != nullptr) {
    if (per_row == 1)
      return detail::terms_pass<T, true, true>(v, w, n, 1, f, block, leaves, num, den);
    return detail::terms_pass<T, true, false>(v, w, n, per_row, f, block, leaves, num, den);
  }
  if (per_row == 1)
    return detail::terms_pass<T, false, true>(v, w, n, 1, f, block, leaves, num, den);
  return detail::terms_pass<T, false, false>(v, w, n, per_row, f, block, leaves, num, den);
}

// Poisson(1) weights of replicates 0 .. B-1 for u units: out[b * u + j] is
// the draw of (seed, b, units[j]), _accumulate.poisson_weights's hash:
// splitmix64's finalizer of (unit * golden) ^ (b * c2) ^ seed_mix, whose top
// 20 bits index an inverse-CDF table of 2^20 draws. The table is a step
// function: its value at index i is the number of `bounds` <= i (bounds[k]:
// the first index whose draw exceeds k), counted without branches.
struct PoissonBounds {  // the bounds as 16 int32 (indices < 2^20), padded
  int32_t b[16];
  PoissonBounds(const int64_t* bounds, int64_t n) {
    if (n > 16) throw std::invalid_argument("bounds: at most 16");
    for (int k = 0; k < 16; ++k) b[k] = k < n ? static_cast<int32_t>(bounds[k]) : INT32_MAX;
  }
};

FL_BOOT_INLINE double poisson_draw(uint64_t unit, uint64_t mb, uint64_t seed_mix,
                                   const PoissonBounds& pb) {
  uint64_t x = (unit * 0x9E3779B97F4A7C15ull) ^ mb;
  x ^= seed_mix;
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  const auto idx = static_cast<int32_t>(x >> 44);
  int32_t k = 0;
  for (int t = 0; t < 16; ++t) k += pb.b[t] <= idx;
  return static_cast<double>(k);
}

inline uint64_t replicate_mix(int64_t b) {
  return static_cast<uint64_t>(b) * 0xC2B2AE3D27D4EB4Full;
}

inline void poisson_weights(uint64_t seed_mix, int64_t replicates, const uint64_t* units,
                            int64_t u, const int64_t* bounds, int64_t nbounds, double* out) {
  const PoissonBounds pb(bounds, nbounds);
  for (int64_t b = 0; b < replicates; ++b) {
    const uint64_t mb = replicate_mix(b);
    for (int64_t j = 0; j < u; ++j) out[b * u + j] = poisson_draw(units[j], mb, seed_mix, pb);
  }
}

// The replicates' totals without the weights' matrix: out[r * B + b] =
// sum over j of draw(b, units[j]) * sums[r * u + j], for the m rows of sums
// (numerators and denominators of each loss and group), each in a fixed
// order -- four lanes j % 4, then (l0 + l1) + (l2 + l3) -- whatever the
// machine (a BLAS product's order is its own). For few rows: a replicate's
// weights are drawn once into `scratch` (u doubles) and used for every row.
inline void replicates(uint64_t seed_mix, int64_t B, const uint64_t* units, int64_t u,
                       const int64_t* bounds, int64_t nbounds, const double* sums, int64_t m,
                       double* scratch, double* out) {
  const PoissonBounds pb(bounds, nbounds);
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t mb = replicate_mix(b);
    for (int64_t j = 0; j < u; ++j) scratch[j] = poisson_draw(units[j], mb, seed_mix, pb);
    for (int64_t r = 0; r < m; ++r) {
      const double* s = sums + r * u;
      double l[4] = {0.0, 0.0, 0.0, 0.0};
      int64_t j = 0;
      for (; j + 4 <= u; j += 4) {
        l[0] += scratch[j] * s[j];
        l[1] += scratch[j + 1] * s[j + 1];
        l[2] += scratch[j + 2] * s[j + 2];
        l[3] += scratch[j + 3] * s[j + 3];
      }
      for (int64_t t = 0; j < u; ++j, ++t) l[t] += scratch[j] * s[j];
      out[r * B + b] = (l[0] + l[1]) + (l[2] + l[3]);
    }
  }
}

}  // namespace bootstrap
}  // namespace fastloss
