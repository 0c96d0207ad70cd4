// Sequence kernels for one ISA level (compiled once per level).
#include "fastloss/api/sequence.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "fastloss/sequence.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

namespace {

// inputs (logits, targets, input_lengths, target_lengths);
// dims (N, T, C, S, concatenated, blank, batch_first, zero_infinity): S is
// the padded targets' width, or with `concatenated` the 1-D targets' length
double ctc(const TensorArgs& a) {
  const int64_t n = a.dims[0], t = a.dims[1], c = a.dims[2], s = a.dims[3];
  const bool concat = a.dims[4] != 0, batch_first = a.dims[6] != 0;
  const int64_t blank = a.dims[5];
  const TensorInput expect[] = {{"logits", n * t * c},
                                {"targets", concat ? s : n * s, true},
                                {"input_lengths", n, true},
                                {"target_lengths", n, true}};
  check_tensor_layout(a, expect, 8, n);
  if (c < 1) tensor_fail("logits: need at least one class");
  if (blank < 0 || blank >= c)
    tensor_fail("blank: " + std::to_string(blank) + " is not a class in [0, " +
                std::to_string(c) + ")");
  const int64_t* il = tin<int64_t>(a, 2);
  const int64_t* tl = tin<int64_t>(a, 3);
  std::vector<int64_t> off(static_cast<size_t>(n));
  int64_t total = 0, ti_max = 0, l_max = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (il[i] < 0 || il[i] > t)
      tensor_fail("input_lengths: " + std::to_string(il[i]) + " (sequence " + std::to_string(i) +
                  ") is outside [0, " + std::to_string(t) + "]");
    if (tl[i] < 0 || (!concat && tl[i] > s))
      tensor_fail("target_lengths: " + std::to_string(tl[i]) + " (sequence " +
                  std::to_string(i) + ") is outside [0, " + std::to_string(s) + "]");
    off[static_cast<size_t>(i)] = concat ? total : i * s;
    total += tl[i];
    if (il[i] > ti_max) ti_max = il[i];
    if (tl[i] > l_max) l_max = tl[i];
  }
  if (concat && total != s)
    tensor_fail("target_lengths: sum " + std::to_string(total) +
                " differs from the concatenated targets' length " + std::to_string(s));
  return with_dtype(a, [&](auto zero) {
    using T = decltype(zero);
    Ctc<T> f;
    f.x = tin<T>(a, 0);
    f.targets = tin<int64_t>(a, 1);
    f.off = off.data();
    f.ilen = il;
    f.tlen = tl;
    f.g = tgrad<T>(a, 0);
    f.t_max = t;
    f.c = c;
    f.blank = blank;
    f.st = batch_first ? c : n * c;
    f.sn = batch_first ? t * c : c;
    f.ti_max = ti_max;
    f.l_max = l_max;
    f.zero_infinity = a.dims[7] != 0;
    f.per_length = a.reduction == Reduction::mean;
    return per_sample(f, sample_run<T>(a));
  });
}

}  // namespace

double sequence_kernel(SequenceLoss id, const TensorArgs& a) {
  switch (id) {
    case SequenceLoss::ctc: return ctc(a);
  }
  throw std::invalid_argument("unknown sequence loss id");
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
