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
  per-slice losses is what the one-shot call returns. An overlap loss that
  sums over the rows (one global score) needs the global intersection and
  union sums, which the Loss verbs do not expose: it is refused with a
  ValueError rather than approximated;
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
A group's rows form their own stream (the rows of that group seen so far):
its result is bit for bit when its chunks start at multiples of ``BLOCK``
of its rows; merging grouped accumulators places the other's rows of each
group after these, exactly where that keeps the blocks' subtrees aligned.
Any other chunking falls back to adding chunk totals in float64: within
float64 rounding (the tests hold it to 1e-12 relative).

Bootstrap: a Poisson(1) bootstrap keyed on the global row index. Rows are
grouped in units of ``bootstrap_unit`` consecutive rows (global row
``r`` is in unit ``r // bootstrap_unit``); replicate ``b`` weighs unit ``u``
by a Poisson(1) draw that is a hash of ``(seed, b, u)``. Each replicate's
weighted sums accumulate like the main ones, so intervals are the same for
a seed whatever the chunking and merge order (to float64 rounding). Units of
one row are the textbook row bootstrap; larger units (a block bootstrap,
valid for independent rows and robust to dependence within a unit) cut the
cost, which is ``B / bootstrap_unit`` hashes per row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from fastloss import _core

__all__ = ["Accumulator", "BLOCK", "CALIBRATION"]

#: Reduction terms (elements for element-wise losses, rows for row losses,
#: per-sample losses for overlap losses) per block of the kernels' blocked
#: reduction (``kBlock`` in ``cpp/include/fastloss/common/reduce.hpp``):
#: chunks starting at multiples of it give the one-shot call's bits.
BLOCK: int = _core.BLOCK

#: The calibration quantities an Accumulator takes as loss-like names.
CALIBRATION = ("ece", "mce")

_DEFAULT_UNIT = 1


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

    def row_denominators(self, pred, target, w):
        """What the loss's mean divides by, per row (float64, length n)."""
        n = pred.shape[0]
        shape = self.row_shape(pred, target)
        per_row = float(math.prod(shape[1:]))
        d = np.full(n, per_row) if w is None else w.astype(np.float64) * per_row
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
    ``(n,)``), the bins hold its mean and the frequency of ``target == 1``.
    Multiclass: ``pred`` of shape ``(n, C)`` holds class probabilities; the
    confidence is the largest and the accuracy whether its class is the
    label. ECE = sum_b W_b/W |acc_b - conf_b|, MCE = max over non-empty bins.
    """

    kind = "calibration"

    def __init__(self, which: str, n_bins: int = 15):
        if which not in CALIBRATION:
            raise ValueError(f"unknown calibration measure {which!r} (use {CALIBRATION})")
        if not isinstance(n_bins, (int, np.integer)) or isinstance(n_bins, bool) or n_bins < 1:
            raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
        self.which = which
        self.n_bins = int(n_bins)
        self.params = {"n_bins": self.n_bins}
        self.label = which

    def key(self):
        return (self.which, (("n_bins", repr(self.n_bins)),))

    def describe(self) -> str:
        return f"{self.which}(n_bins={self.n_bins})"

    def bins(self, pred, target, w):
        """Per bin: (weight, weight * confidence, weight * correct)."""
        p = np.asarray(pred, dtype=np.float64)
        t = np.asarray(target)
        if p.ndim == 1:
            conf, correct = p, (t.astype(np.float64) == 1.0).astype(np.float64)
            if t.shape != p.shape:
                raise ValueError(f"{self.which}: target shape {t.shape} != pred shape {p.shape}")
        elif p.ndim == 2:
            if t.shape != p.shape[:1]:
                raise ValueError(
                    f"{self.which}: labels must have shape {p.shape[:1]}, got {t.shape}"
                )
            conf = p.max(axis=1)
            correct = (p.argmax(axis=1) == t).astype(np.float64)
        else:
            raise ValueError(
                f"{self.which}: pred must be (n,) probabilities of the positive "
                f"class or (n, C) class probabilities, got shape {p.shape}"
            )
        if conf.size and not (np.all(p >= 0) and np.all(p <= 1)):
            raise ValueError(f"{self.which}: pred must hold probabilities in [0, 1]")
        b = np.minimum((conf * self.n_bins).astype(np.int64), self.n_bins - 1)
        ww = np.ones(conf.shape) if w is None else w.astype(np.float64)
        out = np.empty((3, self.n_bins))
        out[0] = np.bincount(b, ww, self.n_bins)
        out[1] = np.bincount(b, ww * conf, self.n_bins)
        out[2] = np.bincount(b, ww * correct, self.n_bins)
        return out

    def finish(self, bins):
        W, C, A = bins
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
            return _CalibrationEntry(name, int(n) if n else 15)
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

    Positions count reduction terms; block ``b`` holds terms ``[b * BLOCK,
    (b + 1) * BLOCK)``. ``nodes`` holds ``[block, size, num, den]`` for
    consecutive aligned runs of ``size`` (a power of two) blocks starting at
    ``block`` (a multiple of ``size``): complete subtrees of the one-shot
    tree, whose sums are therefore the one-shot call's. A leaf appended
    merges with its left sibling as long as it has one (a binary counter's
    carry), so at most two nodes per power of two remain. The total folds
    the nodes from the right: for a stream starting at term 0 that is the
    tree's own order (it splits at the largest power of two). A chunk or a
    merge that does not continue the stream on a block boundary turns the
    tree into ``loose``: plain float64 totals (within rounding).
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
            num = self.loose[0] + (num or 0.0)
            den = self.loose[1] + (den or 0.0)
        return (0.0 if num is None else num), (0.0 if den is None else den)

    def _loosen(self):
        if self.loose is None:
            self.loose = list(self.totals())
            self.nodes = []

    def add(self, first, leaves, terms):
        """A chunk of ``terms`` reduction terms starting at term ``first``
        (None: right after the last chunk), with its block leaves."""
        if terms == 0:
            return
        if first is None:
            first = 0 if self.end is None else self.end
        aligned = first % BLOCK == 0 and (self.end is None or first == self.end)
        if aligned and self.loose is None:
            # the chunk's blocks as maximal aligned runs of 2**k, each summed
            # as its perfect tree (NumPy's float64 additions, level by level:
            # the same IEEE sums as the kernels', a few array operations per
            # run instead of a Python step per block), then pushed
            b, e = first // BLOCK, first // BLOCK + len(leaves)
            cols, i = leaves.T, 0
            while b < e:
                size = 1 << ((e - b).bit_length() - 1)
                if b:
                    size = min(size, b & -b)
                x = cols[:, i : i + size]
                while x.shape[1] > 1:
                    x = x[:, 0::2] + x[:, 1::2]
                self._push([b, size, float(x[0, 0]), float(x[1, 0])])
                b += size
                i += size
        else:
            self._loosen()
            self.loose[0] += tree_sum(leaves[:, 0])
            self.loose[1] += tree_sum(leaves[:, 1])
        if self.start is None:
            self.start = first
        self.end = first + terms if self.end is None else max(self.end, first + terms)

    def merge(self, other, relative=False):
        """Add another tree's terms: placed where they are (absolute
        positions, ungrouped), or after these (``relative``: group streams,
        counted from 0 in each accumulator)."""
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
            self.loose[0] += num
            self.loose[1] += den
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
    per = np.asarray(per, dtype=np.float64).reshape(pred.shape[0], -1).sum(axis=1)
    return per, loss.row_denominators(pred, target, w)


# Poisson(1) from 20 bits of a hash: a table of 2**20 draws by inverse CDF.
_TABLE_BITS = 20


def _poisson_table():
    k = np.arange(20)
    pmf = np.exp(-1.0) / np.array([math.factorial(int(i)) for i in k], dtype=np.float64)
    cdf = np.cumsum(pmf)
    u = (np.arange(1 << _TABLE_BITS) + 0.5) / (1 << _TABLE_BITS)
    return np.searchsorted(cdf, u, side="right").astype(np.float64)


_TABLE = None


def poisson_weights(seed: int, replicates: int, units: np.ndarray) -> np.ndarray:
    """Poisson(1) weights ``(replicates, len(units))``, a pure function of
    ``(seed, replicate, unit)`` (splitmix64 of the three)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _poisson_table()
    u = np.asarray(units, dtype=np.uint64)[None, :]
    b = np.arange(replicates, dtype=np.uint64)[:, None]
    x = (u * np.uint64(0x9E3779B97F4A7C15)) ^ (b * np.uint64(0xC2B2AE3D27D4EB4F))
    x ^= np.uint64((seed * 0x165667B19E3779F9) & 0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return _TABLE[(x >> np.uint64(64 - _TABLE_BITS)).astype(np.intp)]


# -- the accumulator ----------------------------------------------------------


class _State:
    """Totals of one group: per entry a :class:`_Tree` of (num, den) or
    calibration bins, and the bootstrap replicates' totals."""

    __slots__ = ("sums", "boot")

    def __init__(self, entries, B):
        self.sums = [
            np.zeros((3, e.n_bins)) if e.kind == "calibration" else _Tree() for e in entries
        ]
        self.boot = [np.zeros((2, B)) if (B and e.kind == "loss") else None for e in entries]

    def add(self, other, relative=False):
        for a, b in zip(self.sums, other.sums):
            if isinstance(a, _Tree):
                a.merge(b, relative)
            else:
                a += b
        for a, b in zip(self.boot, other.boot):
            if a is not None:
                a += b

    def __getstate__(self):
        return (self.sums, self.boot)

    def __setstate__(self, s):
        self.sums, self.boot = s


class Accumulator:
    """Accumulate losses over chunks of rows; merge; read the result.

    Parameters
    ----------
    losses : str, Loss, configured loss, or a list of them
        Loss names (``fastloss.available()``), losses, configured losses
        (``fl.huber.with_params(delta=0.5)``) and calibration measures
        (``"ece"``, ``"mce"``; ``"ece:10"`` for 10 bins, 15 by default).
    bootstrap : int, optional
        Number of bootstrap replicates ``B``; :meth:`interval` then gives a
        percentile interval for each loss.
    seed : int, default 0
        The bootstrap's seed: intervals are a function of the seed and the
        rows, whatever the chunking.
    bootstrap_unit : int, default 1
        Rows per resampling unit (see the module notes): 1 is the row
        bootstrap; larger units cost ``bootstrap / bootstrap_unit`` hashes per
        row instead of ``bootstrap``.

    Rows: ``update`` takes ``pred`` and ``target`` whose first axis is the
    row, ``sample_weight`` one weight per row, and ``group`` one code per row
    (integers or strings). The accumulator counts the rows it is fed and
    uses that count as the first row's global index (for the bootstrap);
    ``start=`` sets it for a chunk fed to a separate accumulator that is
    merged later.

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
        bootstrap_unit: int = _DEFAULT_UNIT,
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
            or bootstrap < 2
        ):
            raise ValueError(f"bootstrap must be an integer >= 2, got {bootstrap!r}")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(bootstrap_unit, (int, np.integer)) or bootstrap_unit < 1:
            raise ValueError(f"bootstrap_unit must be an integer >= 1, got {bootstrap_unit!r}")
        self._B = int(bootstrap or 0)
        self._seed = int(seed)
        self._unit = int(bootstrap_unit)
        self._rows = 0
        self._grouped: bool | None = None
        self._groups: dict[Any, _State] = {}

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
            w = np.asarray(sample_weight, dtype=np.float64)
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
        if self._grouped is None and n:
            self._grouped = group is not None
        elif n and self._grouped != (group is not None):
            raise ValueError("group: give group codes for every chunk or for none")
        first = self._rows if start is None else int(start)
        if n:
            if group is None:
                self._add(None, pred, target, w, first, None)
            else:
                codes, order, ends = _group_runs(group)
                ps, ts = pred[order], target[order]
                ws = None if w is None else w[order]
                a = 0
                for code, b in zip(codes, ends.tolist()):
                    self._add(
                        code.item(),
                        ps[a:b],
                        ts[a:b],
                        None if ws is None else ws[a:b],
                        first,
                        order[a:b],
                    )
                    a = b
        self._rows = max(self._rows, first + n)
        return self

    def _add(self, gkey, pred, target, w, first, idx):
        n = pred.shape[0]
        st = self._groups.get(gkey)
        if st is None:
            st = self._groups[gkey] = _State(self._entries, self._B)
        units = None
        for e, s, b in zip(self._entries, st.sums, st.boot):
            if e.kind == "calibration":
                s += e.bins(pred, target, w)
                continue
            k, leaves = _chunk_blocks(e, pred, target, w)
            # ungrouped: the chunk's place in the stream of terms; a group's
            # rows follow that group's earlier rows
            s.add(None if gkey is not None or idx is not None else first * k, leaves, n * k)
            if b is not None:
                if units is None:
                    rows = first + (np.arange(pred.shape[0]) if idx is None else idx)
                    u = rows // self._unit
                    u0 = int(u[0])
                    local = u - u0
                    nu = int(local[-1]) + 1
                    P = poisson_weights(self._seed, self._B, np.arange(u0, u0 + nu))
                    units = (local, nu, P)
                local, nu, P = units
                rn, rd = _row_terms(e, pred, target, w)
                b[0] += P @ np.bincount(local, rn, nu)
                b[1] += P @ np.bincount(local, rd, nu)

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
        for k, st in other._groups.items():
            mine = self._groups.get(k)
            if mine is None:
                mine = self._groups[k] = _State(self._entries, self._B)
            mine.add(st, relative=self._grouped is True)
        self._rows = max(self._rows, other._rows)
        return self

    # -- reading ---------------------------------------------------------------

    def _values(self, st: _State | None) -> dict[str, float]:
        out = {}
        for name, e, k in zip(self._names, self._entries, range(len(self._entries))):
            if st is None:
                out[name] = math.nan
            elif e.kind == "calibration":
                out[name] = e.finish(st.sums[k])
            else:
                out[name] = float(e.finish(*st.sums[k].totals()))
        return out

    def result(self):
        """``{name: float}``; grouped: ``{group: {name: float}}`` (groups
        sorted). A loss with nothing accumulated is NaN."""
        if self._grouped:
            return {k: self._values(self._groups[k]) for k in _sorted(self._groups)}
        return self._values(self._groups.get(None))

    def interval(self, level: float = 0.95):
        """Percentile bootstrap intervals ``{name: (low, high)}`` (grouped:
        ``{group: {...}}``) for the losses; needs ``bootstrap=``.
        Calibration measures are not resampled."""
        if not self._B:
            raise ValueError("interval: this accumulator was made without bootstrap=")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]

        def one(st):
            out = {}
            for name, e, k in zip(self._names, self._entries, range(len(self._entries))):
                if e.kind != "loss":
                    continue
                if st is None:
                    out[name] = (math.nan, math.nan)
                    continue
                num, den = st.boot[k]
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = num / den
                if e.loss.name == "rmse":
                    v = np.sqrt(v)
                v = v[np.isfinite(v)]
                lo, hi = np.percentile(v, q) if v.size else (math.nan, math.nan)
                out[name] = (float(lo), float(hi))
            return out

        if self._grouped:
            return {k: one(self._groups[k]) for k in _sorted(self._groups)}
        return one(self._groups.get(None))

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
        st = self._groups.get(group)
        W, C, A = st.sums[k] if st is not None else np.zeros((3, e.n_bins))
        with np.errstate(divide="ignore", invalid="ignore"):
            return {
                "edges": np.linspace(0.0, 1.0, e.n_bins + 1),
                "weight": W.copy(),
                "confidence": np.where(W > 0, C / W, np.nan),
                "accuracy": np.where(W > 0, A / W, np.nan),
            }

    def __repr__(self) -> str:
        return f"<fastloss.Accumulator {self._names} rows={self._rows}>"


def _group_runs(group):
    """``(codes, order, ends)``: the sorted distinct codes, the rows ordered
    by code (a stable sort: each group's rows in their order, so a group's
    sums are those of the rows a mask would pick, bit for bit) and where each
    code's run ends in that order.

    Profiled (cProfile, 10 groups, 65536-row chunks): one mask and
    ``flatnonzero`` per group and ``np.unique``'s sort took 15 times the
    kernels' time. Integer codes spanning fewer than 65536 values are
    counted (``bincount``) and ordered by a radix sort of 16-bit keys,
    O(rows); other codes go through ``np.unique``."""
    if group.dtype.kind in "iu" and group.size:
        lo, hi = int(group.min()), int(group.max())
        if hi - lo < 1 << 16:
            # in a 64-bit type: int8 codes -100 and 100 differ by 200
            g = group.astype(np.uint64 if group.dtype.kind == "u" else np.int64)
            dense = (g - g.dtype.type(lo)).astype(np.uint16)
            counts = np.bincount(dense, minlength=hi - lo + 1)
            present = np.flatnonzero(counts)
            codes = (present.astype(g.dtype) + g.dtype.type(lo)).astype(group.dtype)
            return codes, np.argsort(dense, kind="stable"), np.cumsum(counts[present])
    codes, inv = np.unique(group, return_inverse=True)
    inv = inv.reshape(-1)
    if len(codes) < 1 << 16:
        inv = inv.astype(np.uint16)  # a radix sort
    return codes, np.argsort(inv, kind="stable"), np.cumsum(np.bincount(inv, minlength=len(codes)))


def _sorted(keys):
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=repr)
