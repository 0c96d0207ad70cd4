// pybind11 binding of the boxes' vectorized atan, for its tests (no math here);
// the box losses themselves run through fastloss._core.run (run.cpp).
#include "fastloss/api/boxes.hpp"

#include <string>

#include "common.hpp"

namespace py = pybind11;

void register_boxes(pybind11::module_& m) {
  using namespace fastloss;
  using namespace fastloss::bind;
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
