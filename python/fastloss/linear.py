"""Fused linear cross-entropy: the loss of a classifier head without its logits.

``linear_cross_entropy(hidden, linear_weight, labels, linear_bias)`` is the
cross-entropy of the logits ``hidden @ linear_weight.T + linear_bias``, the
last layer of a language model with a large vocabulary, computed without
ever holding the ``(N, C)`` logits: with N = 8192 tokens, D = 1024 and a
vocabulary of C = 131072 they would take 4 GiB in float32.

Design. The rows are processed in chunks whose logits take at most
:data:`CHUNK_BYTES` (64 MiB) per buffer. Per chunk: the logits are one
matrix product into a preallocated buffer (``np.matmul(..., out=)``:
NumPy's BLAS, OpenBLAS in NumPy's wheels: the products are 99% of the
work, and a tuned, well-kept BLAS that every NumPy install already carries
does them at the machine's speed); the value and the gradient of the chunk's
logits come from the ``cross_entropy`` kernel (one fused pass, reduction
``"sum"``, class weights, ``ignore_index`` and ``label_smoothing`` as in
:func:`fastloss.cross_entropy`); then ``d hidden[chunk] = G @ W``,
``d W += G.T @ hidden[chunk]`` and ``d b += G.sum(0)``, accumulated in the
fixed order of the chunks. ``d W`` is accumulated class block by class
block through a temporary of at most 16 MiB (NumPy's ``matmul`` has no
``beta = 1`` accumulation).

Chunks and blocks are as large as the memory bound allows because
OpenBLAS's threads handle many small products badly on a busy machine
(profiled at load 15-24 on 2 cores, two BLAS threads, D = 512, C = 32768):
``G @ W`` for 1024 rows took 7.5 s as four products of 256 rows and 1.0 s
as one; ``G.T @ hidden`` for 256 rows took 4.1 s in 64 blocks of 512
classes, 0.37 s in 4 of 8192 (one thread: 0.29 s). A mean divides by the
weights' sum ``sum_i w_i cw[y_i]`` over the non-ignored rows, as PyTorch's
does; the gradients are scaled by it as they are made (on the ``(chunk, D)``
and class blocks, never on a pass over the logits).

Memory beyond the inputs and gradients: two chunk buffers (logits and their
gradient, 64 MiB each), the class block (16 MiB), O(N + C) vectors and
BLAS's buffers: a peak of 153-156 MiB over the resident inputs and
gradients, measured (tests/test_linear.py's probe) at N = 1024, C = 131072,
D = 8 and 256, float32, where the logits alone would take 512 MiB; it
depends on neither N nor D beyond that (one row of logits, ``C *
itemsize`` bytes, must fit in a chunk: C up to 16M classes in float32).

K-dimensional weights ``(C, d_1, ..., d_K, D)`` (PyTorch's
``out_features``) run the loop above once per position ``(d_1, ..., d_K)``,
on strided views of that position's weight, bias and their gradients
(``d hidden`` summed over the positions in their order): simple, and as fast
per position as the ``(C, D)`` case, not fused across positions. Class
probabilities (a float target of the logits' shape) go to the same kernel
as a dense target, a chunk of rows at a time (copied into one more chunk
buffer where a position's columns are strided). Memory beyond the bound
below, for K > 0 only: that target buffer (64 MiB), a ``(chunk, D)`` buffer
for ``d hidden``'s accumulation and O(N) copies of one position's labels,
weights and losses.

Determinism: the chunking depends only on the shapes and dtype and the
kernel is bitwise identical for any thread count, so fastloss's thread
count never changes a bit. OpenBLAS's own thread count: with its AVX-512
(SkylakeX) kernels each output element is the same sequence of operations
for any number of BLAS threads (tests/test_linear.py checks 1, 2 and 7 bit
for bit); with its Haswell (AVX2) and Nehalem kernels a multi-threaded
product's last bits depend on how many threads split it (found under
qemu's Nehalem CPU and with OPENBLAS_CORETYPE=Haswell), so there a fixed
BLAS thread count (``OPENBLAS_NUM_THREADS``, threadpoolctl) gives fixed
bits. The bits may differ between BLAS builds and CPU kernels (OpenBLAS
picks one per CPU), unlike fastloss's own kernels.
"""

from __future__ import annotations

import math

import numpy as np

from fastloss import _core
from fastloss._arrays import _to_ndarray, as_float, as_labels
from fastloss._catalogue import kernel_id, metadata
from fastloss._loss import GRAD, MULTICLASS, NONE, SUM, VALUE, Loss
from fastloss.multiclass import _class_weight, probability_target

__all__ = ["linear_cross_entropy"]

# The family code the catalogue gives this family; it has no kernel family
# of its own in fastloss._core.run: the chunks run MULTICLASS's cross_entropy.
LINEAR = 14

# Bytes of one chunk buffer of logits (and one of their gradient).
CHUNK_BYTES = 64 << 20
# Bytes of the class block through which d W is accumulated.
_BLOCK_BYTES = 16 << 20

_CROSS_ENTROPY = kernel_id("linear_cross_entropy")  # the cross_entropy kernel

# What PyTorch's ignore_index=None means for class indices (its docstring:
# "the default value is mapped to -100")
_TORCH_IGNORE_INDEX = -100


def chunk_rows(classes: int, itemsize: int, rows: int) -> int:
    """Rows per chunk: as many as fit :data:`CHUNK_BYTES` of logits (at
    least one, at most ``rows``)."""
    return max(1, min(rows, CHUNK_BYTES // max(1, classes * itemsize)))


class _LinearCrossEntropy(Loss):
    """Cross-entropy of ``hidden @ linear_weight.T + linear_bias``, chunked
    over rows (see the module's docstring)."""

    accumulable = False
    # the kernel the chunks run (the catalogue's kernel_id): cross_entropy's
    _id = _CROSS_ENTROPY

    def resolve_params(self, given):
        # PyTorch 2.13's F.linear_cross_entropy defaults ignore_index to None,
        # which it maps to -100 for class indices (the only targets here):
        # None is accepted and means -100
        if given.get("ignore_index", 0) is None:
            given = {**given, "ignore_index": _TORCH_IGNORE_INDEX}
        return super().resolve_params(given)

    def _plan(self, inputs, p):
        hidden = as_float(inputs[0], "hidden")
        dt = hidden.dtype
        weight = as_float(inputs[1], "linear_weight", dt)
        if hidden.ndim < 1:
            raise ValueError(
                f"hidden: expected an array (..., in_features), got shape {tuple(hidden.shape)}"
            )
        if weight.ndim < 2:
            raise ValueError(
                "linear_weight: expected an array (num_classes, in_features) or "
                "(num_classes, d_1, ..., d_K, in_features), got shape "
                f"{tuple(weight.shape)}"
            )
        c, d = weight.shape[0], weight.shape[-1]
        out_features = weight.shape[1:-1]
        if hidden.shape[-1] != d:
            raise ValueError(
                f"hidden: its last axis ({hidden.shape[-1]}) must be linear_weight's in_features "
                f"({d}); got hidden shape {tuple(hidden.shape)} and linear_weight shape "
                f"{tuple(weight.shape)}"
            )
        if c < 1:
            raise ValueError("linear_weight: needs at least one class (row), got shape (0, ...)")
        batch = hidden.shape[:-1]
        # one loss per row and position of the K-dimensional logits
        # (*batch, C, d_1, ..., d_K)
        sample_shape = batch + out_features
        logits_shape = batch + (c,) + out_features
        t = _to_ndarray(inputs[2], "labels")
        ignore = p["ignore_index"]
        labels = None
        target = probability_target(t, logits_shape, sample_shape, "labels", ignore, dt)
        if target is None:  # class indices
            if t.shape != sample_shape:
                raise ValueError(
                    f"labels: integer labels must have shape hidden.shape[:-1] + "
                    f"linear_weight.shape[1:-1] = {tuple(sample_shape)} (class probabilities: "
                    f"{logits_shape}), got {tuple(t.shape)}"
                )
            labels = as_labels(t, "labels").reshape(-1)
            bad = (labels < 0) | (labels >= c)
            if ignore is not None:
                bad &= labels != ignore
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"labels: label {int(labels[i])} at sample {i} is out of range: labels "
                    f"must be in [0, {c}) or equal ignore_index={ignore}"
                )
        bias = None
        if inputs[3] is not None:
            bias = as_float(inputs[3], "linear_bias", dt)
            if bias.shape != (c,) + out_features:
                raise ValueError(
                    f"linear_bias: expected shape (num_classes, d_1, ..., d_K) = "
                    f"{(c,) + out_features}, got {tuple(bias.shape)}"
                )
        cw = _class_weight(p["class_weight"], c)
        shapes = (hidden.shape, weight.shape, None if bias is None else bias.shape)
        reads = (hidden, weight, labels if target is None else target, bias)
        state = (hidden.reshape(-1, d), weight, labels, target, bias, cw)
        return dt, sample_shape, shapes, reads, state

    def _launch(self, state, op, red, w, value_out, grads, hess, p):
        h, weight, labels, target, bias, cw = state
        n, d = h.shape
        npos = math.prod(weight.shape[1:-1])  # positions: prod(d_1, ..., d_K), 1 if K = 0
        gh = gw = gb = None
        if grads is not None:
            gh, gw, gb = grads
            gh = None if gh is None else gh.reshape(n, d)
        want = gh is not None or gw is not None or gb is not None
        if op == GRAD and not want:  # only an absent bias's gradient was asked
            return None
        ignore = p["ignore_index"]
        wf = None if w is None else w.reshape(-1)
        den = None
        if red != NONE and red != SUM:
            # a mean divides by torch's denominator, known before any chunk
            # runs, so the gradients are scaled as they are made
            if labels is None:  # probabilities: the (weighted) count of items
                den = float(n * npos) if wf is None else float(np.sum(wf))
            else:
                keep = labels != ignore
                share = np.ones(labels.size) if cw is None else cw[np.where(keep, labels, 0)]
                if wf is not None:
                    share = share * wf
                den = float(np.sum(share, where=keep))
        kop = VALUE if op == VALUE or not want else op
        kred = NONE if red == NONE else SUM
        eps = p["label_smoothing"]
        # no weight at all (every item ignored): gradients 0, as torch's and
        # the cross_entropy kernel's
        scale = 1.0 if den is None else (1.0 / den if den else 0.0)
        vf = None if value_out is None else value_out.reshape(-1)
        # NaN and infinities propagate through the products as through the
        # kernel, without NumPy's warnings (fastloss never warns on them)
        with np.errstate(all="ignore"):
            # one class axis (npos == 1) is one position: the rows are the items
            total = _positions(
                h, weight, labels, target, bias, cw, wf, vf, (gh, gw, gb), npos,
                (kop, kred, ignore, eps, scale),
            )  # fmt: skip
        if op == GRAD or red == NONE:
            return None
        if den is None:
            return total
        return total / den if den else float("nan")


def _positions(h, weight, labels, target, bias, cw, wf, vf, grads, npos, run):
    """K-dimensional logits, one position ``(d_1, ..., d_K)`` at a time:
    position ``j``'s logits ``hidden @ W[:, j, :].T + b[:, j]`` are an
    ``(N, C)`` problem of their own, run by :func:`_chunked` on strided
    views of the weight, bias and their gradients (the labels, the sample
    weights and a probability target's column are gathered per position).
    ``d hidden`` is the sum of the positions' contributions, accumulated in
    position order. Simple rather than fast: each position is a pass of
    matrix products with an ``(N, C)`` weight slice. A single class axis
    (no ``d``) is one position, the views then the arrays themselves.
    ``run``: ``(kop, kred, ignore, eps, scale)``, :func:`_chunked`'s."""
    gh, gw, gb = grads
    n, d = h.shape
    c = weight.shape[0]
    w3 = weight.reshape(c, npos, d)
    b2 = None if bias is None else bias.reshape(c, npos)
    gw3 = None if gw is None else gw.reshape(c, npos, d)  # outputs are C-contiguous: views
    gb2 = None if gb is None else gb.reshape(c, npos)
    y2 = None if labels is None else labels.reshape(n, npos)
    t3 = None if target is None else target.reshape(n, c, npos)
    w2 = None if wf is None else wf.reshape(n, npos)
    v2 = None if vf is None else vf.reshape(n, npos)
    # one position (a single class axis): the values straight into vf
    vj = None if vf is None else (vf if npos == 1 else np.empty(n, h.dtype))
    total = 0.0
    for j in range(npos):
        total += _chunked(
            h,
            w3[:, j, :],
            None if y2 is None else np.ascontiguousarray(y2[:, j]),
            None if t3 is None else t3[:, :, j],
            None if b2 is None else b2[:, j],
            cw,
            None if w2 is None else np.ascontiguousarray(w2[:, j]),
            vj,
            (gh, None if gw3 is None else gw3[:, j, :], None if gb2 is None else gb2[:, j]),
            *run,  # kop, kred, ignore, eps, scale
            accumulate=j > 0,
        )
        if v2 is not None and npos > 1:
            v2[:, j] = vj
    return total


def _chunked(
    h,
    weight,
    labels,
    target,
    bias,
    cw,
    wf,
    vf,
    grads,
    kop,
    kred,
    ignore,
    eps,
    scale,
    accumulate=False,
):
    """The chunk loop: the kernel's sum of the (weighted) losses over the
    rows, and the gradients (the ones not None in ``grads``) written, each
    multiplied by ``scale``. ``labels`` (int64) or ``target`` (class
    probabilities, ``(N, C)``; copied a chunk at a time where it is not
    C-contiguous) gives the targets. ``accumulate``: ``d hidden`` is added
    to, not written (the K-dimensional positions after the first)."""
    gh, gw, gb = grads
    n, d = h.shape
    c = weight.shape[0]
    dt = h.dtype
    r = chunk_rows(c, dt.itemsize, n)
    logits = np.empty((r, c), dt)
    g = np.empty((r, c), dt) if kop != VALUE else None
    tbuf = None
    if target is not None and not target.flags.c_contiguous:
        tbuf = np.empty((r, c), dt)
    if gh is not None and accumulate:
        ghbuf = np.empty((r, d), dt)
    s = dt.type(scale)
    if gw is not None:
        gw[...] = 0
        cb = max(1, min(c, _BLOCK_BYTES // max(1, d * dt.itemsize)))
        block = np.empty((cb, d), dt)
    if gb is not None:
        gb[...] = 0
        colsum = np.empty(c, dt)
    total = 0.0
    wt = weight.T  # a Fortran-ordered view: BLAS reads it transposed, no copy
    for i0 in range(0, n, r):
        i1 = min(n, i0 + r)
        m = i1 - i0
        z = logits[:m]
        hc = h[i0:i1]
        np.matmul(hc, wt, out=z)
        if bias is not None:
            z += bias
        gz = None if g is None else g[:m]
        tc = None
        if target is not None:
            tc = target[i0:i1]
            if tbuf is not None:
                tbuf[:m] = tc
                tc = tbuf[:m]
        # by position, as multiclass.RowLoss passes them (cpp/bindings/run.cpp)
        v = _core.run(
            MULTICLASS,
            _CROSS_ENTROPY,
            kop,
            kred,
            z,
            tc,
            None if labels is None else labels[i0:i1],
            None if wf is None else wf[i0:i1],
            None,
            cw,
            None if vf is None else vf[i0:i1],
            gz,
            None,
            c,
            0,
            0,
            1,
            ignore,
            (eps, 0.0),
            None,
        )
        if kred == SUM and kop != GRAD:
            total += v
        if gz is None:
            continue
        if gh is not None:
            out = ghbuf[:m] if accumulate else gh[i0:i1]
            np.matmul(gz, weight, out=out)
            if scale != 1.0:
                out *= s
            if accumulate:
                gh[i0:i1] += out
        if gw is not None:
            # d W += G.T @ hidden[chunk], a class block at a time through a
            # temporary (matmul cannot accumulate into its output)
            for c0 in range(0, c, cb):
                c1 = min(c, c0 + cb)
                blk = block[: c1 - c0]
                np.matmul(gz[:, c0:c1].T, hc, out=blk)
                if scale != 1.0:
                    blk *= s
                gw[c0:c1] += blk
        if gb is not None:
            np.sum(gz, axis=0, out=colsum)
            if scale != 1.0:
                colsum *= s
            gb += colsum
    return total


def _doc() -> str:
    return """Cross-entropy of a linear layer's logits, without the logits in memory.

    ``linear_cross_entropy(hidden, linear_weight, labels, linear_bias)`` is
    ``cross_entropy(hidden @ linear_weight.T + linear_bias, labels)``: the
    loss of a language model's output layer, whose ``(N, C)`` logits over a
    large vocabulary are the largest array of a training step. The rows go
    in chunks of at most 64 MiB of logits: each chunk's logits are one
    matrix product (NumPy's BLAS), their value and gradient come from the
    :func:`fastloss.cross_entropy` kernel in one pass, and the gradients
    w.r.t. ``hidden``, ``linear_weight`` and ``linear_bias`` are matrix
    products of that gradient, accumulated in a fixed order. About 160 MiB
    are allocated beyond the inputs and gradients, whatever N and D.

    With ``z = hidden @ linear_weight.T + linear_bias``, ``lse = log sum_k
    exp(z_k)``, class weights ``cw`` (1 where not given), ``eps =
    label_smoothing`` and ``C`` classes, a row with label ``y`` has the loss
    ``(1 - eps) cw_y (lse - z_y) + (eps / C) sum_k cw_k (lse - z_k)``; a row
    labelled ``ignore_index`` has loss 0 and no gradient. ``"mean"`` divides
    the sum by ``sum_i w_i cw_{y_i}`` over the non-ignored rows (``w``:
    ``sample_weight``, 1 where not given), as PyTorch does.

    Parameters
    ----------
    hidden : array_like, (..., D)
        The layer's input (``input`` in PyTorch), float32 or float64 (the
        compute dtype; other reals are converted).
    linear_weight : array_like, (C, D) or (C, d_1, ..., d_K, D)
        The layer's weight, as ``torch.nn.Linear(D, C).weight``; with K
        ``out_features`` axes the logits are ``(..., C, d_1, ..., d_K)`` and
        each row has a loss per position ``(d_1, ..., d_K)``, as PyTorch's
        K-dimensional cross-entropy (``torch.nn.LinearCrossEntropyLoss(...,
        out_features=(d_1, ..., d_K))`` reshapes its weight so).
    labels : array_like
        Class indices in ``[0, C)``, or ``ignore_index``, of shape
        ``hidden.shape[:-1] + (d_1, ..., d_K)``; or class probabilities: a
        float array of the logits' shape ``hidden.shape[:-1] + (C, d_1, ...,
        d_K)`` (``(C,)`` for one row ``(D,)``), with the loss ``sum_k q_k
        (lse - z_k)``, ``q_k = cw_k (t_k (1 - eps) + eps / C)``, and a mean
        dividing by the count of items (``sum w``), as PyTorch's.
    linear_bias : array_like (C,) or (C, d_1, ..., d_K), or None, default None
        The layer's bias. Left out (None), it has no gradient: ``grad``
        returns None in its place (and ``out=`` takes None there).
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"none"`` returns the per-item losses, shape ``hidden.shape[:-1] +
        (d_1, ..., d_K)``; the gradients are then those of their (weighted)
        sum.
    sample_weight : array_like, optional, keyword-only
        Per-item weights broadcast against ``hidden.shape[:-1] + (d_1, ...,
        d_K)``.
    class_weight : array_like (C,), optional, keyword-only
        PyTorch's ``weight``.
    ignore_index : int or None, keyword-only, default -100
        ``None`` means -100, as in PyTorch 2.13's ``linear_cross_entropy``
        (whose default is ``None``, mapped to -100 for class indices).
        Must be negative with probability targets (as in
        :func:`fastloss.cross_entropy`).
    label_smoothing : float in [0, 1], keyword-only, default 0.0

    Returns
    -------
    float, or an array of shape ``hidden.shape[:-1] + (d_1, ..., d_K)`` for
    ``"none"``.
    ``grad`` returns ``(d/d hidden, d/d linear_weight, d/d linear_bias)``
    in the inputs' shapes (None for a bias left out); ``wrt=`` picks some.

    Notes
    -----
    Peer: ``torch.nn.functional.linear_cross_entropy(input, linear_weight,
    target, linear_bias=, weight=, ignore_index=, label_smoothing=)``
    (PyTorch 2.13), and equally ``cross_entropy(linear(input, weight,
    bias), target)``, including its K-dimensional weights and its
    class-probability targets.

    The matrix products run on NumPy's BLAS (OpenBLAS in NumPy's wheels),
    with its own thread pool (``OPENBLAS_NUM_THREADS``, threadpoolctl);
    the cross-entropy passes on fastloss's threads. Results are bitwise
    identical for any number of fastloss's threads, and of BLAS threads
    with OpenBLAS's AVX-512 kernels; with its AVX2 and older kernels the
    BLAS thread count changes the last bits (fix it for fixed bits). They
    may differ between BLAS builds or CPUs (OpenBLAS chooses its kernels
    per CPU), unlike fastloss's own kernels.
    On a machine whose cores are oversubscribed, OpenBLAS's threads can make
    the products several times slower than one thread (measured at load 24
    on 2 cores: ``benchmarks/bench_linear.py --blas-threads 1``); then
    ``threadpoolctl.threadpool_limits(1, "blas")`` around the call helps.

    Examples
    --------
    >>> import numpy as np
    >>> import fastloss as fl
    >>> hidden = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    >>> labels = np.array([0, 1])
    >>> round(fl.linear_cross_entropy(hidden, W, labels), 6)
    0.395495
    >>> round(fl.cross_entropy(hidden @ W.T, labels), 6)
    0.395495
    >>> gh, gw, gb = fl.linear_cross_entropy.grad(hidden, W, labels)
    >>> gh.shape, gw.shape, gb is None
    ((2, 2), (3, 2), True)
    >>> gb = fl.linear_cross_entropy.grad(hidden, W, labels, np.zeros(3), wrt="linear_bias")
    >>> gb.round(4).tolist()
    [-0.1587, -0.0005, 0.1592]
"""


linear_cross_entropy = _LinearCrossEntropy(
    "linear_cross_entropy",
    **metadata("linear_cross_entropy"),
    peer="torch.nn.functional.linear_cross_entropy (PyTorch 2.13), "
    "= cross_entropy(linear(input, weight, bias), target)",
    doc=_doc(),
)
