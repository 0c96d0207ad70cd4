// fastloss/common/run_fields.hpp -- what every driver's run record takes, as
// it is, from a binding's argument record.
#pragma once

#include "fastloss/common/config.hpp"

namespace fastloss {
namespace FASTLOSS_ISA_NS {

// A driver's run record (SampleRun, the row driver's RowIO) with the fields
// every argument record (BoxArgs, TensorArgs, RowArgs) passes on unchanged:
// the op, reduction, sample weights, reduction="none" output and thread
// count, the pointers cast to the record's dtype. The caller sets the sizes,
// and the rest of what its record holds.
template <class Run, class Args>
Run run_fields(const Args& a) {
  Run run;
  run.op = a.op;
  run.reduction = a.reduction;
  run.weight = static_cast<decltype(run.weight)>(a.weight);
  run.out_value = static_cast<decltype(run.out_value)>(a.out_value);
  run.n_threads = a.n_threads;
  return run;
}

}  // namespace FASTLOSS_ISA_NS
}  // namespace fastloss
