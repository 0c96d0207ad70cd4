"""Type stubs of fastloss._core, the compiled extension (cpp/bindings/*.cpp).

Internal: the public API is the fastloss package. Integer codes: ``op`` is
0 value, 1 grad, 2 value_and_grad, 3 grad_hess (fastloss::Op); ``reduction``
is 0 none, 1 sum, 2 mean (fastloss::Reduction); ``id`` is a kernel id from
:func:`catalogue`. Array arguments are float32/float64 NumPy arrays of
pred's dtype, C-contiguous, or None where optional; a weight or aux argument
of the element-wise kernels may also be a pattern ``(values, period, repeat)``.
"""

from collections.abc import Sequence
from typing import Any, Literal, TypeAlias, TypedDict

import numpy as np

_Array: TypeAlias = np.ndarray
_Pattern: TypeAlias = _Array | tuple[_Array, int, int] | None

__version__: str

# -- runtime.cpp ------------------------------------------------------------

class InvalidElement(ValueError):
    """A kernel met an element outside the loss's domain; ``args[0]`` is the
    lowest such flat index."""

def isa() -> str: ...
def set_isa(name: str, /) -> None: ...
def compiled_isas() -> list[str]: ...
def supported_isas() -> list[str]: ...
def set_num_threads(n: int, /) -> None: ...
def get_num_threads() -> int: ...
def threads_for_call() -> int: ...
def omp_max_threads() -> int: ...
def max_threads() -> int: ...
def forked_child_serial() -> bool: ...

have_openmp: bool
openmp: str
compiler: str
build_type: str
build_flags: str
isa_flags: str

# -- buffers.cpp -------------------------------------------------------------

def empty(shape: Sequence[int], dtype: object) -> _Array: ...
def set_buffer_cache(max_bytes: int) -> None: ...
def default_buffer_cache() -> int: ...
def buffer_cache_stats() -> dict[str, int]:
    """max_bytes, cached_bytes, cached_buffers, live_buffers, hits, misses."""

buffer_cache_min_bytes: int
buffer_cache_max_buffers: int

# -- run.cpp: the one binding every loss runs through ---------------------------
# family: 0 regression, 1 classification, 2 multiclass, 3 overlap, 4 boxes
# (fastloss._loss names them). Sizes relate to pred's as the family says:
# element-wise arrays have pred's size; multiclass has rows of `classes`
# scores, int64 labels and float64 class_weight; overlap has `slices` slices
# of `slice_size` values in groups of `group`; boxes rows of 4. params holds
# up to 4 floats. Element-wise pred and target may be broadcast patterns
# (values, period, repeat), as sample_weight and aux; `size` is then the
# element count. The several-input families (5 embedding .. 15 robust) take
# pred as input 0 and `inputs` the others, `out_grads` one gradient output
# per input (None where not asked), `dims` their sizes, `samples` the
# per-sample loss's size, and `out_ints` the integer outputs a kernel writes
# (int64, C-contiguous, writable, None where not asked; sizes checked by the
# kernel: kmeans_inertia's labels, n of them; a loss without refuses them).

def run(
    family: int,
    id: int,
    op: int,
    reduction: int,
    pred: _Array | tuple[_Array, int, int],  # element-wise: a pattern too (with size=)
    target: _Pattern = None,
    labels: _Array | None = None,
    sample_weight: _Pattern = None,
    aux: _Pattern = None,
    class_weight: _Array | None = None,
    out_value: _Array | None = None,
    out_grad: _Array | None = None,
    out_hess: _Array | None = None,
    classes: int = 0,
    slices: int = 0,
    slice_size: int = 0,
    group: int = 1,
    ignore_index: int = -100,
    params: tuple[float, ...] = (),
    out_blocks: _Array | None = None,
    size: int = -1,
    inputs: tuple[_Array | None, ...] = (),
    out_grads: tuple[_Array | None, ...] = (),
    dims: tuple[int, ...] = (),
    samples: int = 0,
    out_ints: tuple[_Array | None, ...] = (),
) -> float | None: ...

# Terms per reduction block (fastloss.BLOCK); out_blocks (a mean's value
# only) gets 2 float64 per block: the losses' sum and the denominator there.
BLOCK: int

# boxes.cpp
def _boxes_atan(x: _Array, out: _Array, /) -> None: ...

# bootstrap.cpp: fastloss.Accumulator's bucket bootstrap (fastloss/bootstrap.hpp)
BOOTSTRAP_BUCKETS: int

def _bucket_add(
    out: _Array,
    values: _Array | None,
    first: int,
    group: _Array | None = None,
    constant: float = 1.0,
    n: int = -1,
) -> None: ...
def _terms_pass(
    terms: _Array,
    weights: _Array | None,
    per_row: int,
    first_row: int,
    leaves: _Array | None,
    num: _Array | None,
    den: _Array | None,
) -> None: ...
def _poisson_weights(seed_mix: int, replicates: int, units: _Array, bounds: _Array) -> _Array: ...
def _replicates(
    seed_mix: int, replicates: int, units: _Array, bounds: _Array, sums: _Array
) -> _Array: ...

# vmath.cpp
def _vmath(
    name: Literal[
        "exp", "log", "log1p", "softplus", "sigmoid", "log1p_diff", "exp_nonpos", "log_normal"
    ],
    x: _Array,
    y: _Array | None = None,
) -> _Array: ...

# -- catalogue.cpp: the C++ catalogue (api/catalogue.hpp) as data -------------

_Bound: TypeAlias = tuple[float, bool] | None  # (value, open), None: unbounded

class CatalogueInput(TypedDict):
    name: str
    differentiable: bool
    grad_kernel: int | None  # the kernel id of its gradient
    optional: bool  # may be left out (None)
    on_request: bool  # differentiable only when a call names it (wrt=)

class CatalogueParam(TypedDict):
    name: str
    kind: Literal[
        "real", "int", "bool", "choice", "real_or_array", "optional_array", "axes", "reals"
    ]
    default: float | int | bool | str | None
    lo: _Bound
    hi: _Bound
    choices: tuple[str, ...]
    excluded: tuple[float, float, str] | None  # an excluded open interval and why
    min_len: int | None  # reals: the fewest values accepted (the default's length unless set)

class CatalogueDomain(TypedDict):
    input: str
    kind: Literal["interval", "values", "rule"]
    lo: _Bound
    hi: _Bound
    values: tuple[float, ...]
    rule: str | None
    noun: str
    reason: str
    checked_by_kernel: bool

class CatalogueEntry(TypedDict):
    name: str
    family: Literal["regression", "classification", "multiclass", "overlap", "boxes"]
    kernel_id: int
    inputs: tuple[CatalogueInput, ...]
    params: tuple[CatalogueParam, ...]
    domains: tuple[CatalogueDomain, ...]
    has_hess: bool
    hess_exact: bool
    grad_exact: bool

def catalogue() -> dict[str, CatalogueEntry]: ...

# The kernel families of run(): name -> code (cpp/bindings/kernel_call.hpp)
def families() -> dict[str, int]: ...

# XLA FFI handlers of fastloss.jax (cpp/bindings/xla.cpp): target name -> PyCapsule
def xla_handlers() -> dict[str, Any]: ...
def contention(set_late_ns: int = -1) -> dict[str, int]: ...
