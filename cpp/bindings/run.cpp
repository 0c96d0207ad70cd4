// fastloss._core.run: the one binding every loss runs through (pybind11 only,
// no math).
//
// run(family, id, op, reduction, pred, target=None, labels=None,
//     sample_weight=None, aux=None, class_weight=None, out_value=None,
//     out_grad=None, out_hess=None, classes=0, slices=0, slice_size=0,
//     group=1, ignore_index=-100, params=()) -> float | None
//
// Every argument has a name and may be passed by keyword (the tests and the
// family modules do, for clarity); the element-wise hot path passes them by
// position: pybind11 matches keywords by name in a loop, which measured
// 0.8-1.3 us more per call than positions on a 10-element loss (more than the
// kernel itself), so the binding is not keyword-only. The family says which
// kernel entry point reads them and how their sizes relate to pred's; this
// file checks what only it can see (dtype, contiguity, writability) and hands
// raw pointers to run_kernel (kernel_call.cpp, shared with the XLA FFI
// handlers of xla.cpp), which checks the sizes, fills that family's argument
// record and runs the kernel. The Python layer
// (fastloss._loss and the family modules) has converted and validated the
// inputs already.
#include <cstdint>
#include <string>

#include "common.hpp"
#include "kernel_call.hpp"

namespace py = pybind11;
using namespace fastloss;
using namespace fastloss::bind;

namespace {

// Python's side of the record: dtype, contiguity and writability are checked
// here, sizes and the family's layout in run_kernel (kernel_call.cpp).

In in_arg(const py::handle& h, DType dt, const char* name) {
  if (h.is_none()) return {};
  const auto a = as_array(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": dtype differs from pred's");
  check_contiguous(a, name);
  return {a.data(), static_cast<int64_t>(a.size())};
}

// in_arg, or for a tuple (values, period, repeat) -- a broadcast argument not
// materialized -- the values, with period and repeat set.
In pattern_arg(const py::handle& h, DType dt, const char* name, int64_t& period,
               int64_t& repeat) {
  if (!py::isinstance<py::tuple>(h)) return in_arg(h, dt, name);
  const auto t = h.cast<py::tuple>();
  if (t.size() != 3)
    throw py::value_error(std::string(name) + ": expected (values, period, repeat)");
  period = t[1].cast<int64_t>();
  repeat = t[2].cast<int64_t>();
  if (period < 1 || repeat < 1)
    throw py::value_error(std::string(name) +
                          ": period and repeat must be >= 1 and their product must divide "
                          "pred's size");
  const In v = in_arg(t[0], dt, name);
  if (v.data == nullptr)
    throw py::value_error(std::string(name) + ": the pattern's values are None");
  return v;
}

Out out_arg(const py::handle& h, DType dt, const char* name) {
  if (h.is_none()) return {};
  auto a = as_array(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": dtype differs from pred's");
  check_contiguous(a, name);
  if (!a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return {a.mutable_data(), static_cast<int64_t>(a.size())};
}

In typed_arg(const py::handle& h, char kind, const char* name, const char* what) {
  if (h.is_none()) return {};
  const auto a = as_array(h, name);
  if (a.dtype().kind() != kind || a.dtype().itemsize() != 8)
    throw py::type_error(std::string(name) + ": expected " + what);
  check_contiguous(a, name);
  return {a.data(), static_cast<int64_t>(a.size())};
}

py::object run(int family, int id, int op, int reduction, const py::array& pred,
               const py::handle& target, const py::handle& labels, const py::handle& weight,
               const py::handle& aux, const py::handle& class_weight,
               const py::handle& out_value, const py::handle& out_grad,
               const py::handle& out_hess, int64_t classes, int64_t n_slices,
               int64_t slice_size, int64_t group, int64_t ignore_index,
               const py::tuple& params) {
  if (params.size() > 4) throw py::value_error("params: at most 4 values");
  KernelCall c;
  c.family = family;
  c.id = id;
  c.op = op;
  c.reduction = reduction;
  c.dtype = dtype_of(pred, "pred");
  check_contiguous(pred, "pred");
  c.pred = {pred.data(), static_cast<int64_t>(pred.size())};
  c.target = in_arg(target, c.dtype, "target");
  c.labels = typed_arg(labels, 'i', "labels", "an int64 array");
  c.weight = pattern_arg(weight, c.dtype, "sample_weight", c.weight_period, c.weight_repeat);
  c.aux = pattern_arg(aux, c.dtype, "aux", c.aux_period, c.aux_repeat);
  c.class_weight = typed_arg(class_weight, 'f', "class_weight", "a float64 array");
  c.out_value = out_arg(out_value, c.dtype, "out_value");
  c.out_grad = out_arg(out_grad, c.dtype, "out_grad");
  c.out_hess = out_arg(out_hess, c.dtype, "out_hess");
  c.classes = classes;
  c.slices = n_slices;
  c.slice_size = slice_size;
  c.group = group;
  c.ignore_index = ignore_index;
  for (size_t k = 0; k < params.size(); ++k) c.params[k] = params[k].cast<double>();
  c.n_threads = runtime::threads_for_call();
  double v;
  {
    py::gil_scoped_release nogil;
    v = run_kernel(c);
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
        "Run one loss kernel: run(family, id, op, reduction, pred, target, labels, "
        "sample_weight, aux, class_weight, out_value, out_grad, out_hess, classes, slices, "
        "slice_size, group, ignore_index, params) -> float | None.");
}
