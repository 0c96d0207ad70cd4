// fastloss/api/runtime.hpp -- process-wide state, compiled once (cpp/src).
//
// The ISA level is chosen once at import (CPU detection, overridable with
// FASTLOSS_ISA); the thread count is read on every call; a child forked after
// a parallel region runs serially because GNU OpenMP's pool does not survive
// fork. FL_ISA_DECLARE / FL_ISA_CALL let a family declare its kernel entry
// points for every compiled ISA and call the chosen one.
#pragma once

#include <string>
#include <vector>

namespace fastloss {

enum class Isa : int { baseline = 0, avx2 = 1, avx512 = 2 };

namespace runtime {

Isa isa();                                   // the level kernels run at
void set_isa(Isa level);                     // throws if unsupported
std::vector<std::string> compiled_isas();    // built into this module
std::vector<std::string> supported_isas();   // built and runnable on this CPU
const char* isa_name(Isa level);
Isa isa_from_name(const std::string& name);  // throws std::invalid_argument
// What was wrong with FASTLOSS_ISA (empty if nothing): a bad value keeps the
// best level, and the bindings warn at import instead of failing it.
const std::string& environment_note();

int threads_for_call();                      // honours fork guard
void set_num_threads(int n);                 // n <= 0: back to the default
int get_num_threads();                       // 1 in a forked child that runs serially
int max_threads();                           // the most threads a call uses (1024, or 4 per core)
bool forked_child_serial();
bool have_openmp();
int omp_max_threads();

}  // namespace runtime
}  // namespace fastloss

#if defined(FASTLOSS_HAVE_AVX2)
#define FL_IF_AVX2(...) __VA_ARGS__
#else
#define FL_IF_AVX2(...)
#endif
#if defined(FASTLOSS_HAVE_AVX512)
#define FL_IF_AVX512(...) __VA_ARGS__
#else
#define FL_IF_AVX512(...)
#endif

// Declare `decl` (a function declaration) in every compiled ISA namespace.
#define FL_ISA_DECLARE(...)                                 \
  namespace fastloss {                                      \
  namespace baseline { __VA_ARGS__; }                       \
  FL_IF_AVX2(namespace avx2 { __VA_ARGS__; })               \
  FL_IF_AVX512(namespace avx512 { __VA_ARGS__; })           \
  }

// Call the chosen ISA's `fn`.
#define FL_ISA_CALL(fn, ...)                                                 \
  do {                                                                       \
    switch (::fastloss::runtime::isa()) {                                    \
      FL_IF_AVX512(case ::fastloss::Isa::avx512:                             \
                   return ::fastloss::avx512::fn(__VA_ARGS__);)              \
      FL_IF_AVX2(case ::fastloss::Isa::avx2:                                 \
                 return ::fastloss::avx2::fn(__VA_ARGS__);)                  \
      default:                                                               \
        return ::fastloss::baseline::fn(__VA_ARGS__);                        \
    }                                                                        \
  } while (0)
