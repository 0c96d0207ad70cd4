// fastloss/api/slices.hpp -- the argument record of per-slice losses.
//
// A per-slice loss (dice, iou, ...) reads `slices` contiguous slices of
// `slice_size` elements each and scores every slice from its sums. Slices
// come in groups of `group` consecutive slices (one group per sample, e.g.
// the classes of a generalized Dice); each group yields one per-sample loss,
// so weights and per-sample outputs hold slices / group values. Like
// ElemArgs, the record lives outside the ISA namespaces: every ISA's kernels
// take the same one. The Python layer has already moved the summed axes last.
#pragma once

#include <cstdint>

#include "fastloss/api/types.hpp"

namespace fastloss {

struct SliceArgs {
  DType dtype = DType::f64;
  Op op = Op::value;
  Reduction reduction = Reduction::mean;
  int64_t slices = 0;      // S
  int64_t slice_size = 0;  // K: pred and target hold S * K elements
  int64_t group = 1;       // slices per per-sample loss; S % group == 0
  const void* pred = nullptr;
  const void* target = nullptr;
  const void* weight = nullptr;  // optional, one per group
  void* out_value = nullptr;     // one per group (reduction == none)
  void* out_grad = nullptr;      // S * K
  // optional, a mean's value: per kBlock groups, the losses' sum and the
  // denominator's (2 doubles each; see kBlockCols in common/reduce.hpp)
  double* out_blocks = nullptr;
  double params[4] = {0, 0, 0, 0};
  int n_threads = 1;
};

}  // namespace fastloss
