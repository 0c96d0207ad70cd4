// Process-wide state: the ISA level, the thread count, the fork guard.
// Compiled once, with baseline flags: CPU detection must run on any CPU.
#include <cctype>
#include "fastloss/api/runtime.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FL_HAVE_PTHREAD_ATFORK 1
#endif

namespace fastloss {
namespace runtime {
namespace {

std::atomic<int> g_user_threads{0};
std::atomic<bool> g_parallel_used{false};
std::atomic<bool> g_forked_serial{false};

bool cpu_has(Isa level) {
  switch (level) {
    case Isa::baseline: return true;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    case Isa::avx2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi2");
    case Isa::avx512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512cd");
#endif
    default: return false;
  }
}

bool compiled(Isa level) {
  switch (level) {
    case Isa::baseline: return true;
    case Isa::avx2: FL_IF_AVX2(return true;) return false;
    case Isa::avx512: FL_IF_AVX512(return true;) return false;
  }
  return false;
}

void on_fork_child() {
  if (g_parallel_used.load()) g_forked_serial.store(true);
}

std::string& env_note() {
  static std::string note;
  return note;
}

Isa choose_initial() {
#if defined(FL_HAVE_PTHREAD_ATFORK)
  pthread_atfork(nullptr, nullptr, on_fork_child);
#endif
  Isa best = Isa::baseline;
  for (Isa l : {Isa::avx2, Isa::avx512}) {
    if (compiled(l) && cpu_has(l)) best = l;
  }
  const char* env = std::getenv("FASTLOSS_ISA");
  if (env != nullptr && *env != '\0') {
    // A bad value must not make the import fail: the best level is kept and
    // the bindings turn the note into a RuntimeWarning at import.
    std::string name(env);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string supported;
    for (const auto& n : supported_isas()) supported += (supported.empty() ? "" : ", ") + n;
    if (name != "baseline" && name != "avx2" && name != "avx512") {
      env_note() = std::string("FASTLOSS_ISA=") + env +
                   " is not an ISA level (expected baseline, avx2 or avx512); using " +
                   isa_name(best);
    } else {
      const Isa forced = isa_from_name(name);
      if (!compiled(forced) || !cpu_has(forced)) {
        env_note() = std::string("FASTLOSS_ISA=") + env +
                     ": this CPU or this build does not support that level (supported: " +
                     supported + "); using " + isa_name(best);
      } else {
        best = forced;
      }
    }
  }
  return best;
}

std::atomic<int>& isa_slot() {
  static std::atomic<int> slot{static_cast<int>(choose_initial())};
  return slot;
}

}  // namespace

Isa isa() { return static_cast<Isa>(isa_slot().load(std::memory_order_relaxed)); }

void set_isa(Isa level) {
  if (!compiled(level) || !cpu_has(level)) {
    throw std::invalid_argument(std::string("ISA level '") + isa_name(level) +
                                "' is not supported by this CPU or this build");
  }
  isa_slot().store(static_cast<int>(level));
}

const char* isa_name(Isa level) {
  switch (level) {
    case Isa::baseline: return "baseline";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

Isa isa_from_name(const std::string& name) {
  if (name == "baseline") return Isa::baseline;
  if (name == "avx2") return Isa::avx2;
  if (name == "avx512") return Isa::avx512;
  throw std::invalid_argument("unknown ISA level '" + name +
                              "' (expected 'baseline', 'avx2' or 'avx512')");
}

std::vector<std::string> compiled_isas() {
  std::vector<std::string> out;
  for (Isa l : {Isa::baseline, Isa::avx2, Isa::avx512})
    if (compiled(l)) out.emplace_back(isa_name(l));
  return out;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (Isa l : {Isa::baseline, Isa::avx2, Isa::avx512})
    if (compiled(l) && cpu_has(l)) out.emplace_back(isa_name(l));
  return out;
}

bool have_openmp() {
#if defined(_OPENMP)
  return true;
#else
  return false;
#endif
}

int omp_max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();  // honours OMP_NUM_THREADS and threadpoolctl
#else
  return 1;
#endif
}

const std::string& environment_note() {
  (void)isa();  // the note is written when the level is first chosen
  return env_note();
}

int max_threads() {
  static const int m = std::max(1024, 4 * static_cast<int>(std::thread::hardware_concurrency()));
  return m;
}

int get_num_threads() {
  // a forked child runs serially (see on_fork_child): say so
  if (forked_child_serial()) return 1;
  const int u = g_user_threads.load(std::memory_order_relaxed);
  // OMP_NUM_THREADS=100000 would start that many threads (libgomp aborts
  // when it cannot): the same cap as set_num_threads
  return std::min(u > 0 ? u : omp_max_threads(), max_threads());
}

void set_num_threads(int n) { g_user_threads.store(n > 0 ? n : 0); }

bool forked_child_serial() { return g_forked_serial.load(std::memory_order_relaxed); }

int threads_for_call() {
  if (!have_openmp() || forked_child_serial()) return 1;
  const int n = get_num_threads();
  if (n > 1 && !g_parallel_used.load(std::memory_order_relaxed)) g_parallel_used.store(true);
  return n;
}

}  // namespace runtime
}  // namespace fastloss
