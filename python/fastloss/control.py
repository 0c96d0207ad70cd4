"""Reinforcement-learning and physics-informed losses: the TD error and the
PINN loss.

``td_error`` differentiates only ``q`` (the target is held constant, as DQN
computes it); ``pinn`` returns a gradient for each residual array it was
given (None for an absent part).
"""

from __future__ import annotations

from fastloss._arrays import as_float, check_same_shape
from fastloss._catalogue import declare
from fastloss._loss import CONTROL
from fastloss._tensors import Plan, TensorLoss

__all__ = ["td_error", "pinn"]


class _TdError(TensorLoss):
    def _plan(self, inputs, p):
        q = as_float(inputs[0], "q")
        arrays = [q]
        for x, name in zip(inputs[1:], self.inputs[1:]):
            a = as_float(x, name, q.dtype)  # dones may be bool: 0/1
            if a.shape != q.shape:
                check_same_shape(q, a, "q", name)
            arrays.append(a)
        huber = 1.0 if p["loss"] == "huber" else 0.0
        plan = Plan(tuple(arrays), (q.size,), (p["gamma"], huber))
        return q.dtype, q.shape, (q.shape,), tuple(arrays), plan


class _Pinn(TensorLoss):
    _mean_over_samples = False  # each part its own mean

    def _plan(self, inputs, p):
        arrays, dtype = [], None
        for x, name in zip(inputs, self.inputs):
            if x is None and name != "residual":
                arrays.append(None)
                continue
            a = as_float(x, name, dtype)
            dtype = a.dtype
            arrays.append(a)
        sizes = tuple(0 if a is None else a.size for a in arrays)
        shapes = tuple(None if a is None else a.shape for a in arrays)
        plan = Plan(tuple(arrays), sizes, p["weights"])
        return dtype, (sum(sizes),), shapes, tuple(arrays), plan

    def _samples(self, state):
        return int(sum(state.dims))


td_error = declare(
    _TdError,
    "td_error",
    kernel=CONTROL,
    peer="DQN's loss in torch: F.smooth_l1_loss(q, (r + gamma * (1 - done) * next_q).detach())",
    doc="""The one-step temporal-difference loss of DQN (Mnih et al. 2015).

    Per transition::

        target = rewards + gamma * (1 - dones) * next_q     (held constant)
        delta  = q - target
        loss   = huber(delta) with delta 1  (loss="huber": torch's smooth_l1_loss)
               = delta ** 2                 (loss="mse")

    ``q`` are the online network's values of the actions taken and
    ``next_q`` the (target network's) values the user chose for the next
    states; only ``q`` is differentiable, as in DQN, where the target is
    computed without gradient.

    Parameters
    ----------
    q, rewards, next_q, dones : array_like, one shape
        ``dones`` is 1 (or True) where the episode ended.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        Per-transition weights (prioritized replay's importance weights).
    gamma : float in [0, 1], keyword-only, default 0.99
    loss : {"huber", "mse"}, keyword-only, default "huber"

    Returns
    -------
    float, or an array of q's shape. ``grad`` has q's shape.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.td_error([1.0, 0.0], [0.5, 1.0], [2.0, 3.0], [0.0, 1.0], gamma=0.5)
    0.3125
""",
)

pinn = declare(
    _Pinn,
    "pinn",
    kernel=CONTROL,
    peer="torch: w_r * residual.pow(2).mean() + w_b * boundary.pow(2).mean() + "
    "w_d * data.pow(2).mean() (Raissi et al. 2019)",
    doc="""The physics-informed loss: weighted mean squared residuals.

    ::

        loss = w_r * mean(residual^2) + w_b * mean(boundary^2) + w_d * mean(data^2)

    over the parts given (Raissi, Perdikaris & Karniadakis 2019): the
    residuals of the equation at collocation points, of the boundary (and
    initial) conditions, and the misfit to observations, as arrays the
    user's framework computed. Each part is its own mean, so the parts may
    have any sizes; ``reduction="sum"`` sums the weighted squares instead,
    and ``"none"`` returns them, residual then boundary then data,
    flattened.

    Parameters
    ----------
    residual : array_like
    boundary, data : array_like or None, default None
        Absent parts contribute nothing; their gradient is None.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        One weight per value of the concatenation (each part's weighted
        mean is over its own weights).
    weights : tuple of 3 floats >= 0, keyword-only, default (1.0, 1.0, 1.0)
        ``(w_r, w_b, w_d)``.

    Returns
    -------
    float, or the flattened weighted squares. ``grad`` returns ``(d/d
    residual, d/d boundary, d/d data)``, None for an absent part.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.pinn([1.0, -1.0], [2.0], weights=(1.0, 0.5, 1.0))
    3.0
""",
)
