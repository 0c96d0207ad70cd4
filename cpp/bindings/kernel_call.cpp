// run_kernel: a KernelCall's sizes checked, its family's record filled, its
// kernel run (see kernel_call.hpp). The one record-filling path of
// fastloss._core.run (run.cpp) and the XLA FFI handler (xla.cpp).
#include "kernel_call.hpp"

#include <stdexcept>
#include <string>

#include "fastloss/api/boxes.hpp"
#include "fastloss/api/classification.hpp"
#include "fastloss/api/clustering.hpp"
#include "fastloss/api/control.hpp"
#include "fastloss/api/embedding.hpp"
#include "fastloss/api/generative.hpp"
#include "fastloss/api/image.hpp"
#include "fastloss/api/multiclass.hpp"
#include "fastloss/api/overlap.hpp"
#include "fastloss/api/pairwise.hpp"
#include "fastloss/api/ranking.hpp"
#include "fastloss/api/regression.hpp"
#include "fastloss/api/regularization.hpp"
#include "fastloss/api/robust.hpp"
#include "fastloss/api/sequence.hpp"

namespace fastloss {
namespace bind {

namespace {

using std::invalid_argument;

void check_size(int64_t got, int64_t n, const std::string& name) {
  if (got != n)
    throw invalid_argument(name + ": expected " + std::to_string(n) + " elements, got " +
                           std::to_string(got));
}

const void* in(const In& a, int64_t n, const char* name) {
  if (a.data == nullptr) return nullptr;
  check_size(a.size, n, name);
  return a.data;
}

void* out(const Out& a, int64_t n, const std::string& name) {
  if (a.data == nullptr) return nullptr;
  check_size(a.size, n, name);
  return a.data;
}

// An argument of n elements, or its pattern of `period` values.
const void* pattern(const In& a, const Pattern& p, int64_t n, const char* name) {
  if (p.period == 0) return in(a, n, name);
  if (p.period < 1 || p.repeat < 1 || n % p.repeat != 0 || (n / p.repeat) % p.period != 0)
    throw invalid_argument(std::string(name) +
                           ": period and repeat must be >= 1 and their product must divide "
                           "pred's size");
  if (a.data == nullptr)
    throw invalid_argument(std::string(name) + ": the pattern's values are None");
  return in(a, p.period, name);
}

// The optional per-block leaves (run.cpp's header) for `terms` reduction terms.
double* blocks(const KernelCall& c, int64_t terms) {
  if (c.out_blocks.data == nullptr) return nullptr;
  if (static_cast<Op>(c.op) != Op::value || static_cast<Reduction>(c.reduction) != Reduction::mean)
    throw invalid_argument("out_blocks: only for a mean's value (op value, reduction mean)");
  const int64_t nb = terms <= 0 ? 0 : (terms + kReductionBlock - 1) / kReductionBlock;
  return static_cast<double*>(out(c.out_blocks, kBlockLeaves * nb, "out_blocks"));
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
  if (c.pred_pattern.period != 0) {  // a pattern: its size comes apart
    if (c.size < 0) throw invalid_argument("size: required when pred is a pattern");
    a.n = c.size;
  } else {
    a.n = c.pred.size;
    if (c.size >= 0 && c.size != a.n)
      throw invalid_argument("size: " + std::to_string(c.size) + " differs from pred's size " +
                             std::to_string(a.n));
  }
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.pred = pattern(c.pred, c.pred_pattern, a.n, "pred");
  a.pred_period = c.pred_pattern.period;
  a.pred_repeat = c.pred_pattern.period == 0 ? 1 : c.pred_pattern.repeat;
  a.target = pattern(c.target, c.target_pattern, a.n, "target");
  if (a.target == nullptr) throw invalid_argument("target is required");
  a.target_period = c.target_pattern.period;
  a.target_repeat = c.target_pattern.period == 0 ? 1 : c.target_pattern.repeat;
  a.weight = pattern(c.weight, c.weight_pattern, a.n, "sample_weight");
  a.weight_period = c.weight_pattern.period;
  a.weight_repeat = c.weight_pattern.period == 0 ? 1 : c.weight_pattern.repeat;
  a.aux = pattern(c.aux, c.aux_pattern, a.n, "aux");
  a.aux_period = c.aux_pattern.period;
  a.aux_repeat = c.aux_pattern.period == 0 ? 1 : c.aux_pattern.repeat;
  a.out_value = out(c.out_value, a.n, "out_value");
  a.out_grad = out(c.out_grad, a.n, "out_grad");
  a.out_hess = out(c.out_hess, a.n, "out_hess");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, a.out_hess);
  a.out_blocks = blocks(c, a.n);
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
  // one label per row, or one per score (multilabel_margin's rows of class
  // indices)
  const int64_t n_labels = c.labels.size == n ? n : a.rows;
  a.labels = static_cast<const int64_t*>(in(c.labels, n_labels, "labels"));
  if (a.labels != nullptr) a.n_labels = n_labels;
  if (a.target == nullptr && a.labels == nullptr)
    throw invalid_argument("target or labels is required");
  a.weight = in(c.weight, a.rows, "sample_weight");
  a.class_weight = static_cast<const double*>(in(c.class_weight, c.classes, "class_weight"));
  a.out_value = out(c.out_value, a.rows, "out_value");
  a.out_grad = out(c.out_grad, n, "out_grad");
  a.out_hess = out(c.out_hess, n, "out_hess");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, a.out_hess);
  a.ignore_index = c.ignore_index;
  a.out_blocks = blocks(c, a.rows);
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
  a.out_blocks = blocks(c, groups);
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
  a.out_blocks = blocks(c, n);
  a.n_threads = c.n_threads;
  return boxes(static_cast<BoxLoss>(c.id), a);
}

// The several-input families: pred is input 0, c.inputs the others.
template <class Id, double (*Fn)(Id, const TensorArgs&)>
double run_tensors(const KernelCall& c) {
  TensorArgs a;
  a.dtype = c.dtype;
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  const size_t n_in = 1 + c.inputs.size();
  if (n_in > static_cast<size_t>(TensorArgs::kMaxInputs))
    throw invalid_argument("inputs: too many arrays");
  if (!c.out_grads.empty() && c.out_grads.size() != n_in)
    throw invalid_argument("out_grads: expected one entry per input (pred and inputs)");
  if (c.in_int.size() != n_in)
    throw invalid_argument("inputs: which are integer is not given for each");
  if (c.dims.size() > static_cast<size_t>(TensorArgs::kMaxDims))
    throw invalid_argument("dims: too many sizes");
  a.n_inputs = static_cast<int>(n_in);
  bool any_grad = false;
  for (size_t k = 0; k < n_in; ++k) {
    const In& x = k == 0 ? c.pred : c.inputs[k - 1];
    if (x.data == nullptr) continue;
    a.in_int[k] = c.in_int[k] != 0;
    a.in_size[k] = x.size;
    a.in[k] = x.data;
    if (!c.out_grads.empty() && c.out_grads[k].data != nullptr) {
      const std::string gname = "out_grads[" + std::to_string(k) + "]";
      if (a.in_int[k]) throw invalid_argument(gname + ": an integer input has no gradient");
      a.out_grad[k] = out(c.out_grads[k], a.in_size[k], gname);
      any_grad = true;
    }
  }
  for (size_t d = 0; d < c.dims.size(); ++d) a.dims[d] = c.dims[d];
  a.n_dims = static_cast<int>(c.dims.size());
  if (c.samples < 0) throw invalid_argument("samples must be >= 0");
  a.n_samples = c.samples;
  a.weight = in(c.weight, a.n_samples, "sample_weight");
  a.out_value = out(c.out_value, a.n_samples, "out_value");
  if (needs_value(a.op) && a.reduction == Reduction::none && a.out_value == nullptr)
    throw invalid_argument("out_value is required for reduction='none'");
  if (needs_grad(a.op) && !any_grad) throw invalid_argument("out_grads: no gradient asked");
  if (c.out_ints.size() > static_cast<size_t>(TensorArgs::kMaxIntOutputs))
    throw invalid_argument("out_ints: too many arrays");
  a.n_out_ints = static_cast<int>(c.out_ints.size());
  for (size_t k = 0; k < c.out_ints.size(); ++k) {
    a.out_int[k] = static_cast<int64_t*>(c.out_ints[k].data);
    a.out_int_size[k] = c.out_ints[k].size;  // the kernel checks it
  }
  for (int k = 0; k < c.n_params; ++k) a.params[k] = c.params[k];
  a.n_params = c.n_params;
  a.n_threads = c.n_threads;
  return Fn(static_cast<Id>(c.id), a);
}

}  // namespace

double run_kernel(const KernelCall& c) {
  if (c.op < 0 || c.op > 3) throw invalid_argument("op out of range");
  if (c.reduction < 0 || c.reduction > 2) throw invalid_argument("reduction out of range");
  const bool tensors = is_tensor_family(c.family);
  if (c.n_params < 0 || c.n_params > (tensors ? TensorArgs::kMaxParams : 4))
    throw invalid_argument("params: too many values");
  if (!tensors &&
      (!c.inputs.empty() || !c.out_grads.empty() || !c.dims.empty() || !c.out_ints.empty()))
    throw invalid_argument(
        "inputs, out_grads, dims and out_ints are for the several-input families");
  const bool elementwise = c.family == static_cast<int>(Family::regression) ||
                           c.family == static_cast<int>(Family::classification);
  if (!elementwise && (c.pred_pattern.period != 0 || c.target_pattern.period != 0 ||
                       c.weight_pattern.period != 0 || c.aux_pattern.period != 0))
    throw invalid_argument("a pattern (values, period, repeat) is for the element-wise families");
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
    case Family::embedding:
      return run_tensors<EmbeddingLoss, &fastloss::embedding>(c);
    case Family::pairwise:
      return run_tensors<PairwiseLoss, &fastloss::pairwise>(c);
    case Family::sequence:
      return run_tensors<SequenceLoss, &fastloss::sequence>(c);
    case Family::ranking:
      return run_tensors<RankingLoss, &fastloss::ranking>(c);
    case Family::image:
      return run_tensors<ImageLoss, &fastloss::image>(c);
    case Family::generative:
      return run_tensors<GenerativeLoss, &fastloss::generative>(c);
    case Family::regularization:
      return run_tensors<RegularizationLoss, &fastloss::regularization>(c);
    case Family::clustering:
      return run_tensors<ClusteringLoss, &fastloss::clustering>(c);
    case Family::control:
      return run_tensors<ControlLoss, &fastloss::control>(c);
    case Family::robust:
      return run_tensors<RobustLoss, &fastloss::robust>(c);
  }
  throw invalid_argument("unknown kernel family " + std::to_string(c.family));
}

}  // namespace bind
}  // namespace fastloss
