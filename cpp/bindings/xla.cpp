// XLA FFI handlers for fastloss.jax: a typed custom call into the same kernel
// entry points fastloss._core.run reaches (no math here, no copies of the
// inputs: XLA's buffers are read and written in place).
//
// One handler, "fastloss_loss", serves every family. Operands, in order:
//   pred, then target (has_target), labels (has_labels: int32 or int64),
//   sample_weight (has_weight), aux (has_aux);
// results: value (0-d for reduction sum/mean, per-sample for none) when the
// op asks a value, then the gradient (pred's shape) when it asks one.
// Attributes: family, id, op, reduction, classes, slices, slice_size, group,
// ignore_index, the weight / aux pattern (period, repeat; period 0: none),
// params (up to 4 float64) and class_weight (float64, empty: none; an
// attribute because it is a parameter, and JAX without x64 has no float64
// arrays). Record filling and size checks are run_kernel's (kernel_call.cpp),
// shared with run.cpp. fastloss.jax builds the calls; _core.xla_handlers()
// hands the handler to it as a PyCapsule.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "fastloss/api/runtime.hpp"
#include "kernel_call.hpp"
#include "xla/ffi/api/ffi.h"

namespace py = pybind11;
namespace ffi = xla::ffi;
using namespace fastloss;
using namespace fastloss::bind;

namespace {

ffi::Error invalid(const std::string& msg) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "fastloss: " + msg);
}

In in_of(const ffi::AnyBuffer& b) {
  return {b.untyped_data(), static_cast<int64_t>(b.element_count())};
}

Out out_of(ffi::Result<ffi::AnyBuffer>& b) {
  return {b->untyped_data(), static_cast<int64_t>(b->element_count())};
}

ffi::Error LossImpl(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t family,
                    int64_t id, int64_t op, int64_t reduction, int64_t has_target,
                    int64_t has_labels, int64_t has_weight, int64_t has_aux, int64_t classes,
                    int64_t slices, int64_t slice_size, int64_t group, int64_t ignore_index,
                    int64_t weight_period, int64_t weight_repeat, int64_t aux_period,
                    int64_t aux_repeat, ffi::Span<const double> params,
                    ffi::Span<const double> class_weight) {
  KernelCall c;
  c.family = static_cast<int>(family);
  c.id = static_cast<int>(id);
  c.op = static_cast<int>(op);
  c.reduction = static_cast<int>(reduction);
  if (op < 0 || op > 2) return invalid("op out of range (value, grad or value_and_grad)");
  if (params.size() > 4) return invalid("params: at most 4 values");

  size_t k = 0;
  auto pred = args.get<ffi::AnyBuffer>(k++);
  if (pred.has_error()) return pred.error();
  const auto dt = pred->element_type();
  if (dt == ffi::DataType::F32) {
    c.dtype = DType::f32;
  } else if (dt == ffi::DataType::F64) {
    c.dtype = DType::f64;
  } else {
    return invalid("pred: expected float32 or float64");
  }
  c.pred = in_of(*pred);
  auto next = [&](const char* name, In& to) -> ffi::Error {
    auto b = args.get<ffi::AnyBuffer>(k++);
    if (b.has_error()) return b.error();
    if (b->element_type() != dt) return invalid(std::string(name) + ": dtype differs from pred's");
    to = in_of(*b);
    return ffi::Error::Success();
  };
  if (has_target) {
    if (auto e = next("target", c.target); e.failure()) return e;
  }
  // int32 labels (JAX's default integer without x64) are widened into a
  // scratch copy: the row kernels read int64. Only the labels, one per row,
  // are copied; never the scores.
  std::vector<int64_t> wide;
  if (has_labels) {
    auto b = args.get<ffi::AnyBuffer>(k++);
    if (b.has_error()) return b.error();
    const int64_t n = static_cast<int64_t>(b->element_count());
    if (b->element_type() == ffi::DataType::S64) {
      c.labels = in_of(*b);
    } else if (b->element_type() == ffi::DataType::S32) {
      const auto* src = static_cast<const int32_t*>(b->untyped_data());
      wide.assign(src, src + n);
      c.labels = {wide.data(), n};
    } else {
      return invalid("labels: expected int32 or int64");
    }
  }
  if (has_weight) {
    if (auto e = next("sample_weight", c.weight); e.failure()) return e;
    c.weight_pattern = {weight_period, weight_repeat};
  }
  if (has_aux) {
    if (auto e = next("aux", c.aux); e.failure()) return e;
    c.aux_pattern = {aux_period, aux_repeat};
  }
  if (class_weight.size() != 0)
    c.class_weight = {class_weight.begin(), static_cast<int64_t>(class_weight.size())};

  const bool value = op == static_cast<int>(Op::value) || op == static_cast<int>(Op::value_grad);
  void* reduced = nullptr;  // the 0-d value of reduction sum / mean
  size_t r = 0;
  if (value) {
    auto v = rets.get<ffi::AnyBuffer>(r++);
    if (v.has_error()) return v.error();
    if ((*v)->element_type() != dt) return invalid("value: dtype differs from pred's");
    if (reduction == static_cast<int>(Reduction::none))
      c.out_value = out_of(*v);
    else
      reduced = (*v)->untyped_data();
  }
  if (op != static_cast<int>(Op::value)) {
    auto g = rets.get<ffi::AnyBuffer>(r++);
    if (g.has_error()) return g.error();
    if ((*g)->element_type() != dt) return invalid("grad: dtype differs from pred's");
    c.out_grad = out_of(*g);
  }
  c.classes = classes;
  c.slices = slices;
  c.slice_size = slice_size;
  c.group = group;
  c.ignore_index = ignore_index;
  for (size_t i = 0; i < params.size(); ++i) c.params[i] = params[i];
  c.n_params = static_cast<int>(params.size());
  c.n_threads = runtime::threads_for_call();

  double total;
  try {
    total = run_kernel(c);
  } catch (const InvalidElement& e) {
    if (c.labels.data != nullptr && c.family == static_cast<int>(Family::multiclass))
      return invalid("labels: label " +
                     std::to_string(static_cast<const int64_t*>(c.labels.data)[e.index]) +
                     " at sample " + std::to_string(e.index) + " is out of range: labels must "
                     "be in [0, " + std::to_string(classes) + ") or equal ignore_index");
    return invalid("input outside the loss's domain at flat index " + std::to_string(e.index));
  } catch (const std::exception& e) {
    return invalid(e.what());
  }
  if (reduced != nullptr) {
    // The kernel accumulates in float64; the 0-d result has pred's dtype.
    if (c.dtype == DType::f32)
      *static_cast<float*>(reduced) = static_cast<float>(total);
    else
      *static_cast<double*>(reduced) = total;
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER(fastloss_loss_handler, LossImpl,
                       ffi::Ffi::Bind()
                           .RemainingArgs()
                           .RemainingRets()
                           .Attr<int64_t>("family")
                           .Attr<int64_t>("id")
                           .Attr<int64_t>("op")
                           .Attr<int64_t>("reduction")
                           .Attr<int64_t>("has_target")
                           .Attr<int64_t>("has_labels")
                           .Attr<int64_t>("has_weight")
                           .Attr<int64_t>("has_aux")
                           .Attr<int64_t>("classes")
                           .Attr<int64_t>("slices")
                           .Attr<int64_t>("slice_size")
                           .Attr<int64_t>("group")
                           .Attr<int64_t>("ignore_index")
                           .Attr<int64_t>("weight_period")
                           .Attr<int64_t>("weight_repeat")
                           .Attr<int64_t>("aux_period")
                           .Attr<int64_t>("aux_repeat")
                           .Attr<ffi::Span<const double>>("params")
                           .Attr<ffi::Span<const double>>("class_weight"));

void register_xla(py::module_& m) {
  m.def(
      "xla_handlers",
      [] {
        py::dict d;
        // An unnamed capsule holding the handler's address: what
        // jax.ffi.register_ffi_target takes (as jax.ffi.pycapsule makes).
        d["fastloss_loss"] = py::capsule(reinterpret_cast<void*>(fastloss_loss_handler));
        return d;
      },
      "XLA FFI handlers of fastloss.jax: {target name: PyCapsule} (internal).");
}
