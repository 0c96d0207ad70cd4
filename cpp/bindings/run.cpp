// fastloss._core.run: the one binding every loss runs through (pybind11 only,
// no math).
//
// run(family, id, op, reduction, pred, target=None, labels=None,
//     sample_weight=None, aux=None, class_weight=None, out_value=None,
//     out_grad=None, out_hess=None, classes=0, slices=0, slice_size=0,
//     group=1, ignore_index=-100, params=(), out_blocks=None, size=-1,
//     inputs=(), out_grads=(), dims=(), samples=0, out_ints=()) -> float | None
//
// out_blocks (optional, a float64 array of 2 * ceil(terms / BLOCK) values,
// for op value with reduction mean): per reduction block of BLOCK terms
// (elements, rows, per-sample losses), the (weighted) losses' sum and the
// mean's denominator there -- the leaves of the one-shot reduction's tree,
// from which fastloss.Accumulator rebuilds its bits. Element-wise pred and
// target may be patterns (values, period, repeat) as sample_weight and aux
// are (a broadcast input read without materializing it); `size` then gives
// the element count where pred is one.
//
// Every argument has a name and may be passed by keyword (the tests and the
// family modules do, for clarity); the element-wise hot path passes them by
// position: pybind11 matches keywords by name in a loop, which measured
// 0.8-1.3 us more per call than positions on a 10-element loss (more than the
// kernel itself), so the binding is not keyword-only. The family says which
// kernel entry point reads them and how their sizes relate to pred's; this
// file only checks what would make the C++ unsafe (dtype, size, contiguity,
// writability) and fills that family's argument record. The Python layer
// (fastloss._loss and the family modules) has converted and validated the
// inputs already.
//
// The several-input families (from EMBEDDING on) read TensorArgs
// (api/tensors.hpp): pred is their input 0, `inputs` the others (None for an
// absent optional one), `out_grads` one gradient output per input (None where
// not asked), `dims` the family's sizes, `samples` the per-sample loss's
// size and `out_ints` the integer outputs the kernel writes (int64 arrays,
// None where not asked: kmeans_inertia's labels); their kernel entries check
// the sizes against the dims.
#include <cstdint>
#include <string>

#include "common.hpp"
#include "fastloss/api/boxes.hpp"
#include "fastloss/api/classification.hpp"
#include "fastloss/api/clustering.hpp"
#include "fastloss/api/control.hpp"
#include "fastloss/api/embedding.hpp"
#include "fastloss/api/generative.hpp"
#include "fastloss/api/image.hpp"
#include "fastloss/api/multiclass.hpp"
#include "fastloss/api/overlap.hpp"
#include "fastloss/api/ranking.hpp"
#include "fastloss/api/pairwise.hpp"
#include "fastloss/api/regression.hpp"
#include "fastloss/api/regularization.hpp"
#include "fastloss/api/sequence.hpp"
#include "fastloss/api/robust.hpp"
#include "fastloss/api/tensors.hpp"

namespace py = pybind11;
using namespace fastloss;
using namespace fastloss::bind;

namespace {

// The kernel families, as fastloss._loss names them (FAMILIES there).
enum class Family : int { regression = 0, classification = 1, multiclass = 2, overlap = 3,
                          boxes = 4, embedding = 5, pairwise = 6, sequence = 7, ranking = 8,
                          image = 9, generative = 10, regularization = 11, clustering = 12,
                          control = 13, robust = 15 };

struct Call {
  int id, op, reduction;
  py::handle pred_in;
  py::handle target, labels, weight, aux, class_weight, out_value, out_grad, out_hess;
  int64_t classes, slices, slice_size, group, ignore_index;
  double params[TensorArgs::kMaxParams];
  int n_params;
  py::handle out_blocks;
  int64_t size;
  const py::tuple& inputs;
  const py::tuple& out_grads;
  const py::tuple& dims;
  int64_t samples;
  const py::tuple& out_ints;
  py::array pred() const { return as_array(pred_in, "pred"); }
};

// The optional per-block leaves (see the header) for `terms` reduction terms.
double* blocks_ptr(const Call& c, int64_t terms) {
  if (c.out_blocks.is_none()) return nullptr;
  if (static_cast<Op>(c.op) != Op::value || static_cast<Reduction>(c.reduction) != Reduction::mean)
    throw py::value_error("out_blocks: only for a mean's value (op value, reduction mean)");
  auto a = as_array(c.out_blocks, "out_blocks");
  if (a.dtype().kind() != 'f' || a.dtype().itemsize() != 8)
    throw py::type_error("out_blocks: expected a float64 array");
  const int64_t nb = terms <= 0 ? 0 : (terms + kReductionBlock - 1) / kReductionBlock;
  check_layout(a, "out_blocks", kBlockLeaves * nb);
  if (!a.writeable()) throw py::value_error("out_blocks: array is read-only");
  return static_cast<double*>(a.mutable_data());
}

// n_alt: a second accepted size (multilabel_margin's rows of class indices,
// one per score), or -1; `count` receives the size taken.
const int64_t* labels_ptr(const py::handle& h, int64_t n, int64_t n_alt = -1,
                          int64_t* count = nullptr) {
  if (h.is_none()) return nullptr;
  const auto a = as_array(h, "labels");
  if (a.dtype().kind() != 'i' || a.dtype().itemsize() != 8)
    throw py::type_error("labels: expected an int64 array");
  if (n_alt >= 0 && static_cast<int64_t>(a.size()) == n_alt) n = n_alt;
  check_layout(a, "labels", n);
  if (count != nullptr) *count = n;
  return static_cast<const int64_t*>(a.data());
}

const double* class_weight_ptr(const py::handle& h, int64_t n) {
  if (h.is_none()) return nullptr;
  const auto a = as_array(h, "class_weight");
  if (a.dtype().kind() != 'f' || a.dtype().itemsize() != 8)
    throw py::type_error("class_weight: expected a float64 array");
  check_layout(a, "class_weight", n);
  return static_cast<const double*>(a.data());
}

void check_outputs(Op op, Reduction red, const void* value, const void* grad, const void* hess) {
  if (needs_value(op) && red == Reduction::none && value == nullptr)
    throw py::value_error("out_value is required for reduction='none'");
  if (needs_grad(op) && grad == nullptr) throw py::value_error("out_grad is required");
  if (op == Op::grad_hess && hess == nullptr) throw py::value_error("out_hess is required");
}

template <class Id, double (*Fn)(Id, const ElemArgs&)>
double run_elementwise(const Call& c) {
  ElemArgs a;
  if (py::isinstance<py::tuple>(c.pred_in)) {  // a pattern: its size comes apart
    const auto t = c.pred_in.cast<py::tuple>();
    if (t.size() != 3) throw py::value_error("pred: expected (values, period, repeat)");
    a.dtype = dtype_of(as_array(t[0], "pred"), "pred");
    if (c.size < 0) throw py::value_error("size: required when pred is a pattern");
    a.n = c.size;
  } else {
    const auto pred = c.pred();
    a.dtype = dtype_of(pred, "pred");
    a.n = static_cast<int64_t>(pred.size());
    if (c.size >= 0 && c.size != a.n)
      throw py::value_error("size: " + std::to_string(c.size) + " differs from pred's size " +
                            std::to_string(a.n));
  }
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.pred = pattern_ptr(c.pred_in, a.dtype, a.n, "pred", a.pred_period, a.pred_repeat);
  a.target = pattern_ptr(c.target, a.dtype, a.n, "target", a.target_period, a.target_repeat);
  if (a.target == nullptr) throw py::value_error("target is required");
  a.weight = pattern_ptr(c.weight, a.dtype, a.n, "sample_weight", a.weight_period,
                         a.weight_repeat);
  a.aux = pattern_ptr(c.aux, a.dtype, a.n, "aux", a.aux_period, a.aux_repeat);
  a.out_value = out_ptr(c.out_value, a.dtype, a.n, "out_value");
  a.out_grad = out_ptr(c.out_grad, a.dtype, a.n, "out_grad");
  a.out_hess = out_ptr(c.out_hess, a.dtype, a.n, "out_hess");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, a.out_hess);
  a.out_blocks = blocks_ptr(c, a.n);
  for (int k = 0; k < 4; ++k) a.params[k] = c.params[k];
  a.n_threads = runtime::threads_for_call();
  py::gil_scoped_release nogil;
  return Fn(static_cast<Id>(c.id), a);
}

double run_rows(const Call& c) {
  RowArgs a;
  const auto pred = c.pred();
  a.dtype = dtype_of(pred, "pred");
  if (c.classes < 1) throw py::value_error("classes must be >= 1");
  const int64_t n = static_cast<int64_t>(pred.size());
  check_layout(pred, "pred", n);
  if (n % c.classes != 0) throw py::value_error("pred: size is not a multiple of classes");
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.rows = n / c.classes;
  a.classes = c.classes;
  a.pred = pred.data();
  a.target = in_ptr(c.target, a.dtype, n, "target");
  a.labels = labels_ptr(c.labels, a.rows, n, &a.n_labels);
  if (a.target == nullptr && a.labels == nullptr)
    throw py::value_error("target or labels is required");
  a.weight = in_ptr(c.weight, a.dtype, a.rows, "sample_weight");
  a.class_weight = class_weight_ptr(c.class_weight, c.classes);
  a.out_value = out_ptr(c.out_value, a.dtype, a.rows, "out_value");
  a.out_grad = out_ptr(c.out_grad, a.dtype, n, "out_grad");
  a.out_hess = out_ptr(c.out_hess, a.dtype, n, "out_hess");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, a.out_hess);
  a.ignore_index = c.ignore_index;
  a.out_blocks = blocks_ptr(c, a.rows);
  for (int k = 0; k < 4; ++k) a.params[k] = c.params[k];
  a.n_threads = runtime::threads_for_call();
  py::gil_scoped_release nogil;
  return multiclass(static_cast<MulticlassLoss>(c.id), a);
}

double run_slices(const Call& c) {
  SliceArgs a;
  const auto pred = c.pred();
  a.dtype = dtype_of(pred, "pred");
  if (c.op == static_cast<int>(Op::grad_hess))
    throw py::value_error("op out of range (no Hessian here)");
  if (c.slices < 0 || c.slice_size < 0 || c.group < 1 || c.slices % c.group != 0)
    throw py::value_error("overlap: bad slice layout (slices, slice_size, group)");
  const int64_t n = c.slices * c.slice_size;
  if (c.slice_size != 0 && n / c.slice_size != c.slices)
    throw py::value_error("overlap: slices * slice_size overflows");
  check_layout(pred, "pred", n);
  const int64_t groups = c.slices / c.group;
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.slices = c.slices;
  a.slice_size = c.slice_size;
  a.group = c.group;
  a.pred = pred.data();
  a.target = in_ptr(c.target, a.dtype, n, "target");
  if (a.target == nullptr) throw py::value_error("target is required");
  a.weight = in_ptr(c.weight, a.dtype, groups, "sample_weight");
  a.out_value = out_ptr(c.out_value, a.dtype, groups, "out_value");
  a.out_grad = out_ptr(c.out_grad, a.dtype, n, "out_grad");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, nullptr);
  a.out_blocks = blocks_ptr(c, groups);
  for (int k = 0; k < 3; ++k) a.params[k] = c.params[k];
  a.n_threads = runtime::threads_for_call();
  py::gil_scoped_release nogil;
  return overlap(static_cast<OverlapLoss>(c.id), a);
}

double run_boxes(const Call& c) {
  BoxArgs a;
  const auto pred = c.pred();
  a.dtype = dtype_of(pred, "pred");
  if (!(pred.flags() & py::array::c_style))
    throw py::value_error("pred: array must be C-contiguous");
  if (pred.size() % 4 != 0)
    throw py::value_error("pred: expected rows of 4 (x1, y1, x2, y2), got " +
                          std::to_string(pred.size()) + " elements");
  if (c.op == static_cast<int>(Op::grad_hess))
    throw py::value_error("op out of range (box losses have no Hessian)");
  const double eps = c.params[0];
  if (!(eps > 0.0)) throw py::value_error("eps must be > 0, got " + std::to_string(eps));
  const int64_t n = static_cast<int64_t>(pred.size()) / 4;
  a.n = n;
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  a.pred = pred.data();
  a.target = in_ptr(c.target, a.dtype, 4 * n, "target");
  if (a.target == nullptr) throw py::value_error("target is required");
  a.weight = in_ptr(c.weight, a.dtype, n, "sample_weight");
  a.out_value = out_ptr(c.out_value, a.dtype, n, "out_value");
  a.out_grad = out_ptr(c.out_grad, a.dtype, 4 * n, "out_grad");
  check_outputs(a.op, a.reduction, a.out_value, a.out_grad, nullptr);
  a.eps = eps;
  a.out_blocks = blocks_ptr(c, n);
  a.n_threads = runtime::threads_for_call();
  py::gil_scoped_release nogil;
  return boxes(static_cast<BoxLoss>(c.id), a);
}

template <class Id, double (*Fn)(Id, const TensorArgs&)>
double run_tensors(const Call& c) {
  TensorArgs a;
  const auto pred = c.pred();
  a.dtype = dtype_of(pred, "pred");
  a.op = static_cast<Op>(c.op);
  a.reduction = static_cast<Reduction>(c.reduction);
  const size_t n_in = 1 + c.inputs.size();
  if (n_in > static_cast<size_t>(TensorArgs::kMaxInputs))
    throw py::value_error("inputs: too many arrays");
  if (c.out_grads.size() != 0 && c.out_grads.size() != n_in)
    throw py::value_error("out_grads: expected one entry per input (pred and inputs)");
  if (c.dims.size() > static_cast<size_t>(TensorArgs::kMaxDims))
    throw py::value_error("dims: too many sizes");
  a.n_inputs = static_cast<int>(n_in);
  bool any_grad = false;
  for (size_t k = 0; k < n_in; ++k) {
    const std::string name = k == 0 ? "pred" : "inputs[" + std::to_string(k - 1) + "]";
    const py::handle h = k == 0 ? py::handle(pred) : c.inputs[k - 1];
    if (h.is_none()) continue;
    const auto arr = as_array(h, name.c_str());
    const py::dtype dt = arr.dtype();
    a.in_int[k] = dt.kind() == 'i' && dt.itemsize() == 8;
    if (!a.in_int[k] && dtype_of(arr, name.c_str()) != a.dtype)
      throw py::type_error(name + ": dtype differs from pred's");
    a.in_size[k] = static_cast<int64_t>(arr.size());
    check_layout(arr, name.c_str(), a.in_size[k]);
    a.in[k] = arr.data();
    if (c.out_grads.size() != 0 && !c.out_grads[k].is_none()) {
      const std::string gname = "out_grads[" + std::to_string(k) + "]";
      if (a.in_int[k]) throw py::value_error(gname + ": an integer input has no gradient");
      a.out_grad[k] = out_ptr(c.out_grads[k], a.dtype, a.in_size[k], gname.c_str());
      any_grad = true;
    }
  }
  for (size_t d = 0; d < c.dims.size(); ++d) a.dims[d] = c.dims[d].cast<int64_t>();
  a.n_dims = static_cast<int>(c.dims.size());
  if (c.samples < 0) throw py::value_error("samples must be >= 0");
  a.n_samples = c.samples;
  a.weight = in_ptr(c.weight, a.dtype, a.n_samples, "sample_weight");
  a.out_value = out_ptr(c.out_value, a.dtype, a.n_samples, "out_value");
  if (needs_value(a.op) && a.reduction == Reduction::none && a.out_value == nullptr)
    throw py::value_error("out_value is required for reduction='none'");
  if (needs_grad(a.op) && !any_grad) throw py::value_error("out_grads: no gradient asked");
  if (c.out_ints.size() > static_cast<size_t>(TensorArgs::kMaxIntOutputs))
    throw py::value_error("out_ints: too many arrays");
  a.n_out_ints = static_cast<int>(c.out_ints.size());
  for (size_t k = 0; k < c.out_ints.size(); ++k) {
    if (c.out_ints[k].is_none()) continue;
    const std::string name = "out_ints[" + std::to_string(k) + "]";
    auto arr = as_array(c.out_ints[k], name.c_str());
    if (arr.dtype().kind() != 'i' || arr.dtype().itemsize() != 8)
      throw py::type_error(name + ": expected an int64 array");
    check_contiguous(arr, name.c_str());
    if (!arr.writeable()) throw py::value_error(name + ": array is read-only");
    a.out_int[k] = static_cast<int64_t*>(arr.mutable_data());
    a.out_int_size[k] = static_cast<int64_t>(arr.size());  // the kernel checks it
  }
  for (int k = 0; k < c.n_params; ++k) a.params[k] = c.params[k];
  a.n_params = c.n_params;
  a.n_threads = runtime::threads_for_call();
  py::gil_scoped_release nogil;
  return Fn(static_cast<Id>(c.id), a);
}

py::object run(int family, int id, int op, int reduction, const py::handle& pred,
               const py::handle& target, const py::handle& labels, const py::handle& weight,
               const py::handle& aux, const py::handle& class_weight,
               const py::handle& out_value, const py::handle& out_grad,
               const py::handle& out_hess, int64_t classes, int64_t n_slices,
               int64_t slice_size, int64_t group, int64_t ignore_index,
               const py::tuple& params, const py::handle& out_blocks, int64_t size,
               const py::tuple& inputs, const py::tuple& out_grads, const py::tuple& dims,
               int64_t samples, const py::tuple& out_ints) {
  if (op < 0 || op > 3) throw py::value_error("op out of range");
  if (reduction < 0 || reduction > 2) throw py::value_error("reduction out of range");
  const bool tensors = family >= static_cast<int>(Family::embedding);
  if (params.size() > (tensors ? static_cast<size_t>(TensorArgs::kMaxParams) : 4u))
    throw py::value_error("params: too many values");
  if (!tensors && (inputs.size() != 0 || out_grads.size() != 0 || dims.size() != 0 ||
                   out_ints.size() != 0))
    throw py::value_error(
        "inputs, out_grads, dims and out_ints are for the several-input families");
  Call c{id,        op,         reduction,    pred,       target,   labels,     weight,
         aux,       class_weight, out_value,  out_grad,   out_hess, classes,    n_slices,
         slice_size, group,     ignore_index, {},         static_cast<int>(params.size()),
         out_blocks, size,      inputs,       out_grads,  dims,     samples,
         out_ints};
  for (size_t k = 0; k < params.size(); ++k) c.params[k] = params[k].cast<double>();
  double v;
  switch (static_cast<Family>(family)) {
    case Family::regression:
      v = run_elementwise<RegressionLoss, &fastloss::regression>(c);
      break;
    case Family::classification:
      v = run_elementwise<ClassificationLoss, &fastloss::classification>(c);
      break;
    case Family::multiclass:
      v = run_rows(c);
      break;
    case Family::overlap:
      if (id < 0 || id > 3) throw py::value_error("overlap: loss id out of range");
      v = run_slices(c);
      break;
    case Family::boxes:
      if (id < 0 || id > 3) throw py::value_error("box loss id out of range");
      v = run_boxes(c);
      break;
    case Family::embedding:
      v = run_tensors<EmbeddingLoss, &fastloss::embedding>(c);
      break;
    case Family::pairwise:
      v = run_tensors<PairwiseLoss, &fastloss::pairwise>(c);
      break;
    case Family::sequence:
      v = run_tensors<SequenceLoss, &fastloss::sequence>(c);
      break;
    case Family::ranking:
      v = run_tensors<RankingLoss, &fastloss::ranking>(c);
      break;
    case Family::generative:
      v = run_tensors<GenerativeLoss, &fastloss::generative>(c);
      break;
    case Family::regularization:
      v = run_tensors<RegularizationLoss, &fastloss::regularization>(c);
      break;
    case Family::image:
      v = run_tensors<ImageLoss, &fastloss::image>(c);
      break;
    case Family::control:
      v = run_tensors<ControlLoss, &fastloss::control>(c);
      break;
    case Family::clustering:
      v = run_tensors<ClusteringLoss, &fastloss::clustering>(c);
      break;
    case Family::robust:
      v = run_tensors<RobustLoss, &fastloss::robust>(c);
      break;
    default:
      throw py::value_error("unknown kernel family " + std::to_string(family));
  }
  if (static_cast<Reduction>(reduction) != Reduction::none && needs_value(static_cast<Op>(op)))
    return py::float_(v);
  return py::none();
}

}  // namespace

void register_run(py::module_& m) {
  const auto none = py::none();
  m.def("run", &run, py::arg("family"), py::arg("id"), py::arg("op"), py::arg("reduction"),
        py::arg("pred"), py::arg("target") = none, py::arg("labels") = none,
        py::arg("sample_weight") = none, py::arg("aux") = none,
        py::arg("class_weight") = none, py::arg("out_value") = none,
        py::arg("out_grad") = none, py::arg("out_hess") = none, py::arg("classes") = 0,
        py::arg("slices") = 0, py::arg("slice_size") = 0, py::arg("group") = 1,
        py::arg("ignore_index") = -100, py::arg("params") = py::tuple(),
        py::arg("out_blocks") = none, py::arg("size") = -1, py::arg("inputs") = py::tuple(),
        py::arg("out_grads") = py::tuple(), py::arg("dims") = py::tuple(),
        py::arg("samples") = 0, py::arg("out_ints") = py::tuple(),
        "Run one loss kernel: run(family, id, op, reduction, pred, target, labels, "
        "sample_weight, aux, class_weight, out_value, out_grad, out_hess, classes, slices, "
        "slice_size, group, ignore_index, params, out_blocks, size, inputs, out_grads, dims, "
        "samples, out_ints) -> float | None.");
  m.attr("BLOCK") = kReductionBlock;
}
