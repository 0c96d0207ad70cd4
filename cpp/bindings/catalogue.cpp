// _core.catalogue(): the C++ catalogue (api/catalogue.hpp) as Python data, and
// _core.families(): the kernel families' codes (kernel_call.hpp).
// pybind11 only: every value is copied from the table, none computed here.
#include "fastloss/api/catalogue.hpp"
#include "kernel_call.hpp"

#include <pybind11/pybind11.h>

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

namespace cat = fastloss::catalogue;

const char* kind_name(cat::ParamKind k) {
  switch (k) {
    case cat::ParamKind::real: return "real";
    case cat::ParamKind::integer: return "int";
    case cat::ParamKind::boolean: return "bool";
    case cat::ParamKind::choice: return "choice";
    case cat::ParamKind::real_or_array: return "real_or_array";
    case cat::ParamKind::optional_array: return "optional_array";
    case cat::ParamKind::axes: return "axes";
    case cat::ParamKind::reals: return "reals";
  }
  return "?";
}

const char* domain_kind_name(cat::DomainKind k) {
  switch (k) {
    case cat::DomainKind::interval: return "interval";
    case cat::DomainKind::values: return "values";
    case cat::DomainKind::rule: return "rule";
  }
  return "?";
}

// (value, open) for a set bound, None for an unbounded side.
py::object bound(const cat::Bound& b) {
  if (!b.set) return py::none();
  return py::make_tuple(b.value, b.open);
}

py::object default_of(const cat::ParamSpec& p) {
  switch (p.kind) {
    case cat::ParamKind::real: return py::float_(p.real_default);
    case cat::ParamKind::integer: return py::int_(p.int_default);
    case cat::ParamKind::boolean: return py::bool_(p.int_default != 0);
    case cat::ParamKind::choice: return py::str(p.text_default);
    case cat::ParamKind::reals: {
      py::tuple t(p.n_reals);
      for (int i = 0; i < p.n_reals; ++i) t[i] = py::float_(p.reals_default[i]);
      return std::move(t);
    }
    default: return py::none();
  }
}

py::dict param(const cat::ParamSpec& p) {
  py::tuple choices(p.n_choices);
  for (int i = 0; i < p.n_choices; ++i) choices[i] = py::str(p.choices[i]);
  py::object excluded = py::none();
  if (p.excluded) excluded = py::make_tuple(p.excl_lo, p.excl_hi, py::str(p.excl_reason));
  // reals: the fewest values accepted (the default's length unless set)
  py::object min_len = py::none();
  if (p.kind == cat::ParamKind::reals) min_len = py::int_(p.min_reals ? p.min_reals : p.n_reals);
  return py::dict("name"_a = p.name, "kind"_a = kind_name(p.kind), "default"_a = default_of(p),
                  "lo"_a = bound(p.lo), "hi"_a = bound(p.hi), "choices"_a = choices,
                  "excluded"_a = excluded, "min_len"_a = min_len);
}

py::dict domain(const cat::DomainSpec& d) {
  py::tuple values(d.n_values);
  for (int i = 0; i < d.n_values; ++i) values[i] = py::float_(d.values[i]);
  return py::dict("input"_a = d.input, "kind"_a = domain_kind_name(d.kind), "lo"_a = bound(d.lo),
                  "hi"_a = bound(d.hi), "values"_a = values,
                  "rule"_a = d.rule ? py::object(py::str(d.rule)) : py::object(py::none()),
                  "noun"_a = d.noun, "reason"_a = d.reason,
                  "checked_by_kernel"_a = d.checked_by_kernel);
}

py::dict loss(const cat::LossSpec& s) {
  py::tuple inputs(s.n_inputs);
  for (int i = 0; i < s.n_inputs; ++i) {
    const cat::InputSpec& in = s.inputs[i];
    py::object gk = in.grad_kernel < 0 ? py::object(py::none()) : py::object(py::int_(in.grad_kernel));
    inputs[i] = py::dict("name"_a = in.name, "differentiable"_a = in.grad_kernel >= 0,
                         "grad_kernel"_a = gk, "optional"_a = in.optional,
                         "on_request"_a = in.on_request);
  }
  py::tuple params(s.n_params);
  for (int i = 0; i < s.n_params; ++i) params[i] = param(s.params[i]);
  py::tuple domains(s.n_domains);
  for (int i = 0; i < s.n_domains; ++i) domains[i] = domain(s.domains[i]);
  return py::dict("name"_a = s.name, "family"_a = s.family, "kernel_id"_a = s.kernel_id,
                  "inputs"_a = inputs, "params"_a = params, "domains"_a = domains,
                  "has_hess"_a = s.has_hess, "hess_exact"_a = s.hess_exact,
                  "grad_exact"_a = s.grad_exact);
}

}  // namespace

void register_catalogue(py::module_& m) {
  m.def(
      "catalogue",
      []() {
        py::dict out;
        for (int i = 0; i < cat::n_losses; ++i) out[cat::losses[i].name] = loss(cat::losses[i]);
        return out;
      },
      "Every loss of the catalogue as plain data: {name: {family, kernel_id, inputs, params, "
      "domains, has_hess, hess_exact, grad_exact}} (see fastloss/api/catalogue.hpp).");
  m.def(
      "families",
      []() {
        py::dict out;
        for (const auto& f : fastloss::bind::kFamilies) out[f.name] = static_cast<int>(f.family);
        return out;
      },
      "The kernel families of run(), {name: code} (FASTLOSS_FAMILIES in kernel_call.hpp).");
}
