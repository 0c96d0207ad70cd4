"""Sequence losses: connectionist temporal classification (CTC).

``ctc`` takes the logits of a batch of sequences, their label sequences and
both lengths; its one differentiable input is ``logits`` (see
:class:`fastloss.Loss`).
"""

from __future__ import annotations

import numpy as np

from fastloss._arrays import as_float, as_labels
from fastloss._catalogue import declare
from fastloss._loss import SEQUENCE
from fastloss._tensors import Plan, TensorLoss

__all__ = ["ctc"]


def _lengths(x, name, n, hi, what):
    a = as_labels(x, name)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name}: expected shape ({n},) (one per sequence), got {a.shape}")
    if n:
        bad = np.flatnonzero((a < 0) | (a > hi)) if hi is not None else np.flatnonzero(a < 0)
        if bad.size:
            i = int(bad[0])
            rng = f"[0, {hi}] ({what})" if hi is not None else ">= 0"
            raise ValueError(f"{name}: {int(a[i])} at sequence {i} is outside {rng}")
    return a


class _Ctc(TensorLoss):
    # torch's "mean": each sequence's loss divided by its target length
    # before the average, not sum / N (tests/test_sequence.py checks it)
    _mean_over_samples = False

    def sample_axis(self, params):
        # (T, N, C): the sequences lie along axis 1; (N, T, C) batch-first
        return 0 if params["batch_first"] else 1

    def _plan(self, inputs, p):
        logits, targets, input_lengths, target_lengths = inputs
        x = as_float(logits, "logits")
        if x.ndim == 2:
            return self._plan_unbatched(x, targets, input_lengths, target_lengths, p)
        if x.ndim != 3:
            layout = "(N, T, C)" if p["batch_first"] else "(T, N, C)"
            raise ValueError(
                f"logits: expected a 3-d array {layout} (or (T, C), one sequence), "
                f"got shape {x.shape}"
            )
        if p["batch_first"]:
            n, t, c = x.shape
        else:
            t, n, c = x.shape
        if c < 1:
            raise ValueError("logits: need at least one class (C >= 1)")
        blank = p["blank"]
        if not 0 <= blank < c:
            raise ValueError(f"blank: {blank} is not a class in [0, {c})")
        tg = as_labels(targets, "targets")
        il = _lengths(input_lengths, "input_lengths", n, t, "T, the logits' time steps")
        if tg.ndim == 2:
            if tg.shape[0] != n:
                raise ValueError(
                    f"targets: padded targets need one row per sequence ({n}), got shape {tg.shape}"
                )
            concat, s = 0, tg.shape[1]
            tl = _lengths(target_lengths, "target_lengths", n, s, "the padded targets' width")
        elif tg.ndim == 1:
            concat, s = 1, tg.shape[0]
            tl = _lengths(target_lengths, "target_lengths", n, None, "")
            if int(tl.sum()) != s:
                raise ValueError(
                    f"target_lengths: their sum {int(tl.sum())} differs from the "
                    f"concatenated targets' length {s}"
                )
        else:
            raise ValueError(
                f"targets: expected (N, S) padded or 1-d concatenated labels, got shape {tg.shape}"
            )
        dims = (n, t, c, s, concat, blank, int(p["batch_first"]), int(p["zero_infinity"]))
        plan = Plan((x, tg, il, tl), dims, ())
        return x.dtype, (n,), (x.shape,), (x, tg, il, tl), plan

    def _plan_unbatched(self, x, targets, input_lengths, target_lengths, p):
        """torch's unbatched form, one sequence: logits (T, C), targets (S,),
        lengths scalars (or one-element sequences), run as a batch of one
        (its targets the concatenated form, S == target_length, as torch
        requires); the per-sample shape is (), the gradient (T, C)."""
        tg = as_labels(targets, "targets")
        if tg.ndim != 1:
            raise ValueError(
                f"targets: one sequence's logits (T, C) take its labels as a 1-d (S,) array, "
                f"got shape {tg.shape}"
            )
        lengths = []
        for v, name in ((input_lengths, "input_lengths"), (target_lengths, "target_lengths")):
            a = as_labels(v, name)
            if a.size != 1 or a.ndim > 1:
                raise ValueError(
                    f"{name}: one sequence's logits (T, C) take one length (a scalar), "
                    f"got shape {a.shape}"
                )
            lengths.append(a.reshape(1))
        x3 = x[None] if p["batch_first"] else x[:, None]
        dt, _, _, _, plan = self._plan((x3, tg, *lengths), p)
        return dt, (), (x.shape,), (x, tg, *lengths), plan

    def _launch(self, state, op, red, w, value_out, grads, hess, p):
        x3 = state.arrays[0]
        if grads is not None:  # an unbatched call's (T, C) buffers, as (T, 1, C) views
            grads = tuple(
                g if g is None or g.shape == x3.shape else g.reshape(x3.shape) for g in grads
            )
        return super()._launch(state, op, red, w, value_out, grads, hess, p)


ctc = declare(
    _Ctc,
    "ctc",
    kernel=SEQUENCE,
    peer="torch.nn.functional.ctc_loss",
    doc="""Connectionist temporal classification loss on unnormalized logits.

    For sequence ``n`` with input length ``T_n``, labels ``l`` of length
    ``L_n`` and the extended labels ``l'`` (``l`` with a blank before, between
    and after its labels)::

        p_t = softmax(logits[t, n, :])
        loss_n = -log sum_{paths pi -> l} prod_{t < T_n} p_t[pi_t]

    where a path maps to ``l`` by merging repeats and removing blanks
    (Graves et al., 2006), computed by the forward-backward recursion in log
    space. Equal to ``torch.nn.functional.ctc_loss(log_softmax(logits, -1),
    targets, input_lengths, target_lengths, blank, reduction, zero_infinity)``,
    value and gradient w.r.t. the logits (autograd's through log_softmax):
    ``d loss_n / d logits[t, n, c] = softmax_t(c) - posterior_t(c)`` for
    ``t < T_n``, 0 after.

    Reductions as torch's: ``"none"`` gives the ``(N,)`` per-sequence losses,
    ``"sum"`` their sum, ``"mean"`` the mean of ``loss_n / max(L_n, 1)``
    (each loss divided by its target length first). With ``sample_weight``
    (torch has none) the weighted forms are ``w_n loss_n`` (``"none"``),
    ``sum(w_n loss_n)`` and ``sum(w_n loss_n / max(L_n, 1)) / sum(w_n)``.

    Departures from torch: an impossible alignment (``T_n`` shorter than
    ``L_n`` plus its repeated neighbours) has loss ``inf`` and gradient 0
    (torch's gradient is NaN unless ``zero_infinity``); with
    ``zero_infinity=True`` both are 0, as torch. An empty batch (N = 0)
    gives NaN for "mean" and 0 for "sum" (torch refuses empty inputs).
    Labels, lengths and ``blank`` are checked (torch does not check labels).
    The sum over paths is taken in the logits' dtype (float32 for float32,
    as torch).

    Parameters
    ----------
    logits : array_like, (T, N, C), or (N, T, C) with ``batch_first``
        Unnormalized scores; the log-softmax over C is taken inside. The
        differentiable input: ``grad`` returns an array of its shape.
        ``(T, C)`` is one sequence, torch's unbatched form: ``targets`` is
        then ``(S,)`` with ``S`` the target length (as torch), each length a
        scalar, ``sample_weight`` a scalar and the ``"none"`` result 0-d.
    targets : array_like of int, (N, S) padded or 1-d concatenated
        Labels in ``[0, C)``, never ``blank``. Padded: sequence ``n``'s labels
        are ``targets[n, :target_lengths[n]]`` (the padding is not read).
        Concatenated: the sequences one after the other,
        ``sum(target_lengths)`` labels.
    input_lengths : array_like of int, (N,)
        Time steps of each sequence, in ``[0, T]``; later steps are ignored
        (gradient 0).
    target_lengths : array_like of int, (N,)
        Labels of each sequence, ``>= 0`` (at most S when padded).
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, (N,), optional, keyword-only
        Per-sequence weights (see above).
    blank : int, keyword-only, default 0
        The blank's class, in ``[0, C)``.
    zero_infinity : bool, keyword-only, default False
        Impossible alignments give 0 (and gradient 0) instead of ``inf``.
    batch_first : bool, keyword-only, default False
        ``logits`` is ``(N, T, C)`` (torch's ``ctc_loss`` takes ``(T, N, C)``
        only; this saves the transpose).

    Returns
    -------
    float, or an array of shape (N,) for ``reduction="none"``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastloss as fl
    >>> logits = np.zeros((3, 1, 2))  # T = 3, N = 1, C = 2: p = 1/2 everywhere
    >>> # paths for the label [1]: 1bb, b1b, bb1, 11b, b11, 111: 6 of 8
    >>> round(fl.ctc(logits, [[1]], [3], [1], reduction="sum"), 6)  # -log(6/8)
    0.287682
    >>> fl.ctc(logits, [[1, 1]], [2], [2], reduction="none")  # 1 b 1 needs 3 steps
    array([inf])
    >>> # the label is at t = 1 in 4 of the 6 paths (p = 1/2), at t = 0 and 2 in 3
    >>> fl.ctc.grad(logits, [[1]], [3], [1], reduction="sum")[:, 0, :].round(4)
    array([[ 0.    ,  0.    ],
           [ 0.1667, -0.1667],
           [ 0.    ,  0.    ]])
""",
)
