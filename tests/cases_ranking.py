"""Test inputs of the ranking losses (see tests/cases.py)."""

from __future__ import annotations

from cases import case

LIST = 7  # items per list: an odd size, so no vector width divides a row


@case("pairwise_logistic", "pairwise_hinge", "listnet", "lambda_rank")
def _lists(rng, dtype, n):
    # n lists of graded labels 0..3 with about a fifth of the items masked.
    # List 0's first two items are valid with different labels, so a NaN put
    # into scores.flat[0] reaches a pair (and listnet's softmax) and its
    # gradient (tests/test_properties.py's NaN test).
    scores = rng.normal(size=(n, LIST)).astype(dtype)
    labels = rng.integers(0, 4, size=(n, LIST)).astype(dtype)
    mask = rng.random((n, LIST)) < 0.8
    mask[0, :2] = True
    labels[0, :2] = (3, 0)
    return scores, labels, {"mask": mask}


@case("approx_ndcg")
def _approx_ndcg(rng, dtype, n):
    scores, labels, params = _lists(rng, dtype, n)
    return scores, labels, {**params, "temperature": 0.5}
