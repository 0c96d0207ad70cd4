"""Evaluate losses on Dask: one Accumulator per partition, merged in a tree.

    import fastloss.dask
    fastloss.dask.evaluate(pred, target, ["mse", "mae"], sample_weight=w)

``pred``, ``target``, ``sample_weight`` and ``group`` are dask arrays or
columns of a dask DataFrame (``ddf["p"]``; a DataFrame as ``pred`` stacks its
columns into one ``(n, k)`` prediction, e.g. class probabilities). Each
partition (row chunk) becomes one task that feeds its rows to a fresh
:class:`fastloss.Accumulator`, passing the partition's global row offset as
``start=`` so a bootstrap keys on global row indices; the accumulators are
merged by a tree over consecutive partitions (``split_every`` at a time),
and the root's ``result()`` is returned. The result equals the one-shot
call on the same rows bit for bit when every partition starts at a multiple
of :data:`fastloss.BLOCK` rows (rechunk to it; a DataFrame's partition
lengths are counted first, one more pass over its partitions), and to
float64 rounding for any other partitioning, whichever worker ran which
task (the kernels give the same bits on every machine, ISA level and thread
count).

Threads: a worker that runs several tasks at once would have each kernel
call open ``fastloss.get_num_threads()`` threads, oversubscribing its
cores, so each task runs fastloss with ``threads=1`` (the default; ``None``
leaves the worker's setting). The count is set for the process while tasks
of this call run in it and put back when the last one ends.

Importing ``fastloss`` does not import this module or Dask (``pip install
'fastloss[dask]'``).
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from fastloss._accumulate import Accumulator

__all__ = ["evaluate", "accumulate"]

#: Accumulators merged per task of the reduction tree (by default).
SPLIT_EVERY = 8


# -- the tasks ------------------------------------------------------------------

_lock = threading.Lock()
_depth = 0


class _task_threads:
    """Run kernels with ``n`` threads while any task of an evaluation runs in
    this process; the last task to end puts back ``set_num_threads``'s
    setting (a counted context: tasks on one worker's threads overlap)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        global _depth
        if self.n is None:
            return
        from fastloss import _config

        with _lock:
            if _depth == 0:
                _config._core.set_num_threads(self.n)
            _depth += 1

    def __exit__(self, *exc):
        global _depth
        if self.n is None:
            return False
        from fastloss import _config

        with _lock:
            _depth -= 1
            if _depth == 0:
                _config._core.set_num_threads(_config._requested)
        return False


def _numpy(x):
    """A partition (ndarray, pandas Series or DataFrame) as an ndarray."""
    if x is None:
        return None
    a = x.to_numpy() if hasattr(x, "to_numpy") else np.asarray(x)
    return a


def _codes(g):
    g = _numpy(g)
    if g is not None and g.dtype.kind == "O":
        # pandas gives strings as objects; the Accumulator keys groups on
        # NumPy scalars (as fastloss eval does)
        g = g.astype(str)
    return g


def _partition(template: bytes, threads, start, pred, target, weight, group):
    """One partition's accumulator and its row count."""
    acc = pickle.loads(template)  # a fresh one per task: tasks may rerun
    p, t = _numpy(pred), _numpy(target)
    with _task_threads(threads):
        acc.update(p, t, _numpy(weight), _codes(group), start=start)
    return acc, int(p.shape[0])


def _merge(*parts):
    """Merge consecutive partitions' accumulators, in order, into a copy of
    the first (a task must not change its inputs: Dask may rerun it)."""
    acc = pickle.loads(pickle.dumps(parts[0][0]))
    rows = parts[0][1]
    for other, n in parts[1:]:
        acc.merge(other)
        rows += n
    return acc, rows


def _tree(parts: list, split_every: int):
    """Merge delayed ``(accumulator, rows)`` pairs in a tree over consecutive
    runs of ``split_every``; the root (a Delayed)."""
    from dask import delayed

    merge = delayed(_merge, pure=True)
    while len(parts) > 1:
        parts = [
            merge(*parts[i : i + split_every]) if len(parts[i : i + split_every]) > 1 else parts[i]
            for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _finish(root, scheduler):
    import dask

    ((acc, rows),) = dask.compute(root, scheduler=scheduler)
    acc._rows = rows  # the rows the partitions counted (merges keep the largest end)
    return acc


# -- the inputs -----------------------------------------------------------------


def _kind(x):
    import dask.array as da

    if isinstance(x, da.Array):
        return "array"
    try:
        import dask.dataframe as dd
    except ImportError:  # dask without its dataframe extra: arrays only
        dd = None
    if dd is not None and isinstance(x, (dd.Series, dd.DataFrame)):
        return "frame"
    return None


def _array_blocks(name, x, chunks, n):
    """``x`` split into the row blocks ``chunks`` (a list of Delayed), whole
    along its other axes."""
    import dask.array as da

    if _kind(x) is None:
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[0] != n:
            raise ValueError(f"{name}: expected {n} rows, got shape {x.shape}")
        x = da.from_array(x, chunks=(chunks,) + x.shape[1:])
    elif _kind(x) != "array":
        raise TypeError(
            f"{name}: pred is a dask array; give dask arrays (or NumPy arrays), "
            f"not {type(x).__name__}"
        )
    if x.ndim == 0 or x.shape[0] != n:
        raise ValueError(f"{name}: expected {n} rows, got shape {x.shape}")
    x = x.rechunk((chunks,) + tuple(-1 for _ in x.shape[1:]))
    return list(x.to_delayed().reshape(-1))


def _frame_blocks(name, x, nparts):
    if _kind(x) != "frame":
        raise TypeError(
            f"{name}: pred is a dask DataFrame column; give columns of the same "
            f"frame, not {type(x).__name__}"
        )
    if x.npartitions != nparts:
        raise ValueError(
            f"{name}: {x.npartitions} partitions, pred has {nparts} (give columns of one frame)"
        )
    return list(x.to_delayed())


def _inputs(pred, target, sample_weight, group, scheduler):
    """Per partition ``(start, pred, target, weight, group)`` (delayed)."""
    kind = _kind(pred)
    if kind == "array":
        if pred.ndim == 0:
            raise ValueError("pred must have a first (row) axis")
        chunks = pred.chunks[0]
        if any(c != c for c in chunks):  # NaN: unknown sizes
            raise ValueError(
                "pred: its row chunks have unknown sizes; call pred.compute_chunk_sizes() first"
            )
        n = pred.shape[0]
        cols = [
            _array_blocks(nm, x, chunks, n) if x is not None else [None] * len(chunks)
            for nm, x in (
                ("pred", pred),
                ("target", target),
                ("sample_weight", sample_weight),
                ("group", group),
            )
        ]
        starts = np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(int).tolist()
    elif kind == "frame":
        nparts = pred.npartitions
        cols = [
            _frame_blocks(nm, x, nparts) if x is not None else [None] * nparts
            for nm, x in (
                ("pred", pred),
                ("target", target),
                ("sample_weight", sample_weight),
                ("group", group),
            )
        ]
        # a frame's partition lengths are unknown until read: count them
        # first, so each partition starts at its global row (the bootstrap
        # keys on it, and block-aligned partitions continue the one-shot
        # call's tree only from their true offsets; with every start 0 the
        # tree fell back to float64 totals, 4 seeds of 10 off in the last bit)
        import dask

        lens = dask.compute(*[_len(p) for p in cols[0]], scheduler=scheduler)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(int).tolist()
    else:
        raise TypeError(
            f"pred: expected a dask array or a dask DataFrame column, got "
            f"{type(pred).__name__} (for in-memory data use fastloss.Accumulator)"
        )
    return list(zip(starts, *cols))


def _len(part):
    from dask import delayed

    return delayed(len, pure=True)(part)


# -- the entry points -----------------------------------------------------------


def accumulate(
    pred,
    target,
    losses,
    sample_weight=None,
    group=None,
    *,
    bootstrap: int | None = None,
    seed: int = 0,
    bootstrap_unit: int | None = None,
    threads: int | None = 1,
    split_every: int = SPLIT_EVERY,
    scheduler: Any = None,
) -> Accumulator:
    """The merged :class:`fastloss.Accumulator` of all partitions (its
    ``result()``, ``interval()`` and ``calibration()``); see :func:`evaluate`."""
    if not isinstance(split_every, int) or isinstance(split_every, bool) or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2, got {split_every!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads must be an integer >= 1 or None, got {threads!r}")
    # built here: bad losses or options fail now, not on a worker
    template = pickle.dumps(
        Accumulator(losses, bootstrap=bootstrap, seed=seed, bootstrap_unit=bootstrap_unit)
    )
    from dask import delayed

    part = delayed(_partition, pure=True)
    parts = [
        part(template, threads, start, p, t, w, g)
        for start, p, t, w, g in _inputs(pred, target, sample_weight, group, scheduler)
    ]
    if not parts:
        return pickle.loads(template)
    return _finish(_tree(parts, split_every), scheduler)


def evaluate(
    pred,
    target,
    losses,
    sample_weight=None,
    group=None,
    *,
    bootstrap: int | None = None,
    seed: int = 0,
    bootstrap_unit: int | None = None,
    level: float = 0.95,
    threads: int | None = 1,
    split_every: int = SPLIT_EVERY,
    scheduler: Any = None,
):
    """Evaluate losses over dask arrays or dask DataFrame columns.

    Parameters
    ----------
    pred, target : dask array or dask DataFrame column
        Rows along the first axis. Dask arrays are rechunked to ``pred``'s
        row chunks (whole along other axes); NumPy arrays beside a dask
        ``pred`` are split the same way. A DataFrame as ``pred`` stacks its
        columns; columns must come from one frame (same partitions).
    losses : str, Loss, configured loss, or a list of them
        As :class:`fastloss.Accumulator` takes them.
    sample_weight, group : same kind as ``pred``, optional
        One weight and one group code (integers or strings) per row.
    bootstrap, seed, bootstrap_unit
        As :class:`fastloss.Accumulator`: the replicates key on global row
        indices, so the intervals do not depend on the partitioning. For a
        DataFrame the partition lengths are counted first (one more pass,
        with or without ``bootstrap``: the partitions' global first rows).
    level : float, default 0.95
        The intervals' level, with ``bootstrap``.
    threads : int or None, default 1
        fastloss's kernel threads inside each task (``None``: the worker's
        setting).
    split_every : int, default 8
        Accumulators merged per task of the reduction tree.
    scheduler : optional
        Passed to ``dask.compute`` (default: the active ``distributed``
        client if there is one, else Dask's default).

    Returns
    -------
    Scores (a dict)
        ``Accumulator.result()``: ``{name: float}``, grouped ``{group:
        {name: float}}``. With ``bootstrap``, its ``intervals`` attribute
        holds ``Accumulator.interval(level)`` (else None).
        :func:`accumulate` returns the merged Accumulator itself.

    Examples
    --------
    >>> import dask.array as da, numpy as np, fastloss as fl, fastloss.dask
    >>> rng = np.random.default_rng(0)
    >>> p, t = rng.normal(size=10_000), rng.normal(size=10_000)
    >>> r = fastloss.dask.evaluate(da.from_array(p, chunks=2500), da.from_array(t, chunks=2500),
    ...                            ["mse", "mae"], scheduler="sync")
    >>> sorted(r)
    ['mae', 'mse']
    >>> abs(r["mse"] - fl.mse(p, t)) <= 1e-12 * fl.mse(p, t)
    True
    """
    acc = accumulate(
        pred,
        target,
        losses,
        sample_weight,
        group,
        bootstrap=bootstrap,
        seed=seed,
        bootstrap_unit=bootstrap_unit,
        threads=threads,
        split_every=split_every,
        scheduler=scheduler,
    )
    return Scores(acc.result(), acc.interval(level) if bootstrap else None)


class Scores(dict):
    """What :func:`evaluate` returns: ``Accumulator.result()``'s dict, with
    the bootstrap intervals (``Accumulator.interval``) as ``intervals``
    (None without ``bootstrap``)."""

    def __init__(self, result, intervals=None):
        super().__init__(result)
        self.intervals = intervals

    def __reduce__(self):
        return (Scores, (dict(self), self.intervals))


def evaluate_partitions(
    tasks: Sequence, template: Accumulator, *, split_every=SPLIT_EVERY, scheduler=None
) -> Accumulator:
    """Merge the accumulators delayed ``tasks`` return (each an
    ``(Accumulator, rows)`` pair, in row order) like :func:`accumulate`;
    the command line's Dask path reads files this way."""
    if not tasks:
        return template
    return _finish(_tree(list(tasks), split_every), scheduler)
