"""What a 2-thread call costs on a loaded machine, and why (issue 22's listnet
at 2 threads).

    PYTHONPATH=python nice -n 10 python benchmarks/micro/region_wait.py [ROUNDS]

Times fastloss's listnet (10,000 lists x 64, float32) and mse on the same
640,000 elements, and mse on 40,000 (just above the engine's serial
threshold, kSerialWork in cpp/include/fastloss/common/parallel.hpp), at 1
and 2 threads, interleaved call by call (one untimed call before each timed
one); then how long a plain thread (no OpenMP) blocked on an Event takes to
run after it is set, the setting thread either blocking at once (its core
free) or staying busy (another core needed, as for an OpenMP worker).
Prints min / median / p90 per case in ms.

If the 2-thread times sit near the wake-up time whatever the work (mse on
40,000 elements as much as listnet), the cost is the OS scheduler handing
the second thread a core, not the kernel and not the size of the work:
no serial threshold by work would avoid it short of making every call
serial.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

import fastloss as fl


def wake_latency(rounds, busy):
    """Seconds from setting an Event to the blocked thread running. With
    ``busy`` the setting thread keeps its core busy meanwhile (NumPy adds on
    1 MB arrays, which release the GIL), as an OpenMP master does while it
    runs its share: the woken thread then needs another core."""
    a, b = np.ones(1 << 18, np.float32), np.ones(1 << 18, np.float32)
    out = []
    for _ in range(rounds):
        ev, seen = threading.Event(), []
        th = threading.Thread(
            target=lambda ev=ev, seen=seen: (ev.wait(), seen.append(time.perf_counter()))
        )
        th.start()
        time.sleep(0.002)  # let it block
        t0 = time.perf_counter()
        ev.set()
        if busy:
            while not seen and time.perf_counter() - t0 < 0.1:
                np.add(a, b, out=a)
        th.join()  # releases the GIL: the woken thread needs only a core
        out.append(seen[0] - t0)
    return np.array(out)


def stats(a):
    a = np.asarray(a) * 1e3
    return f"min {a.min():7.3f} med {np.median(a):7.3f} p90 {np.percentile(a, 90):7.3f}"


def main(rounds=40):
    rng = np.random.default_rng(0)
    s = rng.normal(size=(10_000, 64)).astype(np.float32)
    y = rng.integers(0, 5, size=(10_000, 64)).astype(np.float32)
    p = rng.normal(size=640_000).astype(np.float32)
    t = rng.normal(size=640_000).astype(np.float32)
    ps, ts = p[:40_000].copy(), t[:40_000].copy()
    cases = {
        "listnet value": lambda: fl.listnet(s, y),
        "listnet value+grad": lambda: fl.listnet.value_and_grad(s, y),
        "mse 640k value": lambda: fl.mse(p, t),
        "mse 640k value+grad": lambda: fl.mse.value_and_grad(p, t),
        "mse 40k value": lambda: fl.mse(ps, ts),
    }
    res = {(k, n): [] for k in cases for n in (1, 2)}
    try:
        for _ in range(rounds):
            for k, f in cases.items():
                for n in (1, 2):
                    fl.set_num_threads(n)
                    f()
                    t0 = time.perf_counter()
                    f()
                    res[(k, n)].append(time.perf_counter() - t0)
    finally:
        fl.set_num_threads(None)
    for k in cases:
        print(f"{k:20s} | 1 thread: {stats(res[(k, 1)])} | 2 threads: {stats(res[(k, 2)])}")
    print(f"{'wake-up, idle setter':20s} | {stats(wake_latency(rounds, False))}")
    print(f"{'wake-up, busy setter':20s} | {stats(wake_latency(rounds, True))}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
