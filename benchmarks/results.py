"""What a benchmark produces: a :class:`Comparison` (A against B, with its target) and a :class:`Check` (pass/fail).

The figures' verdicts and the text both the progress log and the report use (times in their unit, the interval
line) live here; the table, the report and the JSON document are :mod:`benchmarks.report`'s.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from benchmarks.stats import median_ratio

Goal = Literal["at_most", "at_least"]
Unit = Literal["ms", "us", "s"]


def ms(seconds: float) -> str:
    """``12.3 ms``."""
    return f"{seconds * 1000:.1f} ms"


def show_time(seconds: float, unit: Unit) -> str:
    """``12.3 ms``, ``45.6 us`` or ``33.41 s``."""
    if unit == "us":
        return f"{seconds * 1e6:.1f} us"
    if unit == "s":
        return f"{seconds:.2f} s"
    return ms(seconds)


def mark(passed: bool | None) -> str:
    """PASS, FAIL, or info (no target)."""
    return {True: "PASS", False: "FAIL", None: "info"}[passed]


def align(rows: Sequence[Sequence[str]], *, left: int = 0) -> list[list[str]]:
    """The cells padded to their column's width: the first ``left`` columns to the left, the others to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        for row in rows
    ]


@dataclass
class Comparison:
    """A (jwks-tool) against B (the reference), sampled in interleaved pairs."""

    key: str
    figure: str
    a_label: str
    b_label: str
    a: list[float]
    b: list[float]
    target: float | None
    """The ratio A/B must be at most (``goal`` at_most) or at least (at_least) this; None: no ratio target."""
    report_fixed_cost: bool = False
    """Also report median A minus median B: what A pays on top of B's work."""
    goal: Goal = "at_most"
    limit: float | None = None
    """Median A must be below this many seconds (an absolute target, besides or instead of the ratio's)."""
    unit: Unit = "ms"
    """How the medians are shown; samples are always seconds."""
    notes: list[str] = field(default_factory=list)
    """Extra lines printed under the table after this figure's interval line."""
    interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of the ratio."""
    fixed_cost_interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of median A - median B, in seconds."""
    a_interval: tuple[float, float] = (0.0, 0.0)
    """95 % bootstrap interval of median A, in seconds (figures with a ``limit``)."""

    @property
    def a_median(self) -> float:
        """Median of the A samples, in seconds."""
        return statistics.median(self.a)

    @property
    def b_median(self) -> float:
        """Median of the B samples, in seconds."""
        return statistics.median(self.b)

    @property
    def ratio(self) -> float:
        """Median A / median B."""
        return median_ratio(self.a, self.b)

    @property
    def fixed_cost(self) -> float:
        """Median A - median B, in seconds."""
        return self.a_median - self.b_median

    @property
    def has_interval(self) -> bool:
        """Whether there are enough pairs (3) for a bootstrap interval to mean anything."""
        return len(self.a) >= 3

    @property
    def passed(self) -> bool | None:
        """Whether every target is met; None when the figure has none."""
        verdicts = []
        if self.target is not None:
            verdicts.append(self.ratio <= self.target if self.goal == "at_most" else self.ratio >= self.target)
        if self.limit is not None:
            verdicts.append(self.a_median < self.limit)
        return all(verdicts) if verdicts else None

    def show(self, seconds: float) -> str:
        """``seconds`` in this figure's unit."""
        return show_time(seconds, self.unit)

    def target_text(self) -> str:
        """The table's target cell: ``A < 1 s``, ``<= 1.25``, ``>= 1.70``, both, or ``-``."""
        parts = []
        if self.limit is not None:
            parts.append(f"A < {self.limit:g} s")
        if self.target is not None:
            parts.append(f"{'<=' if self.goal == 'at_most' else '>='} {self.target:.2f}")
        return ", ".join(parts) or "-"

    def interval_text(self) -> str:
        """The bootstrap intervals, or why there are none."""
        if not self.has_interval:
            return f"n={len(self.a)}: one timed run a side, no interval"
        low, high = self.interval
        text = f"n={len(self.a)} pairs, ratio 95% interval {low:.2f}-{high:.2f}"
        if self.limit is not None:
            low, high = self.a_interval
            text += f"; median A ({self.a_label}) 95% interval {self.show(low)}-{self.show(high)}"
        return text

    def summary(self) -> str:
        """One progress line: both medians, the ratio and its interval (and the fixed cost, if reported)."""
        text = f"{self.a_label} {self.show(self.a_median)}, {self.b_label} {self.show(self.b_median)}: "
        text += f"ratio {self.ratio:.2f}, {self.interval_text()}"
        if self.report_fixed_cost:
            text += f", fixed cost {self.fixed_cost_text()}"
        return text

    def fixed_cost_text(self) -> str:
        """``+12.3 ms [95% +10.1 to +14.0]``."""
        low, high = self.fixed_cost_interval
        return f"{self.fixed_cost * 1000:+.1f} ms [95% {low * 1000:+.1f} to {high * 1000:+.1f}]"


@dataclass
class Check:
    """A pass/fail line; ``passed`` None is information only."""

    key: str
    passed: bool | None
    detail: str


@dataclass
class Results:
    """What one group of benchmarks reports: its figures and its checks, in the order taken."""

    comparisons: list[Comparison] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
