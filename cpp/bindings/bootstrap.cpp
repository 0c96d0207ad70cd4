// The bootstrap's bucket sums (fastloss/bootstrap.hpp), internal, for
// fastloss.Accumulator; marshalling only:
//   _bucket_add(out, values, first, group=None, constant=1.0, n=-1)
//   _terms_pass(terms, weights, per_row, first_row, leaves, num, den)
//   _poisson_weights(seed_mix, replicates, units, bounds) -> (replicates, units)
//   _replicates(seed_mix, replicates, units, bounds, sums) -> (rows, replicates)
#include "fastloss/bootstrap.hpp"

#include <string>
#include <vector>

#include "fastloss/api/types.hpp"

#include "common.hpp"

namespace py = pybind11;

namespace {

// The replicate count, the hashed units and the Poisson table's step bounds,
// as _poisson_weights and _replicates both take them: checked, then counted.
void check_draws(int64_t replicates, const py::array& units, const py::array& bounds) {
  namespace bind = fastloss::bind;
  if (replicates < 0) throw py::value_error("replicates: must be >= 0");
  if (!(units.dtype().kind() == 'u' && units.dtype().itemsize() == 8))
    throw py::type_error("units: expected a uint64 array");
  if (!(bounds.dtype().kind() == 'i' && bounds.dtype().itemsize() == 8))
    throw py::type_error("bounds: expected an int64 array");
  bind::check_layout(units, "units", static_cast<int64_t>(units.size()));
  bind::check_layout(bounds, "bounds", static_cast<int64_t>(bounds.size()));
}

}  // namespace

void register_bootstrap(py::module_& m) {
  namespace fb = fastloss::bootstrap;
  m.attr("BOOTSTRAP_BUCKETS") = fb::kBuckets;
  m.def(
      "_bucket_add",
      [](const py::array& out, const py::object& values, int64_t first, const py::object& group,
         double constant, int64_t n) {
        if (first < 0) throw py::value_error("first: must be >= 0");
        if (!(out.dtype().kind() == 'f' && out.dtype().itemsize() == 8))
          throw py::type_error("out: expected a float64 array");
        fastloss::bind::check_contiguous(out, "out");
        if (!out.writeable()) throw py::value_error("out: array is read-only");
        const auto size = static_cast<int64_t>(out.size());
        if (size == 0 || size % fb::kBuckets != 0)
          throw py::value_error("out: size must be a positive multiple of BOOTSTRAP_BUCKETS");
        const void* x = nullptr;
        bool f32 = false;
        if (!values.is_none()) {
          const auto a = fastloss::bind::as_array(values, "values");
          f32 = fastloss::bind::dtype_of(a, "values") == fastloss::DType::f32;
          n = static_cast<int64_t>(a.size());
          fastloss::bind::check_layout(a, "values", n);
          x = a.data();
        } else if (n < 0) {
          throw py::value_error("n: required when values is None");
        }
        const int64_t* g = nullptr;
        if (!group.is_none()) {
          const auto a = fastloss::bind::as_array(group, "group");
          if (!(a.dtype().kind() == 'i' && a.dtype().itemsize() == 8))
            throw py::type_error("group: expected an int64 array");
          fastloss::bind::check_layout(a, "group", n);
          g = static_cast<const int64_t*>(a.data());
        }
        double* o = static_cast<double*>(const_cast<void*>(out.data()));
        const int64_t groups = size / fb::kBuckets;
        try {
          py::gil_scoped_release nogil;
          if (f32)
            fb::bucket_add(static_cast<const float*>(x), constant, n, first, g, groups, o);
          else
            fb::bucket_add(static_cast<const double*>(x), constant, n, first, g, groups, o);
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
      },
      py::arg("out"), py::arg("values"), py::arg("first"), py::arg("group") = py::none(),
      py::arg("constant") = 1.0, py::arg("n") = -1,
      "out[bucket(first + i) + BOOTSTRAP_BUCKETS * group[i]] += values[i] (or constant "
      "where values is None: n rows) in row order; float64 out, float32/float64 values, "
      "int64 groups (internal: fastloss.Accumulator's bootstrap).");
  m.def(
      "_terms_pass",
      [](const py::array& terms, const py::object& weights, int64_t per_row, int64_t first_row,
         const py::object& leaves, const py::object& num, const py::object& den) {
        namespace bind = fastloss::bind;
        const fastloss::DType dt = bind::dtype_of(terms, "terms");
        const auto n = static_cast<int64_t>(terms.size());
        bind::check_layout(terms, "terms", n);
        if (per_row < 1 || n % per_row != 0)
          throw py::value_error("per_row: must be >= 1 and divide the terms' count");
        if (first_row < 0) throw py::value_error("first_row: must be >= 0");
        const void* w = bind::in_ptr(weights, dt, n / per_row, "weights");
        const int64_t nb = n == 0 ? 0 : (n - 1) / fastloss::kReductionBlock + 1;
        double* lv =
            static_cast<double*>(bind::out_ptr(leaves, fastloss::DType::f64, 2 * nb, "leaves"));
        double* o[2] = {nullptr, nullptr};
        const char* names[2] = {"num", "den"};
        const py::object* outs[2] = {&num, &den};
        for (int k = 0; k < 2; ++k)
          o[k] = static_cast<double*>(
              bind::out_ptr(*outs[k], fastloss::DType::f64, fb::kBuckets, names[k]));
        if (o[0] == nullptr) throw py::value_error("num: required");
        const void* v = terms.data();
        py::gil_scoped_release nogil;
        if (dt == fastloss::DType::f32)
          fb::terms_pass(static_cast<const float*>(v), static_cast<const float*>(w), n, per_row,
                         first_row, fastloss::kReductionBlock, lv, o[0], o[1]);
        else
          fb::terms_pass(static_cast<const double*>(v), static_cast<const double*>(w), n, per_row,
                         first_row, fastloss::kReductionBlock, lv, o[0], o[1]);
      },
      py::arg("terms"), py::arg("weights"), py::arg("per_row"), py::arg("first_row"),
      py::arg("leaves"), py::arg("num"), py::arg("den"),
      "One pass over an element-wise loss's unweighted terms (and per-row weights, or "
      "None): the mean's block leaves into `leaves` (or None; the bits of Loss._blocks) and "
      "the bootstrap's bucket sums added to `num` and `den` (or None) (internal: "
      "fastloss.Accumulator).");
  m.def(
      "_poisson_weights",
      [](uint64_t seed_mix, int64_t replicates, const py::array& units, const py::array& bounds) {
        check_draws(replicates, units, bounds);
        const auto u = static_cast<int64_t>(units.size());
        const auto nb = static_cast<int64_t>(bounds.size());
        py::array_t<double> out(
            {static_cast<py::ssize_t>(replicates), static_cast<py::ssize_t>(u)});
        const auto* us = static_cast<const uint64_t*>(units.data());
        const auto* bs = static_cast<const int64_t*>(bounds.data());
        double* o = out.mutable_data();
        {
          py::gil_scoped_release nogil;
          fb::poisson_weights(seed_mix, replicates, us, u, bs, nb, o);
        }
        return out;
      },
      py::arg("seed_mix"), py::arg("replicates"), py::arg("units"), py::arg("bounds"),
      "Poisson(1) weights (replicates, units) of _accumulate.poisson_weights's hash, the "
      "table given by its step bounds (internal: fastloss.Accumulator).");
  m.def(
      "_replicates",
      [](uint64_t seed_mix, int64_t replicates, const py::array& units, const py::array& bounds,
         const py::array& sums) {
        check_draws(replicates, units, bounds);
        if (!(sums.dtype().kind() == 'f' && sums.dtype().itemsize() == 8) || sums.ndim() != 2)
          throw py::type_error("sums: expected a 2-d float64 array");
        const auto u = static_cast<int64_t>(units.size());
        const auto nb = static_cast<int64_t>(bounds.size());
        const auto rows = static_cast<int64_t>(sums.shape(0));
        fastloss::bind::check_contiguous(sums, "sums");
        if (sums.shape(1) != u) throw py::value_error("sums: one column per unit");
        py::array_t<double> out(
            {static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(replicates)});
        std::vector<double> scratch(static_cast<size_t>(u));
        const auto* us = static_cast<const uint64_t*>(units.data());
        const auto* bs = static_cast<const int64_t*>(bounds.data());
        const auto* ss = static_cast<const double*>(sums.data());
        double* o = out.mutable_data();
        {
          py::gil_scoped_release nogil;
          fb::replicates(seed_mix, replicates, us, u, bs, nb, ss, rows, scratch.data(), o);
        }
        return out;
      },
      py::arg("seed_mix"), py::arg("replicates"), py::arg("units"), py::arg("bounds"),
      py::arg("sums"),
      "sums @ poisson_weights(...).T in a fixed order, the weights drawn on the way "
      "(internal: fastloss.Accumulator).");
}
