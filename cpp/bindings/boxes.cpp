// pybind11 binding of the bounding-box kernels (no math here).
#include "fastloss/api/boxes.hpp"

#include <string>

#include "common.hpp"

namespace py = pybind11;

void register_boxes(pybind11::module_& m) {
  using namespace fastloss;
  using namespace fastloss::bind;
  m.def(
      "boxes",
      [](int id, int op, int reduction, const py::array& pred, const py::handle& target,
         const py::handle& weight, const py::handle& out_value, const py::handle& out_grad,
         double eps) -> py::object {
        BoxArgs a;
        a.dtype = dtype_of(pred, "pred");
        if (!(pred.flags() & py::array::c_style))
          throw py::value_error("pred: array must be C-contiguous");
        if (pred.size() % 4 != 0)
          throw py::value_error("pred: expected rows of 4 (x1, y1, x2, y2), got " +
                                std::to_string(pred.size()) + " elements");
        if (id < 0 || id > 3) throw py::value_error("box loss id out of range");
        if (op < 0 || op > 2) throw py::value_error("op out of range (box losses have no Hessian)");
        if (reduction < 0 || reduction > 2) throw py::value_error("reduction out of range");
        if (!(eps > 0.0)) throw py::value_error("eps must be > 0, got " + std::to_string(eps));
        const int64_t n = static_cast<int64_t>(pred.size()) / 4;
        a.n = n;
        a.op = static_cast<Op>(op);
        a.reduction = static_cast<Reduction>(reduction);
        a.pred = pred.data();
        a.target = in_ptr(target, a.dtype, 4 * n, "target");
        if (a.target == nullptr) throw py::value_error("target is required");
        a.weight = in_ptr(weight, a.dtype, n, "sample_weight");
        a.out_value = out_ptr(out_value, a.dtype, n, "out_value");
        a.out_grad = out_ptr(out_grad, a.dtype, 4 * n, "out_grad");
        const bool none = a.reduction == Reduction::none;
        if (needs_value(a.op) && none && a.out_value == nullptr)
          throw py::value_error("out_value is required for reduction='none'");
        if (needs_grad(a.op) && a.out_grad == nullptr)
          throw py::value_error("out_grad is required");
        a.eps = eps;
        a.n_threads = runtime::threads_for_call();
        double v;
        {
          py::gil_scoped_release nogil;
          v = boxes(static_cast<BoxLoss>(id), a);
        }
        if (!none && needs_value(a.op)) return py::float_(v);
        return py::none();
      },
      "Bounding-box kernels (box_iou_loss, giou_loss, diou_loss, ciou_loss): "
      "boxes(id, op, reduction, pred, target, weight, out_value, out_grad, eps).");
  m.def(
      "_boxes_atan",
      [](const py::array& x, const py::handle& out) {
        const DType dt = dtype_of(x, "x");
        if (!(x.flags() & py::array::c_style))
          throw py::value_error("x: array must be C-contiguous");
        const int64_t n = static_cast<int64_t>(x.size());
        void* o = out_ptr(out, dt, n, "out");
        if (o == nullptr) throw py::value_error("out is required");
        py::gil_scoped_release nogil;
        boxes_atan(dt, n, x.data(), o);
      },
      "Element-wise atan as used by the CIoU kernel (for tests): _boxes_atan(x, out).");
}
