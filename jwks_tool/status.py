"""Status of key sets and the expiry check for cron and CI.

    >>> from datetime import timedelta
    >>> from jwks_tool.status import CheckPolicy
    >>> CheckPolicy(warn=timedelta(days=60), fail=timedelta(days=14)).fail.days
    14

``check`` looks at every set: registered keys near or past expiry, sets with no active key, a next key waiting too
long to be promoted, more registered keys than the profile allows. Its verdict maps to exit codes 0 / 1 / 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from jwks_tool.inspecting import Verdict
from jwks_tool.model import KeySet, KeyState, format_time
from jwks_tool.profiles import Finding, Severity, get_profile
from jwks_tool.rotation import next_action, transition_time

SIZE_WARN = 0.8
"""``check`` warns when a set fills this share of what its store holds (a Key Vault secret: 25 KB)."""

SetSize: TypeAlias = Callable[[KeySet], tuple[int, int] | None]
"""A store's :meth:`~jwks_tool.stores.interface.KeyStore.set_size`."""


@dataclasses.dataclass(frozen=True)
class CheckPolicy:
    warn: timedelta = timedelta(days=60)
    fail: timedelta = timedelta(days=14)
    next_max_age: timedelta = timedelta(days=7)


@dataclasses.dataclass(frozen=True)
class SetStatus:
    keyset: KeySet
    now: datetime
    findings: tuple[Finding, ...]
    next_action: str

    @property
    def verdict(self) -> Verdict:
        return _verdict(self.findings)

    def days_left(self, expires: datetime) -> int:
        return (expires - self.now).days

    def to_dict(self) -> dict[str, Any]:
        active = self.keyset.active
        return {
            "set": self.keyset.ref.name,
            "env": self.keyset.ref.env.value,
            "profile": self.keyset.profile,
            "active": None if active is None else active.kid,
            "active_age_days": None if active is None else (self.now - active.created).days,
            "active_days_to_expiry": None if active is None else self.days_left(active.expires),
            "keys": [
                {
                    "kid": key.kid,
                    "state": key.state.value,
                    "created": format_time(key.created),
                    "expires": format_time(key.expires),
                    "days_to_expiry": self.days_left(key.expires),
                }
                for key in self.keyset.keys
            ],
            "verdict": self.verdict.value,
            "findings": [finding.to_dict() for finding in self.findings],
            "next_action": self.next_action,
        }


def _verdict(findings: Iterable[Finding]) -> Verdict:
    severities = {finding.severity for finding in findings}
    if Severity.ERROR in severities:
        return Verdict.ERRORS
    return Verdict.WARNINGS if severities else Verdict.OK


def set_status(keyset: KeySet, now: datetime, policy: CheckPolicy, size: SetSize | None = None) -> SetStatus:
    findings: list[Finding] = []
    where = f"{keyset.ref.name} ({keyset.ref.env.value})"

    def add(severity: Severity, code: str, message: str) -> None:
        findings.append(Finding(severity, code, message, where))

    if keyset.active is None:
        add(Severity.ERROR, "no-active-key", "no active key: clients of this set cannot sign")
    for key in keyset.registered:
        left = key.expires - now
        if left <= timedelta(0):
            add(Severity.ERROR, "expired", f"{key.kid} ({key.state.value}) expired on {key.expires:%Y-%m-%d}")
        elif left <= policy.fail:
            add(Severity.ERROR, "expiring", f"{key.kid} ({key.state.value}) expires in {left.days} days")
        elif left <= policy.warn and key.state is not KeyState.RETIRING:
            add(Severity.WARNING, "expiring", f"{key.kid} ({key.state.value}) expires in {left.days} days")
        if key.state is KeyState.NEXT and now - transition_time(key, KeyState.NEXT) > policy.next_max_age:
            days = (now - transition_time(key, KeyState.NEXT)).days
            add(Severity.WARNING, "next-waiting", f"{key.kid} has waited {days} days as next: register and promote it")
    profile = get_profile(keyset.profile)
    if profile.max_registered is not None and len(keyset.registered) > profile.max_registered:
        add(
            Severity.ERROR,
            "too-many-keys",
            f"{len(keyset.registered)} registered keys; {profile.name} holds at most {profile.max_registered}",
        )
    used = None if size is None else size(keyset)
    if used is not None and used[0] > SIZE_WARN * used[1]:
        add(
            Severity.WARNING,
            "set-size",
            f"the set takes {used[0] / 1024:.1f} of the {used[1] / 1024:.0f} KB its store holds: drop retired keys "
            f"before a rotation is refused (jwks-tool prune {keyset.ref.name} --env {keyset.ref.env.value})",
        )
    return SetStatus(keyset, now, tuple(findings), next_action(keyset, now=now))


@dataclasses.dataclass(frozen=True)
class CheckReport:
    statuses: tuple[SetStatus, ...]
    policy: CheckPolicy

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(finding for status in self.statuses for finding in status.findings)

    @property
    def verdict(self) -> Verdict:
        return _verdict(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "policy": {
                "warn_days": self.policy.warn.days,
                "fail_days": self.policy.fail.days,
                "next_max_age_days": self.policy.next_max_age.days,
            },
            "sets": [status.to_dict() for status in self.statuses],
            "findings": [finding.to_dict() for finding in self.findings],
        }


def check(keysets: Iterable[KeySet], now: datetime, policy: CheckPolicy, size: SetSize | None = None) -> CheckReport:
    """Every set's status; ``size`` (the store's ``set_size``) adds a warning for a set near its store's limit."""
    return CheckReport(tuple(set_status(keyset, now, policy, size) for keyset in keysets), policy)
