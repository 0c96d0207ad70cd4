// pybind11 glue for the overlap (per-slice) kernels: no math here.
#include "fastloss/api/overlap.hpp"

#include <string>

#include "common.hpp"

namespace py = pybind11;

void register_overlap(pybind11::module_& m) {
  using namespace fastloss;
  using namespace fastloss::bind;
  m.def(
      "overlap",
      [](int id, int op, int reduction, const py::array& pred, const py::handle& target,
         const py::handle& weight, const py::handle& out_value, const py::handle& out_grad,
         int64_t slices, int64_t slice_size, int64_t group, double p0, double p1,
         double p2) -> py::object {
        SliceArgs a;
        a.dtype = dtype_of(pred, "pred");
        if (id < 0 || id > 3) throw py::value_error("overlap: loss id out of range");
        if (op < 0 || op > 2) throw py::value_error("op out of range (no Hessian here)");
        if (reduction < 0 || reduction > 2) throw py::value_error("reduction out of range");
        if (slices < 0 || slice_size < 0 || group < 1 || slices % group != 0)
          throw py::value_error("overlap: bad slice layout (slices, slice_size, group)");
        const int64_t n = slices * slice_size;
        if (slice_size != 0 && n / slice_size != slices)
          throw py::value_error("overlap: slices * slice_size overflows");
        check_layout(pred, "pred", n);
        const int64_t groups = slices / group;
        a.op = static_cast<Op>(op);
        a.reduction = static_cast<Reduction>(reduction);
        a.slices = slices;
        a.slice_size = slice_size;
        a.group = group;
        a.pred = pred.data();
        a.target = in_ptr(target, a.dtype, n, "target");
        if (a.target == nullptr) throw py::value_error("target is required");
        a.weight = in_ptr(weight, a.dtype, groups, "sample_weight");
        a.out_value = out_ptr(out_value, a.dtype, groups, "out_value");
        a.out_grad = out_ptr(out_grad, a.dtype, n, "out_grad");
        if (needs_value(a.op) && a.reduction == Reduction::none && a.out_value == nullptr)
          throw py::value_error("out_value is required for reduction='none'");
        if (needs_grad(a.op) && a.out_grad == nullptr) throw py::value_error("out_grad is required");
        a.params[0] = p0;
        a.params[1] = p1;
        a.params[2] = p2;
        a.n_threads = runtime::threads_for_call();
        double v;
        {
          py::gil_scoped_release nogil;
          v = overlap(static_cast<OverlapLoss>(id), a);
        }
        if (a.reduction != Reduction::none && needs_value(a.op)) return py::float_(v);
        return py::none();
      },
      "Per-slice overlap kernels (dice, iou, tversky, generalized_dice):\n"
      "overlap(id, op, reduction, pred, target, weight, out_value, out_grad, slices,\n"
      "        slice_size, group, p0, p1, p2) -> float | None. pred/target hold\n"
      "slices * slice_size contiguous elements; weight and out_value one value\n"
      "per group of `group` slices.",
      py::arg("id"), py::arg("op"), py::arg("reduction"), py::arg("pred"), py::arg("target"),
      py::arg("weight"), py::arg("out_value"), py::arg("out_grad"), py::arg("slices"),
      py::arg("slice_size"), py::arg("group"), py::arg("p0") = 0.0, py::arg("p1") = 0.0,
      py::arg("p2") = 0.0);
}
