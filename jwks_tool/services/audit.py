"""The audit trail: every change of every key, with who made it, with which command, in which set revision.

Each change is recorded twice. The key set document is a store's atomic unit, and a change lands in it together with
its transition in the key's history, stamped with the writer (``user@host``), the command and the revision. The
audit log is the store's append-only record, written right after the set: it keeps the order of events and keeps
them even if a set document is rewritten by hand. The two writes are not atomic together: a process killed between
them, or a vault that refuses the append (a 429 storm that outlasts the retries), leaves a stored change that the log
lacks. :func:`trail` is therefore the log completed from the sets' histories: each stored transition the log has no
event for is added in time order as an event of the same shape, marked ``"recovered": true``.

    >>> from datetime import UTC, datetime
    >>> from jwks_tool.core.model import Env, KeyState, SetRef, Transition
    >>> step = Transition(datetime(2026, 3, 1, tzinfo=UTC), None, KeyState.ACTIVE, "generated", "ann@ws1",
    ...                   "jwks-tool generate", 1)
    >>> event(SetRef("acme", Env.TEST), "k1", step)["user"]
    'ann@ws1'
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from jwks_tool.core.model import (
    SET_NAME_RE,
    Env,
    KeyRecord,
    KeySet,
    SetRef,
    Transition,
    format_time,
    parse_time,
    stored_count,
)
from jwks_tool.errors import StoreCorruptError
from jwks_tool.stores.interface import KeyStore

UNKNOWN_WRITER = "unknown"
"""The user of a recovered event whose transition predates the writer stamp."""


def event(ref: SetRef, kid: str, step: Transition) -> dict[str, Any]:
    """The audit event for one stored transition of key ``kid`` in set ``ref``."""
    moved = (None if step.from_state is None else step.from_state.value, step.to_state.value)
    return _event(ref, kid, step.at, step.by or UNKNOWN_WRITER, step.command, moved, step.reason, step.revision)


PRUNED = "pruned"
"""The ``to`` of the event that records a retired or revoked key leaving its set document (:func:`removal`)."""


def removal(ref: SetRef, record: KeyRecord, *, at: datetime, by: str, command: str, revision: int) -> dict[str, Any]:
    """The audit event for a retired or revoked key dropped from its set (``jwks-tool prune``)."""
    return _event(ref, record.kid, at, by, command, (record.state.value, PRUNED), "prune", revision)


def _event(
    ref: SetRef,
    kid: str,
    at: datetime,
    by: str,
    command: str | None,
    moved: tuple[str | None, str],
    reason: str,
    revision: int | None,
) -> dict[str, Any]:
    """The one shape of an audit event (the log's JSON lines, ``log --json``)."""
    return {
        "time": format_time(at),
        "user": by,
        "command": command,
        "set": ref.name,
        "env": ref.env.value,
        "kid": kid,
        "from": moved[0],
        "to": moved[1],
        "reason": reason,
        "revision": revision,
    }


EVENT_FIELDS = ("time", "user", "command", "set", "env", "kid", "from", "to", "reason", "revision")
FLEET_EVENT_PREFIX = "fleet:"
"""The ``to`` of ``apply``'s own events (services/fleet): ``set``, ``env`` and ``kid`` may be null (a run's start)."""
FLEET_EVENT_FIELDS = ("client", "manifest", "run")
"""The members ``apply``'s events carry besides :data:`EVENT_FIELDS`: strings, kept."""
"""The members of an audit event, in the order :func:`_event` writes them."""


def checked_event(entry: object) -> dict[str, Any]:
    """An audit log entry as the event it must be (the members of :data:`EVENT_FIELDS`, checked: ``time`` a time,
    ``set``/``env``/``kid``/``to`` strings, ``revision`` a whole number or null, the other members strings or null;
    any other member dropped), or StoreCorruptError naming what is wrong. The log is a file anyone with the store
    can edit: nothing in it reaches output unchecked."""
    if not isinstance(entry, dict):
        raise StoreCorruptError(f"it is {type(entry).__name__}, not an object")
    parse_time(entry.get("time"), "its time")
    if not isinstance(entry.get("to"), str):
        raise StoreCorruptError("its to is not a string")
    fleet = entry["to"].startswith(FLEET_EVENT_PREFIX)  # apply's own events: a run's or a client's, maybe no key
    for member in ("set", "env", "kid"):
        if not (fleet and entry.get(member) is None) and not isinstance(entry.get(member), str):
            raise StoreCorruptError(f"its {member} is not a string")
    if entry.get("set") is not None and not SET_NAME_RE.fullmatch(entry["set"]):
        raise StoreCorruptError("its set is not a key set name")
    if entry.get("env") is not None and entry["env"] not in {env.value for env in Env}:
        raise StoreCorruptError("its env is neither test nor prod")
    optional = ("user", "command", "from", "reason", *(FLEET_EVENT_FIELDS if fleet else ()))
    for member in optional:
        if entry.get(member) is not None and not isinstance(entry[member], str):
            raise StoreCorruptError(f"its {member} is not a string")
    if entry.get("revision") is not None:
        stored_count(entry["revision"], "its revision")
    event = {member: entry.get(member) for member in EVENT_FIELDS}
    if fleet:
        event |= {member: entry[member] for member in FLEET_EVENT_FIELDS if member in entry}
    if entry.get("recovered") is True:  # appended by prune from a key's history
        event["recovered"] = True
    return event


def _identity(event: Mapping[str, Any]) -> tuple[object, ...]:
    """What makes two records the same change of a key (a key enters each state once)."""
    return (event.get("set"), event.get("env"), event.get("kid"), event.get("from"), event.get("to"))


def _exact(event: Mapping[str, Any]) -> tuple[object, ...]:
    """... and for a stamped step, which carries the event's revision and time: the very write (a set deleted by
    hand and made again reuses kids and revisions, not the second)."""
    return (*_identity(event), event.get("revision"), event.get("time"))


def trail(
    store: KeyStore,
    keysets: Iterable[KeySet] | None = None,
    *,
    on_damage: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The store's audit log, completed from the histories of ``keysets`` (default: every set in the store).

    The log's own events keep their order; recovered ones are merged in by time. Pass the sets a caller has read
    already (one set for ``log NAME``) to save reading them again. A stamped step matches its logged event
    exactly; a step from before the stamp (no writer recorded) matches any logged event of the same change.
    A damaged entry (a member of the wrong type: :func:`checked_event`) is left out and named to ``on_damage``
    with its number in the log, so one edited line hides nothing else.
    """
    logged = []
    for number, entry in enumerate(store.read_audit(), 1):
        try:
            logged.append(checked_event(entry))
        except StoreCorruptError as exc:
            if on_damage is not None:
                on_damage(
                    f"entry {number} of the audit log of {store.describe()} is damaged ({exc.message}) and is not "
                    "shown; restore the log from a backup, or remove that entry"
                )
    exact = Counter(_exact(entry) for entry in logged)
    loose = Counter(_identity(entry) for entry in logged)
    unstamped: list[dict[str, Any]] = []
    recovered: list[dict[str, Any]] = []
    for keyset in store.read_sets() if keysets is None else keysets:
        for record in keyset.keys:
            for step in record.history:
                candidate = event(keyset.ref, record.kid, step)
                if step.by is None:
                    unstamped.append(candidate)
                elif exact[_exact(candidate)] > 0:
                    exact[_exact(candidate)] -= 1
                    loose[_identity(candidate)] -= 1
                else:
                    recovered.append(candidate | {"recovered": True})
    for candidate in unstamped:  # after the stamped steps took their own events
        if loose[_identity(candidate)] > 0:
            loose[_identity(candidate)] -= 1
        else:
            recovered.append(candidate | {"recovered": True})
    recovered.sort(key=_when)
    return list(heapq.merge(logged, recovered, key=_when))


def _when(event: Mapping[str, Any]) -> tuple[str, int]:
    """Time, then revision: the writes of one set within one second keep their order."""
    revision = event.get("revision")
    return str(event.get("time", "")), revision if isinstance(revision, int) else 0
