"""Percentiles for every benchmark, by one rule, so that figures of different scripts
compare.

The rule is nearest rank: the q-th percentile of n values is the one at rank
``ceil(q * n)`` (counting from 1) in ascending order, the smallest value with at least a
fraction q of all values at or below it.  Chosen over linear interpolation because it is
always a value that was measured (a latency that happened, not a blend of two), and
because a tail percentile of few samples then says plainly what it is: p99.9 of 500
samples is their maximum, not a figure invented between the two largest.

Invariants: ``q`` is a fraction in (0, 1] (0.5, 0.99, 0.999); no values give NaN, so a
phase that measured nothing prints ``nan`` rather than failing; the unit is the values'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile of ``ordered``, which is sorted ascending."""
    if not 0 < q <= 1:
        raise ValueError(f"q must be a fraction in (0, 1], not {q}")
    if not ordered:
        return math.nan
    # Rounded first: 0.07 * 100 is 7.000000000000001 in floating point, and rank 7 is meant.
    rank = max(1, math.ceil(round(q * len(ordered), 9)))
    return ordered[rank - 1]


def percentiles(values: Iterable[float], *qs: float) -> tuple[float, ...]:
    """The nearest-rank percentiles ``qs`` of ``values`` in any order (sorted once here)."""
    ordered = sorted(values)
    return tuple(percentile(ordered, q) for q in qs)
