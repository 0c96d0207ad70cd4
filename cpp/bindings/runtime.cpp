#include "fastloss/api/runtime.hpp"
#include "fastloss/common/contention.hpp"

#include <pybind11/stl.h>

#include "build_info.hpp"
#include "common.hpp"

namespace py = pybind11;
using namespace fastloss;

void register_runtime(py::module_& m) {
  // Choose the ISA level now, at import: a bad FASTLOSS_ISA is a
  // RuntimeWarning here (the best level is used), not a failed import.
  const std::string& note = runtime::environment_note();
  if (!note.empty() && PyErr_WarnEx(PyExc_RuntimeWarning, note.c_str(), 1) < 0)
    throw py::error_already_set();
  // A kernel's InvalidElement becomes fastloss._core.InvalidElement (a
  // ValueError) whose single argument is the flat index; the Python layer
  // turns it into a message naming the argument and the value.
  static py::exception<fastloss::InvalidElement> invalid_element(m, "InvalidElement",
                                                                 PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastloss::InvalidElement& e) {
      PyErr_SetObject(invalid_element.ptr(), py::int_(e.index).ptr());
    }
  });
  m.def("isa", [] { return std::string(runtime::isa_name(runtime::isa())); },
        "The ISA level kernels run at.");
  m.def("set_isa", [](const std::string& name) { runtime::set_isa(runtime::isa_from_name(name)); },
        "Force an ISA level (refused if the CPU or build lacks it).");
  m.def("compiled_isas", &runtime::compiled_isas);
  m.def("supported_isas", &runtime::supported_isas);
  m.def("set_num_threads", &runtime::set_num_threads);
  m.def("get_num_threads", &runtime::get_num_threads);
  m.def("max_threads", &runtime::max_threads);
  m.def(
      "contention",
      [](int64_t set_late_ns) {
        // what the parallel regions measured (common/contention.hpp); a
        // value >= 0 is stored first (tests)
        namespace c = fastloss::contention;
        if (set_late_ns >= 0) fastloss::FASTLOSS_ISA_NS::contention::record(set_late_ns);
        py::dict d;
        d["late_ns"] = c::g_late_ns.load();
        d["skip"] = c::g_skip.load();
        d["backoff"] = c::g_backoff.load();
        return d;
      },
      py::arg("set_late_ns") = -1);
  m.def("threads_for_call", &runtime::threads_for_call);
  m.def("omp_max_threads", &runtime::omp_max_threads);
  m.def("forked_child_serial", &runtime::forked_child_serial);
  m.attr("have_openmp") = runtime::have_openmp();
  m.attr("openmp") = FASTLOSS_OPENMP_DESC;
  m.attr("compiler") = FASTLOSS_COMPILER;
  m.attr("build_type") = FASTLOSS_BUILD_TYPE;
  m.attr("build_flags") = FASTLOSS_FLAGS;
  m.attr("isa_flags") = FASTLOSS_ISA_FLAGS;
  m.attr("__version__") = FASTLOSS_VERSION;
}
