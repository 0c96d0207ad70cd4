// Bindings of the multiclass (row-wise) kernels: pybind11 only, no math.
#include "fastloss/api/multiclass.hpp"

#include <string>

#include "common.hpp"

namespace {

namespace py = pybind11;
using fastloss::bind::dtype_of;
using fastloss::bind::in_ptr;
using fastloss::bind::out_ptr;

const int64_t* labels_ptr(const py::handle& h, int64_t n) {
  if (h.is_none()) return nullptr;
  const auto a = fastloss::bind::as_array(h, "labels");
  if (a.dtype().kind() != 'i' || a.dtype().itemsize() != 8)
    throw py::type_error("labels: expected an int64 array");
  fastloss::bind::check_layout(a, "labels", n);
  return static_cast<const int64_t*>(a.data());
}

const double* class_weight_ptr(const py::handle& h, int64_t n) {
  if (h.is_none()) return nullptr;
  const auto a = fastloss::bind::as_array(h, "class_weight");
  if (a.dtype().kind() != 'f' || a.dtype().itemsize() != 8)
    throw py::type_error("class_weight: expected a float64 array");
  fastloss::bind::check_layout(a, "class_weight", n);
  return static_cast<const double*>(a.data());
}

py::object multiclass(int id, int op, int reduction, const py::array& pred, int64_t classes,
                      const py::handle& target, const py::handle& labels,
                      const py::handle& weight, const py::handle& class_weight,
                      const py::handle& out_value, const py::handle& out_grad,
                      int64_t ignore_index, double p0, double p1, const py::handle& out_hess) {
  using namespace fastloss;
  RowArgs a;
  a.dtype = dtype_of(pred, "pred");
  if (!(pred.flags() & py::array::c_style))
    throw py::value_error("pred: array must be C-contiguous");
  if (classes < 1) throw py::value_error("classes must be >= 1");
  const int64_t n = static_cast<int64_t>(pred.size());
  if (n % classes != 0) throw py::value_error("pred: size is not a multiple of classes");
  if (op < 0 || op > 3) throw py::value_error("op out of range");
  if (reduction < 0 || reduction > 2) throw py::value_error("reduction out of range");
  a.op = static_cast<Op>(op);
  a.reduction = static_cast<Reduction>(reduction);
  a.rows = n / classes;
  a.classes = classes;
  a.pred = pred.data();
  a.target = in_ptr(target, a.dtype, n, "target");
  a.labels = labels_ptr(labels, a.rows);
  if (a.target == nullptr && a.labels == nullptr)
    throw py::value_error("target or labels is required");
  a.weight = in_ptr(weight, a.dtype, a.rows, "sample_weight");
  a.class_weight = class_weight_ptr(class_weight, classes);
  a.out_value = out_ptr(out_value, a.dtype, a.rows, "out_value");
  a.out_grad = out_ptr(out_grad, a.dtype, n, "out_grad");
  if (needs_value(a.op) && a.reduction == Reduction::none && a.out_value == nullptr)
    throw py::value_error("out_value is required for reduction='none'");
  if (needs_grad(a.op) && a.out_grad == nullptr) throw py::value_error("out_grad is required");
  a.out_hess = out_ptr(out_hess, a.dtype, n, "out_hess");
  if (a.op == Op::grad_hess && a.out_hess == nullptr)
    throw py::value_error("out_hess is required");
  a.ignore_index = ignore_index;
  a.params[0] = p0;
  a.params[1] = p1;
  a.n_threads = runtime::threads_for_call();
  double v;
  {
    py::gil_scoped_release nogil;
    v = fastloss::multiclass(static_cast<MulticlassLoss>(id), a);
  }
  if (a.reduction != Reduction::none && needs_value(a.op)) return py::float_(v);
  return py::none();
}

}  // namespace

void register_multiclass(pybind11::module_& m) {
  m.def("multiclass", &multiclass, py::arg("id"), py::arg("op"), py::arg("reduction"),
        py::arg("pred"), py::arg("classes"), py::arg("target"), py::arg("labels"),
        py::arg("sample_weight"), py::arg("class_weight"), py::arg("out_value"),
        py::arg("out_grad"), py::arg("ignore_index"), py::arg("p0"), py::arg("p1"), py::kw_only(),
        py::arg("out_hess") = py::none(),
        "Row-wise multiclass kernels: multiclass(id, op, reduction, pred, classes, target, "
        "labels, sample_weight, class_weight, out_value, out_grad, ignore_index, p0, p1, *, "
        "out_hess=None).");
}
