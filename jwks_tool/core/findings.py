"""One vocabulary for every judgement the toolkit makes: findings, their severity, and the verdict they add up to.

    >>> from jwks_tool.core.findings import Finding, Severity, Verdict
    >>> Verdict.of([Finding(Severity.WARNING, "expiring", "acme-test-1 expires in 30 days")]).value
    'warnings'
    >>> Verdict.worst([Verdict.OK, Verdict.ERRORS]).value
    'errors'

Profiles lint with it, ``inspect`` and ``check`` judge with it, ``doctor`` grades its checks with it; the command line
turns a :class:`Verdict` into the exit code (0 OK, 1 warnings, 2 errors) in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is: an error (refused, unsafe, failing) or a warning (works, but risky or incomplete)."""

    ERROR = "error"
    WARNING = "warning"

    @property
    def verdict(self) -> Verdict:
        """The verdict of this severity alone."""
        return Verdict.ERRORS if self is Severity.ERROR else Verdict.WARNINGS


@dataclasses.dataclass(frozen=True)
class Finding:
    """One result of a check: what is wrong, how bad, and where."""

    severity: Severity
    code: str
    message: str
    where: str = ""

    def to_dict(self) -> dict[str, str]:
        """The stable JSON shape of a finding."""
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "where": self.where,
        }


class Verdict(StrEnum):
    """The worst of some findings: ok, warnings or errors (ordered: errors is the worst)."""

    OK = "ok"
    WARNINGS = "warnings"
    ERRORS = "errors"

    @property
    def rank(self) -> int:
        """0 for ok, 1 for warnings, 2 for errors."""
        return _RANKS[self]

    @classmethod
    def worst(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """The worst of ``verdicts`` (OK when there are none)."""
        return max(verdicts, key=lambda verdict: verdict.rank, default=cls.OK)

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> Verdict:
        """The verdict of ``findings``: errors if any is an error, warnings if any, else OK."""
        return cls.worst(finding.severity.verdict for finding in findings)


_RANKS = {Verdict.OK: 0, Verdict.WARNINGS: 1, Verdict.ERRORS: 2}
