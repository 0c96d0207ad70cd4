"""Auxiliary and regularization losses: weight penalties, entropy, the
center loss, orthogonality, sparsity, and the mixture-of-experts auxiliary
losses.

The penalties (``l1_penalty``, ``l2_penalty``, ``elastic_net``) and
``kl_sparsity`` are sums by definition (‖w‖₁, Σ_j KL): their ``reduction``
defaults to ``"sum"`` (``"mean"`` divides by the number of weights, or of
units). The penalties take one array or a list (tuple) of arrays, a model's
parameters; their gradient is then a list of arrays of the same shapes.
"""

from __future__ import annotations

import numpy as np

from fastloss import _core
from fastloss._arrays import as_float, as_labels
from fastloss._catalogue import declare
from fastloss._loss import GRAD, REGULARIZATION, VALUE, VALUE_GRAD
from fastloss._tensors import Plan, SumByDefault, TensorLoss, as_reals

__all__ = [
    "l1_penalty",
    "l2_penalty",
    "elastic_net",
    "entropy",
    "center",
    "orthogonality",
    "kl_sparsity",
    "moe_load_balancing",
    "router_z_loss",
]


def _declare(cls, name, peer, doc, **kw):
    return declare(cls, name, kernel=REGULARIZATION, peer=peer, doc=doc, **kw)


class _Penalty(SumByDefault):
    accepts_lists = True  # a model's parameters, one array each

    # (|w| weight, w^2/2 weight) from the parameters
    def _weights(self, p):
        if self.name == "l1_penalty":
            return 1.0, 0.0
        if self.name == "l2_penalty":
            return 0.0, 1.0
        return p["l1_ratio"], 1.0 - p["l1_ratio"]

    def _plan(self, inputs, p):
        w = as_float(inputs[0], "w")
        return w.dtype, w.shape, (w.shape,), (w,), Plan((w,), (w.size,), self._weights(p))

    def _run(self, op, inputs, reduction, sample_weight, out, wrt, params):
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            return self._run_list(op, list(inputs[0]), reduction, sample_weight, out, params)
        return super()._run(op, inputs, reduction, sample_weight, out, wrt, params)

    def _run_list(self, op, ws, reduction, sample_weight, out, params):
        """A list of arrays: each one's sum, added in order; "mean" divides
        by the number of weights in all of them."""
        if sample_weight is not None:
            raise TypeError("sample_weight: not supported with a list of arrays")
        if out is not None:
            raise TypeError("out: not supported with a list of arrays")
        if reduction not in ("sum", "mean", "none"):
            return super()._run(op, (ws,), reduction, None, None, None, params)  # raises
        arrays = [as_float(w, f"w[{i}]") for i, w in enumerate(ws)]
        total = sum(a.size for a in arrays)
        scale = 1.0 / total if reduction == "mean" and total else 1.0
        red = "none" if reduction == "none" else "sum"
        values, grads = [], []
        for a in arrays:
            if op == VALUE:
                values.append(super()._run(VALUE, (a,), red, None, None, None, params))
            else:
                v, g = super()._run(VALUE_GRAD, (a,), red, None, None, None, params)
                values.append(v)
                if scale != 1.0:
                    g *= scale
                grads.append(g)
        if reduction == "none":
            value = values
        elif reduction == "mean" and not total:
            value = float("nan")
        else:
            value = float(sum(values)) * scale
        if op == VALUE:
            return value
        return grads if op == GRAD else (value, grads)


class _SoftmaxRows(TensorLoss):
    def _plan(self, inputs, p):
        z = as_float(inputs[0], self.inputs[0])
        if z.ndim < 1 or z.shape[-1] < 1:
            raise ValueError(
                f"{self.inputs[0]}: expected logits with the class axis last, shape (..., C), "
                f"C >= 1; got shape {tuple(z.shape)}"
            )
        c = z.shape[-1]
        plan = Plan((z,), (z.size // c, c), ())
        return z.dtype, z.shape[:-1], (z.shape,), (z,), plan


class _Center(TensorLoss):
    def _plan(self, inputs, p):
        x, c = as_reals((inputs[0], inputs[2]), ("features", "centers"))
        y = as_labels(inputs[1], "labels")
        if x.ndim != 2 or c.ndim != 2:
            raise ValueError(
                f"features and centers: expected 2-d arrays (N, D) and (K, D), got shapes "
                f"{tuple(x.shape)} and {tuple(c.shape)}"
            )
        if c.shape[1] != x.shape[1]:
            raise ValueError(
                f"centers: expected {x.shape[1]} columns (features' D), got shape {tuple(c.shape)}"
            )
        if y.shape != (x.shape[0],):
            raise ValueError(
                f"labels: expected shape ({x.shape[0]},) (one per row of features), "
                f"got {tuple(y.shape)}"
            )
        plan = Plan((x, y, c), (x.shape[0], x.shape[1], c.shape[0]), ())
        return x.dtype, (x.shape[0],), (x.shape, c.shape), (x, y, c), plan


class _Single(TensorLoss):
    """One value per call (no per-sample losses): the per-sample shape is
    (), so ``sample_weight`` is one number and ``"none"`` a 0-d array."""

    def _samples(self, state):
        return 1


class _Orthogonality(_Single):
    def _plan(self, inputs, p):
        W = as_float(inputs[0], "W")
        if W.ndim != 2:
            raise ValueError(f"W: expected a 2-d matrix, got shape {tuple(W.shape)}")
        return W.dtype, (), (W.shape,), (W,), Plan((W,), W.shape, ())


class _KlSparsity(SumByDefault):
    def _plan(self, inputs, p):
        a = as_float(inputs[0], "activations")
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(
                f"activations: expected a batch (N, J) with N >= 1, got shape {tuple(a.shape)}"
            )
        plan = Plan((a,), a.shape, (p["rho"],))
        return a.dtype, (a.shape[1],), (a.shape,), (a,), plan

    def _launch(self, state, *args, **kw):
        # The kernel tests [0, 1] in its column sums' pass (NumPy's min and
        # max here were two more passes, about as long as the kernel's own)
        # and reports a value outside it -- unless a NaN propagates -- as
        # InvalidElement, before it writes any output.
        try:
            return super()._launch(state, *args, **kw)
        except _core.InvalidElement:
            a = state.arrays[0]
            lo, hi = float(np.min(a)), float(np.max(a))
            bad = lo if lo < 0.0 else hi
            raise ValueError(
                f"activations: must lie in [0, 1] (sigmoid outputs), got {bad!r}"
            ) from None

    def _samples(self, state):
        return int(state.dims[1])


class _Moe(_Single):
    def _plan(self, inputs, p):
        probs = as_float(inputs[0], "router_probs")
        idx = as_labels(inputs[1], "expert_index")
        if probs.ndim != 2:
            raise ValueError(
                f"router_probs: expected (tokens, experts), got shape {tuple(probs.shape)}"
            )
        n, e = probs.shape
        if idx.ndim == 1:
            idx = idx.reshape(-1, 1)
        if idx.ndim != 2 or idx.shape[0] != n:
            raise ValueError(
                f"expert_index: expected ({n},) or ({n}, k) expert numbers, got shape "
                f"{tuple(np.shape(inputs[1]))}"
            )
        plan = Plan((probs, idx), (n, e, idx.shape[1]), ())
        return probs.dtype, (), (probs.shape,), (probs, idx), plan


_PENALTY_ARGS = """
    Parameters
    ----------
    w : array_like, or a list/tuple of arrays
        The weights (a model's parameters). A list gives a list of
        gradients, one per array.
    reduction : {"sum", "mean", "none"}, keyword-only, default "sum"
        ``"sum"``: the penalty; ``"mean"``: divided by the number of
        weights; ``"none"``: per weight (a list per array for a list).
    sample_weight : array_like, optional, keyword-only
        Per-weight factors (one array only).
"""

l1_penalty = _declare(
    _Penalty,
    "l1_penalty",
    "torch: sum(p.abs().sum() for p in params)",
    """The L1 (lasso) penalty ``‖w‖₁ = Σ |w|``.

    Its gradient is ``sign(w)``, 0 at 0 (torch's subgradient).
"""
    + _PENALTY_ARGS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> fl.l1_penalty([[1.0, -2.0], [0.0, 3.0]])
    6.0
    >>> fl.l1_penalty.grad([[1.0, -2.0], [0.5]])
    [array([ 1., -1.]), array([1.])]
""",
)

l2_penalty = _declare(
    _Penalty,
    "l2_penalty",
    "torch: sum(p.pow(2).sum() for p in params) / 2",
    """The L2 (ridge, weight-decay) penalty ``½‖w‖² = ½ Σ w²``; gradient ``w``.
"""
    + _PENALTY_ARGS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> fl.l2_penalty([1.0, -2.0, 3.0])
    7.0
""",
)

elastic_net = _declare(
    _Penalty,
    "elastic_net",
    "sklearn.linear_model.ElasticNet's penalty: l1_ratio ‖w‖₁ + (1 - l1_ratio) ½‖w‖²",
    """The elastic-net penalty, as scikit-learn's ``ElasticNet`` writes it.

    ::

        loss = l1_ratio * ‖w‖₁ + (1 - l1_ratio) * ½‖w‖²

    (scikit-learn multiplies it by ``alpha``; multiply the result likewise.)
"""
    + _PENALTY_ARGS
    + """    l1_ratio : float in [0, 1], keyword-only, default 0.5

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.elastic_net([1.0, -2.0], l1_ratio=0.5)
    2.75
""",
)

entropy = _declare(
    _SoftmaxRows,
    "entropy",
    "torch: -(F.softmax(z, -1) * F.log_softmax(z, -1)).sum(-1).mean()",
    """Mean softmax entropy of rows of logits (entropy regularization).

    Per row: ``H = -Σ_k p_k log p_k`` with ``p = softmax(logits)``;
    gradient ``-p_k (log p_k + H)``. A ``-inf`` logit (p = 0) adds 0.
    Minimize it for confident predictions; subtract it (maximize) to keep a
    policy exploring.

    Parameters
    ----------
    logits : array_like, shape (..., C)
        The class axis last.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        Per row, broadcast against ``logits.shape[:-1]``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.entropy([[0.0, 0.0]]), 6)  # log 2
    0.693147
""",
)

router_z_loss = _declare(
    _SoftmaxRows,
    "router_z_loss",
    "ST-MoE (Zoph et al. 2022): torch.logsumexp(router_logits, -1).pow(2).mean()",
    """ST-MoE's router z-loss: mean over tokens of ``logsumexp(logits)²``.

    Keeps the router's logits small (Zoph et al. 2022, eq. 5); gradient
    ``2 lse p_k``. Multiply by its coefficient (1e-3 in the paper). A row
    with a ``+inf`` logit, or of ``-inf`` logits only, has ``lse = +-inf``
    and the loss ``inf``, as ``torch.logsumexp`` gives (its gradient NaN,
    as torch's).

    Parameters
    ----------
    router_logits : array_like, shape (..., E)
        The experts axis last.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.router_z_loss([[0.0, 0.0]]), 6)  # (log 2)^2
    0.480453
""",
)

center = _declare(
    _Center,
    "center",
    "Wen et al. 2016: 0.5 * (features - centers[labels]).pow(2).sum(1).mean() in torch",
    """The center loss of Wen et al. (2016) for discriminative features.

    Per sample: ``½ ‖x_i - c_{y_i}‖²``; the mean over the batch. Gradients
    w.r.t. the features (``x_i - c_{y_i}``, scaled) and the centers (minus
    the sum of its class's feature gradients, as autograd gives it; the
    paper's separate center update rule is the user's choice).

    Parameters
    ----------
    features : array_like, shape (N, D)
    labels : array_like of int, shape (N,)
        Class of each sample, in [0, K).
    centers : array_like, shape (K, D)
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like of shape (N,), optional, keyword-only

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.center([[1.0, 1.0], [0.0, 2.0]], [0, 1], [[0.0, 1.0], [0.0, 0.0]])
    1.25
""",
)

orthogonality = _declare(
    _Orthogonality,
    "orthogonality",
    "torch: ((W @ W.T - I) ** 2).sum() (W.T @ W for tall W)",
    """Soft orthogonality: ``‖W Wᵀ - I‖²_F`` (``‖WᵀW - I‖²_F`` when W has
    more rows than columns: the smaller Gram matrix).

    Gradient ``4 (W Wᵀ - I) W`` (or ``4 W (WᵀW - I)``). Both products run
    blocked in float64 on W widened exactly (a float32 product is exact in
    float64), each entry summed in one fixed order: the same bits on any
    thread count and ISA level. Temporaries: the Gram matrix (float64,
    min(r, c)²), a float64 copy of a chunk of W (at most 512 KiB) and, with
    the gradient, per thread four float64 panels of W and their
    accumulators (8 · min(r, c) · 16 doubles). One value per call: ``"mean"`` and
    ``"sum"`` return it (a scalar ``sample_weight`` multiplies ``"sum"``),
    ``"none"`` returns it as a 0-d array.

    Parameters
    ----------
    W : array_like, shape (r, c)
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : float, optional, keyword-only

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.orthogonality([[1.0, 0.0], [0.0, 2.0]])
    9.0
""",
)

kl_sparsity = _declare(
    _KlSparsity,
    "kl_sparsity",
    "the sparse autoencoder's penalty (Ng's notes): sum_j KL(rho || mean_i a_ij) in torch",
    """The sparse autoencoder's sparsity penalty: ``Σ_j KL(ρ ‖ ρ̂_j)``.

    ``ρ̂_j`` is hidden unit j's mean activation over the batch and::

        KL(ρ ‖ ρ̂) = ρ log(ρ / ρ̂) + (1 - ρ) log((1 - ρ) / (1 - ρ̂))

    The gradient w.r.t. ``a_ij`` is ``(-ρ/ρ̂_j + (1-ρ)/(1-ρ̂_j)) / N``.

    Parameters
    ----------
    activations : array_like, shape (N, J), values in [0, 1]
    reduction : {"sum", "mean", "none"}, keyword-only, default "sum"
        ``"none"``: per unit, shape (J,).
    sample_weight : array_like of shape (J,), optional, keyword-only
        Per unit.
    rho : float in (0, 1), keyword-only, default 0.05

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.kl_sparsity([[0.4, 0.5], [0.6, 0.5]], rho=0.5)  # both units' means at rho
    0.0
""",
)

moe_load_balancing = _declare(
    _Moe,
    "moe_load_balancing",
    "Switch Transformer (Fedus et al. 2021): HF transformers' load_balancing_loss_func",
    """The Switch Transformer's auxiliary load-balancing loss.

    ::

        loss = E * Σ_e f_e P_e

    ``f_e``: the fraction of tokens routed to expert e (from
    ``expert_index``; with top-k routing the k choices of each token all
    count, as HF transformers' ``load_balancing_loss_func`` does);
    ``P_e``: the mean router probability of e. 1 when routing is uniform.
    The gradient flows to ``router_probs`` only (``f`` is a count).

    Parameters
    ----------
    router_probs : array_like, shape (N, E)
        Softmax probabilities of the router, per token.
    expert_index : array_like of int, shape (N,) or (N, k)
        The expert(s) each token was sent to.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        One value per call: ``"none"`` returns it as a 0-d array; a scalar
        ``sample_weight`` multiplies ``"sum"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.moe_load_balancing([[0.5, 0.5], [0.5, 0.5]], [0, 1])
    1.0
""",
)
