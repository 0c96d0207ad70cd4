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

inline void check_layout(const py::array& a, const char* name, int64_t n) {
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": array must be C-contiguous");
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

// in_ptr, or for a tuple (values, period, repeat) -- element k reads
// values[(k / repeat) % period], a broadcast argument not materialized --
// the values' pointer, with period and repeat set (they stay 0 and 1
// otherwise).
inline const void* pattern_ptr(const py::handle& h, DType dt, int64_t n, const char* name,
                               int64_t& period, int64_t& repeat) {
  if (!py::isinstance<py::tuple>(h)) return in_ptr(h, dt, n, name);
  const auto t = h.cast<py::tuple>();
  if (t.size() != 3)
    throw py::value_error(std::string(name) + ": expected (values, period, repeat)");
  period = t[1].cast<int64_t>();
  repeat = t[2].cast<int64_t>();
  if (period < 1 || repeat < 1 || n % repeat != 0 || (n / repeat) % period != 0)
    throw py::value_error(std::string(name) +
                          ": period and repeat must be >= 1 and their product must divide "
                          "pred's size");
  const void* p = in_ptr(t[0], dt, period, name);
  if (p == nullptr) throw py::value_error(std::string(name) + ": the pattern's values are None");
  return p;
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

// Result of a kernel call: the reduced value where one was computed.
inline py::object scalar_or_none(const ElemArgs& a, double v) {
  if (a.reduction != Reduction::none && needs_value(a.op)) return py::float_(v);
  return py::none();
}

// Bind an element-wise family entry point `fn(id, args)` as
// name(id, op, reduction, pred, target, weight, aux, out_value, out_grad,
//      out_hess, p0, p1, p2, p3) -> float | None. weight and aux are None,
// an array of pred's size, or (values, period, repeat) (see ElemArgs). The thread count
// is read from the runtime on every call.
template <class Id, double (*Fn)(Id, const ElemArgs&)>
void def_elementwise(py::module_& m, const char* name, const char* doc) {
  m.def(
      name,
      [](int id, int op, int reduction, const py::array& pred, const py::handle& target,
         const py::handle& weight, const py::handle& aux, const py::handle& out_value,
         const py::handle& out_grad, const py::handle& out_hess, double p0, double p1,
         double p2, double p3) -> py::object {
        ElemArgs a;
        a.dtype = dtype_of(pred, "pred");
        a.n = static_cast<int64_t>(pred.size());
        if (!(pred.flags() & py::array::c_style))
          throw py::value_error("pred: array must be C-contiguous");
        if (op < 0 || op > 3) throw py::value_error("op out of range");
        if (reduction < 0 || reduction > 2) throw py::value_error("reduction out of range");
        a.op = static_cast<Op>(op);
        a.reduction = static_cast<Reduction>(reduction);
        a.pred = pred.data();
        a.target = in_ptr(target, a.dtype, a.n, "target");
        if (a.target == nullptr) throw py::value_error("target is required");
        a.weight = pattern_ptr(weight, a.dtype, a.n, "sample_weight", a.weight_period,
                               a.weight_repeat);
        a.aux = pattern_ptr(aux, a.dtype, a.n, "aux", a.aux_period, a.aux_repeat);
        a.out_value = out_ptr(out_value, a.dtype, a.n, "out_value");
        a.out_grad = out_ptr(out_grad, a.dtype, a.n, "out_grad");
        a.out_hess = out_ptr(out_hess, a.dtype, a.n, "out_hess");
        const bool none = a.reduction == Reduction::none;
        if (needs_value(a.op) && none && a.out_value == nullptr)
          throw py::value_error("out_value is required for reduction='none'");
        if (needs_grad(a.op) && a.out_grad == nullptr) throw py::value_error("out_grad is required");
        if (a.op == Op::grad_hess && a.out_hess == nullptr)
          throw py::value_error("out_hess is required");
        a.params[0] = p0;
        a.params[1] = p1;
        a.params[2] = p2;
        a.params[3] = p3;
        a.n_threads = runtime::threads_for_call();
        double v;
        {
          py::gil_scoped_release nogil;
          v = Fn(static_cast<Id>(id), a);
        }
        return scalar_or_none(a, v);
      },
      doc);
}

}  // namespace bind
}  // namespace fastloss
