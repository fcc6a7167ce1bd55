"""Status of key sets and the expiry check for cron and CI.

    >>> from datetime import timedelta
    >>> from jwks_tool.services.status import CheckPolicy
    >>> CheckPolicy(warn=timedelta(days=60), fail=timedelta(days=14)).fail.days
    14

``check`` looks at every set: registered keys near or past expiry, sets with no active key, a next key waiting too
long to be promoted, more registered keys than the profile allows. Its verdict maps to exit codes 0 / 1 / 2. A store
that does not exist, or one with no set to check, fails (:func:`store_findings`): a cron job pointed at a typo must
not stay green; so does a set the audit log names that the store no longer holds (:func:`missing_sets`). A retiring
key is no longer used to sign: its expiry only asks for the rotation to be finished.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from jwks_tool.core.findings import Finding, Severity, Verdict
from jwks_tool.core.model import KeySet, KeyState, format_time
from jwks_tool.core.profiles import get_profile
from jwks_tool.core.text import plural
from jwks_tool.core.timeutil import expiry_phrase
from jwks_tool.errors import StoreCorruptError
from jwks_tool.services.key_service import KeyService
from jwks_tool.services.rotation import NextSteps, next_steps, transition_time

SIZE_WARN = 0.8
"""``check`` warns when a set fills this share of what its store holds (a Key Vault secret: 25 KB)."""

SetSize: TypeAlias = Callable[[KeySet], tuple[int, int] | None]
"""A store's :meth:`~jwks_tool.stores.interface.KeyStore.set_size`."""


@dataclasses.dataclass(frozen=True)
class CheckPolicy:
    """When check warns and fails: a key expiring within ``warn`` or ``fail``, a next key waiting longer than
    ``next_max_age``."""

    warn: timedelta = timedelta(days=60)
    fail: timedelta = timedelta(days=14)
    next_max_age: timedelta = timedelta(days=7)


@dataclasses.dataclass(frozen=True)
class SetStatus:
    """One set's health at ``now``: its findings and the next thing to do."""

    keyset: KeySet
    now: datetime
    findings: tuple[Finding, ...]
    next_action: str
    next_steps: NextSteps = ()
    """``next_action`` in pieces, commands marked (:func:`~jwks_tool.services.rotation.next_steps`), for documents."""

    @property
    def verdict(self) -> Verdict:
        """The worst of the findings: ok, warnings or errors."""
        return Verdict.of(self.findings)

    def days_left(self, expires: datetime) -> int:
        """Whole days from ``now`` to ``expires`` (negative once past)."""
        return (expires - self.now).days

    def to_dict(self) -> dict[str, Any]:
        """The status as check's --json prints it for one set."""
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


def set_status(keyset: KeySet, now: datetime, policy: CheckPolicy, size: SetSize | None = None) -> SetStatus:
    """Check one set at ``now`` against ``policy``: an active key, expiries, a next key left waiting, the
    profile's limit on registered keys and, where the store says (``size``), how full the set is."""
    findings: list[Finding] = []
    where = f"{keyset.ref.name} ({keyset.ref.env.value})"

    def add(severity: Severity, code: str, message: str) -> None:
        findings.append(Finding(severity, code, message, where))

    if keyset.active is None:
        add(Severity.ERROR, "no-active-key", "no active key: clients of this set cannot sign")
    for key in keyset.registered:
        left = key.expires - now
        if key.state is KeyState.RETIRING:  # nothing signs with it: its expiry matters no more
            if left <= timedelta(0):
                add(
                    Severity.WARNING,
                    "retiring-expired",
                    f"{key.kid} (retiring) expired on {key.expires:%Y-%m-%d}; nothing signs with it any more: finish "
                    f"the rotation (jwks-tool rotate {keyset.ref.name} --env {keyset.ref.env.value} --finish)",
                )
            continue
        if left <= timedelta(0):
            add(Severity.ERROR, "expired", f"{key.kid} ({key.state.value}) expired on {key.expires:%Y-%m-%d}")
        elif left <= policy.fail:
            add(Severity.ERROR, "expiring", f"{key.kid} ({key.state.value}) {expiry_phrase(key.expires, now)}")
        elif left <= policy.warn:
            add(Severity.WARNING, "expiring", f"{key.kid} ({key.state.value}) {expiry_phrase(key.expires, now)}")
        if key.state is KeyState.NEXT and now - transition_time(key, KeyState.NEXT) > policy.next_max_age:
            days = (now - transition_time(key, KeyState.NEXT)).days
            add(
                Severity.WARNING,
                "next-waiting",
                f"{key.kid} has waited {plural(days, 'day')} as next: register and promote it",
            )
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
    steps = next_steps(keyset, now=now)
    return SetStatus(keyset, now, tuple(findings), "".join(text for text, _command in steps), steps)


def store_findings(store: str, exists: bool, sets: int, *, allow_empty: bool) -> tuple[Finding, ...]:
    """What ``check`` says of the store as a whole: it must exist, and hold a set to check (unless ``allow_empty``:
    an empty store is expected). A store that does not exist always fails: it is far more often a typo."""
    if not exists:
        return (
            Finding(
                Severity.ERROR,
                "no-store",
                f"there is no key store at {store}, so nothing was checked; check --store and $JWKS_TOOL_STORE "
                "(`jwks-tool init` makes an empty store)",
                store,
            ),
        )
    if sets == 0 and not allow_empty:
        return (
            Finding(
                Severity.ERROR,
                "no-sets",
                f"the key store {store} holds no key sets, so nothing was checked; make one (jwks-tool generate "
                "NAME), or pass --allow-empty if an empty store is expected",
                store,
            ),
        )
    return ()


def missing_sets(
    events: Iterable[Mapping[str, Any]], keysets: Iterable[KeySet], *, name: str | None = None, env: str | None = None
) -> tuple[Finding, ...]:
    """A failing ``set-missing`` finding for each set the audit log names (within ``name``/``env``) that is not among
    ``keysets``: no command removes a whole set (``prune`` drops keys, never the set), so a set file deleted or moved
    away must not leave ``check`` green."""
    present = {(keyset.ref.name, keyset.ref.env.value) for keyset in keysets}
    named = {
        (set_name, set_env)
        for set_name, set_env in ((event.get("set"), event.get("env")) for event in events)
        if isinstance(set_name, str) and isinstance(set_env, str)
    }
    return tuple(
        Finding(
            Severity.ERROR,
            "set-missing",
            "the audit log names this key set, but the store does not hold it (a set file was deleted or moved); "
            "restore it from a backup",
            f"{set_name} ({set_env})",
        )
        for set_name, set_env in sorted(named)
        if (set_name, set_env) not in present and (name is None or set_name == name) and (env is None or set_env == env)
    )


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What ``check`` found: each set's status and the findings about the store itself."""

    statuses: tuple[SetStatus, ...]
    policy: CheckPolicy
    store_findings: tuple[Finding, ...] = ()
    """About the store as a whole (:func:`store_findings`)."""

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The store's findings, then each set's."""
        return self.store_findings + tuple(finding for status in self.statuses for finding in status.findings)

    @property
    def verdict(self) -> Verdict:
        """The worst of the findings: ok, warnings or errors."""
        return Verdict.of(self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The report as check's --json prints it."""
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


def check(
    keysets: Iterable[KeySet],
    now: datetime,
    policy: CheckPolicy,
    size: SetSize | None = None,
    store: Sequence[Finding] = (),
) -> CheckReport:
    """Every set's status; ``size`` (the store's ``set_size``) adds a warning for a set near its store's limit,
    ``store`` the findings about the store as a whole (:func:`store_findings`)."""
    return CheckReport(tuple(set_status(keyset, now, policy, size) for keyset in keysets), policy, tuple(store))


def check_store(
    svc: KeyService,
    policy: CheckPolicy,
    *,
    name: str | None = None,
    env: str | None = None,
    allow_empty: bool = False,
) -> tuple[CheckReport, tuple[Finding, ...]]:
    """``jwks-tool check``: the report over the selected sets, with what is wrong with the store as a whole (no store,
    no sets, a set the audit log names that is gone). Also returns the whole-store findings alone: when there are any,
    nothing was checked."""
    exists = svc.store_info() is not None
    sets = svc.select_sets(name, env) if exists else []
    whole = store_findings(svc.store.describe(), exists, len(sets), allow_empty=allow_empty)
    damaged = protection_findings(svc) if exists else ()
    gone = missing_sets(svc.store.read_audit(), sets, name=name, env=env) if exists else ()
    return check(sets, svc.now(), policy, svc.store.set_size, (*whole, *damaged, *gone)), whole


def protection_findings(svc: KeyService) -> tuple[Finding, ...]:
    """A failing ``store-damaged`` finding when the store's protection record was tampered with (checked without the
    passphrase: every write would refuse it); none for a store that is fine. The store must exist."""
    try:
        svc.verify_protection()
    except StoreCorruptError as exc:
        return (Finding(Severity.ERROR, "store-damaged", exc.diagnostics(), svc.store.describe()),)
    return ()
