// _vmath(name, x, y=None) -> new array: fastloss's vectorized math element
// by element at the dispatched ISA level (internal: tests and benchmarks).
#include "fastloss/api/vmath.hpp"

#include <string>

#include "common.hpp"

namespace py = pybind11;

void register_vmath(py::module_& m) {
  m.def(
      "_vmath",
      [](const std::string& name, const py::array& x, const py::object& y) -> py::array {
        using fastloss::VmathFn;
        VmathFn fn;
        if (name == "exp") fn = VmathFn::exp;
        else if (name == "log") fn = VmathFn::log;
        else if (name == "log1p") fn = VmathFn::log1p;
        else if (name == "softplus") fn = VmathFn::softplus;
        else if (name == "sigmoid") fn = VmathFn::sigmoid;
        else if (name == "log1p_diff") fn = VmathFn::log1p_diff;
        else if (name == "exp_nonpos") fn = VmathFn::exp_nonpos;
        else if (name == "log_normal") fn = VmathFn::log_normal;
        else throw py::value_error("_vmath: unknown function '" + name +
                                   "' (exp, log, log1p, softplus, sigmoid, log1p_diff, "
                                   "exp_nonpos, log_normal)");
        const fastloss::DType dt = fastloss::bind::dtype_of(x, "x");
        const auto n = static_cast<int64_t>(x.size());
        fastloss::bind::check_layout(x, "x", n);
        const bool two = fn == VmathFn::log1p_diff;
        if (two && y.is_none()) throw py::value_error("_vmath: log1p_diff needs y");
        if (!two && !y.is_none()) throw py::value_error("_vmath: " + name + " takes no y");
        const void* ysrc = two ? fastloss::bind::in_ptr(y, dt, n, "y") : nullptr;
        py::array out(x.dtype(), std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
        const void* src = x.data();
        void* dst = out.mutable_data();
        {
          py::gil_scoped_release nogil;
          fastloss::vmath(fn, dt, src, ysrc, dst, n);
        }
        return out;
      },
      py::arg("name"), py::arg("x"), py::arg("y") = py::none(),
      "Element-wise exp/log/log1p/softplus/sigmoid (and log1p_diff: log1p(x) - log1p(y) "
      "for x, y > -1; exp_nonpos: exp for x <= 0; log_normal: log for normal x > 0) of "
      "fastloss's own vector math "
      "(float32 or float64, C-contiguous) at the current ISA level; a new array.");
}
