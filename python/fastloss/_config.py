"""Threads and build configuration."""

from __future__ import annotations

import os
import sys

from fastloss import _core

__all__ = ["set_num_threads", "get_num_threads", "show_config"]


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
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the next kernel call may use."""
    return _core.get_num_threads()


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
    }


def show_config(file=None) -> None:
    """Print the chosen and available ISA levels, threads, OpenMP and build flags."""
    cfg = config()
    lines = [f"fastloss {cfg['version']}"]
    lines.append(f"  ISA level        : {cfg['isa']}"
                 + (f" (forced by FASTLOSS_ISA={cfg['isa_env']})" if cfg["isa_env"] else ""))
    lines.append(f"  ISA compiled     : {', '.join(cfg['isa_compiled'])}")
    lines.append(f"  ISA on this CPU  : {', '.join(cfg['isa_supported'])}")
    lines.append(f"  threads          : {cfg['threads']}"
                 + (" (forked child: serial)" if cfg["forked_child_serial"] else ""))
    lines.append(f"  OpenMP           : {cfg['openmp'] or 'not available (serial build)'}")
    lines.append(f"  compiler         : {cfg['compiler']} ({cfg['build_type']})")
    lines.append(f"  flags            : {cfg['flags']}")
    lines.append(f"  ISA flags        : {cfg['isa_flags']}")
    lines.append(f"  Python           : {cfg['python']}")
    print("\n".join(lines), file=file or sys.stdout)
