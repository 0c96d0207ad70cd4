// XLA FFI handlers for fastloss.jax: a typed custom call into the same kernel
// entry points fastloss._core.run reaches (no math here, no copies of the
// inputs: XLA's buffers are read and written in place).
//
// One handler, "fastloss_loss", serves every family. Operands, in order:
//   element-wise, row, overlap and box families: pred, then target
//   (has_target), labels (has_labels: int32 or int64), sample_weight
//   (has_weight), aux (has_aux);
//   several-input families (from embedding on): input k of the n_inputs for
//   each bit k set in `present` (an absent optional input has none; integer
//   inputs are int32 or int64), then sample_weight (has_weight);
// results: value (0-d for reduction sum/mean, per-sample for none) when the
// op asks a value, then the gradient (pred's shape) when it asks one -- for
// the several-input families, one gradient per bit k set in `grads`, each of
// input k's shape.
// Attributes: family, id, op, reduction, classes, slices, slice_size, group,
// ignore_index, the weight / aux pattern (period, repeat; period 0: none),
// params (up to 4 float64) and class_weight (float64, empty: none; an
// attribute because it is a parameter, and JAX without x64 has no float64
// arrays), and for the several-input families n_inputs, present, grads, dims
// (int64) and samples. Record filling and size checks are run_kernel's (kernel_call.cpp),
// shared with run.cpp. fastloss.jax builds the calls; _core.xla_handlers()
// hands the handler to it as a PyCapsule.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "fastloss/api/regression.hpp"
#include "fastloss/api/runtime.hpp"
#include "fastloss/api/tensors.hpp"
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

// An empty buffer may have no address; the kernels read a null input as
// absent, so an empty one gets this (never read) address instead.
double empty_buffer[1];

In in_of(const ffi::AnyBuffer& b) {
  const void* data = b.untyped_data();
  return {data != nullptr ? data : empty_buffer, static_cast<int64_t>(b.element_count())};
}

Out out_of(ffi::Result<ffi::AnyBuffer>& b) {
  void* data = b->untyped_data();
  return {data != nullptr ? data : empty_buffer, static_cast<int64_t>(b->element_count())};
}

ffi::Error LossImpl(ffi::RemainingArgs args, ffi::RemainingRets rets, int64_t family,
                    int64_t id, int64_t op, int64_t reduction, int64_t has_target,
                    int64_t has_labels, int64_t has_weight, int64_t has_aux, int64_t classes,
                    int64_t slices, int64_t slice_size, int64_t group, int64_t ignore_index,
                    int64_t weight_period, int64_t weight_repeat, int64_t aux_period,
                    int64_t aux_repeat, ffi::Span<const double> params,
                    ffi::Span<const double> class_weight, int64_t n_inputs, int64_t present,
                    int64_t grads, ffi::Span<const int64_t> dims, int64_t samples) {
  KernelCall c;
  c.family = static_cast<int>(family);
  c.id = static_cast<int>(id);
  c.op = static_cast<int>(op);
  c.reduction = static_cast<int>(reduction);
  if (op < 0 || op > 2) return invalid("op out of range (value, grad or value_and_grad)");
  const bool tensors = is_tensor_family(c.family);
  if (params.size() > static_cast<size_t>(tensors ? TensorArgs::kMaxParams : 4))
    return invalid("params: too many values");
  if (tensors && (n_inputs < 1 || n_inputs > TensorArgs::kMaxInputs || (present & 1) == 0))
    return invalid("n_inputs / present: pred and at most 8 inputs");

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
  // int32 integer inputs (JAX's default integer without x64) are widened
  // into scratch copies: the kernels read int64. Only integer inputs (labels,
  // lengths, masks: one per row or per element) are copied; never the reals.
  std::vector<std::vector<int64_t>> wide;
  wide.reserve(TensorArgs::kMaxInputs + 1);
  auto integer = [&](const ffi::AnyBuffer& b, const std::string& name, In& to) -> ffi::Error {
    const int64_t n = static_cast<int64_t>(b.element_count());
    if (b.element_type() == ffi::DataType::S64) {
      to = in_of(b);
    } else if (b.element_type() == ffi::DataType::S32) {
      const auto* src = static_cast<const int32_t*>(b.untyped_data());
      wide.emplace_back(src, src + n);
      to = {wide.back().data(), n};
    } else {
      return invalid(name + ": expected int32 or int64");
    }
    return ffi::Error::Success();
  };
  if (has_labels) {
    auto b = args.get<ffi::AnyBuffer>(k++);
    if (b.has_error()) return b.error();
    if (auto e = integer(*b, "labels", c.labels); e.failure()) return e;
  }
  if (tensors) {
    // input 0 is pred (decoded above); the others as `present` says
    c.in_int.assign(static_cast<size_t>(n_inputs), 0);
    c.inputs.resize(static_cast<size_t>(n_inputs - 1));
    for (int64_t j = 1; j < n_inputs; ++j) {
      if (((present >> j) & 1) == 0) continue;
      const std::string name = "inputs[" + std::to_string(j - 1) + "]";
      auto b = args.get<ffi::AnyBuffer>(k++);
      if (b.has_error()) return b.error();
      const auto t = b->element_type();
      In& to = c.inputs[static_cast<size_t>(j - 1)];
      if (t == ffi::DataType::S32 || t == ffi::DataType::S64) {
        c.in_int[static_cast<size_t>(j)] = 1;
        if (auto e = integer(*b, name, to); e.failure()) return e;
      } else if (t == dt) {
        to = in_of(*b);
      } else {
        return invalid(name + ": dtype differs from pred's");
      }
    }
    for (int64_t d : dims) c.dims.push_back(d);
    c.samples = samples;
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
  if (op != static_cast<int>(Op::value) && !tensors) {
    auto g = rets.get<ffi::AnyBuffer>(r++);
    if (g.has_error()) return g.error();
    if ((*g)->element_type() != dt) return invalid("grad: dtype differs from pred's");
    c.out_grad = out_of(*g);
  }
  if (op != static_cast<int>(Op::value) && tensors) {
    c.out_grads.resize(static_cast<size_t>(n_inputs));
    for (int64_t j = 0; j < n_inputs; ++j) {
      if (((grads >> j) & 1) == 0) continue;
      auto g = rets.get<ffi::AnyBuffer>(r++);
      if (g.has_error()) return g.error();
      if ((*g)->element_type() != dt) return invalid("grad: dtype differs from pred's");
      c.out_grads[static_cast<size_t>(j)] = out_of(*g);
    }
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
    if (c.labels.data != nullptr && c.family == static_cast<int>(Family::multiclass)) {
      const auto* lab = static_cast<const int64_t*>(c.labels.data);
      const int64_t rows = classes > 0 ? c.pred.size / classes : 0;
      if (classes > 0 && rows > 0 && c.labels.size == rows * classes) {
        // a list of class indices per row (multilabel_margin): e.index is
        // the row; name the first index in it outside [0, C) before a -1
        const int64_t* r = lab + e.index * classes;
        int64_t j = 0;
        while (j < classes && r[j] != -1 && r[j] >= 0 && r[j] < classes) ++j;
        return invalid("labels: class index " + std::to_string(j < classes ? r[j] : -1) +
                       " in sample " + std::to_string(e.index) +
                       " is out of range: indices must be in [0, " + std::to_string(classes) +
                       "), or -1 to end a row's list");
      }
      return invalid("labels: label " + std::to_string(lab[e.index]) + " at sample " +
                     std::to_string(e.index) + " is out of range: labels must be in [0, " +
                     std::to_string(classes) + ") or equal ignore_index");
    }
    if (c.family == static_cast<int>(Family::regression) &&
        c.id == static_cast<int>(RegressionLoss::gaussian_nll) && c.aux.data != nullptr) {
      // the one element-wise domain on an auxiliary input: the NumPy path
      // checks var in Python before the kernel runs, a trace cannot
      const int64_t k = c.aux_pattern.period > 0
                            ? (e.index / c.aux_pattern.repeat) % c.aux_pattern.period
                            : e.index;
      const double v = c.dtype == DType::f32 ? static_cast<const float*>(c.aux.data)[k]
                                             : static_cast<const double*>(c.aux.data)[k];
      return invalid("gaussian_nll: every value of var must be >= 0 (a variance), got " +
                     std::to_string(v) + " at flat index " + std::to_string(e.index) +
                     " of var broadcast to pred's shape");
    }
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
                           .Attr<ffi::Span<const double>>("class_weight")
                           .Attr<int64_t>("n_inputs")
                           .Attr<int64_t>("present")
                           .Attr<int64_t>("grads")
                           .Attr<ffi::Span<const int64_t>>("dims")
                           .Attr<int64_t>("samples"));

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
