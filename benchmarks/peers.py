"""The peers of bench.py: which are installed, and each one's implementation of
a row's loss (NumPy reference, PyTorch, JAX, scikit-learn; formulas and
input makers in ``specs``), plus the check that a peer's result agrees with
fastloss's before its timing is trusted.
"""

from __future__ import annotations

import math

import numpy as np

import specs

PEERS = ("numpy", "torch", "jax", "sklearn", "sklearn_loss", "pml")


def import_peers(dtype, want):
    mods = {}
    try:
        from threadpoolctl import threadpool_limits

        mods["threadpool_limits"] = threadpool_limits
    except ImportError:
        pass
    if "torch" in want:
        try:
            import torch

            mods["torch"] = torch
        except ImportError:
            pass
    if "pml" in want:
        try:
            import pytorch_metric_learning.losses as pml

            mods["pml"] = pml
        except ImportError:
            pass
    if "jax" in want:
        try:
            import jax

            if dtype == np.float64:
                jax.config.update("jax_enable_x64", True)
            import jax.numpy  # noqa: F401

            mods["jax"] = jax
        except ImportError:
            pass
    if "sklearn" in want or "sklearn_loss" in want:
        try:
            import sklearn
            import sklearn._loss.loss  # noqa: F401
            import sklearn.metrics

            mods["sklearn"] = sklearn
        except ImportError:
            pass
    return mods


class Impl:
    """One implementation of one verb: ``fn(*setup())`` -> value or (value, grad).

    ``vfactor``/``gfactor`` map its result onto fastloss's for the check.
    """

    def __init__(self, fn, setup=None, vfactor=1.0, gfactor=1.0, check=True):
        self.fn, self.setup = fn, setup
        self.vfactor, self.gfactor, self.check = vfactor, gfactor, check


def build_impls(row_loss, inp, peers, mods, threads, ctx):
    """{verb: {name: Impl}} for one row; verbs are "value" and "value_and_grad"."""
    import fastloss

    L = fastloss.get(row_loss)
    p, t, prm = inp.pred, inp.target, inp.params
    buf = np.empty_like(p)
    value = {"fastloss": Impl(lambda: L(p, t, **prm))}
    # a loss with several differentiable inputs (gaussian_nll's var): the
    # gradient w.r.t. the first, what the peers' rows compute
    # (specs.ALL_GRADS: every input's gradient, on both sides)
    every = row_loss in specs.ALL_GRADS
    wrt = {"wrt": L.wrt[0]} if len(L.wrt) > 1 and not every else {}

    def fresh():
        return L.value_and_grad(p, t, **wrt, **prm)

    vg = {"fastloss": Impl(fresh)}
    if p.nbytes >= fastloss._core.buffer_cache_min_bytes:
        # A fresh gradient this large comes from the buffer cache, so in a
        # loop (as timed here) its memory is the previous call's: the
        # default. "cache off" times the same call with the cache off, each
        # gradient a new buffer faulted in page by page, as on a first call.
        # Each setup (untimed) sets the state its own calls need.
        limit = ctx.setdefault("buffer_cache", fastloss.buffer_cache_info()["max_bytes"])

        def cache_on():
            fastloss.set_buffer_cache(limit)
            return ()

        def cache_off():
            fastloss.set_buffer_cache(0)
            return ()

        vg["fastloss"] = Impl(fresh, setup=cache_on)
        vg["fastloss_nocache"] = Impl(fresh, setup=cache_off)
    if every:
        src = {L.inputs[0]: p, L.inputs[1]: t, **prm}
        bufs = tuple(np.empty_like(src[k]) for k in L.wrt)
        vg["fastloss_out"] = Impl(lambda: L.value_and_grad(p, t, out=bufs, **prm))
    else:
        vg["fastloss_out"] = Impl(lambda: L.value_and_grad(p, t, out=buf, **wrt, **prm))
    if "numpy" in peers:
        try:
            import fastloss.reference

            R = fastloss.reference.get(row_loss)
        except (ImportError, ValueError, AttributeError):
            R = None
        if R is not None:
            value["numpy"] = Impl(lambda: R(p, t, **prm))
            vg["numpy"] = Impl(lambda: R.value_and_grad(p, t, **prm))
    if "torch" in peers and "torch" in mods:
        torch = mods["torch"]
        F = torch.nn.functional
        TP = torch.from_numpy(p)
        TT = torch.from_numpy(t)
        tprm = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in prm.items()}
        # (default arguments bind now: the JAX branch below reuses the names)
        if row_loss in specs.TORCH_LIB:

            def tf(a, b, lib=specs.TORCH_LIB[row_loss], F=F, tprm=tprm):
                return lib(F, a, b, **tprm)
        elif row_loss in specs.EXPR:
            if "torch_ops" not in ctx:
                ctx["torch_ops"] = specs.Torch()

            def tf(a, b, expr=specs.EXPR[row_loss], B=ctx["torch_ops"], tprm=tprm):
                return expr(B, a, b, **tprm)
        else:
            tf = None
        if tf is not None:

            def t_value():
                with torch.no_grad():
                    return tf(TP, TT).item()

            if every:
                # a leaf for every differentiable input; the check compares
                # the first one's gradient (as the other rows')
                tnames = [k for k in L.wrt if k in prm]

                def t_leaf():
                    leaves = [torch.from_numpy(a).requires_grad_(True) for a in (p, t)]
                    return tuple(
                        leaves + [torch.from_numpy(prm[k]).requires_grad_(True) for k in tnames]
                    )

                def t_vg(a, b, *rest, lib=specs.TORCH_LIB[row_loss]):
                    loss = lib(F, a, b, **{**tprm, **dict(zip(tnames, rest))})
                    loss.backward()
                    return loss.item(), a.grad
            else:

                def t_leaf():
                    return (torch.from_numpy(p).requires_grad_(True),)

                def t_vg(leaf):
                    loss = tf(leaf, TT)
                    loss.backward()
                    return loss.item(), leaf.grad

            value["torch"] = Impl(t_value)
            vg["torch"] = Impl(t_vg, setup=t_leaf)
    if "pml" in peers and "pml" in mods and row_loss == "ntxent":
        torch = mods["torch"] if "torch" in mods else __import__("torch")
        n = p.shape[0]
        # pytorch-metric-learning compares every positive pair with every
        # negative pair: a (2N) x (2N)(2N - 2) float mask, 0.5 GB at 2N = 512,
        # 4.3 GB at 1024, 17 TB at the row's 16384 (its issues 203 and 547):
        # run only where it fits
        if (2 * n) ** 3 <= 2**28:
            ploss = mods["pml"].NTXentLoss(temperature=prm["temperature"])
            labels = torch.cat([torch.arange(n), torch.arange(n)])

            both_views = torch.cat([torch.from_numpy(p), torch.from_numpy(t)])

            def m_value():
                with torch.no_grad():
                    return ploss(both_views, labels).item()

            def m_leaf():
                return (
                    torch.from_numpy(p).requires_grad_(True),
                    torch.from_numpy(t).requires_grad_(True),
                )

            def m_vg(a, b):
                loss = ploss(torch.cat([a, b]), labels)
                loss.backward()
                return loss.item(), a.grad

            value["pml"] = Impl(m_value)
            vg["pml"] = Impl(m_vg, setup=m_leaf)
    if "jax" in peers and "jax" in mods and row_loss in specs.EXPR:
        jax = mods["jax"]
        if "jax_ops" not in ctx:
            ctx["jax_ops"] = specs.Jax()
        JB = ctx["jax_ops"]
        jexpr = specs.EXPR[row_loss]
        tj = t
        if t.dtype == np.int64 and not jax.config.jax_enable_x64:
            tj = t.astype(np.int32)
        PJ, TJ = jax.device_put(p), jax.device_put(tj)
        keys = [k for k, v in prm.items() if isinstance(v, np.ndarray)]
        scal = {k: v for k, v in prm.items() if k not in keys}
        AJ = [jax.device_put(prm[k]) for k in keys]

        def jf(a, b, *arrs):
            return jexpr(JB, a, b, **scal, **dict(zip(keys, arrs)))

        jv = jax.jit(jf)
        # specs.ALL_GRADS: the gradient of every differentiable input
        argnums = (0, 1) + tuple(2 + keys.index(k) for k in L.wrt if k in keys) if every else 0
        jvg = jax.jit(jax.value_and_grad(jf, argnums=argnums))

        def j_value():
            return float(jv(PJ, TJ, *AJ).block_until_ready())

        def j_vg():
            v, g = jvg(PJ, TJ, *AJ)
            jax.block_until_ready(g)
            return float(v), g

        value["jax"] = Impl(j_value)
        vg["jax"] = Impl(j_vg)
    if "sklearn" in peers and "sklearn" in mods and row_loss in specs.SK_METRIC:
        import sklearn.metrics as skm

        metric = specs.SK_METRIC[row_loss]
        value["sklearn"] = Impl(lambda: float(metric(skm, p, t, **prm)))
    if "sklearn_loss" in peers and "sklearn" in mods and row_loss in specs.SK_LOSS:
        sk = specs.SK_LOSS[row_loss]
        obj = sk.make(inp)
        y = sk.y(inp)
        gf = sk.gfactor(len(y))

        def s_value():
            return float(obj(y, p, n_threads=threads))  # np.average of the per-sample losses

        def s_vg():
            loss, grad = obj.loss_gradient(y, p, n_threads=threads)
            return float(loss.mean()), grad

        value["sklearn_loss"] = Impl(s_value, vfactor=sk.vfactor)
        vg["sklearn_loss"] = Impl(s_vg, vfactor=sk.vfactor, gfactor=gf)
    return {"value": value, "value_and_grad": vg}


def _as_numpy(g):
    if isinstance(g, np.ndarray):
        return g
    if hasattr(g, "detach"):
        return g.detach().numpy()
    return np.asarray(g)


def agree(ref, got, impl, dtype):
    """Does ``got`` (a peer's first result) match fastloss's ``ref``?"""
    tol = 2e-3 if dtype == np.float32 else 1e-7
    rv, gv = ref if isinstance(ref, tuple) else (ref, None)
    pv, pg = got if isinstance(got, tuple) else (got, None)
    # several gradients (specs.ALL_GRADS): the first input's is compared
    gv = gv[0] if isinstance(gv, tuple) else gv
    pg = pg[0] if isinstance(pg, tuple) else pg
    pv = float(pv) * impl.vfactor
    info = {"value": pv}
    ok = math.isclose(pv, float(rv), rel_tol=tol, abs_tol=tol * 1e-3) or (
        math.isnan(pv) and math.isnan(float(rv))
    )
    if gv is not None and pg is not None:
        a = np.asarray(gv).reshape(-1)[:65536].astype(np.float64)
        b = _as_numpy(pg).reshape(-1)[:65536].astype(np.float64) * impl.gfactor
        if a.shape != b.shape:
            ok = False
            info["grad_max_abs_diff"] = None
        else:
            scale = float(np.max(np.abs(a))) if a.size else 0.0
            diff = float(np.max(np.abs(a - b))) if a.size else 0.0
            info["grad_max_abs_diff"] = diff
            ok = ok and diff <= tol * max(scale, 1e-30)
    info["agree"] = bool(ok)
    return info
