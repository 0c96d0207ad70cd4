// fastloss._core: creates the module and registers each family.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_runtime(py::module_& m);
void register_run(py::module_& m);
void register_boxes(py::module_& m);
void register_vmath(py::module_& m);
void register_buffers(py::module_& m);
void register_catalogue(py::module_& m);
void register_xla(py::module_& m);
void register_bootstrap(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastloss compiled kernels (internal; use the fastloss package).";
  register_runtime(m);
  register_run(m);
  register_boxes(m);
  register_vmath(m);
  register_buffers(m);
  register_catalogue(m);
  register_xla(m);
  register_bootstrap(m);
}
