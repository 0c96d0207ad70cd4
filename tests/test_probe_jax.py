"""fastloss.jax on cases tests/test_jax.py does not cover (probes of issue
20): what a loss cannot do under JAX fails (forward mode, second
derivatives), never gives a wrong number; vmap over the weights alone;
lax.scan and checkpoint; gaussian_nll's per-row var; N-d cross_entropy
with ignore_index and class_weight. Pure-JAX formulas are the reference
(optax agreed on huber, cross_entropy with label smoothing, sigmoid_focal,
log_cosh, bce with logits and hinge when probed)."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import fastloss.jax as flj  # noqa: E402

_x64 = getattr(jax, "enable_x64", None)
if _x64 is None:  # pragma: no cover
    from jax.experimental import enable_x64 as _x64

TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def _data(dtype, *shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


def _mse_ref(q, t):
    return jnp.mean((q - t) ** 2)


@pytest.mark.parametrize(
    "how",
    [
        lambda f, x: jax.grad(lambda q: jnp.sum(jax.grad(f)(q)))(x),
        lambda f, x: jax.hessian(f)(x),
        lambda f, x: jax.jvp(f, (x,), (jnp.ones_like(x),)),
        lambda f, x: jax.jacfwd(f)(x),
    ],
    ids=["grad of grad", "hessian", "jvp", "jacfwd"],
)
def test_higher_order_and_forward_mode_fail_clearly(how):
    x, t = _data(jnp.float32, 5), _data(jnp.float32, 5, seed=1)
    with pytest.raises((TypeError, ValueError), match="custom_vjp|cannot be differentiated"):
        how(lambda q: flj.mse(q, t), x)


@pytest.mark.parametrize("dtype", ["float64"])
def test_jacrev_of_none(dtype):
    with _x64(dtype == "float64"):
        x, t = _data(dtype, 4, 3), _data(dtype, 4, 3, seed=1)
        got = jax.jacrev(lambda q: flj.huber(q, t, delta=0.5, reduction="none"))(x)
        r = x - t
        d = jnp.where(jnp.abs(r) <= 0.5, r, 0.5 * jnp.sign(r))
        ref = jnp.einsum("ij,ik,jl->ijkl", d, jnp.eye(4, dtype=dtype), jnp.eye(3, dtype=dtype))
        np.testing.assert_allclose(got, ref, **TOL[dtype])


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_vmap_over_the_weights_alone(reduction):
    x, t = _data(jnp.float32, 4, 3), _data(jnp.float32, 4, 3, seed=1)
    W = jnp.asarray(np.random.default_rng(2).uniform(0.1, 2.0, (5, 4)), jnp.float32)

    def f(w):
        return flj.huber(x, t, sample_weight=w, reduction=reduction)

    np.testing.assert_array_equal(jax.vmap(f)(W), jnp.stack([f(w) for w in W]))

    def g(w):
        return jax.grad(lambda q: flj.mse(q, t, sample_weight=w))(x)

    np.testing.assert_array_equal(jax.vmap(g)(W), jnp.stack([g(w) for w in W]))


def test_scan_and_checkpoint():
    x, t = _data(jnp.float32, 6, 3), _data(jnp.float32, 6, 3, seed=1)

    def loop(loss):
        def step(q, _):
            value, grad = jax.value_and_grad(lambda q: loss(q, t))(q)
            return q - 0.1 * grad, value

        return jax.lax.scan(step, x, None, length=5)

    (q1, l1), (q2, l2) = loop(flj.mse), loop(_mse_ref)
    np.testing.assert_allclose(l1, l2, **TOL["float32"])
    np.testing.assert_allclose(q1, q2, **TOL["float32"])
    got = jax.grad(jax.checkpoint(lambda q: flj.mse(q, t)))(x)
    np.testing.assert_allclose(got, jax.grad(lambda q: _mse_ref(q, t))(x), **TOL["float32"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gaussian_nll_var_per_row(dtype):
    with _x64(dtype == "float64"):
        x, t = _data(dtype, 4, 3), _data(dtype, 4, 3, seed=1)
        v = jnp.asarray(np.random.default_rng(2).uniform(0.5, 2.0, 4), dtype)  # torch's (N,) rule

        def ref(q, vv):
            vv = vv[:, None]
            return jnp.mean(0.5 * (jnp.log(vv) + (q - t) ** 2 / vv))

        args = (0, 1)
        got = jax.value_and_grad(lambda q, vv: flj.gaussian_nll(q, t, vv), argnums=args)(x, v)
        want = jax.value_and_grad(ref, argnums=args)(x, v)
        np.testing.assert_allclose(got[0], want[0], **TOL[dtype])
        for a, b in zip(got[1], want[1]):
            np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32"])  # (each dtype compiles for seconds)
def test_nd_cross_entropy_ignore_index_class_weight(dtype):
    with _x64(dtype == "float64"):
        rng = np.random.default_rng(3)
        logits = _data(dtype, 2, 3, 5)
        labels = jnp.asarray(rng.integers(0, 5, (2, 3))).at[0, 1].set(-100)
        cw = np.array([1.0, 2.0, 0.5, 1.0, 3.0])

        def ref(x):
            keep = labels != -100
            y = jnp.where(keep, labels, 0)
            wt = jnp.asarray(cw, dtype)[y] * keep
            nll = -jnp.take_along_axis(jax.nn.log_softmax(x), y[..., None], -1)[..., 0]
            return jnp.sum(nll * wt) / jnp.sum(wt)

        got = jax.jit(jax.value_and_grad(lambda x: flj.cross_entropy(x, labels, class_weight=cw)))
        value, grad = got(logits)
        np.testing.assert_allclose(value, ref(logits), **TOL[dtype])
        np.testing.assert_allclose(grad, jax.grad(ref)(logits), **TOL[dtype])
