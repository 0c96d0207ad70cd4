"""Type stubs of fastloss._core, the compiled extension (cpp/bindings/*.cpp).

Internal: the public API is the fastloss package. Integer codes: ``op`` is
0 value, 1 grad, 2 value_and_grad, 3 grad_hess (fastloss::Op); ``reduction``
is 0 none, 1 sum, 2 mean (fastloss::Reduction); ``id`` is a kernel id from
:func:`catalogue`. Array arguments are float32/float64 NumPy arrays of
pred's dtype, C-contiguous, or None where optional; a weight or aux argument
of the element-wise kernels may also be a pattern ``(values, period, repeat)``.
"""

from collections.abc import Sequence
from typing import Literal, TypeAlias, TypedDict

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

# -- the kernels (regression.cpp, classification.cpp via common.hpp) ---------

def regression(
    id: int,
    op: int,
    reduction: int,
    pred: _Array,
    target: _Array | None,
    weight: _Pattern,
    aux: _Pattern,
    out_value: _Array | None,
    out_grad: _Array | None,
    out_hess: _Array | None,
    p0: float,
    p1: float,
    p2: float,
    p3: float,
    /,
) -> float | None: ...
def classification(
    id: int,
    op: int,
    reduction: int,
    pred: _Array,
    target: _Array | None,
    weight: _Pattern,
    aux: _Pattern,
    out_value: _Array | None,
    out_grad: _Array | None,
    out_hess: _Array | None,
    p0: float,
    p1: float,
    p2: float,
    p3: float,
    /,
) -> float | None: ...

# multiclass.cpp: rows of `classes` scores; labels int64, class_weight float64
def multiclass(
    id: int,
    op: int,
    reduction: int,
    pred: _Array,
    classes: int,
    target: _Array | None,
    labels: _Array | None,
    sample_weight: _Array | None,
    class_weight: _Array | None,
    out_value: _Array | None,
    out_grad: _Array | None,
    ignore_index: int,
    p0: float,
    p1: float,
    *,
    out_hess: _Array | None = None,
) -> float | None: ...

# overlap.cpp
def overlap(
    id: int,
    op: int,
    reduction: int,
    pred: _Array,
    target: _Array | None,
    weight: _Array | None,
    out_value: _Array | None,
    out_grad: _Array | None,
    slices: int,
    slice_size: int,
    group: int,
    p0: float = 0.0,
    p1: float = 0.0,
    p2: float = 0.0,
) -> float | None: ...

# boxes.cpp
def boxes(
    id: int,
    op: int,
    reduction: int,
    pred: _Array,
    target: _Array | None,
    weight: _Array | None,
    out_value: _Array | None,
    out_grad: _Array | None,
    eps: float,
    /,
) -> float | None: ...
def _boxes_atan(x: _Array, out: _Array, /) -> None: ...

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

class CatalogueParam(TypedDict):
    name: str
    kind: Literal["real", "int", "bool", "choice", "real_or_array", "optional_array", "axes"]
    default: float | int | bool | str | None
    lo: _Bound
    hi: _Bound
    choices: tuple[str, ...]
    excluded: tuple[float, float, str] | None  # an excluded open interval and why

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
