// run_kernel: a KernelCall's sizes checked, its family's record filled, its
// kernel run (see kernel_call.hpp). Shared by run.cpp and xla.cpp.
#include "kernel_call.hpp"

#include <stdexcept>
#include <string>

#include "fastloss/api/boxes.hpp"
#include "fastloss/api/classification.hpp"
#include "fastloss/api/multiclass.hpp"
#include "fastloss/api/overlap.hpp"
#include "fastloss/api/regression.hpp"

namespace fastloss {
namespace bind {

namespace {

using std::invalid_argument;

void check_size(int64_t got, int64_t n, const char* name) {
  if (got != n)
    throw invalid_argument(std::string(name) + ": expected " + std::to_string(n) +
                           " elements, got " + std::to_string(got));
}

const void* in(const In& a, int64_t n, const char* name) {
  if (a.data == nullptr) return nullptr;
  check_size(a.size, n, name);
  return a.data;
}

void* out(const Out& a, int64_t n, const char* name) {
  if (a.data == nullptr) return nullptr;
  check_size(a.size, n, name);
  return a.data;
}

// A weight / aux argument of n elements, or its pattern of `period` values.
const void* pattern(const In& a, int64_t n, int64_t period, int64_t repeat, const char* name) {
  if (period == 0) return in(a, n, name);
  if (period < 1 || repeat < 1 || n % repeat != 0 || (n / repeat) % period != 0)
    throw invalid_argument(std::string(name) +
                           ": period and repeat must be >= 1 and their product must divide "
                           "pred's size");
  if (a.data == nullptr)
    throw invalid_argument(std::string(name) + ": the pattern's values are None");
  return in(a, period, name);
}

void check_outputs(Op op, Reduction red, const void* value, const void* grad, const void* hess) {
  if (needs_value(op) && red == Reduction::none && value == nullptr)
    throw invalid_argument("out_value is required for reduction='none'");
  if (needs_grad(op) && grad == nullptr) throw invalid_argument("out_grad is required");
  if (op == Op::grad_hess && hess == nullptr) throw invalid_argument("out_hess is required");
}

template <class Id, double (*Fn)(Id, const ElemArgs&)>
double run_elementwise(const KernelCall& c) {
  ElemArgs a;
  a.dtype = c.dtype;
  a.n = c.pred.size;
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.pred = c.pred.data;
  a.target = in(c.target, a.n, "target");
  if (a.target == nullptr) throw invalid_argument("target is required");
  a.weight = pattern(c.weight, a.n, c.weight_period, c.weight_repeat, "sample_weight");
  a.weight_period = c.weight_period;
  a.weight_repeat = c.weight_period == 0 ? 1 : c.weight_repeat;
  a.aux = pattern(c.aux, a.n, c.aux_period, c.aux_repeat, "aux");
  a.aux_period = c.aux_period;
  a.aux_repeat = c.aux_period == 0 ? 1 : c.aux_repeat;
  a.out_value = out(c.out_value, a.n, "out_value");
  a.out_grad = out(c.out_grad, a.n, "out_grad");
  a.out_hess = out(c.out_hess, a.n, "out_hess");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, a.out_hess);
  for (int k = 0; k < 4; ++k) a.params[k] = c.params[k];
  a.n_threads = c.n_threads;
  return Fn(static_cast<Id>(c.id), a);
}

double run_rows(const KernelCall& c) {
  RowArgs a;
  a.dtype = c.dtype;
  if (c.classes < 1) throw invalid_argument("classes must be >= 1");
  const int64_t n = c.pred.size;
  if (n % c.classes != 0) throw invalid_argument("pred: size is not a multiple of classes");
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.rows = n / c.classes;
  a.classes = c.classes;
  a.pred = c.pred.data;
  a.target = in(c.target, n, "target");
  a.labels = static_cast<const int64_t*>(in(c.labels, a.rows, "labels"));
  a.n_labels = a.labels != nullptr ? a.rows : 0;  // one label per row (no multilabel_margin here)
  if (a.target == nullptr && a.labels == nullptr)
    throw invalid_argument("target or labels is required");
  a.weight = in(c.weight, a.rows, "sample_weight");
  a.class_weight = static_cast<const double*>(in(c.class_weight, c.classes, "class_weight"));
  a.out_value = out(c.out_value, a.rows, "out_value");
  a.out_grad = out(c.out_grad, n, "out_grad");
  a.out_hess = out(c.out_hess, n, "out_hess");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, a.out_hess);
  a.ignore_index = c.ignore_index;
  for (int k = 0; k < 4; ++k) a.params[k] = c.params[k];
  a.n_threads = c.n_threads;
  return multiclass(static_cast<MulticlassLoss>(c.id), a);
}

double run_slices(const KernelCall& c) {
  SliceArgs a;
  a.dtype = c.dtype;
  if (c.op == static_cast<int>(Op::grad_hess))
    throw invalid_argument("op out of range (no Hessian here)");
  if (c.slices < 0 || c.slice_size < 0 || c.group < 1 || c.slices % c.group != 0)
    throw invalid_argument("overlap: bad slice layout (slices, slice_size, group)");
  const int64_t n = c.slices * c.slice_size;
  if (c.slice_size != 0 && n / c.slice_size != c.slices)
    throw invalid_argument("overlap: slices * slice_size overflows");
  check_size(c.pred.size, n, "pred");
  const int64_t groups = c.slices / c.group;
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.slices = c.slices;
  a.slice_size = c.slice_size;
  a.group = c.group;
  a.pred = c.pred.data;
  a.target = in(c.target, n, "target");
  if (a.target == nullptr) throw invalid_argument("target is required");
  a.weight = in(c.weight, groups, "sample_weight");
  a.out_value = out(c.out_value, groups, "out_value");
  a.out_grad = out(c.out_grad, n, "out_grad");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, nullptr);
  for (int k = 0; k < 3; ++k) a.params[k] = c.params[k];
  a.n_threads = c.n_threads;
  return overlap(static_cast<OverlapLoss>(c.id), a);
}

double run_boxes(const KernelCall& c) {
  BoxArgs a;
  a.dtype = c.dtype;
  if (c.pred.size % 4 != 0)
    throw invalid_argument("pred: expected rows of 4 (x1, y1, x2, y2), got " +
                           std::to_string(c.pred.size) + " elements");
  if (c.op == static_cast<int>(Op::grad_hess))
    throw invalid_argument("op out of range (box losses have no Hessian)");
  const double eps = c.params[0];
  if (!(eps > 0.0)) throw invalid_argument("eps must be > 0, got " + std::to_string(eps));
  const int64_t n = c.pred.size / 4;
  a.n = n;
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.pred = c.pred.data;
  a.target = in(c.target, 4 * n, "target");
  if (a.target == nullptr) throw invalid_argument("target is required");
  a.weight = in(c.weight, n, "sample_weight");
  a.out_value = out(c.out_value, n, "out_value");
  a.out_grad = out(c.out_grad, 4 * n, "out_grad");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, nullptr);
  a.eps = eps;
  a.n_threads = c.n_threads;
  return boxes(static_cast<BoxLoss>(c.id), a);
}

}  // namespace

double run_kernel(const KernelCall& c) {
  if (c.op < 0 || c.op > 3) throw invalid_argument("op out of range");
  if (c.reduction < 0 || c.reduction > 2) throw invalid_argument("reduction out of range");
  switch (static_cast<Family>(c.family)) {
    case Family::regression:
      return run_elementwise<RegressionLoss, &fastloss::regression>(c);
    case Family::classification:
      return run_elementwise<ClassificationLoss, &fastloss::classification>(c);
    case Family::multiclass:
      return run_rows(c);
    case Family::overlap:
      if (c.id < 0 || c.id > 3) throw invalid_argument("overlap: loss id out of range");
      return run_slices(c);
    case Family::boxes:
      if (c.id < 0 || c.id > 3) throw invalid_argument("box loss id out of range");
      return run_boxes(c);
  }
  throw invalid_argument("unknown kernel family " + std::to_string(c.family));
}

}  // namespace bind
}  // namespace fastloss
