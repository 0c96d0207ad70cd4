"""Streaming accumulators: score chunks of rows, merge, read the result.

An :class:`Accumulator` holds, for each requested loss, two float64 totals
-- the (weighted) sum of the per-sample losses and the mean's denominator --
so its size does not depend on the rows seen, two accumulators merge by
adding, and ``result()`` divides. Every number comes from a ``Loss`` verb:
the chunk's sum is ``loss(..., reduction="sum")``; the denominator is what
the loss's own ``"mean"`` divides by (the per-row count of per-sample
losses, times the row weights; class weights of the labels for
``cross_entropy`` and ``softmax_focal``).

Rows are the unit of chunking: a chunk is ``pred[i:j]``, ``target[i:j]``
and the per-row ``sample_weight[i:j]``. A loss accumulates when its
per-sample losses split along the rows:

* element-wise, row (multiclass) and box losses: always;
* overlap losses (``dice``, ``iou``, ``tversky``, ``generalized_dice``):
  when the first axis is kept (``axis`` does not sum over it, the default),
  their per-slice losses are whole within a chunk, and the mean of the
  per-slice losses is what the one-shot call returns. When ``axis`` sums
  over the rows (``dice``, ``iou``, ``tversky`` with ``axis=(0, 1, 2, 3)``:
  one global score; ``axis=(0, 2, 3)``: one per class) the accumulator
  keeps each kept slice's sums ``I = sum(p*t)``, ``P = sum(p)``, ``T =
  sum(t)`` over the rows (``3 * slices`` floats, in the same block tree as
  the other sums: the kernel's blocks of ``BLOCK`` elements of a slice, rows
  outermost, each block's eight lanes as ``unit_sums`` in
  ``common/slices.hpp`` adds them, :func:`lane_blocks`), and ``result()``
  scores each slice by the reference formula (``fastloss.reference.overlap``:
  the kernel's own operations) and averages the slices as the kernel
  reduces per-sample losses. Block-aligned chunks give the one-shot call's
  bits (tested for float32 and float64, global and per-class); grouped, a
  group's sums are its rows' sums added in row order (to rounding). Such an
  entry takes no ``sample_weight`` (weights are per row, its losses per
  slice) and no bootstrap (a ratio of global sums): both are refused;
* ``rmse``: the root of the merged mean of squares (accumulated with
  ``mse``'s sums).

Numbers: the kernels reduce in blocks of :data:`BLOCK` terms (per-sample
losses in the kernel's order: elements for element-wise losses, rows for
row losses, slices for overlap losses) and combine the block totals by a
pairwise tree that splits at the largest power of two below the count, so
every aligned run of ``2**k`` blocks is a complete subtree whatever the
total. Each chunk gives its block totals (``Loss._blocks``: the losses' sum
and the mean's denominator per block, the leaves of the one-shot tree), and
a :class:`_Tree` keeps the complete subtrees as a binary counter: one
partial sum per aligned power of two of blocks, ``O(log rows)`` floats.
``result()`` then equals the one-shot call on the concatenated rows bit for
bit whenever every chunk starts at a multiple of ``BLOCK`` terms (a chunk of
rows ``[i, j)`` with ``i * terms_per_row`` a multiple of ``BLOCK``; any
multiple of ``BLOCK`` rows will do), whatever the number of chunks, the
order of merges (as a tree over consecutive chunks) or the thread count.
Any other chunking falls back to adding chunk totals in float64: within
float64 rounding (the tests hold it to 1e-12 relative).

Groups (``group=``): every group's tree runs over the same global blocks of
``BLOCK`` rows (by global row index: the accumulator's row count, or
``start=``), its leaf for block ``b`` being the sum of that group's per-row
terms (``reduction="none"``, the terms of a row summed) in global block
``b``, added in row order (``np.bincount``; a block without the group's rows
is a leaf of zeros). So a group's result depends only on which rows it has,
not on how the rows were chunked: the grouped result equals, bit for bit,
the one-shot grouped ``update`` on the concatenated rows whenever every
chunk starts at a multiple of ``BLOCK`` rows, whatever the number of
chunks, the order of merges (as a tree over consecutive chunks, in one
process or pickled across several) or the thread count, exactly the
ungrouped rule. It is not the bits of the ungrouped call on the group's
rows (``loss(pred[g == k], ...)``, whose blocks are ``BLOCK`` of the
group's rows summed in the kernel's order): that agrees to float64
rounding. One tree of per-group vectors holds all groups, so a chunk costs
one kernel call and a few ``bincount`` passes per loss, whatever the
number of groups.

Bootstrap: a Poisson(1) bootstrap keyed on the global row index, in one of
two resampling schemes:

* buckets (``bootstrap_unit=None``, the default): global row ``r`` falls in
  one of :data:`BOOTSTRAP_BUCKETS` buckets by a hash of ``r`` alone (from
  row ``2**20`` on, of its run of 16 rows, ``r >> 4``: see below), and the
  accumulator keeps each bucket's sums (numerator, denominator); replicate
  ``b`` weighs bucket ``j`` by a Poisson(1) draw that is a hash of ``(seed,
  b, j)``, applied when :meth:`Accumulator.interval` is asked. The cost per
  row does not depend on ``B``: in C++ (``fastloss/bootstrap.hpp``), the
  hash and an addition per row and sum (``_core._bucket_add``, in row
  order: ``np.bincount``'s bits). An element-wise loss of an ungrouped
  accumulator costs one kernel pass, as without the bootstrap: its
  ``reduction="none"`` terms (unweighted), then ``_core._terms_pass``
  rebuilds the mean pass's block leaves from them (the kernel's
  products with the weights and its lane order: the same bits, so
  ``result()`` is unchanged) and adds the bucket sums: a row at a time
  below row ``2**20``, a run of 16 rows at a time (its terms' pairwise sum
  in registers, one addition to its bucket) from there on, and unweighted
  denominators as counts (a whole window of rows' counts are the hash
  table's, no pass over the rows). Other losses (and grouped accumulators)
  run a ``"none"`` pass beside the mean pass and a scatter a row.
  Measured in memory, 1e7 rows in chunks of 65,536, one thread, ``B =
  1000`` (``benchmarks/bench_accumulate.py --grouped``, the README and
  ``BENCHMARKS.md`` give the figures and the load): every configuration
  (mse, log loss and both; float64 and float32; unweighted, weighted and
  grouped) under 2 times the plain accumulator.
  At :meth:`Accumulator.interval`, ``_core._replicates`` draws the
  weights (a 4096-entry table of the draws of 256-index runs, the inverse
  CDF's comparisons only in the runs a step of it falls in: the same
  draws) and sums each replicate in a fixed order (four lanes), for a few
  losses and groups (up to ``_FEW_ROWS`` sums: serial, so the same bits
  for any thread count); more go through one matrix product a loss with
  the weights drawn in C++ (the BLAS's order, as before). The bucket sums have the
  bits of the NumPy scatter this replaced below row ``2**20``, except for
  float32 weighted inputs (sums of the float64 products the mean adds, not
  of float32 rounded ones, and of the weights in the kernel's float32) and
  element-wise losses with several terms a row (each term added to its
  row's bucket, not the row's sum); the replicates were a BLAS product,
  whose order is the BLAS's own. So the last bits of intervals changed once
  (the tests hold them to the NumPy path's within float64 rounding); they
  are still a function of the seed and the rows.
  With fewer rows than buckets nearly every row has a bucket of its own:
  the row bootstrap. With more, a bucket is a random subsample of the rows;
  for independent rows the buckets are independent and exchangeable, and
  resampling them estimates the variance of a ratio of sums without bias
  (up to a factor ``1 - 1/BOOTSTRAP_BUCKETS``) from ``BOOTSTRAP_BUCKETS``
  terms. Runs: from row ``2**20`` on, where a bucket holds a thousand rows
  or more, runs of 16 consecutive rows share one (run ``r >> 4`` hashed as a
  row is, its high bits under another key), so the C++ pass adds a run's
  sum once where a scatter a row cost more than the plain evaluation's read
  of the row; the buckets are still random subsamples (of runs), and
  resampling them estimates the same variance (on ``2**21`` independent
  rows the 95% interval is as wide as the normal-theory one, and with every
  row in a run 95% intervals cover the true value in 93-97% of simulated
  data sets: the tests, and the README's coverage paragraph).
  This changed the intervals of streams past ``2**20`` rows once, on
  purpose. Rows that depend on each other beyond a run land in different
  buckets: use units for them.
* units (``bootstrap_unit=k``): units of ``k`` consecutive rows (global row
  ``r`` is in unit ``r // k``); replicate ``b`` weighs unit ``u`` by a
  Poisson(1) draw that is a hash of ``(seed, b, u)``, and each replicate's
  weighted sums accumulate like the main ones. Units of one row are the
  textbook row bootstrap; larger units (a block bootstrap, robust to
  dependence within a unit) cut the cost, which is ``B / k`` hashes per row:
  ``k = 1`` with ``B = 1000`` costs a thousand times the plain evaluation.

Either way intervals are the same for a seed whatever the chunking and merge
order (to float64 rounding).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from fastloss import _core

__all__ = ["Accumulator", "BLOCK", "BOOTSTRAP_BUCKETS", "CALIBRATION", "MAX_BINS", "MAX_BOOTSTRAP"]

#: Reduction terms (elements for element-wise losses, rows for row losses,
#: per-sample losses for overlap losses) per block of the kernels' blocked
#: reduction (``kBlock`` in ``cpp/include/fastloss/common/reduce.hpp``):
#: chunks starting at multiples of it give the one-shot call's bits.
BLOCK: int = _core.BLOCK

#: The calibration quantities an Accumulator takes as loss-like names.
CALIBRATION = ("ece", "mce")

#: The most calibration bins (``n_bins``): each bin costs three floats a
#: group, and ``n_bins=1e9`` had the process killed for memory.
MAX_BINS = 1 << 20

#: The most bootstrap replicates (``bootstrap=``): the replicates are drawn
#: and kept at once (``B`` floats per bucket used and per sum).
MAX_BOOTSTRAP = 10**6


# -- what one entry accumulates ----------------------------------------------


class _LossEntry:
    """A loss and its checked parameters, with its name in results."""

    kind = "loss"

    def __init__(self, loss, params: Mapping[str, Any]):
        self.loss = loss
        self.params = dict(params)
        self.p = loss.resolve_params(self.params)  # checked now: bad values fail early
        self.label = loss.name
        why = loss.not_accumulable()
        if why is not None:
            raise ValueError(f"{loss.name} cannot be accumulated: {why}")
        axis = self.params.get("axis")
        # rmse's value is a root: accumulate the mean of squares (mse's sums).
        self.verb = _get("mse") if loss.name == "rmse" else loss
        self.vparams = {} if loss.name == "rmse" else self.params
        self._shapes: dict[tuple, tuple] = {}
        self._axis = axis
        # an overlap loss whose axis sums over the rows: the kept shape of
        # its slices, set by the first chunk (see global_slices)
        self.kept: tuple | None = None

    def key(self):
        return (self.loss.name, tuple(sorted((k, repr(v)) for k, v in self.params.items())))

    def describe(self) -> str:
        # The default configuration keeps the bare name; others say theirs.
        ps = ",".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{self.loss.name}({ps})" if ps else self.loss.name

    def row_shape(self, pred, target) -> tuple:
        """The per-sample loss shape of one row: ``(1, ...)``."""
        key = (pred.shape[1:], target.shape[1:], pred.dtype, target.dtype)
        hit = self._shapes.get(key)
        if hit is None:
            # One row through the loss's own planner: the cheapest way to
            # learn how its per-sample losses lie along the rows.
            shape = self.verb._plan((pred[:1], target[:1]), self.verb.resolve_params(self.vparams))[
                1
            ]
            if len(shape) == 0 or shape[0] != 1:
                raise ValueError(
                    f"{self.describe()} cannot be accumulated over rows: its per-sample "
                    f"losses have shape {shape} for one row (it reduces across rows, e.g. an "
                    "overlap loss whose axis sums over the first axis); keep the first axis "
                    "(the default axis=None does)"
                )
            hit = self._shapes[key] = tuple(shape)
        return hit

    def over_rows(self, shape) -> bool:
        """Whether this is an overlap loss whose ``axis`` sums over the rows
        for inputs of ``shape``."""
        from fastloss.overlap import SliceLoss

        if not isinstance(self.verb, SliceLoss) or len(shape) == 0:
            return False
        summed, grouped = self.verb._layout(shape, self.p)
        return not grouped and 0 in summed

    def global_slices(self, pred, target):
        """For an overlap loss whose ``axis`` sums over the rows (one score
        per slice of the kept axes, over all rows): the chunk as the
        kernel lays it out, ``(X, Y, m)`` with ``X``, ``Y`` of shape
        ``(slices, rows * m)`` (float64, each slice's elements in the
        kernel's order: rows outermost) and ``m`` elements per row and slice.
        None for every other loss (its per-sample losses split along the
        rows)."""
        if not self.over_rows(pred.shape):
            return None
        verb = self.verb
        # the loss's own planner: dtypes, shape check and the permutation
        # that puts the summed axes last (the row axis first among them)
        _, kept, _, _, (p, t, _, S, K, _) = verb._plan((pred, target), self.p)
        kept = tuple(kept)
        if self.kept is None:
            self.kept = kept
        elif kept != self.kept:
            raise ValueError(
                f"{self.describe()}: a chunk whose slices have shape {kept}, "
                f"earlier chunks {self.kept} (its axis sums over the rows: every "
                "chunk must have the same other dimensions)"
            )
        n = pred.shape[0]
        m = K // n if n else 0
        return (
            p.reshape(S, K).astype(np.float64, copy=False),
            t.reshape(S, K).astype(np.float64, copy=False),
            m,
        )

    def finish_slices(self, sums) -> float:
        """The loss from the merged sums ``(I, P, T)`` of each slice (a
        vector ``3 * slices``): each slice's score by the reference
        formula (``fastloss.reference.overlap``: the kernel's operations,
        the same bits), their mean reduced as the kernel reduces
        per-sample losses (16 lanes a block, blocks pairwise)."""
        from fastloss.reference import overlap as ref

        score: Any = {"dice": ref._dice, "iou": ref._iou, "tversky": ref._tversky}[self.loss.name]
        I, P, T = np.asarray(sums, dtype=np.float64).reshape(3, -1)
        params = {k: v for k, v in self.p.items() if k in ("smooth", "alpha", "beta")}
        zero = np.zeros_like(I)
        with np.errstate(all="ignore"):
            num, den, dnum, dden = score(zero, zero, I, P, T, **params)
            loss, _ = ref._ratio_loss(num, den, dnum, dden)
        loss = np.asarray(loss, dtype=np.float64).reshape(1, -1)
        return tree_sum(lane_blocks(loss, 16)[:, 0]) / float(loss.shape[1])

    def row_denominators(self, pred, target, w):
        """What the loss's mean divides by, per row (float64, length n)."""
        n = pred.shape[0]
        shape = self.row_shape(pred, target)
        per_row = float(math.prod(shape[1:]))
        if w is None:
            d = np.full(n, per_row)
        else:  # w is float64 (update converts it): no copy for one term a row
            d = w if per_row == 1.0 else w * per_row
        cw = self.p.get("class_weight")
        ignore = self.p.get("ignore_index")
        labels = target.ndim == pred.ndim - 1
        if labels and (cw is not None or ignore is not None):
            y = np.asarray(target).astype(np.int64).reshape(n, -1)
            f = np.ones(y.shape)
            if ignore is not None:
                f[y == ignore] = 0.0
            if cw is not None:
                cwa = np.asarray(cw, dtype=np.float64)
                f *= cwa[np.clip(y, 0, len(cwa) - 1)] * (f != 0)
            d = f.sum(axis=1) * (1.0 if w is None else w)
        return d

    def kernel_weight(self, pred, target, w):
        if w is None:
            return None
        k = len(self.row_shape(pred, target))
        return w.reshape((w.shape[0],) + (1,) * (k - 1))

    def finish(self, num, den):
        v = num / den if den != 0 else math.nan
        return math.sqrt(v) if self.loss.name == "rmse" and v == v and v >= 0 else v


class _CalibrationEntry:
    """Expected / maximum calibration error over equal-width bins of the
    confidence.

    Binary: ``pred`` holds the probability of the positive class (shape
    ``(n,)``), ``target`` is 0 or 1, and the bins hold its mean and the
    frequency of ``target == 1``. Multiclass: ``pred`` of shape ``(n, C)``
    holds class probabilities, ``target`` integer labels in ``[0, C)``; the
    confidence is the largest and the accuracy whether its class is the
    label. ECE = sum_b W_b/W |acc_b - conf_b|, MCE = max over non-empty bins.
    Other targets (2, 0.5, -1, NaN; a label C or more) are refused.

    Bins: the edges ``np.linspace(0, 1, n_bins + 1)`` (what
    :meth:`Accumulator.calibration` returns), each bin closed on the right,
    ``(e_k, e_k+1]``, the first ``[0, e_1]``: a confidence on an edge falls in
    the bin below it, as in scikit-learn's ``calibration_curve(strategy=
    "uniform")`` (``np.searchsorted(edges[1:-1], conf)``; its ``prob_true``
    and ``prob_pred`` are the non-empty bins' accuracy and confidence, the
    tests hold them together) and torchmetrics' ``torch.bucketize``
    binning (``right=False``). ``floor(conf * n_bins)``, used before, put
    0.3, 0.6 and 0.7 (10 bins) in the bin above. Departure: torchmetrics'
    *binary* calibration error takes ``target == round(p)`` as the accuracy
    (a top-label view); here a binary ``pred`` is the positive class's
    probability, as in scikit-learn.
    """

    kind = "calibration"

    def __init__(self, which: str, n_bins: int = 15):
        if which not in CALIBRATION:
            raise ValueError(f"unknown calibration measure {which!r} (use {CALIBRATION})")
        if (
            not isinstance(n_bins, (int, np.integer))
            or isinstance(n_bins, bool)
            or not 1 <= n_bins <= MAX_BINS
        ):
            raise ValueError(f"n_bins must be an integer in [1, 2**20], got {n_bins!r}")
        self.which = which
        self.n_bins = int(n_bins)
        self.params = {"n_bins": self.n_bins}
        self.label = which

    def key(self):
        return (self.which, (("n_bins", repr(self.n_bins)),))

    def describe(self) -> str:
        return f"{self.which}(n_bins={self.n_bins})"

    def check(self, pred, target):
        """``(p, t)``: pred as float64 and the target, checked (before any
        total changes)."""
        from fastloss._arrays import as_float

        p = as_float(pred, "pred").astype(np.float64, copy=False)
        t = np.asarray(target)
        if t.dtype.kind not in "biuf":
            raise TypeError(f"{self.which}: target: expected real numbers, got {t.dtype}")
        if p.ndim == 1:
            if t.shape != p.shape:
                raise ValueError(f"{self.which}: target shape {t.shape} != pred shape {p.shape}")
            if t.size and not np.all((t == 0) | (t == 1)):
                bad = t[~((t == 0) | (t == 1))][0].item()
                raise ValueError(
                    f"{self.which}: target must be 0 or 1 with pred of shape (n,) "
                    f"(the positive class's probability), got {bad!r}"
                )
        elif p.ndim == 2:
            if t.shape != p.shape[:1]:
                raise ValueError(
                    f"{self.which}: labels must have shape {p.shape[:1]}, got {t.shape}"
                )
            C = p.shape[1]
            ok = (t >= 0) & (t < C)
            if t.dtype.kind == "f":
                ok &= t == np.floor(t)
            if t.size and not np.all(ok):
                raise ValueError(
                    f"{self.which}: target must hold integer labels in [0, {C}) for "
                    f"pred of shape (n, {C}), got {t[~ok][0].item()!r}"
                )
        else:
            raise ValueError(
                f"{self.which}: pred must be (n,) probabilities of the positive "
                f"class or (n, C) class probabilities, got shape {p.shape}"
            )
        if p.size and not (np.all(p >= 0) and np.all(p <= 1)):
            raise ValueError(f"{self.which}: pred must hold probabilities in [0, 1]")
        return p, t

    def edges(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.n_bins + 1)

    def bins(self, p, t, w, gi=None, G=1):
        """Per group and bin: (weight, weight * confidence, weight *
        correct), shape ``(3, G, n_bins)`` (``p``, ``t``: what :meth:`check`
        returned for the rows; ``gi``: each row's group index)."""
        if p.ndim == 1:
            conf, correct = p, (t == 1).astype(np.float64)
        else:
            conf = p.max(axis=1)
            correct = (p.argmax(axis=1) == t).astype(np.float64)
        nb = self.n_bins
        # right-closed bins on the edges calibration() returns (see the class)
        b = np.searchsorted(self.edges()[1:-1], conf, side="left").astype(np.int64)
        if gi is not None:
            b += gi * nb
        ww = np.ones(conf.shape) if w is None else w.astype(np.float64)
        out = np.empty((3, G * nb))
        out[0] = np.bincount(b, ww, G * nb)
        out[1] = np.bincount(b, ww * conf, G * nb)
        out[2] = np.bincount(b, ww * correct, G * nb)
        return out.reshape(3, G, nb)

    def finish(self, bins):
        W, C, A = bins  # one group's (3, n_bins)
        total = W.sum()
        if total == 0:
            return math.nan
        full = W > 0
        gap = np.abs(A[full] / W[full] - C[full] / W[full])
        if self.which == "ece":
            return float(np.sum(W[full] / total * gap))
        return float(gap.max())


def _get(name):
    import fastloss

    return fastloss.get(name)


def _entry(spec):
    """A loss name, a Loss, a configured loss or a calibration name."""
    from fastloss._loss import ConfiguredLoss, Loss

    if isinstance(spec, str):
        name, _, n = spec.partition(":")
        if name in CALIBRATION:
            nb: Any = 15
            if n:
                try:
                    nb = int(n)
                except ValueError:
                    nb = n  # refused by the entry, naming n_bins
            return _CalibrationEntry(name, nb)
        return _LossEntry(_get(spec), {})
    if isinstance(spec, ConfiguredLoss):
        return _LossEntry(spec.loss, spec.params)
    if isinstance(spec, Loss):
        return _LossEntry(spec, {})
    raise TypeError(
        f"losses: expected loss names, fastloss losses or loss.with_params(...), "
        f"got {type(spec).__name__}"
    )


# -- the per-chunk totals -----------------------------------------------------


def tree_sum(x) -> float:
    """The kernels' pairwise sum of ``x`` in index order (``pairwise_sum``
    in ``cpp/include/fastloss/common/reduce.hpp``): split at the largest
    power of two below the count, in float64 (Python floats are IEEE
    doubles: the same bits)."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    n = len(x)
    if n <= 2:
        return float(sum(x)) if n else 0.0  # 0.0 + a + b: a + b exactly
    h = 1 << ((n - 1).bit_length() - 1)
    return tree_sum(x[:h]) + tree_sum(x[h:])


def lane_blocks(x: np.ndarray, lanes: int = 8) -> np.ndarray:
    """Block sums of each row of ``x`` (shape ``(rows, K)``, float64) as the
    kernels take them (``LanesOf`` in ``common/reduce.hpp``): per block of
    :data:`BLOCK` terms, term ``k`` added to lane ``k % lanes`` in index
    order, the lanes combined by the fixed tree. Returns ``(blocks,
    rows)``. ``lanes``: 8 for slice and row sums, 16 for per-element sums."""
    r, K = x.shape
    nb = -(-K // BLOCK)
    if nb * BLOCK != K:  # zeros after the last term: x + 0.0 is x
        x = np.concatenate([x, np.zeros((r, nb * BLOCK - K))], axis=1)
    x = x.reshape(r, nb, BLOCK // lanes, lanes)
    acc = np.zeros((r, nb, lanes))
    for j in range(BLOCK // lanes):  # one step a term per lane, in order
        acc += x[:, :, j]
    if lanes == 16:  # tree(a[:8]) + tree(a[8:])
        return (_tree8(acc[:, :, :8]) + _tree8(acc[:, :, 8:])).T
    return _tree8(acc).T


def _tree8(a):
    return ((a[..., 0] + a[..., 1]) + (a[..., 2] + a[..., 3])) + (
        (a[..., 4] + a[..., 5]) + (a[..., 6] + a[..., 7])
    )


def _chunk_blocks(loss, pred, target, w):
    """One chunk's block leaves for one loss entry: ``(terms_per_row,
    leaves)``, leaves of shape ``(blocks, 2)`` (sum, denominator) from the
    loss's own mean pass (``Loss._blocks``)."""
    k = math.prod(loss.row_shape(pred, target)[1:])
    leaves = loss.verb._blocks(
        pred, target, sample_weight=loss.kernel_weight(pred, target, w), **loss.vparams
    )
    return k, leaves


class _Tree:
    """The kernels' reduction tree over a stream of block leaves, as a
    binary counter.

    Positions count reduction terms (grouped: rows); block ``b`` holds
    terms ``[b * BLOCK, (b + 1) * BLOCK)``. ``nodes`` holds ``[block, size,
    num, den]`` for consecutive aligned runs of ``size`` (a power of two)
    blocks starting at ``block`` (a multiple of ``size``): complete subtrees
    of the one-shot tree, whose sums are therefore the one-shot call's. A
    leaf appended merges with its left sibling as long as it has one (a
    binary counter's carry), so at most two nodes per power of two remain.
    The total folds the nodes from the right: for a stream starting at term
    0 that is the tree's own order (it splits at the largest power of two).
    A chunk or a merge that does not continue the stream on a block boundary
    turns the tree into ``loose``: plain float64 totals (within rounding).

    ``num`` and ``den`` are floats, or float64 vectors with one entry per
    group (grouped accumulators: every group's tree has the same shape, so
    one tree of vectors holds them all). Nothing is updated in place: nodes
    may be shared with the tree they were merged from.
    """

    __slots__ = ("start", "end", "nodes", "loose")

    def __init__(self):
        self.start = self.end = None
        self.nodes: list = []
        self.loose = None

    def __getstate__(self):
        return (self.start, self.end, self.nodes, self.loose)

    def __setstate__(self, s):
        self.start, self.end, self.nodes, self.loose = s

    def map(self, fn):
        """A copy whose num/den are ``fn(num)``, ``fn(den)`` (groups
        re-indexed or padded)."""
        t = _Tree()
        t.start, t.end = self.start, self.end
        t.nodes = [[n[0], n[1], fn(n[2]), fn(n[3])] for n in self.nodes]
        t.loose = None if self.loose is None else [fn(self.loose[0]), fn(self.loose[1])]
        return t

    def _push(self, node):
        nodes = self.nodes
        nodes.append(node)
        while len(nodes) > 1:
            a, b = nodes[-2], nodes[-1]
            size = a[1]
            if b[1] != size or a[0] % (2 * size) or a[0] + size != b[0]:
                break
            nodes[-2:] = [[a[0], 2 * size, a[2] + b[2], a[3] + b[3]]]

    def totals(self):
        """``(num, den)``: the nodes folded from the right (plus the loose
        totals)."""
        num = den = None
        for node in reversed(self.nodes):
            num = node[2] if num is None else node[2] + num
            den = node[3] if den is None else node[3] + den
        if self.loose is not None:
            num = self.loose[0] + (0.0 if num is None else num)
            den = self.loose[1] + (0.0 if den is None else den)
        return (0.0 if num is None else num), (0.0 if den is None else den)

    def _loosen(self):
        if self.loose is None:
            self.loose = list(self.totals())
            self.nodes = []

    def add(self, first, leaves, terms):
        """A chunk of ``terms`` reduction terms starting at term ``first``
        (None: right after the last chunk), with its block leaves: shape
        ``(blocks, 2)``, or ``(blocks, 2, ...)`` (vectors: groups, slice
        sums)."""
        if terms == 0:
            return
        if first is None:
            first = 0 if self.end is None else self.end
        aligned = first % BLOCK == 0 and (self.end is None or first == self.end)
        vector = leaves.ndim >= 3
        if aligned and self.loose is None:
            # the chunk's blocks as maximal aligned runs of 2**k, each summed
            # as its perfect tree (NumPy's float64 additions, level by level:
            # the same IEEE sums as the kernels', a few array operations per
            # run instead of a Python step per block), then pushed
            b, e = first // BLOCK, first // BLOCK + len(leaves)
            cols, i = np.moveaxis(leaves, 0, 1), 0
            while b < e:
                size = 1 << ((e - b).bit_length() - 1)
                if b:
                    size = min(size, b & -b)
                x = cols[:, i : i + size]
                while x.shape[1] > 1:
                    x = x[:, 0::2] + x[:, 1::2]
                if vector:
                    self._push([b, size, x[0, 0].copy(), x[1, 0].copy()])
                else:
                    self._push([b, size, float(x[0, 0]), float(x[1, 0])])
                b += size
                i += size
        else:
            self._loosen()
            if vector:
                add = leaves.sum(axis=0)
                self.loose = [self.loose[0] + add[0], self.loose[1] + add[1]]
            else:
                self.loose = [
                    self.loose[0] + tree_sum(leaves[:, 0]),
                    self.loose[1] + tree_sum(leaves[:, 1]),
                ]
        if self.start is None:
            self.start = first
        self.end = first + terms if self.end is None else max(self.end, first + terms)

    def merge(self, other, relative=False):
        """Add another tree's terms: placed where they are (absolute
        positions), or after these (``relative``: counted from 0 in each
        accumulator)."""
        if other.start is None:
            return
        shift = (self.end if self.end is not None else 0) - other.start if relative else 0
        theirs = [[n[0] + shift // BLOCK] + n[1:] for n in other.nodes]
        o_start, o_end = other.start + shift, other.end + shift
        if self.start is None:
            exact = shift % BLOCK == 0 and all(n[0] % n[1] == 0 for n in theirs)
            self.start, self.end = o_start, o_end
            self.nodes = theirs if exact else []
            self.loose = None if other.loose is None and exact else list(other.totals())
            return
        if self.end == o_start:
            left, right, end_left = [list(n) for n in self.nodes], theirs, self.end
        elif o_end == self.start:
            left, right, end_left = theirs, [list(n) for n in self.nodes], o_end
        else:
            left = None
        exact = (
            left is not None
            and self.loose is None
            and other.loose is None
            and end_left % BLOCK == 0
            and shift % BLOCK == 0
            and all(n[0] % n[1] == 0 for n in theirs)
        )
        if exact:
            self.nodes = left
            for n in right:
                self._push(n)
        else:
            self._loosen()
            num, den = other.totals()
            self.loose = [self.loose[0] + num, self.loose[1] + den]
        self.start, self.end = min(self.start, o_start), max(self.end, o_end)


def _row_terms(loss, pred, target, w):
    """Per-row numerator and denominator terms (for the bootstrap)."""
    per = loss.verb(
        pred,
        target,
        reduction="none",
        sample_weight=loss.kernel_weight(pred, target, w),
        **loss.vparams,
    )
    per = np.asarray(per, dtype=np.float64).reshape(pred.shape[0], -1)
    per = per[:, 0] if per.shape[1] == 1 else per.sum(axis=1)
    return per, loss.row_denominators(pred, target, w)


# _core's bucket scatter, fused terms pass and Poisson weights
# (fastloss/bootstrap.hpp); an extension built before them takes the NumPy
# path (the same numbers).
_SCATTER = all(hasattr(_core, f) for f in ("_bucket_add", "_terms_pass", "_poisson_weights"))

# Poisson(1) from 20 bits of a hash: a table of 2**20 draws by inverse CDF.
_TABLE_BITS = 20


def _poisson_table():
    k = np.arange(20)
    pmf = np.exp(-1.0) / np.array([math.factorial(int(i)) for i in k], dtype=np.float64)
    cdf = np.cumsum(pmf)
    u = (np.arange(1 << _TABLE_BITS) + 0.5) / (1 << _TABLE_BITS)
    return np.searchsorted(cdf, u, side="right").astype(np.float64)


_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """The Poisson(1) draw table and its step bounds, built once."""
    global _TABLES
    if _TABLES is None:
        table = _poisson_table()
        # the table as a step function: entry k is the first index whose
        # draw exceeds k (_core counts the bounds <= an index)
        bounds = np.searchsorted(table, np.arange(int(table[-1])), side="right").astype(np.int64)
        _TABLES = (table, bounds)
    return _TABLES


def _seed_mix(seed: int) -> int:
    return (int(seed) * 0x165667B19E3779F9) & 0xFFFFFFFFFFFFFFFF


def poisson_weights(seed: int, replicates: int, units: np.ndarray) -> np.ndarray:
    """Poisson(1) weights ``(replicates, len(units))``, a pure function of
    ``(seed, replicate, unit)`` (splitmix64 of the three)."""
    table, bounds = _tables()
    if _SCATTER:  # the same hash and table in C++: one pass, no temporaries
        u = np.ascontiguousarray(np.asarray(units).reshape(-1), dtype=np.uint64)
        return _core._poisson_weights(_seed_mix(seed), int(replicates), u, bounds)
    u = np.asarray(units, dtype=np.uint64)[None, :]
    b = np.arange(replicates, dtype=np.uint64)[:, None]
    x = (u * np.uint64(0x9E3779B97F4A7C15)) ^ (b * np.uint64(0xC2B2AE3D27D4EB4F))
    x ^= np.uint64(_seed_mix(seed))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return table[(x >> np.uint64(64 - _TABLE_BITS)).astype(np.intp)]


# -- the accumulator ----------------------------------------------------------


#: Resampling buckets of the default bootstrap (``bootstrap_unit=None``):
#: global row ``r`` falls in bucket ``splitmix64(r) mod BOOTSTRAP_BUCKETS``.
BOOTSTRAP_BUCKETS = 1024
_BUCKET_SHIFT = np.uint64(64 - 10)  # log2(BOOTSTRAP_BUCKETS) top bits


def _splitmix(x):
    x = x * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


_LOW_BITS = 16
_LOW = None  # buckets of the low 16 bits of the row index


_RUN_BITS = 4  # from row _RUN_FROM on, runs of 2**_RUN_BITS rows share a bucket
_RUN_FROM = 1 << 20


def bootstrap_buckets(first: int, n: int) -> np.ndarray:
    """The resampling bucket of global rows ``first .. first + n - 1``, a
    function of the row index alone (so a row's bucket does not depend on
    the chunk that carries it): a table of ``splitmix64`` buckets of the low
    16 bits, XOR the ``splitmix64`` bucket of the high bits (tabulation
    hashing: two rows collide with probability ``1 / BOOTSTRAP_BUCKETS``
    whether or not they share their high bits). From row ``2**20`` on, runs
    of 16 consecutive rows share a bucket: run ``r >> 4`` is hashed the same
    way (its high bits under another key). Hashing every row with
    ``splitmix64`` in NumPy took a dozen passes over the chunk, as long as
    the plain evaluation's own work; this is one pass. The accumulator uses
    the same hash in C++ (``fastloss/bootstrap.hpp``, inside its scatter);
    this is its reference (the tests hold the two together) and the path of
    an extension built without it."""
    global _LOW
    if _LOW is None:
        _LOW = (_splitmix(np.arange(1 << _LOW_BITS, dtype=np.uint64)) >> _BUCKET_SHIFT).astype(
            np.intp
        )
    out = np.empty(n, np.intp)
    i, mask = 0, (1 << _LOW_BITS) - 1
    while i < n:
        r = first + i
        if r < _RUN_FROM:  # rows: a window of 2**16 rows shares the high bits
            lo = r & mask
            m = min(n - i, (1 << _LOW_BITS) - lo)
            high = np.array([(r >> _LOW_BITS) | (1 << 62)], dtype=np.uint64)
            np.bitwise_xor(
                _LOW[lo : lo + m], int(_splitmix(high)[0] >> _BUCKET_SHIFT), out=out[i : i + m]
            )
        else:  # runs: a window of 2**16 runs (2**20 rows) shares the high bits
            span = 1 << (_LOW_BITS + _RUN_BITS)
            m = min(n - i, span - (r & (span - 1)))
            u = r >> _RUN_BITS
            high = np.array([(u >> _LOW_BITS) | (1 << 61)], dtype=np.uint64)
            keys = ((r + np.arange(m)) >> _RUN_BITS) & mask
            np.bitwise_xor(_LOW[keys], int(_splitmix(high)[0] >> _BUCKET_SHIFT), out=out[i : i + m])
        i += m
    return out


def _fused(e) -> bool:
    """Whether entry ``e``'s mean leaves and bucket sums come from one
    ``"none"`` pass (element-wise losses; see ``Accumulator._add_fused``)."""
    from fastloss._loss import ElementwiseLoss

    return _SCATTER and e.kind == "loss" and isinstance(e.verb, ElementwiseLoss)


def _den_key(e, pred, target):
    """Entries whose denominators are the weights (or counts) times the
    terms per row share them: their key, or None (class weights, ignored
    labels)."""
    if e.p.get("class_weight") is not None or e.p.get("ignore_index") is not None:
        return None
    return math.prod(e.row_shape(pred, target)[1:])


class _State:
    """Totals of all groups (or of the one ungrouped stream, as group 0):
    ``keys`` the group codes in order of arrival, ``index`` code -> column;
    per entry a :class:`_Tree` of (num, den) (floats ungrouped, one column
    per group grouped) or calibration bins ``(3, G, n_bins)``; the bootstrap
    totals ``(2, G, width)`` (buckets, or replicates with units)."""

    __slots__ = ("keys", "index", "sums", "boot")

    def __init__(self, entries, width):
        self.keys: list = []
        self.index: dict = {}
        self.sums = [
            np.zeros((3, 0, e.n_bins)) if e.kind == "calibration" else _Tree() for e in entries
        ]
        self.boot = [
            np.zeros((2, 0, width)) if (width and e.kind == "loss") else None for e in entries
        ]

    def __getstate__(self):
        return (self.keys, self.sums, self.boot)

    def __setstate__(self, s):
        self.keys, self.sums, self.boot = s
        self.index = {k: i for i, k in enumerate(self.keys)}

    def columns(self, codes) -> np.ndarray:
        """Columns of ``codes`` (Python scalars), new ones appended."""
        idx, G0 = self.index, len(self.keys)
        out = np.empty(len(codes), np.intp)
        for i, c in enumerate(codes):
            j = idx.get(c)
            if j is None:
                j = idx[c] = len(self.keys)
                self.keys.append(c)
            out[i] = j
        if len(self.keys) != G0:
            self._grow(len(self.keys))
        return out

    def _grow(self, G):
        def pad(x):  # (groups,) or (groups, slice sums)
            if isinstance(x, np.ndarray) and x.ndim >= 1 and x.shape[0] < G:
                return np.concatenate([x, np.zeros((G - x.shape[0],) + x.shape[1:])])
            return x

        for k, a in enumerate(self.sums):
            if isinstance(a, _Tree):
                self.sums[k] = a.map(pad)
            elif a.shape[1] < G:
                self.sums[k] = np.concatenate([a, np.zeros((3, G - a.shape[1], a.shape[2]))], 1)
        for k, a in enumerate(self.boot):
            if a is not None and a.shape[1] < G:
                self.boot[k] = np.concatenate([a, np.zeros((2, G - a.shape[1], a.shape[2]))], 1)


def _group_columns(st: _State, group) -> np.ndarray:
    """Each row's column in ``st`` (codes seen for the first time get new
    columns).

    Profiled (cProfile, 10 groups, 1e7 rows): sorting the rows by group
    and gathering each group's rows for its own kernel calls took longer
    than reading the Parquet file; counting the codes does not sort. Integer
    codes spanning fewer than 65536 values are counted (``bincount``) and
    looked up in a table, O(rows); other codes go through ``np.unique``."""
    if group.dtype.kind in "iu" and group.size:
        lo, hi = int(group.min()), int(group.max())
        if hi - lo < 1 << 16:
            g = group
            if 0 <= lo and hi < 1 << 16:
                lo = 0  # codes index the table as they are: one pass less
            elif hi - lo > np.iinfo(g.dtype).max:  # int8 codes -100 and 100 differ by 200
                g = g.astype(np.int64)
            dense = g - g.dtype.type(lo) if lo else g  # in [0, hi - lo]: fits g's type
            if dense.dtype == np.uint64:  # bincount takes no uint64 (no safe cast)
                dense = dense.astype(np.intp)
            present = np.flatnonzero(np.bincount(dense, minlength=hi - lo + 1))
            cols = st.columns([lo + int(v) for v in present])
            if not lo and np.array_equal(cols, present):
                return dense  # codes 0, 1, ... first seen in order: their own columns
            table = np.zeros(hi - lo + 1, np.intp)
            table[present] = cols
            return table[dense]
    if group.dtype.kind == "O":
        # Python objects (pandas' strings: Series.to_numpy() gives str
        # objects): np.unique returns them as they are, with no .item();
        # the types are checked on the distinct codes only (few)
        try:
            codes, inv = np.unique(group, return_inverse=True)
        except TypeError:  # None beside strings, strings beside integers: no order
            raise TypeError(
                "group: expected codes that are all strings or all integers (no None, no mix)"
            ) from None
        bad = [c for c in codes if not isinstance(c, (str, bytes, int, np.integer))]
        if bad:
            raise TypeError(
                f"group: expected integer or string codes, got {type(bad[0]).__name__} ({bad[0]!r})"
            )
        keys = [c.item() if isinstance(c, np.generic) else c for c in codes]
        return st.columns(keys)[inv.reshape(-1)]
    codes, inv = np.unique(group, return_inverse=True)
    return st.columns([c.item() for c in codes])[inv.reshape(-1)]


def _block_keys(first: int, n: int, gi: np.ndarray, G: int):
    """``(key, blocks)``: each row's (global block - first block) * G + group
    column, for rows ``first .. first + n - 1``."""
    b0 = first // BLOCK
    nb = (first + n - 1) // BLOCK - b0 + 1
    head = min(n, (b0 + 1) * BLOCK - first)
    tail = first + n - (b0 + nb - 1) * BLOCK if nb > 1 else head
    global _BASE
    cached = _BASE  # one read: another thread may replace it
    if cached[0] != (nb, head, tail, G):  # the same for every whole chunk: kept
        counts = np.full(nb, BLOCK)
        counts[0], counts[-1] = head, tail
        cached = ((nb, head, tail, G), np.repeat(np.arange(nb, dtype=np.intp) * G, counts))
        _BASE = cached
    return cached[1] + gi, nb


_BASE: tuple = (None, None)

# Global row indices stay below this (int64 in C++, with room for a chunk).
_MAX_ROW = 1 << 62


# Rows of bucket sums (2 per loss and group) up to which the replicates are
# summed in C++ (_core._replicates, rows * buckets * B multiply-adds in a
# fixed order); more go through one matrix product a loss.
_FEW_ROWS = 64

# Dense (block, group) leaves at most this many per piece of a chunk (many
# groups: the chunk is cut at block boundaries to keep it so).
_MAX_LEAVES = 1 << 22


class Accumulator:
    """Accumulate losses over chunks of rows; merge; read the result.

    Parameters
    ----------
    losses : str, Loss, configured loss, or a list of them
        Loss names (``fastloss.available()``), losses, configured losses
        (``fl.huber.with_params(delta=0.5)``) and calibration measures
        (``"ece"``, ``"mce"``; ``"ece:10"`` for 10 bins, 15 by default, at
        most :data:`MAX_BINS`, 2**20).
    bootstrap : int, optional
        Number of bootstrap replicates ``B`` (2 to :data:`MAX_BOOTSTRAP`,
        10**6); :meth:`interval` then gives a percentile interval for each
        loss.
    seed : int, default 0
        The bootstrap's seed: intervals are a function of the seed and the
        rows, whatever the chunking.
    bootstrap_unit : int, optional
        None (default): resample :data:`BOOTSTRAP_BUCKETS` hashed buckets of
        rows, one hash per row whatever ``bootstrap``; ``k``: resample units
        of ``k`` consecutive rows, ``bootstrap / k`` hashes per row (1: the
        row bootstrap). See the module notes.

    Rows: ``update`` takes ``pred`` and ``target`` whose first axis is the
    row, ``sample_weight`` one weight per row, and ``group`` one code per row
    (integers or strings). The accumulator counts the rows it is fed and
    uses that count as the first row's global index (for the bootstrap);
    ``start=`` sets it for a chunk fed to a separate accumulator that is
    merged later.

    Against scikit-learn: ``mse``, ``mae``, ``rmse`` and ``brier`` equal
    its ``mean_squared_error``, ``mean_absolute_error``,
    ``root_mean_squared_error`` and ``brier_score_loss`` (weighted too) to
    float64 rounding; ``binary_cross_entropy`` equals ``log_loss`` except
    at a probability of exactly 0 or 1 on the wrong side, where fastloss
    clamps the log at -100 (PyTorch's rule: a loss of 100) and ``log_loss``
    clips the probability to ``[eps, 1 - eps]`` (36.04 in float64). No rows
    give NaN, where scikit-learn raises.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> rng = np.random.default_rng(0)
    >>> p, t = rng.normal(size=1000), rng.normal(size=1000)
    >>> acc = fl.Accumulator(["mse", fl.huber.with_params(delta=0.5), "rmse"])
    >>> for i in range(0, 1000, 300):
    ...     acc.update(p[i:i + 300], t[i:i + 300])
    >>> r = acc.result()
    >>> sorted(r)
    ['huber', 'mse', 'rmse']
    >>> abs(r["mse"] - fl.mse(p, t)) < 1e-12 * fl.mse(p, t)
    True
    """

    def __init__(
        self,
        losses,
        *,
        bootstrap: int | None = None,
        seed: int = 0,
        bootstrap_unit: int | None = None,
    ):
        if isinstance(losses, (str, bytes)) or not isinstance(losses, Iterable):
            losses = [losses]
        self._entries = [_entry(s) for s in losses]
        if not self._entries:
            raise ValueError("losses: give at least one loss")
        keys = [e.key() for e in self._entries]
        if len(set(keys)) != len(keys):
            raise ValueError("losses: the same loss with the same parameters is given twice")
        self._names = self._labels()
        if bootstrap is not None and (
            not isinstance(bootstrap, (int, np.integer))
            or isinstance(bootstrap, bool)
            or not 2 <= bootstrap <= MAX_BOOTSTRAP
        ):
            raise ValueError(
                f"bootstrap must be an integer in [2, {MAX_BOOTSTRAP}] (replicates), "
                f"got {bootstrap!r}"
            )
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if bootstrap_unit is not None and (
            not isinstance(bootstrap_unit, (int, np.integer))
            or isinstance(bootstrap_unit, bool)
            or bootstrap_unit < 1
        ):
            raise ValueError(
                f"bootstrap_unit must be None or an integer >= 1, got {bootstrap_unit!r}"
            )
        self._B = int(bootstrap or 0)
        self._seed = int(seed)
        self._unit = None if bootstrap_unit is None else int(bootstrap_unit)
        self._rows = 0
        self._grouped: bool | None = None
        # group= given with empty chunks only: result() is then {} (no
        # groups), not the ungrouped {name: nan}
        self._group_asked = False
        self._state: _State | None = None

    def _labels(self):
        count: dict[str, int] = {}
        for e in self._entries:
            count[e.label] = count.get(e.label, 0) + 1
        return [e.describe() if count[e.label] > 1 else e.label for e in self._entries]

    @property
    def names(self) -> list[str]:
        """The keys of :meth:`result`, in the order the losses were given."""
        return list(self._names)

    @property
    def rows(self) -> int:
        """Rows fed so far (merges included)."""
        return self._rows

    # -- feeding ---------------------------------------------------------------

    def update(self, pred, target, sample_weight=None, group=None, *, start=None):
        """Add one chunk of rows (see the class notes); returns self."""
        pred = np.asarray(pred) if not isinstance(pred, np.ndarray) else pred
        target = np.asarray(target) if not isinstance(target, np.ndarray) else target
        if pred.ndim == 0 or target.ndim == 0:
            raise ValueError("pred and target must have a first (row) axis")
        n = pred.shape[0]
        if target.shape[0] != n:
            raise ValueError(f"target has {target.shape[0]} rows, pred has {n}")
        w = None
        if sample_weight is not None:
            # the losses' own conversion and messages (strings, complex and
            # object arrays refused), then float64
            from fastloss._arrays import as_float

            w = as_float(sample_weight, "sample_weight").astype(np.float64, copy=False)
            if w.shape != (n,):
                raise ValueError(
                    f"sample_weight must hold one weight per row, shape ({n},), got {w.shape}"
                )
        if group is not None:
            group = np.asarray(group)
            if group.shape != (n,):
                raise ValueError(
                    f"group must hold one code per row, shape ({n},), got {group.shape}"
                )
            if group.dtype.kind not in "iuUSOb":
                raise TypeError(f"group: expected integer or string codes, got {group.dtype}")
        if group is not None:
            self._group_asked = True
        if self._grouped is None and n:
            self._grouped = group is not None
        elif n and self._grouped != (group is not None):
            raise ValueError("group: give group codes for every chunk or for none")
        if start is not None and (
            not isinstance(start, (int, np.integer))
            or isinstance(start, bool)
            or not 0 <= start <= _MAX_ROW - n
        ):
            raise ValueError(
                f"start must be an integer in [0, 2**62 - rows] (the chunk's first global "
                f"row), got {start!r}"
            )
        first = self._rows if start is None else int(start)
        if n:
            self._check_over_rows(pred, w)
            # calibration entries' inputs, checked once, before any total changes
            cal = {
                k: e.check(pred, target)
                for k, e in enumerate(self._entries)
                if e.kind == "calibration"
            }
            st = self._state
            if st is None:
                st = self._state = _State(self._entries, self._width())
                if group is None:
                    st.columns([None])
            if group is None:
                self._add_plain(st, pred, target, w, first, cal)
            else:
                gi = _group_columns(st, group)
                G = len(st.keys)
                # cut at block boundaries so that no piece holds more than
                # _MAX_LEAVES (block, group) leaves
                step = max(1, _MAX_LEAVES // G) * BLOCK
                a = 0
                while a < n:
                    b = min(n, ((first + a) // BLOCK) * BLOCK + step - first)
                    sl = slice(a, b) if (a, b) != (0, n) else slice(None)
                    self._add_grouped(
                        st,
                        pred[sl],
                        target[sl],
                        None if w is None else w[sl],
                        first + a,
                        gi[sl],
                        G,
                        {k: (p[sl], t[sl]) for k, (p, t) in cal.items()},
                    )
                    a = b
        self._rows = max(self._rows, first + n)
        return self

    def _width(self):
        if not self._B:
            return 0
        return BOOTSTRAP_BUCKETS if self._unit is None else self._B

    def _add_plain(self, st, pred, target, w, first, cal):
        """Ungrouped: the kernels' block leaves (the one-shot call's tree)."""
        n = pred.shape[0]
        buckets = None
        for k, e in enumerate(self._entries):
            if e.kind == "calibration":
                st.sums[k] = st.sums[k] + e.bins(*cal[k], w)
                continue
            sl = self._global(e, pred, target, w)
            if sl is not None:
                # an overlap loss over the rows: each slice's I, P, T block
                # sums, the kernel's blocks of its elements (rows outermost)
                X, Y, m = sl
                S = X.shape[0]
                leaves = np.zeros((-(-X.shape[1] // BLOCK), 2, 3 * S))
                leaves[:, 0, :S] = lane_blocks(X * Y)
                leaves[:, 0, S : 2 * S] = lane_blocks(X)
                leaves[:, 0, 2 * S :] = lane_blocks(Y)
                st.sums[k].add(first * m, leaves, n * m)
                continue
            if st.boot[k] is not None and self._unit is None and _fused(e):
                # element-wise: the terms of one "none" pass give the mean's
                # block leaves and the bucket sums (_core._terms_pass)
                buckets = self._add_fused(st, k, e, pred, target, w, first, buckets)
                continue
            terms, leaves = _chunk_blocks(e, pred, target, w)
            st.sums[k].add(first * terms, leaves, n * terms)
            if st.boot[k] is not None:
                rn, rd = _row_terms(e, pred, target, w)
                buckets = self._resample(
                    st, k, rn, rd, first, None, 1, buckets, _den_key(e, pred, target)
                )

    def _global(self, e, pred, target, w):
        """``e.global_slices`` for a loss entry, refusing what such an entry
        cannot take (row weights, the bootstrap); None otherwise."""
        return e.global_slices(pred, target) if e.kind == "loss" else None

    def _check_over_rows(self, pred, w):
        """Refuse, before any total changes, what an overlap loss summed
        over the rows cannot take: row weights and the bootstrap."""
        for name, e in zip(self._names, self._entries):
            if e.kind != "loss" or not e.over_rows(pred.shape):
                continue
            if w is not None:
                raise ValueError(
                    f"sample_weight: {name} sums over the rows (one score per slice of "
                    "its kept axes), so row weights do not weigh its per-sample losses; "
                    "accumulate it without sample_weight"
                )
            if self._B:
                raise ValueError(
                    f"bootstrap: {name} sums over the rows (a ratio of global sums, not "
                    "a mean of row terms); accumulate it without bootstrap="
                )

    def _add_fused(self, st, k, e, pred, target, w, first, cache):
        """An element-wise entry of an ungrouped chunk with bucket bootstrap:
        its unweighted ``reduction="none"`` terms (the kernel's own), then
        ``_core._terms_pass`` rebuilds the mean pass's block leaves from them
        (the bits of ``Loss._blocks``: the tests hold the two together) and
        adds the bucket sums, in one pass. Returns the chunk's cache of
        shared denominators."""
        n = pred.shape[0]
        per = e.verb(pred, target, reduction="none", **e.vparams).reshape(-1)
        per_row = per.size // n
        wk = None
        if w is not None:  # the weights as the kernel reads them: its dtype
            wk = np.ascontiguousarray(w, dtype=per.dtype)
        cache = {} if cache is None else cache
        # the weights in the kernel's dtype: not _resample's float64 ones
        dk = _den_key(e, pred, target)
        dk = None if dk is None else (dk, per.dtype.char)
        d = cache.get(dk) if dk is not None else None
        add = np.zeros((2, BOOTSTRAP_BUCKETS))
        leaves = np.empty((-(-per.size // BLOCK), 2))
        _core._terms_pass(per, wk, per_row, first, leaves, add[0], add[1] if d is None else None)
        if d is None:
            if dk is not None:
                cache[dk] = add[1]
        else:
            add[1] = d
        st.sums[k].add(first * per_row, leaves, per.size)
        st.boot[k] = st.boot[k] + add.reshape(2, 1, BOOTSTRAP_BUCKETS)
        return cache

    def _add_grouped(self, st, pred, target, w, first, gi, G, cal):
        """Grouped: per (global block of BLOCK rows, group) the sums of the
        group's per-row terms in row order (``np.bincount``), the leaves of
        each group's tree over global blocks."""
        n = pred.shape[0]
        key = nb = None
        dens: dict = {}
        buckets = None
        for k, e in enumerate(self._entries):
            if e.kind == "calibration":
                st.sums[k] = st.sums[k] + e.bins(*cal[k], w, gi, G)
                continue
            if key is None:
                key, nb = _block_keys(first, n, gi, G)
            sl = self._global(e, pred, target, w)
            if sl is not None:
                # an overlap loss over the rows: per (block of rows, group)
                # the sums of each slice's row sums of p*t, p, t, in row order
                X, Y, m = sl
                S = X.shape[0]
                per_row = [
                    (a.reshape(S, n, m).sum(axis=2) if m != 1 else a.reshape(S, n))
                    for a in (X * Y, X, Y)
                ]
                leaves = np.zeros((nb, 2, G, 3 * S))
                for q, a in enumerate(per_row):
                    for s in range(S):
                        leaves[:, 0, :, q * S + s] = np.bincount(key, a[s], nb * G).reshape(nb, G)
                st.sums[k].add(first, leaves, n)
                continue
            rn, rd = _row_terms(e, pred, target, w)
            leaves = np.empty((nb, 2, G))
            leaves[:, 0] = np.bincount(key, rn, nb * G).reshape(nb, G)
            # the denominators of losses without class weights are the
            # weights (or counts) times the terms per row: shared
            dk = _den_key(e, pred, target)
            d = dens.get(dk) if dk is not None else None
            if d is None:
                d = np.bincount(key, rd, nb * G).reshape(nb, G)
                if dk is not None:
                    dens[dk] = d
            leaves[:, 1] = d
            st.sums[k].add(first, leaves, n)
            if st.boot[k] is not None:
                buckets = self._resample(st, k, rn, rd, first, gi, G, buckets, dk)

    def _resample(self, st, k, rn, rd, first, gi, G, cache, dk):
        """Add one chunk's per-row terms to entry ``k``'s bootstrap totals;
        returns what later entries of the chunk reuse (``dk``: the key of
        denominators shared between entries, or None)."""
        n = rn.shape[0]
        if self._unit is None and _SCATTER:
            # buckets: (2, G, BOOTSTRAP_BUCKETS) sums, replicates at the end;
            # _core._bucket_add hashes and adds in row order (np.bincount's
            # order over bootstrap_buckets: the same bits, one pass)
            m = G * BOOTSTRAP_BUCKETS
            if cache is None:
                cache = {}
            g = None
            if gi is not None:
                g = gi if gi.dtype == np.int64 and gi.flags.c_contiguous else gi.astype(np.int64)
            add = np.zeros((2, m))
            _core._bucket_add(add[0], np.ascontiguousarray(rn), first, g)
            d = cache.get(dk) if dk is not None else None
            if d is None:
                _core._bucket_add(add[1], np.ascontiguousarray(rd), first, g)
                if dk is not None:
                    cache[dk] = add[1]
            else:
                add[1] = d
            st.boot[k] = st.boot[k] + add.reshape(2, G, BOOTSTRAP_BUCKETS)
            return cache
        if self._unit is None:
            # the same with NumPy (a _core built before _bucket_add)
            m = G * BOOTSTRAP_BUCKETS
            if cache is None:
                b = bootstrap_buckets(first, n)
                if gi is not None:
                    b += gi * BOOTSTRAP_BUCKETS
                cache = (b, {})
            b, dens = cache
            d = dens.get(dk) if dk is not None else None
            if d is None:
                d = np.bincount(b, rd, m)
                if dk is not None:
                    dens[dk] = d
            add = np.stack([np.bincount(b, rn, m), d])
            st.boot[k] = st.boot[k] + add.reshape(2, G, BOOTSTRAP_BUCKETS)
            return cache
        # units of consecutive rows: (2, G, B) replicate totals
        if cache is None:
            u = (first + np.arange(n)) // self._unit
            u0 = int(u[0])
            local = u - u0
            nu = int(local[-1]) + 1
            P = poisson_weights(self._seed, self._B, np.arange(u0, u0 + nu))
            key = local if gi is None else local * G + gi
            cache = (key, nu, P)
        key, nu, P = cache
        num = np.bincount(key, rn, nu * G).reshape(nu, G)
        den = np.bincount(key, rd, nu * G).reshape(nu, G)
        st.boot[k] = st.boot[k] + np.stack([(P @ num).T, (P @ den).T])
        return cache

    def merge(self, other: Accumulator) -> Accumulator:
        """Add another accumulator's totals (same losses, bootstrap, seed,
        unit; rows it saw must not overlap these); returns self."""
        if not isinstance(other, Accumulator):
            raise TypeError(f"merge: expected an Accumulator, got {type(other).__name__}")
        if [e.key() for e in self._entries] != [e.key() for e in other._entries] or (
            self._B,
            self._seed,
            self._unit,
        ) != (other._B, other._seed, other._unit):
            raise ValueError("merge: the accumulators differ in losses, parameters or bootstrap")
        if (
            self._grouped is not None
            and other._grouped is not None
            and self._grouped != other._grouped
        ):
            raise ValueError("merge: one accumulator is grouped and the other is not")
        if self._grouped is None:
            self._grouped = other._grouped
        self._group_asked = self._group_asked or getattr(other, "_group_asked", False)
        for e, o in zip(self._entries, other._entries):
            if e.kind == "loss" and o.kept is not None:
                if e.kept is not None and e.kept != o.kept:
                    raise ValueError(
                        f"merge: {e.describe()} has slices of shape {e.kept} here and "
                        f"{o.kept} there"
                    )
                e.kept = o.kept
        theirs = other._state
        if theirs is not None:
            st = self._state
            if st is None:
                st = self._state = _State(self._entries, self._width())
            cols = st.columns(theirs.keys)  # their column j is our column cols[j]
            G = len(st.keys)
            same = len(cols) == G and bool(np.all(cols == np.arange(G)))

            def place(x):
                if not isinstance(x, np.ndarray) or same:
                    return x
                out = np.zeros((G,) + x.shape[1:])
                out[cols] = x
                return out

            for k, (a, b) in enumerate(zip(st.sums, theirs.sums)):
                if isinstance(a, _Tree):
                    a.merge(b if same else b.map(place))
                else:
                    st.sums[k] = a + np.moveaxis(place(np.moveaxis(b, 1, 0)), 0, 1)
            for k, (a, b) in enumerate(zip(st.boot, theirs.boot)):
                if a is not None:
                    st.boot[k] = a + np.moveaxis(place(np.moveaxis(b, 1, 0)), 0, 1)
        self._rows = max(self._rows, other._rows)
        return self

    # -- reading ---------------------------------------------------------------

    def _values(self, j, totals) -> dict[str, float]:
        """Group column ``j``'s results (None: nothing seen); ``totals``:
        each loss entry's tree totals (once for all groups)."""
        st = self._state
        out = {}
        for k, (name, e) in enumerate(zip(self._names, self._entries)):
            if j is None:
                out[name] = math.nan
            elif e.kind == "calibration":
                assert st is not None  # a group column exists only once a chunk came
                out[name] = e.finish(st.sums[k][:, j])
            else:
                num, den = totals[k]
                if self._grouped:
                    num, den = num[j], den[j]
                if e.kept is not None:  # an overlap loss over the rows
                    out[name] = float(e.finish_slices(num))
                    continue
                out[name] = float(e.finish(float(num), float(den)))
        return out

    def _totals(self):
        st = self._state
        if st is None:
            return None
        return {
            k: st.sums[k].totals() for k, e in enumerate(self._entries) if e.kind != "calibration"
        }

    def _order(self):
        st = self._state
        return [(key, st.index[key]) for key in _sorted(st.keys)]

    def result(self):
        """``{name: float}``; grouped: ``{group: {name: float}}`` (groups
        sorted). A loss with nothing accumulated is NaN."""
        tot = self._totals()
        if self._grouped:
            return {key: self._values(j, tot) for key, j in self._order()}
        if self._grouped is None and getattr(self, "_group_asked", False):
            return {}  # grouped, and no row in any group
        return self._values(None if self._state is None else 0, tot)

    def _replicates(self):
        """Each loss entry's replicate totals, ``{k: (2, G, B)}``: bucket
        sums weighed by one Poisson draw per (replicate, bucket), drawn once
        for the buckets any entry used."""
        st = self._state
        ks = [k for k, e in enumerate(self._entries) if e.kind == "loss"]
        if not ks:  # calibration measures only: nothing is resampled
            return {}
        if self._unit is not None:
            return {k: st.boot[k] for k in ks}
        used = np.flatnonzero(np.any([np.any(st.boot[k] != 0, axis=(0, 1)) for k in ks], axis=0))
        G = len(st.keys)
        if _SCATTER and 2 * G * len(ks) <= _FEW_ROWS:
            # few sums (ungrouped): the weights drawn and applied in C++ in a
            # fixed order, no (buckets, B) matrix and no BLAS call (whose
            # threads cost more than the product on a loaded machine)
            bounds = _tables()[1]
            S = np.ascontiguousarray(
                np.concatenate([st.boot[k][:, :, used].reshape(2 * G, -1) for k in ks])
            )
            R = _core._replicates(_seed_mix(self._seed), self._B, used.astype(np.uint64), bounds, S)
            return {k: R[2 * G * i : 2 * G * (i + 1)].reshape(2, G, -1) for i, k in enumerate(ks)}
        P = poisson_weights(self._seed, self._B, used).T  # (buckets used, B)
        return {k: st.boot[k][:, :, used] @ P for k in ks}

    def interval(self, level: float = 0.95):
        """Percentile bootstrap intervals ``{name: (low, high)}`` (grouped:
        ``{group: {...}}``) for the losses; needs ``bootstrap=``.
        Calibration measures are not resampled."""
        if not self._B:
            raise ValueError("interval: this accumulator was made without bootstrap=")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
        reps = {} if self._state is None else self._replicates()

        def one(j):
            out = {}
            for k, (name, e) in enumerate(zip(self._names, self._entries)):
                if e.kind != "loss":
                    continue
                if j is None:
                    out[name] = (math.nan, math.nan)
                    continue
                num, den = reps[k][:, j]
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = num / den
                if e.loss.name == "rmse":
                    v = np.sqrt(v)
                v = v[np.isfinite(v)]
                lo, hi = np.percentile(v, q) if v.size else (math.nan, math.nan)
                out[name] = (float(lo), float(hi))
            return out

        if self._grouped:
            return {key: one(j) for key, j in self._order()}
        return one(None if self._state is None else 0)

    def calibration(self, name: str = "ece", group=None) -> dict[str, np.ndarray]:
        """The reliability diagram's bins of a calibration entry: ``edges``
        (n_bins + 1), per bin ``weight``, mean ``confidence`` and
        ``accuracy`` (NaN where empty)."""
        try:
            k = self._names.index(name)
        except ValueError:
            raise ValueError(f"calibration: no entry {name!r} (entries: {self._names})") from None
        e = self._entries[k]
        if e.kind != "calibration":
            raise ValueError(f"calibration: {name!r} is not a calibration measure")
        st = self._state
        j = None if st is None else st.index.get(group)
        W, C, A = st.sums[k][:, j] if st is not None and j is not None else np.zeros((3, e.n_bins))
        with np.errstate(divide="ignore", invalid="ignore"):
            return {
                "edges": e.edges(),
                "weight": W.copy(),
                "confidence": np.where(W > 0, C / W, np.nan),
                "accuracy": np.where(W > 0, A / W, np.nan),
            }

    def __repr__(self) -> str:
        return f"<fastloss.Accumulator {self._names} rows={self._rows}>"


def _sorted(keys):
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=repr)
