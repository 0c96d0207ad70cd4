// fastloss._core.run: the one binding every loss runs through (pybind11 only,
// no math).
//
// run(family, id, op, reduction, pred, target=None, labels=None,
//     sample_weight=None, aux=None, class_weight=None, out_value=None,
//     out_grad=None, out_hess=None, classes=0, slices=0, slice_size=0,
//     group=1, ignore_index=-100, params=(), out_blocks=None, size=-1,
//     inputs=(), out_grads=(), dims=(), samples=0, out_ints=()) -> float | None
//
// out_blocks (optional, a float64 array of 2 * ceil(terms / BLOCK) values,
// for op value with reduction mean): per reduction block of BLOCK terms
// (elements, rows, per-sample losses), the (weighted) losses' sum and the
// mean's denominator there -- the leaves of the one-shot reduction's tree,
// from which fastloss.Accumulator rebuilds its bits. Element-wise pred and
// target may be patterns (values, period, repeat) as sample_weight and aux
// are (a broadcast input read without materializing it); `size` then gives
// the element count where pred is one.
//
// Every argument has a name and may be passed by keyword (the tests and the
// family modules do, for clarity); the element-wise hot path passes them by
// position: pybind11 matches keywords by name in a loop, which measured
// 0.8-1.3 us more per call than positions on a 10-element loss (more than the
// kernel itself), so the binding is not keyword-only. The family says which
// kernel entry point reads them and how their sizes relate to pred's; this
// file only checks what it alone can see (an array's dtype, contiguity,
// writability) and fills a KernelCall: run_kernel (kernel_call.cpp, shared
// with the XLA FFI handler of fastloss.jax) checks the sizes, fills the
// family's argument record and runs its kernel. The Python layer
// (fastloss._loss and the family modules) has converted and validated the
// inputs already.
//
// The several-input families (from EMBEDDING on) read TensorArgs
// (api/tensors.hpp): pred is their input 0, `inputs` the others (None for an
// absent optional one), `out_grads` one gradient output per input (None where
// not asked), `dims` the family's sizes, `samples` the per-sample loss's
// size and `out_ints` the integer outputs the kernel writes (int64 arrays,
// None where not asked: kmeans_inertia's labels); their kernel entries check
// the sizes against the dims.
#include <cstdint>
#include <string>

#include "common.hpp"
#include "kernel_call.hpp"

namespace py = pybind11;
using namespace fastloss;
using namespace fastloss::bind;

namespace {

// Contiguous and aligned: a kernel reads (and writes) `const T*` scalars and
// vectors, and a misaligned double is undefined behaviour in C++ (x86 reads
// it, strict-alignment CPUs fault; UBSan reports it). The Python layer copies
// an unaligned input (fastloss._arrays) and refuses an unaligned out=, so
// this only guards the kernels; the element-wise hot path relies on it (its
// inputs reach here unchecked, and _loss._launch copies what is refused).
void check_kernel_layout(const py::array& a, const char* name) {
  check_contiguous(a, name);
  if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
    throw py::value_error(std::string(name) + ": array must be aligned");
}

// An array argument of the call's dtype as (data, size), or nothing for None.
In in_of(const py::handle& h, DType dt, const char* name) {
  if (h.is_none()) return {};
  const auto a = as_array(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": dtype differs from pred's");
  check_kernel_layout(a, name);
  return {a.data(), static_cast<int64_t>(a.size())};
}

// in_of, or for a tuple (values, period, repeat) -- element k reads
// values[(k / repeat) % period], a broadcast argument not materialized --
// the values, with `p` set.
In pattern_of(const py::handle& h, DType dt, const char* name, Pattern& p) {
  if (!py::isinstance<py::tuple>(h)) return in_of(h, dt, name);
  const auto t = h.cast<py::tuple>();
  if (t.size() != 3)
    throw py::value_error(std::string(name) + ": expected (values, period, repeat)");
  p.period = t[1].cast<int64_t>();
  p.repeat = t[2].cast<int64_t>();
  if (p.period == 0) p.period = -1;  // not "no pattern": run_kernel refuses it
  return in_of(t[0], dt, name);
}

// A writable output array of dtype `dt`, or nothing for None.
Out out_of(const py::handle& h, DType dt, const char* name) {
  if (h.is_none()) return {};
  auto a = as_array(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": dtype differs from pred's");
  check_kernel_layout(a, name);
  if (!a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  return {a.mutable_data(), static_cast<int64_t>(a.size())};
}

// An integer (int64) or float64 array argument, or nothing for None.
In typed_of(const py::handle& h, char kind, const char* name, const char* what) {
  if (h.is_none()) return {};
  const auto a = as_array(h, name);
  if (a.dtype().kind() != kind || a.dtype().itemsize() != 8)
    throw py::type_error(std::string(name) + ": expected " + what);
  check_kernel_layout(a, name);
  return {a.data(), static_cast<int64_t>(a.size())};
}

py::object run(int family, int id, int op, int reduction, const py::handle& pred,
               const py::handle& target, const py::handle& labels, const py::handle& weight,
               const py::handle& aux, const py::handle& class_weight,
               const py::handle& out_value, const py::handle& out_grad,
               const py::handle& out_hess, int64_t classes, int64_t n_slices,
               int64_t slice_size, int64_t group, int64_t ignore_index,
               const py::tuple& params, const py::handle& out_blocks, int64_t size,
               const py::tuple& inputs, const py::tuple& out_grads, const py::tuple& dims,
               int64_t samples, const py::tuple& out_ints) {
  if (op < 0 || op > 3) throw py::value_error("op out of range");
  if (reduction < 0 || reduction > 2) throw py::value_error("reduction out of range");
  const bool tensors = is_tensor_family(family);
  if (params.size() > (tensors ? static_cast<size_t>(TensorArgs::kMaxParams) : 4u))
    throw py::value_error("params: too many values");
  if (!tensors && (inputs.size() != 0 || out_grads.size() != 0 || dims.size() != 0 ||
                   out_ints.size() != 0))
    throw py::value_error(
        "inputs, out_grads, dims and out_ints are for the several-input families");
  if (out_ints.size() > static_cast<size_t>(TensorArgs::kMaxIntOutputs))
    throw py::value_error("out_ints: too many arrays");
  if (inputs.size() + 1 > static_cast<size_t>(TensorArgs::kMaxInputs))
    throw py::value_error("inputs: too many arrays");
  if (out_grads.size() != 0 && out_grads.size() != inputs.size() + 1)
    throw py::value_error("out_grads: expected one entry per input (pred and inputs)");
  if (dims.size() > static_cast<size_t>(TensorArgs::kMaxDims))
    throw py::value_error("dims: too many sizes");

  KernelCall c;
  c.family = family;
  c.id = id;
  c.op = op;
  c.reduction = reduction;
  // pred: an array, or (element-wise) a pattern whose size comes apart
  const py::handle pred_values =
      py::isinstance<py::tuple>(pred) ? py::handle(pred.cast<py::tuple>()[0]) : pred;
  if (py::isinstance<py::tuple>(pred) && pred.cast<py::tuple>().size() != 3)
    throw py::value_error("pred: expected (values, period, repeat)");
  c.dtype = dtype_of(as_array(pred_values, "pred"), "pred");
  c.pred = pattern_of(pred, c.dtype, "pred", c.pred_pattern);
  c.size = size;
  c.target = pattern_of(target, c.dtype, "target", c.target_pattern);
  c.weight = pattern_of(weight, c.dtype, "sample_weight", c.weight_pattern);
  c.aux = pattern_of(aux, c.dtype, "aux", c.aux_pattern);
  c.labels = typed_of(labels, 'i', "labels", "an int64 array");
  c.class_weight = typed_of(class_weight, 'f', "class_weight", "a float64 array");
  c.out_value = out_of(out_value, c.dtype, "out_value");
  c.out_grad = out_of(out_grad, c.dtype, "out_grad");
  c.out_hess = out_of(out_hess, c.dtype, "out_hess");
  if (!out_blocks.is_none()) {
    auto a = as_array(out_blocks, "out_blocks");
    if (a.dtype().kind() != 'f' || a.dtype().itemsize() != 8)
      throw py::type_error("out_blocks: expected a float64 array");
    c.out_blocks = out_of(out_blocks, DType::f64, "out_blocks");
  }
  c.classes = classes;
  c.slices = n_slices;
  c.slice_size = slice_size;
  c.group = group;
  c.ignore_index = ignore_index;
  c.n_params = static_cast<int>(params.size());
  for (size_t k = 0; k < params.size(); ++k) c.params[k] = params[k].cast<double>();
  if (tensors) {
    // input k: a real array of pred's dtype or an int64 one (labels, masks)
    c.in_int.assign(1 + inputs.size(), 0);
    for (size_t k = 0; k <= inputs.size(); ++k) {
      const std::string name = k == 0 ? "pred" : "inputs[" + std::to_string(k - 1) + "]";
      const py::handle h = k == 0 ? pred : inputs[k - 1];
      if (k > 0) c.inputs.emplace_back();
      if (h.is_none()) continue;
      const auto arr = as_array(h, name.c_str());
      const py::dtype dt = arr.dtype();
      const bool integer = dt.kind() == 'i' && dt.itemsize() == 8;
      c.in_int[k] = integer;
      In x = integer ? typed_of(h, 'i', name.c_str(), "an int64 array")
                     : in_of(h, c.dtype, name.c_str());
      if (k == 0)
        c.pred = x;
      else
        c.inputs.back() = x;
    }
    for (size_t k = 0; k < out_grads.size(); ++k) {
      const std::string gname = "out_grads[" + std::to_string(k) + "]";
      c.out_grads.push_back(out_of(out_grads[k], c.dtype, gname.c_str()));
    }
    for (size_t d = 0; d < dims.size(); ++d) c.dims.push_back(dims[d].cast<int64_t>());
    c.samples = samples;
    for (size_t k = 0; k < out_ints.size(); ++k) {
      const std::string name = "out_ints[" + std::to_string(k) + "]";
      Out o;
      if (!out_ints[k].is_none()) {
        auto arr = as_array(out_ints[k], name.c_str());
        if (arr.dtype().kind() != 'i' || arr.dtype().itemsize() != 8)
          throw py::type_error(name + ": expected an int64 array");
        check_kernel_layout(arr, name.c_str());
        if (!arr.writeable()) throw py::value_error(name + ": array is read-only");
        o.data = arr.mutable_data();
        o.size = static_cast<int64_t>(arr.size());
      }
      c.out_ints.push_back(o);
    }
  }
  c.n_threads = runtime::threads_for_call();
  double v;
  {
    py::gil_scoped_release nogil;
    v = run_kernel(c);
  }
  if (static_cast<Reduction>(reduction) != Reduction::none && needs_value(static_cast<Op>(op)))
    return py::float_(v);
  return py::none();
}

}  // namespace

void register_run(py::module_& m) {
  const auto none = py::none();
  m.def("run", &run, py::arg("family"), py::arg("id"), py::arg("op"), py::arg("reduction"),
        py::arg("pred"), py::arg("target") = none, py::arg("labels") = none,
        py::arg("sample_weight") = none, py::arg("aux") = none,
        py::arg("class_weight") = none, py::arg("out_value") = none,
        py::arg("out_grad") = none, py::arg("out_hess") = none, py::arg("classes") = 0,
        py::arg("slices") = 0, py::arg("slice_size") = 0, py::arg("group") = 1,
        py::arg("ignore_index") = -100, py::arg("params") = py::tuple(),
        py::arg("out_blocks") = none, py::arg("size") = -1, py::arg("inputs") = py::tuple(),
        py::arg("out_grads") = py::tuple(), py::arg("dims") = py::tuple(),
        py::arg("samples") = 0, py::arg("out_ints") = py::tuple(),
        "Run one loss kernel: run(family, id, op, reduction, pred, target, labels, "
        "sample_weight, aux, class_weight, out_value, out_grad, out_hess, classes, slices, "
        "slice_size, group, ignore_index, params, out_blocks, size, inputs, out_grads, dims, "
        "samples, out_ints) -> float | None.");
  m.attr("BLOCK") = kReductionBlock;
}
