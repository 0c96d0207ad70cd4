"""Reference binary classification losses (see fastloss.classification).

Plain NumPy in float64, written from the textbook formulas in their stable
forms: log-sigmoid via ``np.logaddexp``, sigmoid via ``np.exp`` of a
non-positive argument, and ``1 - sigmoid(x)`` always as ``sigmoid(-x)`` (a
difference would lose all precision for large logits). Limits at infinite
logits are not special-cased here; the tests check those against
hand-computed values.
"""

from __future__ import annotations

import numpy as np

from fastloss import classification as _family
from fastloss.reference._base import RefLoss, elementwise

# the twins of fastloss.classification's losses, name for name
__all__ = list(_family.__all__)

# ATen's EPSILON is a float constant.
_BCE_EPS = float(np.float32(1e-12))


def _sigmoid(x):
    """1 / (1 + exp(-x)) evaluated without overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_sigmoid(x):
    """log sigmoid(x) = -log(1 + exp(-x))."""
    return -np.logaddexp(0.0, -x)


def _bce(p, y):
    log_p = np.maximum(np.log(p), -100.0)
    log_q = np.maximum(np.log(1.0 - p), -100.0)
    l = -(y * log_p + (1.0 - y) * log_q)
    den = np.maximum(p * (1.0 - p), _BCE_EPS)
    g = (p - y) / den
    return l, g, (p * p - 2.0 * p * y + y) / den**2


def _bce_with_logits(x, y, pos_weight=None):
    w = 1.0 if pos_weight is None else np.broadcast_to(np.asarray(pos_weight, float), x.shape)
    # -(w y log s(x) + (1 - y) log s(-x))
    l = -(w * y * _log_sigmoid(x) + (1.0 - y) * _log_sigmoid(-x))
    s, sm = _sigmoid(x), _sigmoid(-x)
    g = (1.0 - y) * s - w * y * sm
    h = (w * y + 1.0 - y) * s * sm
    return l, g, h


def _labels_pm1(y):
    return np.where(y > 0, 1.0, np.where(y <= 0, -1.0, np.nan))


def _hinge(s, y, margin=1.0):
    y = _labels_pm1(y)
    z = margin - y * s
    l = np.where(z > 0, z, 0.0)
    l = np.where(np.isnan(z), np.nan, l)
    g = np.where(z >= 0, -y, 0.0)
    g = np.where(np.isnan(z), np.nan, g)
    return l, g, 0 * g


def _squared_hinge(s, y, margin=1.0):
    y = _labels_pm1(y)
    z = margin - y * s
    zp = np.where(z > 0, z, 0.0)
    zp = np.where(np.isnan(z), np.nan, zp)
    return zp**2, -2.0 * y * zp, np.where(z > 0, 2.0, 0.0) + 0 * z


def _sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
    p, pm = _sigmoid(x), _sigmoid(-x)  # p and 1 - p
    ce = -(y * _log_sigmoid(x) + (1.0 - y) * _log_sigmoid(-x))
    q = y * pm + (1.0 - y) * p  # 1 - p_t
    a = 1.0 if alpha < 0 else alpha * y + (1.0 - alpha) * (1.0 - y)
    mod = np.power(q, gamma)
    l = a * ce * mod
    dce = (1.0 - y) * p - y * pm  # p - y
    dq = (1.0 - 2.0 * y) * p * pm
    # q' / q: q^(gamma-1) q' and q^(gamma-2) q'^2 are taken as q^gamma (q'/q)
    # and q^gamma (q'/q)^2. Written out, q^(gamma-2) overflows where q is
    # tiny -- 1e-287^(gamma-2) is inf at x = -662, y = 0 -- while the
    # product is about q^(gamma+1): the Hessian was -inf where it is
    # +2.5e-288 (mpmath; the fuzz harness's seed 0, input 92591, gamma
    # 1.07e-6). With 0/1 labels q'/q is (1 - 2y)(y p + (1 - y)(1 - p)): its
    # value where q underflows to 0 (and q^gamma q'/q is then 0, the limit).
    # (q < 0 for a target outside [0, 1]: q' / q as well, q^gamma's sign
    # and NaN (a non-integer gamma) as they were)
    qs = np.where(q != 0, q, 1.0)
    rq = np.where(q != 0, dq / qs, (1.0 - 2.0 * y) * (y * p + (1.0 - y) * pm))
    dmod = gamma * mod * rq if gamma != 0 else 0.0 * q
    g = a * (dce * mod + ce * dmod)
    # second derivative, term by term (ce'' = s, q' = (1 - 2y) s,
    # q'' = (1 - 2y) s (1 - 2p) = q' (pm - p), s = p (1 - p)):
    # s q^g + 2 g dce q^(g-1) q' + g (g-1) ce q^(g-2) q'^2 + g ce q^(g-1) q''
    s = p * pm
    h = s * mod
    if gamma != 0:
        h = h + mod * (
            2.0 * gamma * dce * rq
            + gamma * (gamma - 1.0) * ce * rq * rq
            + gamma * ce * rq * (pm - p)
        )
    return l, g, a * h


def _soft_margin(x, y):
    u = y * x
    l = np.logaddexp(0.0, -u)  # log(1 + exp(-y x))
    s, sm = _sigmoid(u), _sigmoid(-u)
    return l, -y * sm, y * y * s * sm


def _hinge_embedding(x, y, margin=1.0):
    z = margin - x
    l = np.where(y != 1, np.maximum(z, 0.0), 0.0) + np.where(y != -1, x, 0.0)
    g = np.where(y != -1, 1.0, 0.0) - np.where((y != 1) & (z >= 0), 1.0, 0.0)
    g = np.where(np.isnan(x), np.nan, g)
    l = np.where(np.isnan(x), np.nan, l)
    return l, g, 0.0 * g


binary_cross_entropy = RefLoss("binary_cross_entropy", elementwise(_bce), has_hess=True)
binary_cross_entropy_with_logits = RefLoss(
    "binary_cross_entropy_with_logits", elementwise(_bce_with_logits), has_hess=True
)
hinge = RefLoss("hinge", elementwise(_hinge), has_hess=True)
squared_hinge = RefLoss("squared_hinge", elementwise(_squared_hinge), has_hess=True)
sigmoid_focal = RefLoss("sigmoid_focal", elementwise(_sigmoid_focal), has_hess=True)
soft_margin = RefLoss("soft_margin", elementwise(_soft_margin), has_hess=True)
hinge_embedding = RefLoss("hinge_embedding", elementwise(_hinge_embedding), has_hess=True)
