// The output-buffer cache (cpp/src/buffers.cpp) as a NumPy allocation
// handler: _core.empty allocates an ordinary NumPy array (it owns its data;
// NumPy frees it through the handler it was made with), only its memory
// comes from the cache. The only translation unit that uses NumPy's C API.
#define PY_ARRAY_UNIQUE_SYMBOL fastloss_ARRAY_API
#define NPY_NO_DEPRECATED_API NPY_1_23_API_VERSION
#define NPY_TARGET_VERSION NPY_1_23_API_VERSION
#include <pybind11/pybind11.h>

#include <numpy/arrayobject.h>

#include "fastloss/api/buffers.hpp"

namespace py = pybind11;
namespace fb = fastloss::buffers;

namespace {

void* h_malloc(void*, size_t n) { return fb::allocate(n); }
void* h_calloc(void*, size_t n, size_t size) { return fb::allocate_zeroed(n, size); }
void* h_realloc(void*, void* p, size_t n) { return fb::reallocate(p, n); }
void h_free(void*, void* p, size_t) { fb::release(p); }

PyDataMem_Handler handler = {"fastloss_buffer_cache", 1,
                             {nullptr, h_malloc, h_calloc, h_realloc, h_free}};

PyObject* handler_capsule() {
  // Never released: every array made with the handler holds a reference too.
  static PyObject* capsule = PyCapsule_New(&handler, "mem_handler", nullptr);
  return capsule;
}

// A C-contiguous, uninitialized array; through the cache unless it is off.
py::object empty(const py::sequence& shape, const py::object& dtype) {
  npy_intp dims[NPY_MAXDIMS];
  const int nd = static_cast<int>(shape.size());
  if (nd > NPY_MAXDIMS) throw py::value_error("shape: too many dimensions");
  for (int i = 0; i < nd; ++i) dims[i] = shape[static_cast<size_t>(i)].cast<npy_intp>();
  PyArray_Descr* descr = nullptr;
  if (!PyArray_DescrConverter(dtype.ptr(), &descr)) throw py::error_already_set();
  // The cache's handler for this one allocation (off: NumPy's own).
  PyObject* old = nullptr;
  if (fb::stats().limit != 0) {
    PyObject* capsule = handler_capsule();
    old = capsule != nullptr ? PyDataMem_SetHandler(capsule) : nullptr;
    if (old == nullptr) {
      Py_DECREF(descr);
      throw py::error_already_set();
    }
  }
  // (PyArray_Empty steals descr)
  py::object a = py::reinterpret_steal<py::object>(PyArray_Empty(nd, dims, descr, 0));
  if (old != nullptr) {
    PyObject* back = PyDataMem_SetHandler(old);
    Py_DECREF(old);
    if (back == nullptr) throw py::error_already_set();
    Py_DECREF(back);
  }
  if (!a) throw py::error_already_set();
  return a;
}

}  // namespace

void register_buffers(py::module_& m) {
  if (_import_array() < 0) throw py::error_already_set();
  // Read FASTLOSS_BUFFER_CACHE now: a malformed value is a RuntimeWarning
  // and the default limit stays, rather than a failed import.
  try {
    fb::init_from_environment();
  } catch (const std::invalid_argument& e) {
    const std::string msg = std::string(e.what()) + "; using the default limit";
    if (PyErr_WarnEx(PyExc_RuntimeWarning, msg.c_str(), 1) < 0) throw py::error_already_set();
  }
  m.def("empty", &empty, py::arg("shape"), py::arg("dtype"),
        "An uninitialized C-contiguous array whose memory comes from the buffer cache.");
  m.def("set_buffer_cache", &fb::set_limit, py::arg("max_bytes"));
  m.def("default_buffer_cache", &fb::default_limit);
  m.def("buffer_cache_stats", [] {
    const fb::Stats s = fb::stats();
    py::dict d;
    d["max_bytes"] = s.limit;
    d["cached_bytes"] = s.cached_bytes;
    d["cached_buffers"] = s.cached_buffers;
    d["live_buffers"] = s.live_buffers;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    return d;
  });
  m.attr("buffer_cache_min_bytes") = fb::kMinCached;
  m.attr("buffer_cache_max_buffers") = fb::kMaxCachedBuffers;
}
