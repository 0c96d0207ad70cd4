// Binding helpers: turn Python objects into the kernels' argument records.
//
// The Python layer has already converted, broadcast and validated arrays;
// these helpers re-check only what would make the C++ unsafe (dtype, size,
// contiguity, writability) and raise TypeError/ValueError if it is violated.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "fastloss/api/runtime.hpp"
#include "fastloss/api/types.hpp"

namespace fastloss {
namespace bind {

namespace py = pybind11;

inline DType dtype_of(const py::array& a, const char* name) {
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'f' && size == 4) return DType::f32;
  if (kind == 'f' && size == 8) return DType::f64;
  throw py::type_error(std::string(name) + ": expected a float32 or float64 array");
}

// h as an array, refusing anything else (a handle is not checked by pybind11).
inline py::array as_array(const py::handle& h, const char* name) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(name) + ": expected a NumPy array");
  return py::reinterpret_borrow<py::array>(h);
}

inline void check_contiguous(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": array must be C-contiguous");
}

inline void check_layout(const py::array& a, const char* name, int64_t n) {
  check_contiguous(a, name);
  if (a.size() != n)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(n) +
                          " elements, got " + std::to_string(a.size()));
}

// An input array of the call's dtype, or nullptr for None.
inline const void* in_ptr(const py::handle& h, DType dt, int64_t n, const char* name) {
  if (h.is_none()) return nullptr;
  const auto a = as_array(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": dtype differs from pred's");
  check_layout(a, name, n);
  return a.data();
}

// A writable output array of the call's dtype, or nullptr for None.
inline void* out_ptr(const py::handle& h, DType dt, int64_t n, const char* name) {
  if (h.is_none()) return nullptr;
  auto a = as_array(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": dtype differs from pred's");
  check_layout(a, name, n);
  if (!a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return a.mutable_data();
}

}  // namespace bind
}  // namespace fastloss
