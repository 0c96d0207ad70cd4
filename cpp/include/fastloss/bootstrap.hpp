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
#include <cstdint>
#include <stdexcept>

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

template <class T, bool kW, bool kOne>
void terms_pass(const T* v, const T* w, int64_t n, int64_t per_row, int64_t first_row,
                int64_t block, double* leaves, double* num, double* den) {
  const uint16_t* low = low_table().data();
  constexpr int64_t kMask = (int64_t{1} << kLowBits) - 1;
  const double dper = static_cast<double>(per_row);
  int64_t row = 0, j = 0;  // the current term's row (from 0) and place in it
  int64_t hb = high_bucket(first_row), bkt = 0;
  double rw = 1.0;
  for (int64_t lo = 0; lo < n; lo += block) {
    const int64_t hi = std::min(n, lo + block);
    double acc[16] = {}, wacc[16] = {};
    for (int64_t i = lo; i < hi; ++i) {
      if (kOne || j == 0) {  // a new row: its bucket, weight and denominator
        const int64_t r = first_row + (kOne ? i : row);
        if ((r & kMask) == 0) hb = high_bucket(r);
        bkt = low[r & kMask] ^ hb;
        if constexpr (kW) rw = static_cast<double>(w[kOne ? i : row]);
        if (den != nullptr) den[bkt] += kW ? (kOne ? rw : rw * dper) : dper;
      }
      const double t = kW ? static_cast<double>(v[i]) * rw : static_cast<double>(v[i]);
      acc[i & 15] += t;  // lo is a multiple of 16: lane (i - lo) % 16
      if constexpr (kW) wacc[i & 15] += rw;
      num[bkt] += t;
      if (!kOne && ++j == per_row) j = 0, ++row;
    }
    if (leaves != nullptr) {
      const int64_t b = lo / block;
      leaves[2 * b] = tree16(acc);
      leaves[2 * b + 1] = kW ? tree16(wacc) : static_cast<double>(hi - lo);
    }
  }
}

}  // namespace detail

template <class T>
void terms_pass(const T* v, const T* w, int64_t n, int64_t per_row, int64_t first_row,
                int64_t block, double* leaves, double* num, double* den) {
  if (per_row < 1 || block < 16 || block % 16 != 0 || first_row < 0)
    throw std::invalid_argument(
        "per_row must be >= 1, block a multiple of 16 and first_row >= 0");
  if (w != nullptr) {
    if (per_row == 1) return detail::terms_pass<T, true, true>(v, w, n, 1, first_row, block, leaves, num, den);
    return detail::terms_pass<T, true, false>(v, w, n, per_row, first_row, block, leaves, num, den);
  }
  if (per_row == 1) return detail::terms_pass<T, false, true>(v, w, n, 1, first_row, block, leaves, num, den);
  return detail::terms_pass<T, false, false>(v, w, n, per_row, first_row, block, leaves, num, den);
}

// Poisson(1) weights of replicates 0 .. B-1 for u units: out[b * u + j] is
// the draw of (seed, b, units[j]), _accumulate.poisson_weights's hash:
// splitmix64's finalizer of (unit * golden) ^ (b * c2) ^ seed_mix, whose top
// 20 bits index an inverse-CDF table of 2^20 draws. The table is a step
// function: its value at index i is the number of `bounds` <= i (bounds[k]:
// the first index whose draw exceeds k), counted without branches.
inline double poisson_draw(uint64_t unit, uint64_t mb, uint64_t seed_mix, const int64_t* bounds,
                           int64_t nbounds) {
  uint64_t x = (unit * 0x9E3779B97F4A7C15ull) ^ mb;
  x ^= seed_mix;
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  const int64_t idx = static_cast<int64_t>(x >> 44);
  int64_t k = 0;
  for (int64_t t = 0; t < nbounds; ++t) k += bounds[t] <= idx;
  return static_cast<double>(k);
}

inline uint64_t replicate_mix(int64_t b) { return static_cast<uint64_t>(b) * 0xC2B2AE3D27D4EB4Full; }

inline void poisson_weights(uint64_t seed_mix, int64_t replicates, const uint64_t* units,
                            int64_t u, const int64_t* bounds, int64_t nbounds, double* out) {
  for (int64_t b = 0; b < replicates; ++b) {
    const uint64_t mb = replicate_mix(b);
    for (int64_t j = 0; j < u; ++j)
      out[b * u + j] = poisson_draw(units[j], mb, seed_mix, bounds, nbounds);
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
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t mb = replicate_mix(b);
    for (int64_t j = 0; j < u; ++j) scratch[j] = poisson_draw(units[j], mb, seed_mix, bounds, nbounds);
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
