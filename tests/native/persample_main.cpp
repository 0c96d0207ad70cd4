// The per-sample driver (common/persample.hpp) on its own, with a synthetic
// loss of the shape CTC and SSIM will have: samples of very uneven cost, each
// working through per-thread scratch, with a cost hint. tests/test_persample.py
// compiles this and runs it; each line it prints must be the same for every
// thread count (the bits do not depend on threads or schedule):
//   persample_main THREADS [BAD...]
// prints the value (sum, mean, weighted mean) as %a, FNV-1a hashes of the
// "none" output and of the gradient, and the blocked sum of the "none"
// output computed serially (the driver's reduced value must be exactly that).
// With BAD sample indices, eval throws on each of them and the program prints
// the message the driver rethrew after its parallel region. On stderr: how
// many threads ran samples (so a test can tell the region really opened).
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastloss/common/persample.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace fastloss;
using namespace fastloss::FASTLOSS_ISA_NS;

namespace {

constexpr int64_t kN = 5003;
constexpr int64_t kMaxSteps = 3000;

// Sample i runs a recurrence of sample_cost(i) steps through its thread's
// scratch, as CTC runs its alpha recursion through a (T x 2L+1) table. Two
// threads sharing a slot, or a slot too small, would change the numbers.
struct Uneven {
  static constexpr int64_t group = 1;
  static constexpr int cost = 1000;
  const double* x;
  double* grad;  // 2 per sample, like a gradient slice
  std::vector<int64_t> bad;
  std::atomic<uint64_t>* used;  // bit t: thread t ran a sample


  size_t scratch_bytes() const { return kMaxSteps * sizeof(double); }
  int64_t sample_cost(int64_t i) const { return 1 + (i * 7919) % kMaxSteps; }

  template <bool kGrad>
  void eval(int64_t lo, int64_t len, const double* gs, double* val, void* scratch) const {
    double* s = static_cast<double*>(scratch);
#if defined(_OPENMP)
    used->fetch_or(uint64_t(1) << (omp_get_thread_num() & 63), std::memory_order_relaxed);
#endif
    for (int64_t i = 0; i < len; ++i) {
      const int64_t j = lo + i;
      for (int64_t b : bad) {
        if (b == j) throw std::invalid_argument("bad sample " + std::to_string(j));
      }
      const int64_t m = sample_cost(j);
      s[0] = x[j];
      for (int64_t k = 1; k < m; ++k) s[k] = s[k - 1] * 0.9990234375 + 0.001 * x[(j + k) % kN];
      double acc = 0.0;
      for (int64_t k = 0; k < m; ++k) acc += s[k];
      val[i] = acc / static_cast<double>(m);
      if constexpr (kGrad) {
        grad[2 * j] = gs[i] * s[m - 1];
        grad[2 * j + 1] = gs[i] * s[0];
      }
    }
  }
};

uint64_t fnv(const void* p, size_t bytes) {
  const unsigned char* c = static_cast<const unsigned char*>(p);
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ c[i]) * 1099511628211ULL;
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const int threads = std::atoi(argv[1]);
  std::vector<double> x(kN), w(kN), none(kN), grad(2 * kN);
  uint64_t s = 42;
  for (int64_t i = 0; i < kN; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    x[i] = static_cast<double>(s >> 11) * (1.0 / 9007199254740992.0) - 0.5;
    w[i] = 0.25 + static_cast<double>(i % 7);
  }
  std::atomic<uint64_t> used{0};
  Uneven f{x.data(), grad.data(), {}, &used};
  for (int k = 2; k < argc; ++k) f.bad.push_back(std::atoll(argv[k]));

  SampleRun<double> run;
  run.n = kN;
  run.n_threads = threads;
  try {
    run.reduction = Reduction::sum;
    std::printf("sum %a\n", per_sample(f, run));
    run.reduction = Reduction::mean;
    std::printf("mean %a\n", per_sample(f, run));
    run.op = Op::value_grad;
    std::printf("mean+grad %a %016" PRIx64 "\n", per_sample(f, run),
                fnv(grad.data(), grad.size() * sizeof(double)));
    run.weight = w.data();
    run.op = Op::value;
    std::printf("weighted mean %a\n", per_sample(f, run));
    run.op = Op::grad;
    per_sample(f, run);
    std::printf("weighted grad %016" PRIx64 "\n", fnv(grad.data(), grad.size() * sizeof(double)));
    run.weight = nullptr;
    run.op = Op::value;
    run.reduction = Reduction::none;
    run.out_value = none.data();
    per_sample(f, run);
    std::printf("none %016" PRIx64 "\n", fnv(none.data(), none.size() * sizeof(double)));
    std::printf("blocked_sum(none) %a\n", blocked_sum(none.data(), kN, 1));
  } catch (const std::invalid_argument& e) {
    std::printf("error: %s\n", e.what());
  }
  // stderr, not compared: the test checks the threads really ran
  std::fprintf(stderr, "threads used %d\n", __builtin_popcountll(used.load()));
  return 0;
}
