"""Threads and build configuration."""

from __future__ import annotations

import os
import sys

from fastloss import _core

__all__ = [
    "set_num_threads",
    "get_num_threads",
    "show_config",
    "set_buffer_cache",
    "buffer_cache_info",
]


MAX_THREADS = _core.max_threads()  # 1024, or 4 per core where more

# What set_num_threads was last given (0: the default), so that a temporary
# count (_temporary_threads) can put back exactly that, default included:
# _core.get_num_threads() says the resolved count, not whether it was chosen.
_requested = 0


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads in every kernel from now on (``None`` or 0: default).

    The default is OpenMP's: ``OMP_NUM_THREADS`` if set, else the core count,
    lowered by ``threadpoolctl.threadpool_limits`` where that is in force.
    Results do not depend on the thread count, bit for bit.
    """
    if n is None:
        n = 0
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int or None, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n > MAX_THREADS:
        # OpenMP would try to start that many threads (100000 of them kill
        # the process): refuse what no machine this runs on has
        raise ValueError(f"n must be <= {MAX_THREADS}, got {n}")
    global _requested
    _core.set_num_threads(n)
    _requested = n


class _temporary_threads:
    """Run the ``with`` body with ``n`` kernel threads (``None``: leave as is).

    For the boosting adapters, whose objective runs inside a booster that has
    its own OpenMP pool: see fastloss.xgboost. The count is process-wide while
    the body runs (the booster calls its objective from one thread)."""

    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        if self.n is not None:
            _core.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.n is not None:
            _core.set_num_threads(_requested)
        return False


def get_num_threads() -> int:
    """The number of threads the next kernel call may use."""
    return _core.get_num_threads()


def set_buffer_cache(max_bytes: int | None) -> None:
    """Let the output-buffer cache hold up to ``max_bytes`` (``None``: the default; 0: off).

    Fresh outputs of 1 MiB or more (gradients, Hessians, ``reduction="none"``
    values) are NumPy arrays whose memory comes from a small cache of
    recently freed buffers: a loop that asks for a new gradient on every step
    and drops the last one then reuses its memory instead of having the
    operating system map, and zero-fill page by page, a new buffer each time.
    The cache holds at most 16 buffers and ``max_bytes`` bytes; the default is
    min(1 GiB, physical memory / 16), or ``FASTLOSS_BUFFER_CACHE`` (bytes, or
    with a K, M or G suffix) where that is set. Lowering the limit frees what
    no longer fits at once; 0 frees everything and makes fresh outputs plain
    ``np.empty`` arrays. Arrays already handed out are unaffected either way.
    """
    if max_bytes is None:
        max_bytes = _core.default_buffer_cache()
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int or None, got {type(max_bytes).__name__}")
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    if max_bytes >= 2**63:
        raise ValueError(f"max_bytes must be < 2**63, got {max_bytes}")
    _core.set_buffer_cache(max_bytes)


def buffer_cache_info() -> dict:
    """The output-buffer cache's state: ``max_bytes`` (its limit; 0: off),
    ``cached_bytes`` and ``cached_buffers`` (held for reuse), ``live_buffers``
    (handed out, not yet freed), ``hits`` and ``misses`` (requests served
    from the cache, and those that allocated). See :func:`set_buffer_cache`."""
    return _core.buffer_cache_stats()


def config() -> dict:
    """The build and runtime configuration as a dict (see show_config)."""
    return {
        "version": _core.__version__,
        "isa": _core.isa(),
        "isa_compiled": list(_core.compiled_isas()),
        "isa_supported": list(_core.supported_isas()),
        "isa_env": os.environ.get("FASTLOSS_ISA"),
        "threads": _core.get_num_threads(),
        "openmp": _core.openmp or None,
        "omp_max_threads": _core.omp_max_threads(),
        "forked_child_serial": _core.forked_child_serial(),
        "compiler": _core.compiler,
        "build_type": _core.build_type,
        "flags": _core.build_flags.strip(),
        "isa_flags": _core.isa_flags.strip(),
        "python": sys.version.split()[0],
        "buffer_cache": buffer_cache_info(),
        "buffer_cache_env": os.environ.get("FASTLOSS_BUFFER_CACHE"),
    }


def show_config(file=None) -> None:
    """Print the chosen and available ISA levels, threads, OpenMP and build flags."""
    cfg = config()
    lines = [f"fastloss {cfg['version']}"]
    lines.append(
        f"  ISA level        : {cfg['isa']}"
        + (f" (forced by FASTLOSS_ISA={cfg['isa_env']})" if cfg["isa_env"] else "")
    )
    lines.append(f"  ISA compiled     : {', '.join(cfg['isa_compiled'])}")
    lines.append(f"  ISA on this CPU  : {', '.join(cfg['isa_supported'])}")
    lines.append(
        f"  threads          : {cfg['threads']}"
        + (" (forked child: serial)" if cfg["forked_child_serial"] else "")
    )
    lines.append(f"  OpenMP           : {cfg['openmp'] or 'not available (serial build)'}")
    lines.append(f"  compiler         : {cfg['compiler']} ({cfg['build_type']})")
    lines.append(f"  flags            : {cfg['flags']}")
    lines.append(f"  ISA flags        : {cfg['isa_flags']}")
    bc = cfg["buffer_cache"]
    lines.append(
        "  buffer cache     : "
        + (
            f"up to {bc['max_bytes'] / 2**20:.0f} MiB, {bc['cached_buffers']} buffers "
            f"({bc['cached_bytes'] / 2**20:.0f} MiB) held, {bc['hits']} hits, "
            f"{bc['misses']} misses"
            if bc["max_bytes"]
            else "off"
        )
        + (f" (FASTLOSS_BUFFER_CACHE={cfg['buffer_cache_env']})" if cfg["buffer_cache_env"] else "")
    )
    lines.append(f"  Python           : {cfg['python']}")
    print("\n".join(lines), file=file or sys.stdout)
