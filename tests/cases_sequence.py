"""Test inputs of the sequence losses (see tests/cases.py)."""

from __future__ import annotations

import numpy as np

from cases import case


@case("ctc")
def _ctc(rng, dtype, n):
    # n sequences of at most 8 steps over 5 classes, targets of 0-3 labels
    # padded to 3 (padding -1, never read), repeats likely (4 labels), some
    # alignments impossible (a target of 3 needs 3-5 steps); sequence 0 has
    # at least one step (the NaN test puts its NaN at logits[0, 0, 0]);
    # zero_infinity keeps the sums finite for the finite differences
    # (tests/test_sequence.py covers the inf)
    t, c = 8, 5
    x = (2.0 * rng.normal(size=(t, n, c))).astype(dtype)
    il = rng.integers(0, t + 1, size=n)
    il[0] = max(il[0], 1)
    tl = rng.integers(0, 4, size=n)
    tg = rng.integers(1, c, size=(n, 3))
    tg[rng.random(size=(n, 3)) < 0.3] = 1  # more repeats
    tg[np.arange(3) >= tl[:, None]] = -1
    return x, tg, {"input_lengths": il, "target_lengths": tl, "zero_infinity": True}
