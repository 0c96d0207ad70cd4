// Streaming-read probe for the benchmark's memory roof (benchmarks/bench.py
// compiles it with the system C++ compiler and loads it with ctypes; it is
// not part of fastloss).
//
// The peers' reductions (np.dot, torch.sum, jax.jit(jnp.sum)) are not built
// to saturate memory: on some machines a fastloss loss reading two arrays
// ran at 1.5x the best of them, which made "percent of roof" a lower bound
// only. This probe is the plain thing a roof should be: `threads` OpenMP
// threads, each summing a contiguous share of one array (or of two arrays,
// as a loss reads pred and target) with 32 independent float accumulators,
// so the loop is limited by the loads, not by the adds' latency.
#include <cstdint>

#include <omp.h>

namespace {
constexpr int kAcc = 32;

// Sum of x[lo, hi) (+ y[lo, hi) when kN >= 2, + z[lo, hi) when kN == 3),
// acc holding the vector part.
template <int kN>
double share_sum(const float* x, const float* y, const float* z, int64_t lo, int64_t hi,
                 float* acc) {
  int64_t i = lo;
  for (; i + kAcc <= hi; i += kAcc) {
#pragma omp simd
    for (int j = 0; j < kAcc; ++j) {
      float v = x[i + j];
      if (kN >= 2) v += y[i + j];
      if (kN == 3) v += z[i + j];
      acc[j] += v;
    }
  }
  double s = 0.0;
  for (; i < hi; ++i) {
    s += x[i];
    if (kN >= 2) s += y[i];
    if (kN == 3) s += z[i];
  }
  return s;
}

template <int kN>
double stream_sum(const float* a, const float* b, const float* c, int64_t n, int threads) {
  double total = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
    float acc[kAcc] = {};
    double s = share_sum<kN>(a, b, c, lo, hi, acc);
    for (int j = 0; j < kAcc; ++j) s += acc[j];
    total += s;
  }
  return total;
}
}  // namespace

extern "C" {

// Sum of a[0..n) (and of b[0..n), read alongside, when b is not null: two
// streams, as pred and target), each thread summing a contiguous share.
double roof_stream_sum(const float* a, const float* b, int64_t n, int threads) {
  return b != nullptr ? stream_sum<2>(a, b, nullptr, n, threads)
                      : stream_sum<1>(a, nullptr, nullptr, n, threads);
}

// Three streams read alongside: a value+grad's inputs and a buffer of its
// gradient's size, as many bytes as the kernel moves (read and written), in
// a working set of the same size -- where the inputs alone nearly fit in the
// last-level cache, a read of them alone is served partly from it and the
// kernel, whose gradient evicts them, is not.
double roof_stream_sum3(const float* a, const float* b, const float* c, int64_t n, int threads) {
  return stream_sum<3>(a, b, c, n, threads);
}

}  // extern "C"

extern "C" {

// A compute-bound probe: each of `threads` threads runs `reps` passes of a
// cheap multiply-add loop over its own 16 KiB array (L1-resident: no memory
// traffic), so the time shows how much a second thread adds to the
// throughput. On separate cores `threads` threads take about as long as one;
// on two hyperthreads of one core (or vCPUs sharing one), about twice as
// long. Returns a checksum so that nothing is optimized away.
double roof_compute(int threads, int64_t reps) {
  double sink = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
    constexpr int n = 4096;
    float x[n], y[n];
    for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 100) * 0.01f;
    for (int64_t r = 0; r < reps; ++r) {
      x[r % n] += 1e-7f;
#pragma omp simd
      for (int i = 0; i < n; ++i) y[i] = x[i] * 1.0001f + 0.5f * x[i] * x[i];
      sink += y[r % n];
    }
  }
  return sink;
}

}  // extern "C"

extern "C" {

// The page faults of a new buffer and nothing else: `threads` threads each
// write one byte per 4 KiB page of a contiguous share of p[0..nbytes), as a
// kernel writing a fresh gradient faults its pages in (with transparent huge
// pages the first touch of each 2 MiB maps and zeroes all of it). Called on
// a buffer just allocated by NumPy, its time is what a fresh output costs
// beyond writing into a buffer already in use.
void roof_touch(unsigned char* p, int64_t nbytes, int threads) {
  constexpr int64_t kPage = 4096;
  const int64_t pages = (nbytes + kPage - 1) / kPage;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t lo = pages * t / nt, hi = pages * (t + 1) / nt;
    for (int64_t i = lo; i < hi; ++i) p[i * kPage] = 0;
  }
}

}  // extern "C"
