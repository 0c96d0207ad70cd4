"""NumPy references of the embedding losses (float64, plain formulas)."""

from __future__ import annotations

import numpy as np

from fastloss import embedding as _family
from fastloss.reference._base import RefLoss, weights_like

# the twins of fastloss.embedding's losses, name for name
__all__ = list(_family.__all__)


def _sum_back(g, shape):
    """The gradient of an input broadcast to ``g``'s shape, summed back to
    its own ``shape`` (autograd's rule)."""
    if g.shape == shape:
        return g
    padded = (1,) * (g.ndim - len(shape)) + tuple(shape)
    axes = tuple(i for i, k in enumerate(padded) if k == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True).reshape(shape)


def _margin_ranking(pred, target, reduction, sample_weight, y, margin=0.0):
    # x1, x2 and y broadcast to one shape, as torch's margin_ranking_loss
    x1, x2 = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    b1, b2, by = np.broadcast_arrays(x1, x2, np.asarray(y, dtype=np.float64))
    with np.errstate(all="ignore"):
        z = -by * (b1 - b2) + margin
        g = np.where(z >= 0, -by, 0.0)  # torch's clamp_min passes the gradient at 0
        g = np.where(np.isnan(z), z, g)  # NaN propagates (torch: 0)
    l = np.maximum(z, 0.0)
    scale = 1.0
    w = weights_like(sample_weight, l.shape)
    if w is not None:
        l, g = l * w, g * w
    if reduction == "mean":
        denom = float(np.sum(w)) if w is not None else float(l.size)
        scale = 1.0 / denom if denom else float("nan")
    gs = (_sum_back(g * scale, x1.shape), _sum_back(-g * scale, x2.shape))
    if reduction == "none":
        return l, gs, None
    return float(np.sum(l)) * scale, gs, None


margin_ranking = RefLoss("margin_ranking", _margin_ranking, inputs=("y",), wrt=("x1", "x2"))


# ---- row losses: (N, D) embeddings (or one row (D,)), one loss per row


def _rows(fn, extra):
    """A reference fn from ``fn(x1, x2, <extra>, **params) -> (l, grads)`` on
    float64 arrays of shape (N, D) (and (N,) for ``y`` or ``same``): the
    reduction over rows. ``extra`` names the third input (RefLoss passes it
    by name)."""
    n_rows = 3 if extra == "negative" else 2

    def ref(pred, target, reduction, sample_weight, **params):
        third = np.asarray(params.pop(extra), dtype=np.float64)
        given = [np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64), third]
        # embeddings (..., D) broadcast to one shape, as torch's losses take
        # them; one value per row for y / same
        shape = np.broadcast_shapes(*(r.shape for r in given[:n_rows]))
        lead, d = shape[:-1], shape[-1]
        rows = [np.broadcast_to(r, shape).reshape(-1, d) for r in given[:n_rows]]
        if n_rows == 2:
            rows.append(np.broadcast_to(third, lead).reshape(-1))
        with np.errstate(all="ignore"):
            l, gs = fn(*rows, **params)
            gs = tuple(g.reshape(shape) for g in gs)
            l = l.reshape(lead)
            w = weights_like(sample_weight, l.shape)
            if w is not None:
                l = l * w
                gs = tuple(g * w[..., None] for g in gs)
            gs = tuple(_sum_back(g, r.shape) for g, r in zip(gs, given))
            if reduction == "none":
                return l, gs, None
            total = float(np.sum(l))
            if reduction == "sum":
                return total, gs, None
            denom = float(np.sum(w)) if w is not None else float(l.size)
            return (total / denom if denom else float("nan")), tuple(g / denom for g in gs), None

    return ref


def _pass(z):
    """clamp_min(z, 0)'s gradient factor: 1 where z >= 0, NaN where z is NaN."""
    return np.where(np.isnan(z), z, (z >= 0).astype(np.float64))


def _pnorm(u, p):
    """||u||_p over the last axis and its gradient d||u||/du (0 at a zero norm)."""
    if p == 2.0:
        d = np.sqrt(np.sum(u * u, axis=-1))
        g = u / np.where(d == 0, np.inf, d)[:, None]
    elif p == 1.0:
        d = np.sum(np.abs(u), axis=-1)
        g = np.sign(u)
    elif p == np.inf:
        # the largest |u|; sign(u) shared among the entries reaching it
        a = np.abs(u)
        d = np.max(a, axis=-1) if a.shape[-1] else np.zeros(a.shape[:-1])
        top = a == d[..., None]
        g = np.sign(u) * top / np.maximum(np.sum(top, axis=-1), 1)[..., None]
    else:
        # scaled by m = max|u|: sum(|u|**p) under- or overflows at a large p
        # (every |u| < 1 gives 0 at p = 1e4), sum((|u| / m)**p) lies in
        # [1, D]; the gradient sign(u) |u|^(p-1) / d^(p-1) likewise as
        # sign(u) (|u| / d)^(p-1)
        a = np.abs(u)
        m = np.max(a, axis=-1) if a.shape[-1] else np.zeros(a.shape[:-1])
        ms = np.where((m == 0) | np.isinf(m), 1.0, m)[..., None]
        d = m * np.sum((a / ms) ** p, axis=-1) ** (1.0 / p)
        d = np.where(np.isinf(m), np.inf, d)
        ds = np.where(d == 0, np.inf, d)[..., None]
        g = np.sign(u) * (a / ds) ** (p - 1)
    return d, g


def _cosine(x, y, eps=1e-8):
    """1 - cosine_similarity(x, y) as torch (norms clamped at eps under
    no_grad) and its gradients w.r.t. x and y."""
    nx = np.sqrt(np.sum(x * x, axis=-1))
    ny = np.sqrt(np.sum(y * y, axis=-1))
    nxc, nyc = np.maximum(nx, eps), np.maximum(ny, eps)
    c = np.sum(x * y, axis=-1) / (nxc * nyc)
    inv = lambda v: np.where(v == 0, 0.0, 1.0 / np.where(v == 0, 1.0, v))  # noqa: E731
    dx = y / (nxc * nyc)[:, None] - (c * inv(nxc * nx))[:, None] * x
    dy = x / (nxc * nyc)[:, None] - (c * inv(nyc * ny))[:, None] * y
    return 1.0 - c, -dx, -dy


def _triplet(dist):
    """The triplet loss over a distance ``dist(x, y) -> (d, dd/dx, dd/dy)``."""

    def fn(a, p, n, margin, swap):
        dp, gpa, gpp = dist(a, p)
        dn, gna, gnn = dist(a, n)
        al, be = np.ones_like(dn), np.zeros_like(dn)
        dneg = dn
        gsp = gsn = np.zeros_like(a)
        if swap:
            ds, gsp, gsn = dist(p, n)
            al = np.where(ds < dn, 0.0, np.where(ds == dn, 0.5, 1.0))
            be = 1.0 - al
            dneg = np.minimum(dn, ds)
        z = margin + dp - dneg
        c = _pass(z)[:, None]
        al, be = al[:, None], be[:, None]
        ga = c * (gpa - al * gna)
        gp = c * (gpp - be * gsp)
        gn = c * (-al * gnn - be * gsn)
        return np.maximum(z, 0.0), (ga, gp, gn)

    return fn


def _triplet_margin(a, p, n, margin=1.0, p_norm=2.0, eps=1e-6, swap=False):
    def dist(x, y):
        d, g = _pnorm(x - y + eps, p_norm)
        return d, g, -g

    return _triplet(dist)(a, p, n, margin, swap)


def _triplet_margin_ref(pred, target, reduction, sample_weight, **params):
    params = dict(params)
    if "p" in params:
        params["p_norm"] = params.pop("p")
    return _rows(_triplet_margin, "negative")(pred, target, reduction, sample_weight, **params)


triplet_margin = RefLoss(
    "triplet_margin",
    _triplet_margin_ref,
    inputs=("negative",),
    wrt=("anchor", "positive", "negative"),
)


def _triplet_distance(a, p, n, distance="euclidean", margin=1.0, swap=False):
    if distance == "euclidean":
        return _triplet_margin(a, p, n, margin, 2.0, 1e-6, swap)
    return _triplet(_cosine)(a, p, n, margin, swap)


triplet_margin_with_distance = RefLoss(
    "triplet_margin_with_distance",
    _rows(_triplet_distance, "negative"),
    inputs=("negative",),
    wrt=("anchor", "positive", "negative"),
)


def _cosine_embedding(x1, x2, y, margin=0.0):
    s12 = np.sum(x1 * x2, axis=-1)
    m1 = np.sum(x1 * x1, axis=-1) + 1e-12  # torch's EPSILON on the squared norms
    m2 = np.sum(x2 * x2, axis=-1) + 1e-12
    den = np.sqrt(m1 * m2)
    c = s12 / den
    h = c - margin
    l = np.where(y == 1, 1.0 - c, np.where(y == -1, np.maximum(h, 0.0), 0.0))
    k = np.where(y == 1, -1.0, np.where(y == -1, _pass(h), 0.0))
    d1 = x2 / den[:, None] - (c / m1)[:, None] * x1
    d2 = x1 / den[:, None] - (c / m2)[:, None] * x2
    k = k[:, None]
    return l, (np.where(k == 0, 0.0, k * d1), np.where(k == 0, 0.0, k * d2))


cosine_embedding = RefLoss(
    "cosine_embedding", _rows(_cosine_embedding, "y"), inputs=("y",), wrt=("x1", "x2")
)


def _contrastive(x1, x2, same, margin=1.0):
    u = x1 - x2
    d2 = np.sum(u * u, axis=-1)
    d = np.sqrt(d2)
    h = np.maximum(margin - d, 0.0)
    h = np.where(np.isnan(d), d, h)
    l = 0.5 * (same * d2 + (1.0 - same) * h * h)
    # the hinge term's derivative is taken as 0 at d = 0
    hinge = np.where(d == 0, 0.0, (1.0 - same) * h / np.where(d == 0, 1.0, d))
    k = (same - hinge)[:, None]
    return l, (k * u, -k * u)


contrastive = RefLoss(
    "contrastive", _rows(_contrastive, "same"), inputs=("same",), wrt=("x1", "x2")
)
