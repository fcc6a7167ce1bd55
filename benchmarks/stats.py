"""Statistics of the benchmarks: medians, their ratio and difference, and 95 % bootstrap intervals.

Named ``stats`` rather than ``statistics`` so it never shadows the standard library's module. Every function here is
pure: samples in, a number out (the bootstrap takes its random generator from the caller, so a run is reproducible).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence

BOOTSTRAP_ROUNDS = 2000
"""Resamples of whole (A, B) pairs behind each 95 % interval."""

Statistic = Callable[[Sequence[float], Sequence[float]], float]
"""A figure computed from the A and B samples (paired by index)."""


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median A / median B; infinite when median B is not positive (a difference lost in the noise)."""
    below = statistics.median(b)
    return statistics.median(a) / below if below > 0 else float("inf")


def median_a(a: Sequence[float], _b: Sequence[float]) -> float:
    """Median A (B ignored): the statistic of an absolute target."""
    return statistics.median(a)


def median_difference(a: Sequence[float], b: Sequence[float]) -> float:
    """Median A - median B: what A pays on top of B's work."""
    return statistics.median(a) - statistics.median(b)


def finite(value: float) -> float | None:
    """``value``, or None for an infinite ratio (JSON has no infinity)."""
    return value if math.isfinite(value) else None


def bootstrap_interval(
    a: Sequence[float],
    b: Sequence[float],
    statistic: Statistic,
    rng: random.Random,
) -> tuple[float, float]:
    """A 95 % bootstrap interval of ``statistic(A, B)``, resampling whole (A, B) pairs to keep their pairing."""
    indexes = range(len(a))
    values = sorted(
        statistic([a[i] for i in picked], [b[i] for i in picked])
        for picked in (rng.choices(indexes, k=len(a)) for _ in range(BOOTSTRAP_ROUNDS))
    )
    return values[int(0.025 * BOOTSTRAP_ROUNDS)], values[int(0.975 * BOOTSTRAP_ROUNDS) - 1]
