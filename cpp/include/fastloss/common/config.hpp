// fastloss/common/config.hpp -- compiler glue shared by every kernel header.
//
// Kernel headers put their contents in namespace fastloss::FASTLOSS_ISA_NS.
// The build compiles each instantiation unit (cpp/kernels/*.cpp) once per ISA
// level with that level's flags and FASTLOSS_ISA_NS set to its name, so the
// AVX2 copy of an inline function can never be merged by the linker with the
// baseline copy (the ODR trap of multi-ISA builds). A header used on its own
// (a C++ test, a benchmark) gets the baseline namespace.
#pragma once

#include <cstddef>
#include <cstdint>

#ifndef FASTLOSS_ISA_NS
#define FASTLOSS_ISA_NS baseline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FL_INLINE inline __attribute__((always_inline))
#define FL_NOINLINE __attribute__((noinline))
#define FL_RESTRICT __restrict__
#else
#define FL_INLINE inline
#define FL_NOINLINE
#define FL_RESTRICT
#endif

#define FL_PRAGMA(x) _Pragma(#x)
// `omp simd` is honoured with -fopenmp or -fopenmp-simd (CMake adds the
// latter when OpenMP itself is absent).
#define FL_SIMD FL_PRAGMA(omp simd)

#if defined(_OPENMP)
#define FL_HAVE_OPENMP 1
#else
#define FL_HAVE_OPENMP 0
#endif
