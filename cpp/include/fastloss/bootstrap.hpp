// fastloss/bootstrap.hpp -- the resampling buckets of fastloss.Accumulator's
// bootstrap (python/fastloss/_accumulate.py: bootstrap_buckets is this hash
// in NumPy, the tests hold the two together).
//
// Global row r below kRunFrom (2^20) falls in bucket LOW[r mod 2^16] XOR
// HIGH(r >> 16) of kBuckets: tabulation hashing over two splitmix64 tables,
// so two rows collide with probability 1 / kBuckets whether or not they
// share their high bits, and a row's bucket depends on its index alone (not
// on the chunk carrying it). From row kRunFrom on, runs of kRun (16)
// consecutive rows share a bucket: run u = r >> 4 falls in LOW[u mod 2^16]
// XOR RUNHIGH(u >> 16) (another key, apart from HIGH's). Below 2^20 rows
// each of the 1024 buckets holds about a thousand rows at most, and the bucket
// bootstrap is close to the row bootstrap (the coverage simulation's 200
// rows are 200 units); beyond, a bucket holds thousands of rows either way,
// and a run is summed in registers and added to its bucket once, where one
// scatter a row (a load, an add and a store at a random place) cost more
// than the plain evaluation's read of the row (benchmarks/bench_accumulate.py).
// bucket_add scatters per-row values into per-bucket sums in row order --
// np.bincount's order, so the same bits -- one pass, the hash inline.
// Serial: a chunk's scatter is a small part of its cost, and a serial sum in
// row order is the same for any thread count.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
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

constexpr int64_t kWindow = int64_t{1} << kLowBits;  // keys sharing their high bits
constexpr int kRunBits = 4;
constexpr int64_t kRun = int64_t{1} << kRunBits;  // rows a run (from kRunFrom on)
constexpr int64_t kRunFrom = int64_t{1} << 20;    // a multiple of kWindow * kRun

// The bucket term of a run's high bits (bit 61 set: apart from HIGH's keys).
inline int64_t run_high_bucket(int64_t u) {
  const uint64_t h = (static_cast<uint64_t>(u) >> kLowBits) | (uint64_t{1} << 61);
  return static_cast<int64_t>(splitmix64(h) >> (64 - kBucketBits));
}

inline int64_t bucket_of(int64_t r) {
  constexpr size_t mask = (size_t{1} << kLowBits) - 1;
  if (r < kRunFrom) return low_table()[static_cast<size_t>(r) & mask] ^ high_bucket(r);
  const int64_t u = r >> kRunBits;
  return low_table()[static_cast<size_t>(u) & mask] ^ run_high_bucket(u);
}

// The rows from r on (at most `left`) that share the bucket term hb of the
// high bits: a window of 2^16 rows below kRunFrom, of 2^16 runs from it on.
struct Piece {
  int64_t rows;  // how many
  int64_t hb;    // their high bits' bucket term
  bool runs;     // from kRunFrom on: row r's low key is (r >> kRunBits) mod 2^16
};

inline Piece piece_at(int64_t r, int64_t left) {
  if (r < kRunFrom)
    return {std::min(left, kWindow - (r & (kWindow - 1))), high_bucket(r), false};
  constexpr int64_t span = kWindow << kRunBits;
  return {std::min(left, span - (r & (span - 1))), run_high_bucket(r >> kRunBits), true};
}

// Each bucket's rows in a whole window: the low table's value counts.
inline const std::array<uint32_t, kBuckets>& window_counts() {
  static const auto counts = [] {
    std::array<uint32_t, kBuckets> c{};
    for (uint16_t v : low_table()) ++c[v];
    return c;
  }();
  return counts;
}

// LanesOf<16>::tree (common/reduce.hpp): the fixed combination of 16 lanes.
inline double tree8(const double* a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
inline double tree16(const double* a) { return tree8(a) + tree8(a + 8); }

// f(j, bucket of row r + j) for the rows of piece p (which starts at row r),
// in row order.
template <class F>
FL_BOOT_INLINE void each_row(int64_t r, const Piece& p, F&& f) {
  const uint16_t* low = low_table().data();
  if (!p.runs) {
    const uint16_t* lw = low + (r & (kWindow - 1));
    for (int64_t j = 0; j < p.rows; ++j) f(j, lw[j] ^ p.hb);
  } else {
    for (int64_t j = 0; j < p.rows; ++j) f(j, low[((r + j) >> kRunBits) & (kWindow - 1)] ^ p.hb);
  }
}

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
  int64_t i = 0;
  while (i < n) {
    const int64_t r = first + i;
    const Piece p = piece_at(r, n - i);
    const T* xs = x != nullptr ? x + i : nullptr;
    if (group == nullptr) {
      if (xs != nullptr) {
        each_row(r, p, [&](int64_t j, int64_t b) { out[b] += static_cast<double>(xs[j]); });
      } else {
        each_row(r, p, [&](int64_t, int64_t b) { out[b] += constant; });
      }
    } else {
      const G* gs = group + i;
      each_row(r, p, [&](int64_t j, int64_t b) {
        out[b + kBuckets * static_cast<int64_t>(gs[j])] +=
            xs != nullptr ? static_cast<double>(xs[j]) : constant;
      });
    }
    i += p.rows;
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
// and per row double(w) * per_row (or per_row); den may be nullptr. One
// term a row (per_row 1), from row kRunFrom on, a run of rows whole in the
// chunk is added as the tree16 of its products (and of its weights): see
// scatter_one; unweighted denominators are added as counts (add_counts).
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

// c additions of 1.0 to d, in row order: one addition where that is exact
// (d an integer and every partial sum one below 2^53).
inline double add_ones(double d, uint32_t c) {
  if (std::fabs(d) <= 9007199254740992.0 - c && d == std::floor(d)) return d + c;
  for (uint32_t k = 0; k < c; ++k) d += 1.0;
  return d;
}

// One term a row: the bucket sums of rows first_row .. first_row + n - 1
// added to nd's interleaved (num, den) pairs, reading the terms (and
// weights) as they are: num, and den where weighted and wanted (unweighted
// denominators are counts: add_counts). Below kRunFrom a row at a time, in
// row order; from it on, a run whole in the chunk as one addition of its
// terms' tree16 (and its weights'), the rows of a run cut by the chunk's
// ends one at a time.
template <class T, bool kW>
void scatter_one(const T* v, const T* w, int64_t n, int64_t first_row, double* nd, bool den) {
  const uint16_t* low = low_table().data();
  auto row_add = [&](int64_t k, int64_t bk) {
    if constexpr (kW) {
      const double wk = static_cast<double>(w[k]);
      nd[2 * bk] += static_cast<double>(v[k]) * wk;
      if (den) nd[2 * bk + 1] += wk;
    } else {
      nd[2 * bk] += static_cast<double>(v[k]);
    }
  };
  for (int64_t i = 0; i < n;) {
    const int64_t r = first_row + i;
    const Piece p = piece_at(r, n - i);
    const int64_t m = p.rows, hb = p.hb;
    if (!p.runs) {
      const uint16_t* lw = low + (r & (kWindow - 1));
      const T* vs = v + i;
      if constexpr (kW) {
        const T* ws = w + i;
        if (den) {
          for (int64_t k = 0; k < m; ++k) {
            const int64_t bk = lw[k] ^ hb;
            const double wk = static_cast<double>(ws[k]);
            nd[2 * bk] += static_cast<double>(vs[k]) * wk;
            nd[2 * bk + 1] += wk;
          }
        } else {
          for (int64_t k = 0; k < m; ++k)
            nd[2 * (lw[k] ^ hb)] += static_cast<double>(vs[k]) * static_cast<double>(ws[k]);
        }
      } else {
        for (int64_t k = 0; k < m; ++k) nd[2 * (lw[k] ^ hb)] += static_cast<double>(vs[k]);
      }
    } else {
      // a piece starts and ends on run boundaries or at the chunk's ends
      int64_t k = i;
      const int64_t e = i + m;
      const int64_t a = std::min(e, i + ((kRun - (r & (kRun - 1))) & (kRun - 1)));
      if (k < a) {
        const int64_t bk = bucket_of(first_row + k);
        for (; k < a; ++k) row_add(k, bk);
      }
      for (; k + kRun <= e; k += kRun) {
        const int64_t bk = low[((first_row + k) >> kRunBits) & (kWindow - 1)] ^ hb;
        double t[kRun], u[kRun];
        for (int l = 0; l < kRun; ++l) {
          if constexpr (kW) {
            u[l] = static_cast<double>(w[k + l]);
            t[l] = static_cast<double>(v[k + l]) * u[l];
          } else {
            t[l] = static_cast<double>(v[k + l]);
          }
        }
        nd[2 * bk] += tree16(t);
        if constexpr (kW)
          if (den) nd[2 * bk + 1] += tree16(u);
      }
      if (k < e) {
        const int64_t bk = bucket_of(first_row + k);
        for (; k < e; ++k) row_add(k, bk);
      }
    }
    i += m;
  }
}

// The unweighted denominators of rows first_row .. first_row + n - 1 (1.0
// a row, in row order) added to nd's den entries: a whole window's counts
// are the low table's value counts (bucket v ^ hb; times kRun for a window
// of runs), a piece's are counted in integers (a row, or a run, at a time),
// and either is added at once where that is exact (add_ones): no pass over
// the rows for whole windows, where adding 1.0 a row cost about as much as
// the terms' scatter.
inline void add_counts(int64_t n, int64_t first_row, double* nd) {
  const uint16_t* low = low_table().data();
  const uint32_t* whole = window_counts().data();
  uint32_t part[kBuckets];
  for (int64_t i = 0; i < n;) {
    const int64_t r = first_row + i;
    const Piece p = piece_at(r, n - i);
    const int64_t m = p.rows;
    std::fill(part, part + kBuckets, 0u);
    if (p.runs) {
      const uint32_t scale = m == (kWindow << kRunBits) ? static_cast<uint32_t>(kRun) : 0u;
      if (scale != 0) {
        for (int64_t b = 0; b < kBuckets; ++b) part[b] = scale * whole[b];
      } else {
        for (int64_t u = r >> kRunBits; u <= (r + m - 1) >> kRunBits; ++u) {
          const int64_t rows = std::min(r + m, (u + 1) << kRunBits) - std::max(r, u << kRunBits);
          part[low[u & (kWindow - 1)]] += static_cast<uint32_t>(rows);
        }
      }
    } else {
      const int64_t off = r & (kWindow - 1);
      if (m == kWindow) {
        std::copy(whole, whole + kBuckets, part);
      } else if (2 * m <= kWindow) {  // count the piece, or the rest if shorter
        for (int64_t k = off; k < off + m; ++k) ++part[low[k]];
      } else {
        for (int64_t k = 0; k < off; ++k) ++part[low[k]];
        for (int64_t k = off + m; k < kWindow; ++k) ++part[low[k]];
        for (int64_t b = 0; b < kBuckets; ++b) part[b] = whole[b] - part[b];
      }
    }
    for (int64_t b = 0; b < kBuckets; ++b)
      nd[2 * (b ^ p.hb) + 1] = add_ones(nd[2 * (b ^ p.hb) + 1], part[b]);
    i += m;
  }
}

// The leaves of one term a row: add_lanes over double(v) (* double(w)),
// converted on the way (no buffer).
template <class T, bool kW>
FL_BOOT_INLINE void add_lanes_one(double* acc, double* wacc, const T* v, const T* w, int64_t len) {
  V2d a[8], b[8];
  std::memcpy(a, acc, sizeof a);
  if constexpr (kW) std::memcpy(b, wacc, sizeof b);
  int64_t i = 0;
  for (; i + 16 <= len; i += 16) {
    for (int q = 0; q < 8; ++q) {
      const int64_t j = i + 2 * q;
      if constexpr (kW) {
        const V2d wv = {static_cast<double>(w[j]), static_cast<double>(w[j + 1])};
        const V2d x = {static_cast<double>(v[j]), static_cast<double>(v[j + 1])};
        a[q] += x * wv;
        b[q] += wv;
      } else {
        const V2d x = {static_cast<double>(v[j]), static_cast<double>(v[j + 1])};
        a[q] += x;
      }
    }
  }
  std::memcpy(acc, a, sizeof a);
  if constexpr (kW) std::memcpy(wacc, b, sizeof b);
  for (int l = 0; i + l < len; ++l) {
    const double wk = kW ? static_cast<double>(w[i + l]) : 1.0;
    acc[l] += kW ? static_cast<double>(v[i + l]) * wk : static_cast<double>(v[i + l]);
    if constexpr (kW) wacc[l] += wk;
  }
}

template <class T, bool kW, bool kOne>
void terms_pass(const T* v, const T* w, int64_t n, int64_t per_row, int64_t first_row,
                int64_t block, double* leaves, double* num, double* den) {
  const double dper = static_cast<double>(per_row);
  const auto nbuf = static_cast<size_t>(kOne ? 0 : block);  // kOne reads the terms as they are
  std::vector<double> tbuf(nbuf), wbuf(kW ? nbuf : 0);
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
  if constexpr (kOne) {
    for (int64_t lo = 0; leaves != nullptr && lo < n; lo += block) {
      const int64_t len = std::min(n - lo, block);
      double acc[16] = {}, wacc[16] = {};
      add_lanes_one<T, kW>(acc, wacc, v + lo, kW ? w + lo : nullptr, len);
      leaves[2 * (lo / block)] = tree16(acc);
      leaves[2 * (lo / block) + 1] = kW ? tree16(wacc) : static_cast<double>(len);
    }
    scatter_one<T, kW>(v, w, n, first_row, nd.data(), den != nullptr);
    if (!kW && den != nullptr) add_counts(n, first_row, nd.data());
    n = 0;  // done: the loop below is the several-terms-a-row pass
  }
  for (int64_t lo = 0; lo < n; lo += block) {
    const int64_t len = std::min(n - lo, block);
    // the block's terms as the mean adds them: double(v) * double(w)
    const double* t0 = tb;
    {
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
    {
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
  // coarse[i >> 8]: the draw of every index in i's run of 256 where no
  // bound falls inside the run (all but a few of the 4096 runs), else
  // kMixed: one table load where the 16 comparisons took most of a draw
  static constexpr uint8_t kMixed = 0xFF;
  uint8_t coarse[4096];
  PoissonBounds(const int64_t* bounds, int64_t n) {
    if (n > 16) throw std::invalid_argument("bounds: at most 16");
    for (int k = 0; k < 16; ++k) b[k] = k < n ? static_cast<int32_t>(bounds[k]) : INT32_MAX;
    for (int32_t h = 0; h < 4096; ++h) {
      const int32_t lo = h << 8, hi = lo + 255;
      int32_t k = 0;
      bool mixed = false;
      for (int t = 0; t < 16; ++t) {
        k += b[t] <= lo;
        mixed = mixed || (lo < b[t] && b[t] <= hi);
      }
      coarse[h] = mixed ? kMixed : static_cast<uint8_t>(k);
    }
  }
  FL_BOOT_INLINE double draw(int32_t idx) const {
    const uint8_t c = coarse[idx >> 8];
    if (c != kMixed) return static_cast<double>(c);
    int32_t k = 0;
    for (int t = 0; t < 16; ++t) k += b[t] <= idx;
    return static_cast<double>(k);
  }
};

// The hash's unit term, (unit * golden) ^ seed_mix: the same for every
// replicate, so computed once a unit.
FL_BOOT_INLINE uint64_t unit_mix(uint64_t unit, uint64_t seed_mix) {
  return (unit * 0x9E3779B97F4A7C15ull) ^ seed_mix;
}

FL_BOOT_INLINE double poisson_draw_mixed(uint64_t um, uint64_t mb, const PoissonBounds& pb) {
  uint64_t x = um ^ mb;
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return pb.draw(static_cast<int32_t>(x >> 44));
}

FL_BOOT_INLINE double poisson_draw(uint64_t unit, uint64_t mb, uint64_t seed_mix,
                                   const PoissonBounds& pb) {
  return poisson_draw_mixed(unit_mix(unit, seed_mix), mb, pb);
}

inline uint64_t replicate_mix(int64_t b) {
  return static_cast<uint64_t>(b) * 0xC2B2AE3D27D4EB4Full;
}

inline void poisson_weights(uint64_t seed_mix, int64_t replicates, const uint64_t* units,
                            int64_t u, const int64_t* bounds, int64_t nbounds, double* out) {
  const PoissonBounds pb(bounds, nbounds);
  std::vector<uint64_t> um(static_cast<size_t>(u));
  for (int64_t j = 0; j < u; ++j) um[j] = unit_mix(units[j], seed_mix);
  for (int64_t b = 0; b < replicates; ++b) {
    const uint64_t mb = replicate_mix(b);
    for (int64_t j = 0; j < u; ++j) out[b * u + j] = poisson_draw_mixed(um[j], mb, pb);
  }
}

// The replicates' totals without the weights' matrix: out[r * B + b] =
// sum over j of draw(b, units[j]) * sums[r * u + j], for the m rows of sums
// (numerators and denominators of each loss and group), each in a fixed
// order -- four lanes j % 4, then (l0 + l1) + (l2 + l3) -- whatever the
// machine (a BLAS product's order is its own). For few rows: a replicate's
// weights are drawn once into `scratch` (u doubles) and used for every row.
// The lanes are held in two-double vectors and two rows run side by side
// (lane-wise IEEE additions: the bits of the scalar lanes), so four
// independent chains of adds overlap. The draws are most of the cost:
// each unit's hash term is computed once, and PoissonBounds::coarse turns
// the draw's 16 comparisons into a table load.
namespace detail {

FL_BOOT_INLINE V2d load2(const double* p) {
  V2d x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

// The fixed order's total of lanes a (j % 4 in 0, 1) and c (2, 3) plus the
// tail from j on.
FL_BOOT_INLINE double finish_lanes(V2d a, V2d c, const double* x, const double* s, int64_t j,
                                   int64_t u) {
  double l[4] = {a[0], a[1], c[0], c[1]};
  for (int t = 0; j < u; ++j, ++t) l[t] += x[j] * s[j];
  return (l[0] + l[1]) + (l[2] + l[3]);
}

}  // namespace detail

inline void replicates(uint64_t seed_mix, int64_t B, const uint64_t* units, int64_t u,
                       const int64_t* bounds, int64_t nbounds, const double* sums, int64_t m,
                       double* scratch, double* out) {
  using detail::load2;
  using detail::V2d;
  const PoissonBounds pb(bounds, nbounds);
  const int64_t u4 = u - u % 4;
  std::vector<uint64_t> um(static_cast<size_t>(u));
  for (int64_t j = 0; j < u; ++j) um[j] = unit_mix(units[j], seed_mix);
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t mb = replicate_mix(b);
    for (int64_t j = 0; j < u; ++j) scratch[j] = poisson_draw_mixed(um[j], mb, pb);
    const double* x = scratch;
    int64_t r = 0;
    for (; r + 2 <= m; r += 2) {
      const double* s0 = sums + r * u;
      const double* s1 = s0 + u;
      V2d a0 = {0.0, 0.0}, c0 = a0, a1 = a0, c1 = a0;
      for (int64_t j = 0; j < u4; j += 4) {
        const V2d xa = load2(x + j), xc = load2(x + j + 2);
        a0 += xa * load2(s0 + j);
        c0 += xc * load2(s0 + j + 2);
        a1 += xa * load2(s1 + j);
        c1 += xc * load2(s1 + j + 2);
      }
      out[r * B + b] = detail::finish_lanes(a0, c0, x, s0, u4, u);
      out[(r + 1) * B + b] = detail::finish_lanes(a1, c1, x, s1, u4, u);
    }
    for (; r < m; ++r) {
      const double* s0 = sums + r * u;
      V2d a0 = {0.0, 0.0}, c0 = a0;
      for (int64_t j = 0; j < u4; j += 4) {
        a0 += load2(x + j) * load2(s0 + j);
        c0 += load2(x + j + 2) * load2(s0 + j + 2);
      }
      out[r * B + b] = detail::finish_lanes(a0, c0, x, s0, u4, u);
    }
  }
}

}  // namespace bootstrap
}  // namespace fastloss
