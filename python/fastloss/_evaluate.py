"""``fastloss eval``: stream prediction tables through an Accumulator.

    fastloss eval DATA... --pred COL[,COL...] --target COL --loss NAME[:k=v,...]
        [--loss ...] [--weight COL] [--group-by COL] [--bootstrap N] [--seed S]
        [--columns A,B,...] [--format table|json|csv] [--output FILE]
        [--plot FILE.png] [--batch-rows N] [--threads N] [--workers N | --scheduler ADDRESS]
    fastloss eval --example [--plot FILE.png] [--format ...]

DATA files are read one after another, in record batches, so memory stays
flat whatever their size: Parquet (``.parquet``, ``.pq``; a row group at a
time, pre-buffered, its columns decoded on pyarrow's threads; row groups
over :data:`WHOLE_ROW_GROUP_ROWS` rows streamed page by page), Arrow IPC
(``.arrow``, ``.feather``, ``.ipc``), CSV/TSV (``.csv``, ``.tsv``; the first
line must be a header, or ``--columns`` names the columns of a headerless
file: a file whose header looks like data is refused, never guessed),
``.npz`` (each array a column, by its key, read from the zip batch by
batch, stored or deflated; see :class:`_NpzMember`) and ``.npy`` (a 2-D
table whose columns ``--columns`` names, or a structured array). A column may hold
scalars or lists (class probabilities or logits per row); ``--pred a,b,c``
stacks several scalar columns into one (n, 3) prediction.

Losses are ``fastloss.available()`` names with parameters
(``huber:delta=0.5``, ``dice:axis=(2,3)``) or calibration measures
(``ece``, ``mce``, ``ece:n_bins=10``). Parquet, Arrow and CSV need pyarrow
(``pip install fastloss[eval]``), the progress bar rich (shown on a
terminal only), ``--plot`` matplotlib.

``--workers N`` (a local Dask cluster, N processes x 1 thread) or
``--scheduler ADDRESS`` (a running cluster) evaluate Parquet files on Dask:
one task per run of whole row groups (:data:`DASK_PART_ROWS` rows or so),
keyed on the global first row from the file metadata, the accumulators
merged by :mod:`fastloss.dask`'s tree. ``--plot`` there draws what the
accumulators hold (the reliability diagram of ece/mce), not the residual
histogram.

``--plot`` chooses its figure from the losses' family, before reading any
row: a reliability diagram for ece/mce or, without them, for a
classification loss whose pred is probabilities, logits (sigmoid of 1-D,
softmax of 2-D) or log-probabilities; a residual histogram for a regression
loss; both when both are asked. Other losses (overlap, boxes, scores) have
nothing to draw and are refused before scoring.
"""

from __future__ import annotations

import ast
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import fastloss
from fastloss._accumulate import BLOCK, CALIBRATION, Accumulator

__all__ = ["add_eval_arguments", "run_eval", "example_table"]


class EvalError(ValueError):
    """A user error, reported in one line."""


def add_eval_arguments(p) -> None:
    p.add_argument(
        "data",
        nargs="*",
        metavar="DATA",
        help="Parquet, Arrow IPC, CSV/TSV, .npz or .npy files (rows concatenated)",
    )
    p.add_argument("--pred", help="prediction column, or several separated by commas (stacked)")
    p.add_argument("--target", help="target column")
    p.add_argument(
        "--loss",
        action="append",
        default=[],
        metavar="NAME[:k=v,...]",
        help="a loss (or ece / mce) with parameters; repeat for several",
    )
    p.add_argument("--weight", metavar="COL", help="per-row sample weights")
    p.add_argument("--group-by", metavar="COL", help="one result per value of this column")
    p.add_argument(
        "--bootstrap",
        type=int,
        metavar="N",
        help="N bootstrap replicates: 95%% percentile intervals",
    )
    p.add_argument(
        "--bootstrap-unit",
        type=int,
        default=None,
        metavar="ROWS",
        help="resample units of ROWS consecutive rows instead of the default "
        "hashed buckets of rows (see fastloss.Accumulator)",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--columns", help="column names of a headerless CSV or a 2-D .npy")
    p.add_argument("--format", default="table", choices=("table", "json", "csv"))
    p.add_argument("--output", metavar="FILE", help="write the results here instead of stdout")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="reliability diagram (ece/mce, or a classification loss's probabilities "
        "or logits) and/or residual histogram (a regression loss)",
    )
    p.add_argument(
        "--batch-rows",
        type=int,
        default=65536,
        metavar="N",
        help="rows per batch fed to the accumulator (default 65536, a multiple of fastloss.BLOCK)",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="kernel threads (default 1, here and in each Dask task; 0: all cores)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run on a local Dask cluster of N "
        "worker processes, 1 thread each (Parquet files; needs fastloss[dask])",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster whose "
        "scheduler is at ADDRESS (Parquet paths its workers can read)",
    )
    p.add_argument(
        "--example", action="store_true", help="score a generated data set showing every feature"
    )


# -- parsing -------------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets (``axis=(2,3),smooth=0``)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _value(raw: str):
    if raw.startswith("@"):
        from fastloss.cli import load_array

        return np.asarray(load_array(raw[1:]))
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def parse_loss(spec: str):
    """``NAME[:k=v,...]`` into what an Accumulator takes."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    params: dict[str, Any] = {}
    for item in _split_top(rest):
        k, eq, v = item.partition("=")
        if not eq or not k.strip().isidentifier():
            raise EvalError(f"--loss {spec!r}: parameters are NAME=VALUE, separated by commas")
        params[k.strip()] = _value(v.strip())
    if name in CALIBRATION:
        unknown = set(params) - {"n_bins"}
        if unknown:
            raise EvalError(f"--loss {spec!r}: {name} takes only n_bins")
        return f"{name}:{params['n_bins']}" if "n_bins" in params else name
    loss = fastloss.get(name)
    return loss.with_params(**params) if params else loss


# -- reading -------------------------------------------------------------------


def _need_pyarrow(path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise EvalError(
            f"{path}: reading this format needs pyarrow (pip install 'fastloss[eval]')"
        ) from None


def _named(columns: str | None):
    return [c.strip() for c in columns.split(",")] if columns else None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def iter_batches(path: str, needed: list[str], batch_rows: int, columns: str | None):
    """Yield ``(dict column -> ndarray, rows)`` for one file, batch by batch."""
    p = Path(path)
    if not p.is_file():
        raise EvalError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        _need_pyarrow(path)
        import pyarrow.parquet as pq

        try:
            f = pq.ParquetFile(p, pre_buffer=False, memory_map=False)
        except Exception as exc:  # pyarrow's own exception types vary by version
            raise EvalError(f"{path}: cannot read it as Parquet ({_one_line(exc)})") from None
        _check_columns(path, needed, f.schema_arrow.names)
        for b in parquet_batches(p, needed, batch_rows):
            yield _arrow_columns(path, b), b.num_rows
    elif suffix in (".arrow", ".feather", ".ipc"):
        _need_pyarrow(path)
        import pyarrow as pa

        try:
            src = pa.memory_map(str(p))
            try:
                reader = pa.ipc.open_file(src)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
                names = reader.schema.names
            except pa.ArrowInvalid:
                src = pa.memory_map(str(p))
                reader = pa.ipc.open_stream(src)
                batches, names = iter(reader), reader.schema.names
        except Exception as exc:
            raise EvalError(f"{path}: cannot read it as Arrow IPC ({_one_line(exc)})") from None
        _check_columns(path, needed, names)
        for b in batches:
            for off in range(0, b.num_rows, batch_rows):
                s = b.slice(off, batch_rows).select(needed)
                yield _arrow_columns(path, s), s.num_rows
    elif suffix in (".csv", ".tsv"):
        yield from _csv_batches(
            path, needed, batch_rows, columns, "\t" if suffix == ".tsv" else ","
        )
    elif suffix == ".npz":
        yield from _npz_batches(path, needed, batch_rows)
    elif suffix == ".npy":
        try:
            a = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EvalError(f"{path}: cannot read it ({_one_line(exc)})") from None
        if a.dtype.names:
            _check_columns(path, needed, list(a.dtype.names))
            get = lambda s, c: np.asarray(s[c])  # noqa: E731
        else:
            names = _named(columns)
            if a.ndim != 2 or names is None:
                raise EvalError(
                    f"{path}: a .npy file is a 2-D table whose columns --columns "
                    f"names (this one has shape {a.shape}), or a structured array"
                )
            if len(names) != a.shape[1]:
                raise EvalError(
                    f"{path}: --columns names {len(names)} columns, the array has {a.shape[1]}"
                )
            _check_columns(path, needed, names)
            get = lambda s, c: np.asarray(s[:, names.index(c)])  # noqa: E731
        for off in range(0, a.shape[0], batch_rows):
            s = a[off : off + batch_rows]
            yield {c: get(s, c) for c in needed}, s.shape[0]
    else:
        raise EvalError(
            f"{path}: unknown file type {suffix!r} (use .parquet, .arrow, .feather, "
            ".csv, .tsv, .npz or .npy)"
        )


#: Row groups of at most this many rows are read whole (pre-buffered, their
#: columns decoded on pyarrow's threads) and then cut into batches; larger
#: ones are streamed batch by batch, so memory stays flat either way.
WHOLE_ROW_GROUP_ROWS = 1 << 22


def parquet_batches(path, needed, batch_rows, row_groups=None):
    """Record batches of ``needed`` columns of a Parquet file (``row_groups``:
    those only), ``batch_rows`` rows or fewer each.

    Measured (1e7 rows of 4 float64/int32 columns in row groups of 2**20,
    page cache warm, 2 shared cores): ``iter_batches`` without pre-buffering
    decodes one column page at a time on the calling thread; reading each
    row group whole with pre-buffering (its column chunks fetched in one
    coalesced read) and ``use_threads`` (columns decoded in parallel on
    pyarrow's pool) took 0.56 s against 0.74 s (medians of 3,
    ``/tmp/eval3_read.py`` in the commit message). Memory: one row group of
    the needed columns at most (``WHOLE_ROW_GROUP_ROWS`` rows); a file with
    larger row groups is streamed as before."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path, pre_buffer=False, memory_map=False)
    md = f.metadata
    groups = range(md.num_row_groups) if row_groups is None else row_groups
    if all(md.row_group(i).num_rows <= WHOLE_ROW_GROUP_ROWS for i in groups):
        fb = pq.ParquetFile(path, pre_buffer=True, memory_map=False)
        for i in groups:
            t = fb.read_row_group(i, columns=needed, use_threads=True)
            yield from t.to_batches(max_chunksize=batch_rows)
            del t
        return
    yield from f.iter_batches(
        batch_size=batch_rows,
        row_groups=None if row_groups is None else list(groups),
        columns=needed,
    )


def _csv_batches(path, needed, batch_rows, columns, delim):
    _need_pyarrow(path)
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = _named(columns)
    with open(path, "rb") as fh:
        raw = fh.readline()
        longest = max(len(raw), len(fh.readline()))
    first = raw.decode("utf-8", "replace").strip()
    if not first:
        raise EvalError(f"{path}: the file is empty")
    if names is None:
        header = [h.strip() for h in first.split(delim)]
        if all(_looks_numeric(h) for h in header):
            raise EvalError(
                f"{path}: the first line ({first[:40]!r}) is data, not a header: "
                "name the columns with --columns"
            )
    # pyarrow's streaming reader reads up to 32 blocks ahead of the batch
    # being scored: 4 MiB blocks held 74 MiB of a 78 MB file at once
    # (tests/test_cli.py's CSV memory test). 256 KiB blocks bound that at
    # about 8 MiB, as fast; a block must hold whole rows, so wide rows
    # (the first two lines: the header and a data row) get 64 rows' worth.
    ro = pcsv.ReadOptions(block_size=max(1 << 18, 64 * longest), column_names=names)
    try:
        reader = pcsv.open_csv(
            path, read_options=ro, parse_options=pcsv.ParseOptions(delimiter=delim)
        )
    except pa.ArrowInvalid as exc:
        raise EvalError(f"{path}: cannot read it as CSV ({_one_line(exc)})") from None
    _check_columns(path, needed, reader.schema.names)
    for b in reader:
        for off in range(0, b.num_rows, batch_rows):
            s = b.slice(off, batch_rows).select(needed)
            yield _arrow_columns(path, s), s.num_rows


class _NpzMember:
    """One array of an ``.npz`` archive, read ``rows`` rows at a time.

    The member is opened with :meth:`zipfile.ZipFile.open` (a deflated member,
    as ``np.savez_compressed`` writes, is decompressed on the fly), its
    ``.npy`` header read as :func:`numpy.load` reads it, then each call of
    :meth:`take` reads the next rows' bytes and views them with
    :func:`numpy.frombuffer`: the same dtype (byte order included), shape
    and bytes as the whole array's rows. Loaded whole instead, as
    ``np.load`` would (the memory of that one array): a member with a
    Fortran-ordered array of 2 or more dimensions (its rows are not
    contiguous), a header of format version 3.0 (numpy writes it only for
    structured dtypes with non-Latin-1 field names) and an empty row size;
    an object array is refused with ``np.load``'s own error
    (``allow_pickle=False``)."""

    def __init__(self, path, zf, member):
        from numpy.lib import format as npf

        self.fp = zf.open(member)
        try:
            try:
                version = npf.read_magic(self.fp)
            except ValueError:
                raise EvalError(f"{path}: member {member!r} is not an .npy array") from None
            if version == (1, 0):
                shape, fortran, dtype = npf.read_array_header_1_0(self.fp)
            elif version == (2, 0):
                shape, fortran, dtype = npf.read_array_header_2_0(self.fp)
            else:
                shape, fortran, dtype = (), True, np.dtype(object)  # whole, below
        except BaseException:
            self.fp.close()
            raise
        self.shape, self.dtype = tuple(shape), dtype
        self.row_bytes = dtype.itemsize * math.prod(self.shape[1:])
        self.whole = None
        if (fortran and len(self.shape) > 1) or dtype.hasobject or self.row_bytes == 0:
            self.fp.close()
            with zf.open(member) as fp:
                self.whole = npf.read_array(fp, allow_pickle=False)
            self.shape = self.whole.shape
        self.path, self.member, self.off = path, member, 0

    def take(self, rows):
        if self.whole is not None:
            out = self.whole[self.off : self.off + rows]
        else:
            want = rows * self.row_bytes
            data = self.fp.read(want)
            if len(data) != want:
                raise EvalError(f"{self.path}: member {self.member!r} is cut short")
            out = np.frombuffer(data, self.dtype, rows * (self.row_bytes // self.dtype.itemsize))
            out = out.reshape((rows, *self.shape[1:]))
        self.off += rows
        return out


def _npz_batches(path, needed, batch_rows):
    """Batches of an ``.npz`` file's ``needed`` arrays, read together
    ``batch_rows`` rows at a time (see :class:`_NpzMember`): the memory of
    one batch, whatever the arrays' size, stored or deflated."""
    import zipfile
    import zlib

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise EvalError(f"{path}: cannot read it as .npz ({_one_line(exc)})") from None
    with zf:
        members = zf.namelist()
        names = [m[:-4] if m.endswith(".npy") else m for m in members]
        _check_columns(path, needed, names)
        cols = {}
        try:
            for c in needed:
                cols[c] = _NpzMember(path, zf, c if c in members else c + ".npy")
            n = _same_rows(path, {c: m.shape for c, m in cols.items()})
            for off in range(0, n, batch_rows):
                k = min(batch_rows, n - off)
                yield {c: m.take(k) for c, m in cols.items()}, k
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:  # a bad CRC, a cut stream
            raise EvalError(f"{path}: cannot read it as .npz ({_one_line(exc)})") from None
        finally:
            for m in cols.values():
                m.fp.close()


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:200]


def _check_columns(path, needed, names):
    for c in needed:
        if c not in names:
            raise EvalError(f"{path}: no column {c!r} (it has {', '.join(map(str, names))})")
        k = list(names).count(c)
        if k > 1:  # Arrow's select() said only 'Field "p" exists 2 times in schema'
            raise EvalError(
                f"{path}: column {c!r} appears {k} times in its header: which one to read "
                "is ambiguous (rename one)"
            )


def _same_rows(path, shapes):
    """The rows of columns of these shapes, all of one length."""
    ns = {c: s[0] if len(s) else -1 for c, s in shapes.items()}
    if len(set(ns.values())) != 1 or -1 in ns.values():
        raise EvalError(f"{path}: columns of different lengths {ns}")
    return next(iter(ns.values()))


def _arrow_columns(path, batch) -> dict[str, np.ndarray]:
    import pyarrow as pa

    out = {}
    for name, col in zip(batch.schema.names, batch.columns):
        t = col.type
        # a missing value is refused in every column, as in list columns:
        # Arrow's to_numpy makes a scalar null a NaN (a loss of NaN, where
        # pandas' mean would skip the row) and a string null the group
        # "None" (merged with a real "None" group, where pandas drops it)
        if col.null_count:
            raise EvalError(
                f"{path}: column {name!r} has missing rows (a null; in a CSV an empty field "
                "or a marker such as NA, NaN or null)"
            )
        if pa.types.is_decimal(t):  # a number as pandas and DuckDB read it, not an object
            col, t = col.cast(pa.float64()), pa.float64()
        if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            lens = np.asarray(col.value_lengths()) if not pa.types.is_fixed_size_list(t) else None
            flat = col.flatten().to_numpy(zero_copy_only=False)
            n = len(col)
            if lens is not None and n and (lens != lens[0]).any():
                raise EvalError(f"{path}: list column {name!r} has rows of different lengths")
            out[name] = flat.reshape(n, -1) if n else flat.reshape(0, 0)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


# -- one evaluation ------------------------------------------------------------


def _numeric(path, name, a, role):
    if a.dtype.kind not in "fiub":
        raise EvalError(f"{path}: column {name!r} ({role}) holds {a.dtype}, not numbers")
    return a


class _Residuals:
    """A fixed-size residual histogram: edges from the first batch (its 0.5-99.5
    percentiles, widened), later rows outside them counted in the end bins."""

    def __init__(self, bins=60):
        self.bins = bins
        self.edges = None
        self.counts = np.zeros(bins)

    def update(self, r):
        r = r[np.isfinite(r)]
        if not r.size:
            return
        if self.edges is None:
            lo, hi = np.percentile(r, [0.5, 99.5])
            pad = 0.1 * (hi - lo) or 1.0
            self.edges = np.linspace(lo - pad, hi + pad, self.bins + 1)
        self.counts += np.histogram(np.clip(r, self.edges[0], self.edges[-1]), self.edges)[0]


#: What a classification loss's pred holds, by its input's name: how the
#: reliability diagram of ``--plot`` turns it into probabilities.
_PROBABILITY_INPUTS = {
    "prob": "probabilities",
    "logits": "logits",
    "log_probs": "log-probabilities",
}

#: Classification losses whose targets are not labels (a reliability
#: diagram needs 0/1 targets or class labels).
_NOT_LABELS = {"kl_div", "multilabel_margin", "multilabel_soft_margin"}


class _Reliability:
    """The reliability diagram of ``--plot`` for a classification loss
    without ece/mce: its pred as probabilities (sigmoid of 1-D logits,
    softmax of 2-D ones, exp of log-probabilities) into an accumulator of
    its own (not in the results)."""

    def __init__(self, loss):
        self.loss = loss
        self.what = _PROBABILITY_INPUTS[loss.pred_name]
        self.acc = Accumulator(["ece"])

    def update(self, pred, t, w):
        x = np.asarray(pred, dtype=np.float64)
        if self.what == "logits":
            if x.ndim == 1:
                e = np.exp(-np.abs(x))  # a stable sigmoid
                x = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
            else:
                z = np.exp(x - x.max(axis=-1, keepdims=True))
                x = z / z.sum(axis=-1, keepdims=True)
        elif self.what == "log-probabilities":
            x = np.exp(x)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        try:
            self.acc.update(x, t, w)
        except (TypeError, ValueError) as exc:
            raise EvalError(
                f"--plot: the reliability diagram of {self.loss.name}'s {self.what}: {exc}"
            ) from None


def plot_choice(losses, on_dask=False):
    """What ``--plot`` draws for these losses, decided before any row is
    read: ``(residuals, reliability)`` (a :class:`_Residuals` for a
    regression loss, a :class:`_Reliability` for a classification loss on
    probabilities, logits or log-probabilities unless ece/mce are asked,
    whose own bins are drawn), or EvalError when there is nothing to draw."""
    objs = [getattr(x, "loss", x) for x in losses if not isinstance(x, str)]
    calib = any(isinstance(x, str) for x in losses)  # ece / mce
    classif = [
        x
        for x in objs
        if x.family in ("classification", "multiclass")
        and x.pred_name in _PROBABILITY_INPUTS
        and x.name not in _NOT_LABELS
    ]
    regression = any(x.family == "regression" for x in objs)
    if on_dask:
        if not calib:
            raise EvalError(
                "--plot with --workers or --scheduler draws the reliability diagram "
                "of ece or mce: add --loss ece"
            )
        return None, None
    reliability = _Reliability(classif[0]) if classif and not calib else None
    residuals = _Residuals() if regression else None
    if not (calib or reliability or residuals):
        names = ", ".join(x.name for x in objs)
        raise EvalError(
            f"--plot: nothing to draw for {names} (a reliability diagram needs ece, mce "
            "or a classification loss on probabilities, logits or log-probabilities; "
            "a residual histogram a regression loss)"
        )
    return residuals, reliability


def evaluate_stream(
    batches,
    pred_cols,
    target,
    losses,
    weight=None,
    group_by=None,
    bootstrap=None,
    seed=0,
    unit=1,
    progress=None,
    residuals=None,
    acc=None,
    first_row=0,
    reliability=None,
):
    """Feed ``(columns, rows)`` batches to one Accumulator (``acc``, or a new
    one), the first batch's first row being global row ``first_row``;
    return it.

    The reader's batches (Parquet row groups, Arrow record batches, CSV
    blocks) are re-cut so that every chunk fed after the first starts at a
    multiple of :data:`fastloss.BLOCK` rows: the rows past the last block
    boundary of a batch are carried into the next one (only the carried rows
    and the head of the next batch are copied; the aligned middle of a batch
    is fed as it is). So the result equals the one-shot call on the
    concatenated rows bit for bit whatever the files' row groups (with row
    groups of 30,000 rows it differed in the last bit)."""
    if acc is None:
        acc = Accumulator(losses, bootstrap=bootstrap, seed=seed, bootstrap_unit=unit)
    feed = _Aligned(acc, first_row)
    for path, cols, n in batches:
        if len(pred_cols) == 1:
            pred = _numeric(path, pred_cols[0], cols[pred_cols[0]], "--pred")
        else:
            parts = [_numeric(path, c, cols[c], "--pred") for c in pred_cols]
            if any(p.ndim != 1 for p in parts):
                raise EvalError(f"{path}: --pred with several columns stacks scalar columns")
            pred = np.column_stack(parts) if n else np.zeros((0, len(parts)))
        t = _numeric(path, target, cols[target], "--target")
        w = _numeric(path, weight, cols[weight], "--weight") if weight else None
        g = cols[group_by] if group_by else None
        if g is not None and g.dtype.kind == "O":
            g = g.astype(str)
        pred = pred.astype(np.float64, copy=False) if pred.dtype.kind != "f" else pred
        feed.add(pred, t, w, g)
        if residuals is not None and pred.ndim == 1 and t.ndim == 1:
            residuals.update(np.asarray(pred, np.float64) - t)
        if reliability is not None and n:
            reliability.update(pred, t, w)
        if progress is not None:
            progress(n)
    feed.flush()
    return acc


class _Aligned:
    """Feeds an Accumulator chunks that start at multiples of
    :data:`fastloss.BLOCK` rows (see :func:`evaluate_stream`)."""

    def __init__(self, acc, first_row):
        self.acc = acc
        self.row = first_row  # the global row of the first row not yet fed
        self.carry: list[tuple] = []  # (pred, target, weight, group) pieces
        self.pending = 0  # rows in carry

    def _update(self, parts):
        if len(parts) == 1:
            p, t, w, g = parts[0]
        else:
            p, t, w, g = (
                None if parts[0][i] is None else np.concatenate([x[i] for x in parts])
                for i in range(4)
            )
        n = p.shape[0]
        if n:
            self.acc.update(p, t, w, g, start=self.row)
            self.row += n

    def add(self, p, t, w, g):
        n = p.shape[0]
        if not n:  # an empty batch: its columns are still checked
            self.acc.update(p, t, w, g, start=self.row)
            return
        at = self.row + self.pending  # the batch's first global row
        end = at + n
        cut = end - end % BLOCK  # the last block boundary in the rows at hand
        if cut <= self.row:  # none after the first unfed row: carry it all
            self.carry.append((p, t, w, g))
            self.pending += n
            return
        h = 0
        if self.pending or self.row % BLOCK:
            # the carry and the batch's head up to the first boundary (the
            # carry ends before it: it never holds a boundary), copied
            h = (self.row // BLOCK + 1) * BLOCK - at
            self._update(self.carry + [_cut(p, t, w, g, 0, h)])
            self.carry, self.pending = [], 0
        k = cut - at  # the batch's rows before the last boundary
        if k > h:  # the aligned middle, as it is
            self._update([_cut(p, t, w, g, h, k)])
        if k < n:
            self.carry, self.pending = [_cut(p, t, w, g, k, n)], n - k

    def flush(self):
        if self.pending:
            self._update(self.carry)
            self.carry, self.pending = [], 0


def _cut(p, t, w, g, a, b):
    return (p[a:b], t[a:b], None if w is None else w[a:b], None if g is None else g[a:b])


# -- output --------------------------------------------------------------------


def _clean(x):
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _rows(acc, title=None):
    """``(section, group, loss, value, low, high)`` rows."""
    res = acc.result()
    ivs = acc.interval() if acc._B else None
    grouped = bool(acc._grouped)
    out = []
    for g, vals in res.items() if grouped else [(None, res)]:
        iv = (ivs[g] if grouped else ivs) if ivs is not None else {}
        for name, v in vals.items():
            lo, hi = iv.get(name, (None, None))
            out.append((title, g, name, v, lo, hi))
    return out


def _fmt(v, full=False):
    # csv keeps every digit (a file other programs read); the table is for eyes
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if full else f"{v:.6g}"
    return str(v)


def render(sections, fmt, rows_read, seconds):
    """``sections``: list of (title, accumulator)."""
    if fmt == "json":

        def one(acc):
            d = {"results": acc.result()}
            if acc._B:
                d["intervals"] = {
                    k: (list(v) if isinstance(v, tuple) else {kk: list(vv) for kk, vv in v.items()})
                    for k, v in acc.interval().items()
                }
            return d

        if len(sections) == 1:
            obj = one(sections[0][1])
        else:
            obj = {"results": {t: one(a)["results"] for t, a in sections}}
            if any(a._B for _, a in sections):
                obj["intervals"] = {t: one(a).get("intervals") for t, a in sections}
        obj.update(rows=rows_read, seconds=seconds)
        return json.dumps(_clean(obj), allow_nan=False, indent=1) + "\n"
    rows = [r for t, a in sections for r in _rows(a, t)]
    has_section = len(sections) > 1
    has_group = any(r[1] is not None for r in rows)
    has_iv = any(r[4] is not None for r in rows)
    head = (
        (["section"] if has_section else [])
        + (["group"] if has_group else [])
        + ["loss", "value"]
        + (["low95", "high95"] if has_iv else [])
    )

    def cells(r):
        c = ([r[0]] if has_section else []) + ([r[1]] if has_group else []) + [r[2], r[3]]
        return [_fmt(x, fmt == "csv") for x in c + ([r[4], r[5]] if has_iv else [])]

    body = [cells(r) for r in rows]
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        wr.writerow(head)
        wr.writerows(body)
        return buf.getvalue()
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    lines.append(f"{rows_read} rows in {seconds:.3f} s")
    return "\n".join(lines) + "\n"


# -- plots ---------------------------------------------------------------------


def plot_panels(sections, residuals, reliability=None):
    """The panels ``--plot`` draws: ``(kind, title, accumulator, name)``, a
    reliability diagram per section with ece/mce (else the one of
    ``reliability``) and the residual histogram."""
    calib = [
        (t, a, n)
        for t, a in sections
        for n, e in zip(a._names, a._entries)
        if e.kind == "calibration"
    ]
    seen, panels = set(), []
    for t, a, n in calib:  # one reliability diagram per section
        if t not in seen:
            seen.add(t)
            panels.append(("calib", t, a, n))
    if not panels and reliability is not None:
        title = f"reliability ({reliability.loss.name}'s {reliability.what})"
        panels.append(("calib", title, reliability.acc, "ece"))
    if residuals is not None and residuals.edges is not None:
        panels.append(("resid", None, None, None))
    if not panels:
        raise EvalError(
            "--plot: nothing to draw (ask for ece or mce, or score 1-D regression predictions)"
        )
    return panels


def plot(path, sections, residuals, reliability=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = plot_panels(sections, residuals, reliability)
    fig, axes = plt.subplots(
        2,
        len(panels),
        figsize=(4.6 * len(panels), 6.2),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
        constrained_layout=True,
    )
    for k, (kind, title, acc, name) in enumerate(panels):
        top, bottom = axes[0][k], axes[1][k]
        if kind == "calib":
            b = acc.calibration(name)
            e = b["edges"]
            mid, width = (e[:-1] + e[1:]) / 2, np.diff(e)
            full = b["weight"] > 0
            top.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfect calibration")
            top.bar(
                mid[full],
                b["accuracy"][full],
                width=width[full] * 0.92,
                color="#4C72B0",
                alpha=0.85,
                label="observed frequency",
            )
            top.bar(
                mid[full],
                (b["confidence"] - b["accuracy"])[full],
                bottom=b["accuracy"][full],
                width=width[full] * 0.92,
                color="#DD8452",
                alpha=0.45,
                label="gap to confidence",
            )
            top.plot(b["confidence"][full], b["accuracy"][full], "o-", color="#222222", ms=3, lw=1)
            res = acc.result()
            ece = res.get("ece")
            note = "  ".join(
                f"{m.upper()} {res[m]:.3f}"
                for m in ("ece", "mce")
                if m in res and isinstance(res[m], float)
            )
            top.set_title(f"{title or 'reliability'}" + (f"\n{note}" if note else ""), fontsize=10)
            top.set_xlim(0, 1)
            top.set_ylim(0, 1)
            top.set_xlabel("mean predicted probability (confidence)")
            top.set_ylabel("observed frequency (accuracy)")
            top.legend(loc="upper left", fontsize=8, frameon=False)
            top.set_aspect("equal", adjustable="box")
            del ece
            bottom.bar(
                mid, b["weight"] / max(b["weight"].sum(), 1e-300), width=width * 0.92, color="0.55"
            )
            bottom.set_xlim(0, 1)
            bottom.set_xlabel("confidence")
            bottom.set_ylabel("share of weight")
        else:
            r = residuals
            mid = (r.edges[:-1] + r.edges[1:]) / 2
            top.bar(mid, r.counts, width=np.diff(r.edges) * 0.95, color="#55A868")
            top.axvline(0, color="0.3", lw=1, ls="--")
            top.set_title("regression residuals (pred - target)", fontsize=10)
            top.set_xlabel("residual (end bins hold the tails)")
            top.set_ylabel("rows")
            c = np.cumsum(r.counts) / max(r.counts.sum(), 1)
            bottom.plot(mid, c, color="#55A868")
            bottom.set_ylim(0, 1)
            bottom.set_ylabel("cumulative share")
            bottom.set_xlabel("residual")
        for ax in (top, bottom):
            ax.grid(alpha=0.25)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- the example ---------------------------------------------------------------


def example_table(n=200_000, seed=2024):
    """A deterministic data set: regression, binary and 3-class predictions,
    weights and a segment column."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(np.array(["north", "south", "west"]), size=n, p=[0.5, 0.3, 0.2])
    noise = np.where(segment == "west", 1.6, 1.0)
    y = rng.normal(size=n) * 2.0
    y_hat = y + rng.normal(size=n) * noise * 0.7 + 0.1
    logit = rng.normal(size=n) * 2.0
    label = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    # an over-confident classifier: its probabilities are sharper than the truth
    prob = 1 / (1 + np.exp(-1.6 * logit))
    z = rng.normal(size=(n, 3)) * 1.5
    true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    cls = (true.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)  # a draw from each row
    probs = np.exp(1.3 * z) / np.exp(1.3 * z).sum(1, keepdims=True)
    weight = rng.uniform(0.5, 1.5, size=n)
    return {
        "y": y,
        "y_hat": y_hat,
        "label": label,
        "prob": prob,
        "class": cls,
        "class_probs": probs,
        "weight": weight,
        "segment": segment,
    }


_EXAMPLE = [
    ("regression", ["y_hat"], "y", ["mse", "rmse", "mae", "huber:delta=0.5"]),
    ("binary", ["prob"], "label", ["binary_cross_entropy", "brier", "ece", "mce"]),
    ("multiclass", ["class_probs"], "class", ["ece", "mce"]),
]


# -- the command ---------------------------------------------------------------


def _progress_bar(total):
    """A rich progress bar with rows/s on a terminal; None when piped."""
    if not sys.stderr.isatty():
        return None, None
    try:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:
        return None, None
    prog = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        transient=True,
        console=None,
    )
    task = prog.add_task("fastloss eval", total=total, rate="")
    t0 = time.perf_counter()

    def advance(n):
        done = prog.tasks[0].completed + n
        rate = done / max(time.perf_counter() - t0, 1e-9)
        prog.update(task, advance=n, rate=f"{rate:,.0f} rows/s")

    return prog, advance


def _check_dest(opt, path):
    if path is None:
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise EvalError(f"{opt} {path}: the folder {str(parent)!r} does not exist")


def run_eval(args) -> int:
    from fastloss._config import MAX_THREADS, _temporary_threads

    if args.threads is not None and not 0 <= args.threads <= MAX_THREADS:
        raise EvalError(f"--threads must be in [0, {MAX_THREADS}], got {args.threads}")
    on_dask = args.workers is not None or args.scheduler is not None
    # Kernels on one thread unless told: reading and decoding the batches
    # take ~99% of the time (cProfile, 1e7 Parquet rows: 0.74 s in the
    # reader, 0.03 s in kernels), and each kernel call that opens a parallel
    # region waits for its second thread to get a core, which on a busy
    # machine cost 2.5-3.5 s against 0.5 s on one thread (same command, 2
    # loaded cores; benchmarks/bench_eval.py).
    with _temporary_threads(None if on_dask else (1 if args.threads is None else args.threads)):
        return _run_eval(args, on_dask)


def _run_eval(args, on_dask) -> int:
    _check_dest("--output", args.output)
    _check_dest("--plot", args.plot)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise EvalError("--plot needs matplotlib (pip install 'fastloss[eval]')") from None
    if args.batch_rows < 1:
        raise EvalError("--batch-rows must be >= 1")
    boot = args.bootstrap
    t0 = time.perf_counter()
    residuals = _Residuals() if args.plot else None
    if args.example:
        if args.data or args.pred or args.target or args.loss or args.group_by or args.weight:
            raise EvalError(
                "--example scores its own data: give no DATA, --pred, --target, "
                "--loss, --weight or --group-by"
            )
        if on_dask:
            raise EvalError("--example runs here: give no --workers or --scheduler")
        table = example_table()
        n = len(table["y"])
        sections: list[tuple[str | None, Any]] = []
        for title, pcols, tcol, losses in _EXAMPLE:

            def batches(pcols=pcols, tcol=tcol):
                for off in range(0, n, args.batch_rows):
                    cols = {
                        c: table[c][off : off + args.batch_rows]
                        for c in (*pcols, tcol, "weight", "segment")
                    }
                    yield "example", cols, len(cols[tcol])

            res = residuals if title == "regression" else None
            acc = evaluate_stream(
                batches(),
                pcols,
                tcol,
                [parse_loss(s) for s in losses],
                weight="weight",
                bootstrap=boot,
                seed=args.seed,
                unit=args.bootstrap_unit,
                residuals=res,
            )
            sections.append((title, acc))
        # grouped by segment, with bootstrap intervals (200 replicates
        # unless --bootstrap says otherwise): every feature shows
        if True:
            acc = evaluate_stream(
                (
                    (
                        (
                            "example",
                            {
                                c: table[c][o : o + args.batch_rows]
                                for c in ("y_hat", "y", "weight", "segment")
                            },
                            len(table["y"][o : o + args.batch_rows]),
                        )
                    )
                    for o in range(0, n, args.batch_rows)
                ),
                ["y_hat"],
                "y",
                ["mse", "mae"],
                weight="weight",
                group_by="segment",
                bootstrap=boot or 200,
                seed=args.seed,
                unit=args.bootstrap_unit,
            )
            sections.append(("regression by segment", acc))
        rows_read = n
    else:
        if not args.data:
            raise EvalError("give DATA files (or --example)")
        if not args.pred or not args.target:
            raise EvalError("name the columns: --pred COL[,COL...] and --target COL")
        if not args.loss:
            raise EvalError("give at least one --loss NAME[:k=v,...]")
        losses = [parse_loss(s) for s in args.loss]
        reliability = None
        if args.plot:  # the figure follows the losses' family: known before any row
            residuals, reliability = plot_choice(losses, on_dask)
        pcols = [c.strip() for c in args.pred.split(",") if c.strip()]
        needed = list(
            dict.fromkeys(
                [
                    *pcols,
                    args.target,
                    *([args.weight] if args.weight else []),
                    *([args.group_by] if args.group_by else []),
                ]
            )
        )
        if on_dask:
            acc, rows_read = _eval_on_dask(args, losses, pcols, needed)
            if rows_read == 0:
                raise EvalError(f"{', '.join(args.data)}: no rows to score")
            return _output(args, [(None, acc)], rows_read, time.perf_counter() - t0, residuals)
        total = _total_rows(args.data)
        prog, advance = _progress_bar(total)
        count = [0]

        def file_batches():
            for path in args.data:
                for cols, n in iter_batches(path, needed, args.batch_rows, args.columns):
                    count[0] += n
                    yield path, cols, n

        try:
            if prog is not None:
                prog.start()
            acc = evaluate_stream(
                file_batches(),
                pcols,
                args.target,
                losses,
                weight=args.weight,
                group_by=args.group_by,
                bootstrap=boot,
                seed=args.seed,
                unit=args.bootstrap_unit,
                progress=advance,
                residuals=residuals,
                reliability=reliability,
            )
        except NotImplementedError as exc:  # pyarrow's ArrowNotImplementedError
            raise EvalError(_one_line(exc)) from None
        finally:
            if prog is not None:
                prog.stop()
        rows_read = count[0]
        if rows_read == 0:
            raise EvalError(f"{', '.join(args.data)}: no rows to score")
        sections = [(None, acc)]  # type: ignore[list-item]  # one unnamed section
        return _output(args, sections, rows_read, time.perf_counter() - t0, residuals, reliability)
    return _output(args, sections, rows_read, time.perf_counter() - t0, residuals)


def _output(args, sections, rows_read, seconds, residuals, reliability=None):
    text = render(sections, args.format, rows_read, seconds)
    if args.plot:
        plot(args.plot, sections, residuals, reliability)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _total_rows(paths):
    """Rows in the files when their metadata says (Parquet), for the bar."""
    total = 0
    for p in paths:
        if Path(p).suffix.lower() not in (".parquet", ".pq") or not Path(p).is_file():
            return None
        try:
            import pyarrow.parquet as pq

            total += pq.ParquetFile(p).metadata.num_rows
        except Exception:
            return None
    return total


# -- on Dask -------------------------------------------------------------------

#: Rows per Dask task: whole Parquet row groups up to about this many.
DASK_PART_ROWS = 1 << 20


def _parquet_parts(paths, needed, part_rows):
    """``(path, row_groups, first_row, rows)`` per task: consecutive row
    groups of each file, about ``part_rows`` rows each."""
    parts, first = [], 0
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise EvalError(f"{path}: no such file")
        if p.suffix.lower() not in (".parquet", ".pq"):
            raise EvalError(
                f"{path}: --workers and --scheduler read Parquet files (split by "
                "row groups); score other formats without them"
            )
        _need_pyarrow(path)
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(p).metadata
            names = pq.ParquetFile(p).schema_arrow.names
        except Exception as exc:  # pyarrow's own exception types vary by version
            raise EvalError(f"{path}: cannot read it as Parquet ({_one_line(exc)})") from None
        _check_columns(path, needed, names)
        groups, rows = [], 0
        for i in range(meta.num_row_groups):
            groups.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= part_rows or i == meta.num_row_groups - 1:
                parts.append((str(p.resolve()), groups, first, rows))
                first += rows
                groups, rows = [], 0
    return parts


def _eval_part(
    template,
    threads,
    path,
    row_groups,
    first_row,
    needed,
    pcols,
    target,
    weight,
    group_by,
    batch_rows,
):
    """One Dask task: some row groups of one Parquet file into an accumulator."""
    import pickle

    from fastloss.dask import _task_threads

    acc = pickle.loads(template)
    batches = (
        (path, _arrow_columns(path, b), b.num_rows)
        for b in parquet_batches(path, needed, batch_rows, row_groups)
    )
    rows = 0

    def counted():
        nonlocal rows
        for b in batches:
            rows += b[2]
            yield b

    with _task_threads(threads):
        evaluate_stream(
            counted(),
            pcols,
            target,
            None,
            weight=weight,
            group_by=group_by,
            acc=acc,
            first_row=first_row,
        )
    return acc, rows


def _eval_on_dask(args, losses, pcols, needed):
    """The same evaluation, one task per part of the Parquet files, the
    accumulators merged by fastloss.dask's tree; ``(accumulator, rows)``."""
    import logging
    import pickle

    if args.workers is not None and args.scheduler is not None:
        raise EvalError("give --workers or --scheduler, not both")
    if args.workers is not None and args.workers < 1:
        raise EvalError("--workers must be >= 1")
    try:
        import distributed
        from dask import delayed
    except ImportError:
        raise EvalError(
            "--workers and --scheduler need Dask (pip install 'fastloss[dask]')"
        ) from None
    from fastloss.dask import evaluate_partitions

    template = Accumulator(
        losses, bootstrap=args.bootstrap, seed=args.seed, bootstrap_unit=args.bootstrap_unit
    )
    blob = pickle.dumps(template)
    threads = 1 if args.threads is None else (args.threads or None)  # 0: the worker's
    part = delayed(_eval_part, pure=True)
    tasks = [
        part(
            blob,
            threads,
            path,
            groups,
            first,
            needed,
            pcols,
            args.target,
            args.weight,
            args.group_by,
            args.batch_rows,
        )
        for path, groups, first, _ in _parquet_parts(args.data, needed, DASK_PART_ROWS)
    ]
    cluster = None
    try:
        if args.workers is not None:
            cluster = distributed.LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            client = distributed.Client(cluster, set_as_default=False)
        else:
            client = distributed.Client(args.scheduler, set_as_default=False, timeout="20s")
        try:
            acc = evaluate_partitions(tasks, template, scheduler=client)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
    return acc, acc.rows
