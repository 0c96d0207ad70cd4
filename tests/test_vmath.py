"""fastloss's own vector math (cpp/include/fastloss/common/vmath.hpp).

Each function, in float32 and float64, is held to a ulp bound against a
reference computed in x87 extended precision (np.longdouble: expl, logl,
log1pl, 64-bit significand), over dense sweeps of the whole range: random
bit patterns, subnormals, every binade of both signs, the overflow and
underflow thresholds, around 0 and +-1, and the special values. The bounds
are the measured maxima rounded up a little (see the comment at the top of
vmath.hpp). The results must also be bitwise identical at every ISA level
the CPU supports.
"""

import numpy as np
import pytest

from fastloss import _core

pytestmark = pytest.mark.skipif(
    np.finfo(np.longdouble).nmant < 63, reason="needs x87 long double for the reference"
)

LD = np.longdouble
FUNCS = ("exp", "log", "log1p", "softplus", "sigmoid")
DTYPES = (np.float32, np.float64)

# Max ulp error allowed, per function and dtype: the largest errors seen,
# rounded up a little, on these sweeps and on denser ones (every 7th float32,
# 2e6 random float64; see the comment at the top of vmath.hpp), float32/float64:
# exp 1.30/1.18, log 1.43/0.84, log1p 1.52/1.01, softplus 2.30/2.05,
# sigmoid 2.54/2.31.
BOUND = {
    ("exp", np.float32): 1.35,
    ("exp", np.float64): 1.25,
    ("log", np.float32): 1.5,
    ("log", np.float64): 1.0,
    ("log1p", np.float32): 1.6,
    ("log1p", np.float64): 1.1,
    ("softplus", np.float32): 2.4,
    ("softplus", np.float64): 2.15,
    ("sigmoid", np.float32): 2.65,
    ("sigmoid", np.float64): 2.4,
}


def reference(name, x):
    """The function in long double (float64/float32 inputs are exact there)."""
    with np.errstate(all="ignore"):
        xl = x.astype(LD)
        if name == "exp":
            return np.exp(xl)
        if name == "log":
            return np.log(xl)
        if name == "log1p":
            return np.log1p(xl)
        if name == "softplus":
            return np.maximum(xl, 0) + np.log1p(np.exp(-np.abs(xl)))
        if name == "sigmoid":
            e = np.exp(-np.abs(xl))
            return np.where(xl >= 0, 1 / (1 + e), e / (1 + e))
    raise ValueError(name)


def ulp_error(y, ref, dtype):
    """|y - ref| in units of the last place of ref in dtype (subnormal ulp
    below the normal range); inf where y and ref disagree on inf/NaN."""
    fi = np.finfo(dtype)
    p = fi.nmant + 1
    emin = fi.minexp + 1  # frexp exponent of the smallest normal
    refd = ref.astype(dtype)  # rounds; overflows to inf
    err = np.zeros(y.shape, dtype=LD)
    nan_ref = np.isnan(ref)
    bad = nan_ref != np.isnan(y)
    inf_ref = np.isinf(refd) & ~nan_ref
    bad |= inf_ref & (y != refd)
    bad |= ~inf_ref & ~nan_ref & ~np.isfinite(y)
    fin = np.isfinite(refd) & np.isfinite(y)
    _, e = np.frexp(ref[fin])
    ulp = np.ldexp(LD(1), np.maximum(e, emin) - p)
    err[fin] = np.abs(y[fin].astype(LD) - ref[fin]) / ulp
    err[bad] = np.inf
    return err


def sweep(dtype, name):
    """Inputs covering the whole range, dense where the function is delicate."""
    rng = np.random.default_rng(20240611 + FUNCS.index(name))
    fi = np.finfo(dtype)
    itype = np.uint32 if dtype == np.float32 else np.uint64
    parts = [
        rng.integers(0, np.iinfo(itype).max, size=400_000, dtype=itype, endpoint=True).view(dtype)
    ]
    # every binade, both signs, from the smallest subnormal to the largest
    lo, hi = np.log2(float(fi.smallest_subnormal)), np.log2(float(fi.max))
    mag = np.exp2(rng.uniform(lo, hi, size=300_000)).astype(dtype)
    parts += [mag, -mag]
    # subnormals
    sub = rng.integers(1, 1 << fi.nmant, size=50_000) * float(fi.smallest_subnormal)
    parts += [sub.astype(dtype), -sub.astype(dtype)]
    # dense linear ranges: the core range, around 0 and +-1, near -1 from above
    parts += [
        np.linspace(-30, 30, 300_001, dtype=dtype),
        np.linspace(-1.5, 1.5, 300_001, dtype=dtype),
        np.linspace(0.5, 2.0, 200_001, dtype=dtype),
        (-1 + np.exp2(rng.uniform(np.log2(float(fi.eps)) - 1, -1, 100_000))).astype(dtype),
    ]
    # overflow / underflow thresholds of exp (and so of softplus/sigmoid)
    big = 88.8 if dtype == np.float32 else 709.9
    small = -104.0 if dtype == np.float32 else -746.0
    for c in (
        big,
        float(np.log(fi.max)),
        small,
        float(np.log(fi.tiny)),
        float(np.log(fi.smallest_subnormal)),
    ):
        parts.append(np.linspace(c - 2, c + 2, 100_001).astype(dtype))
        parts.append(np.linspace(-c - 2, -c + 2, 20_001).astype(dtype))
    # neighbours of powers of two and of 1 (bit-adjacent)
    x = np.concatenate([np.asarray(p, dtype=dtype) for p in parts])
    with np.errstate(invalid="ignore"):  # random bit patterns include NaN
        x = np.concatenate([x, np.nextafter(x, dtype(np.inf)), np.nextafter(x, dtype(-np.inf))])
    return np.ascontiguousarray(x)


SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 2.0, 0.5]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", FUNCS)
def test_ulp_error_over_whole_range(name, dtype):
    x = sweep(dtype, name)
    y = _core._vmath(name, x)
    assert y.dtype == dtype and y.shape == x.shape
    with np.errstate(all="ignore"):  # casts of NaN and of overflowing values
        err = ulp_error(y, reference(name, x), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND[(name, dtype)], (
        f"{name}({x[worst]!r}) = {y[worst]!r}, {float(err[worst]):.3f} ulp"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", FUNCS)
def test_special_values_follow_c(name, dtype):
    x = np.array(
        SPECIALS
        + [
            -2.0,
            -np.finfo(dtype).max,
            np.finfo(dtype).max,
            np.finfo(dtype).smallest_subnormal,
            -np.finfo(dtype).smallest_subnormal,
        ],
        dtype=dtype,
    )
    y = _core._vmath(name, x)
    with np.errstate(all="ignore"):
        exact = {"exp": np.exp, "log": np.log, "log1p": np.log1p}
        if name in exact:
            want = exact[name](x)  # NumPy applies the C library's special cases
        else:
            want = reference(name, x).astype(dtype)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(y), nan), (x, y, want)
    # exact at the special points, sign of zero included (tiny values too)
    special = ~nan & (np.isinf(x) | (x == 0) | np.isinf(want) | (want == 0))
    assert np.array_equal(y[special], want[special])
    assert np.array_equal(np.signbit(y[special]), np.signbit(want[special]))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_tiny_arguments_come_back_exactly(dtype):
    fi = np.finfo(dtype)
    x = np.array([fi.smallest_subnormal, fi.tiny, fi.eps * fi.eps, fi.eps / 4], dtype=dtype)
    x = np.concatenate([x, -x])
    np.testing.assert_array_equal(_core._vmath("log1p", x), x)
    np.testing.assert_array_equal(
        _core._vmath("exp", x[np.abs(x) < fi.eps / 2]),
        np.ones(8, dtype)[: np.sum(np.abs(x) < fi.eps / 2)],
    )
    np.testing.assert_array_equal(
        _core._vmath("sigmoid", np.zeros(3, dtype)), np.full(3, 0.5, dtype)
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", FUNCS)
def test_same_bits_at_every_isa_level(name, dtype):
    x = sweep(dtype, name)[::7].copy()
    chosen = _core.isa()
    results = {}
    try:
        for level in _core.supported_isas():
            _core.set_isa(level)
            results[level] = _core._vmath(name, x)
    finally:
        _core.set_isa(chosen)
    base = results["baseline"]
    itype = np.uint32 if dtype == np.float32 else np.uint64
    for level, y in results.items():
        nan = np.isnan(base)
        assert np.array_equal(np.isnan(y), nan), level
        assert np.array_equal(y[~nan].view(itype), base[~nan].view(itype)), level


def test_shapes_and_lengths_not_multiple_of_the_vector_width():
    for n in range(0, 40):
        x = np.linspace(-3, 3, n)
        for name in FUNCS:
            y = _core._vmath(name, x.reshape(1, n))
            assert y.shape == (1, n)
            np.testing.assert_array_equal(y.ravel(), _core._vmath(name, x))


# ------------------------------------- variants for a restricted domain
# exp_nonpos (x <= 0 or NaN: a score less its row's maximum) and log_normal
# (x normal and positive, +inf or NaN: a sum of exps with a largest term of
# 1) leave out selects that their domain never needs. On it they must give
# exactly the bits of exp and log, at every ISA level.
VARIANTS = {"exp_nonpos": "exp", "log_normal": "log"}


def variant_domain(name, dtype):
    base = VARIANTS[name]
    x = np.concatenate([sweep(dtype, base), np.array(SPECIALS, dtype=dtype)])
    with np.errstate(invalid="ignore"):
        if name == "exp_nonpos":
            keep = ~(x > 0)  # NaN kept
        else:
            keep = ~(x < np.finfo(dtype).tiny)  # NaN and +inf kept
    return np.ascontiguousarray(x[keep])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_domain_variants_give_the_bits_of_the_full_function(name, dtype):
    x = variant_domain(name, dtype)
    assert x.size > 100_000 and np.isnan(x).any() and np.isinf(x).any()
    itype = np.uint32 if dtype == np.float32 else np.uint64
    chosen = _core.isa()
    try:
        for level in _core.supported_isas():
            _core.set_isa(level)
            y = _core._vmath(name, x)
            want = _core._vmath(VARIANTS[name], x)
            nan = np.isnan(want)  # (NaN payloads are not part of the contract)
            assert np.array_equal(np.isnan(y), nan), level
            assert np.array_equal(y[~nan].view(itype), want[~nan].view(itype)), level
    finally:
        _core.set_isa(chosen)


def test_binding_refuses_bad_arguments():
    with pytest.raises(ValueError, match="unknown function"):
        _core._vmath("tan", np.ones(3))
    with pytest.raises(TypeError, match="float32 or float64"):
        _core._vmath("exp", np.ones(3, dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        _core._vmath("exp", np.ones(6)[::2])


# ----------------------------------------------- log1p(p) - log1p(t)
# log1p_diff(p, t) for p, t > -1 (msle's d). Measured maxima on these pairs
# float32 2.93, float64 2.50 ulp of the result (3.19 and 2.61 on 5x as many
# pairs from other seeds).
DIFF_BOUND = {np.float32: 3.3, np.float64: 2.75}


def diff_reference(p, t):
    """log1p(p) - log1p(t) in long double without its cancellation: where
    the ratio r = (p - t) / (1 + t) is small, log1p(r) (p - t and 1 + t are
    exact or nearly so in long double); elsewhere |d| > 0.4 and the plain
    difference loses nothing."""
    pl, tl = p.astype(LD), t.astype(LD)
    with np.errstate(all="ignore"):
        r = (pl - tl) / (1 + tl)
        return np.where(np.abs(r) < 0.5, np.log1p(r), np.log1p(pl) - np.log1p(tl))


def diff_pairs(dtype):
    """Pairs over the whole domain, dense where the two logs nearly cancel:
    close pairs of every size, bit-adjacent ones, pairs across a power of two
    (where the far form's K ln2 and its log part nearly cancel), near -1, up
    to the largest floats."""
    with np.errstate(all="ignore"):  # pairs past the largest float are dropped below
        return _diff_pairs(dtype)


def _diff_pairs(dtype):
    rng = np.random.default_rng(20261124)
    fi = np.finfo(dtype)
    n = 60_000
    top = float(np.log(fi.max))
    P, T = [], []
    a = rng.uniform(-0.99, 10, n)
    P += [a]
    T += [a * (1 + rng.normal(0, 1e-3, n))]
    a, b = np.exp(rng.uniform(-40, top, n)) - 0.999, np.exp(rng.uniform(-40, top, n)) - 0.999
    P += [a]
    T += [b]
    a = np.exp(rng.uniform(-40, top, n))
    P += [a]
    T += [a * np.exp(rng.normal(0, 0.4, n))]
    P += [-1 + np.exp(rng.uniform(-60, 0, n))]
    T += [-1 + np.exp(rng.uniform(-60, 0, n))]
    a = rng.uniform(-1, 3, n)
    P += [a]
    T += [a * np.exp2(rng.integers(-3, 4, n))]
    a = np.exp2(rng.uniform(-1, 8, n))
    P += [a - 1]
    T += [np.exp2(np.round(np.log2(a))) * (1 + rng.normal(0, 1e-6, n)) - 1]
    sub = rng.integers(1, 1 << fi.nmant, size=n) * float(fi.smallest_subnormal)
    P += [sub]
    T += [sub * rng.uniform(0, 2, n)]
    p = np.concatenate(P).astype(dtype)
    t = np.concatenate(T).astype(dtype)
    ok = (p > -1) & (t > -1) & np.isfinite(p) & np.isfinite(t)
    p, t = p[ok], t[ok]
    near = p[: 3 * n].copy()
    for _ in range(4):  # bit-adjacent pairs
        near = np.nextafter(near, dtype(np.inf))
        p, t = np.concatenate([p, p[: 3 * n]]), np.concatenate([t, near])
    return np.ascontiguousarray(p), np.ascontiguousarray(t)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_log1p_diff_ulp_error_including_where_the_two_logs_cancel(dtype):
    # The plain log1p(p) - log1p(t) fails this by up to 1e9 ulp (float32) on
    # the close pairs: its result is mostly the two logs' rounding errors.
    p, t = diff_pairs(dtype)
    y = _core._vmath("log1p_diff", p, t)
    err = ulp_error(y, diff_reference(p, t), dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= DIFF_BOUND[dtype], (
        f"log1p_diff({p[worst]!r}, {t[worst]!r}) = {y[worst]!r}, {float(err[worst]):.3f} ulp"
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_log1p_diff_special_values_are_those_of_the_difference(dtype):
    fi = np.finfo(dtype)
    vals = [
        0.0,
        -0.0,
        np.inf,
        np.nan,
        1.0,
        -0.5,
        float(fi.max),
        float(fi.smallest_subnormal),
        float(-1 + fi.epsneg),
    ]
    p, t = (np.array(g, dtype=dtype).ravel() for g in np.meshgrid(vals, vals))
    y = _core._vmath("log1p_diff", p, t)
    with np.errstate(all="ignore"):
        want = (np.log1p(p.astype(LD)) - np.log1p(t.astype(LD))).astype(dtype)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(y), nan), (p, t, y)
    inf = np.isinf(want)
    assert np.array_equal(y[inf], want[inf])
    assert np.all(y[(p == t) & np.isfinite(p)] == 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_log1p_diff_same_bits_at_every_isa_level(dtype):
    p, t = diff_pairs(dtype)
    chosen = _core.isa()
    itype = np.uint32 if dtype == np.float32 else np.uint64
    try:
        _core.set_isa("baseline")
        base = _core._vmath("log1p_diff", p, t)
        for level in _core.supported_isas():
            _core.set_isa(level)
            y = _core._vmath("log1p_diff", p, t)
            assert np.array_equal(y.view(itype), base.view(itype)), level
    finally:
        _core.set_isa(chosen)


def test_log1p_diff_binding_checks_its_second_argument():
    with pytest.raises(ValueError, match="log1p_diff needs y"):
        _core._vmath("log1p_diff", np.ones(3))
    with pytest.raises(ValueError, match="exp takes no y"):
        _core._vmath("exp", np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="y: expected 3 elements, got 2"):
        _core._vmath("log1p_diff", np.ones(3), np.ones(2))
    with pytest.raises(TypeError, match="y: dtype differs"):
        _core._vmath("log1p_diff", np.ones(3), np.ones(3, dtype=np.float32))
