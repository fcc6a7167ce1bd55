"""Key rotation: next → active → retiring → retired (or revoked), one safe, idempotent step at a time.

    >>> from jwks_tool.stores import open_store
    >>> from jwks_tool.services.key_service import KeyService, GenerateRequest
    >>> from jwks_tool.services.rotation import Rotation
    >>> svc = KeyService(open_store("memory:"), passphrase=lambda confirm: "pw")
    >>> first = svc.generate(GenerateRequest(name="acme", size=2048))
    >>> rot = Rotation(svc)
    >>> rot.start("acme", "test", GenerateRequest(name="acme", size=2048)).step.value
    'start'
    >>> [k.state.value for k in rot.promote("acme", "test").keyset.keys]
    ['retiring', 'active']

The steps, and what must be registered with the authorization server after each (next + active + retiring):

1. ``start``: make a key as **next**. Register it now (the whole set, or the one JWK where keys are added singly).
2. ``promote`` (after registering): next becomes **active**, the old active **retiring** (still registered, unused).
3. ``finish`` (after the overlap window, default 24 h): retiring keys become **retired**, their private halves
   destroyed unless kept; delete their kids from the portal.

``revoke`` pulls a compromised key at once; if it was active, a next key takes over.

Every step is one atomic write of the set under the store's lock, so a crash leaves the set before or after the step,
and running a step again converges: a second ``start`` finds the next key already there, a second ``promote`` or
``finish`` finds nothing to do. There is never more than one active key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from jwks_tool.core.model import KeyRecord, KeySet, KeyState, SetRef
from jwks_tool.core.profiles import get_profile
from jwks_tool.core.text import printable
from jwks_tool.core.timeutil import format_duration
from jwks_tool.errors import ConflictError, InputError, NotFoundError, ProfileError
from jwks_tool.services.key_service import ActiveKeyChanged, Change, GenerateRequest, KeyService, NextKeyWaiting

DEFAULT_OVERLAP = timedelta(hours=24)
DEFAULT_PRUNE_AGE = timedelta(days=30)

MAX_REASON = 500
"""The longest revocation reason: it is kept in the set (a Key Vault set is one secret of at most 25 KB) and the log."""


def check_reason(reason: str) -> None:
    """A revocation reason is one line of printable text of at most :data:`MAX_REASON` characters (what is read back
    is escaped anyway: older sets and logs may hold anything)."""
    if not reason.strip():
        raise InputError("a revocation needs a reason", hint='pass --reason "what happened"')
    if len(reason) > MAX_REASON or not reason.isprintable():
        shown = f"{len(reason)} characters" if len(reason) > MAX_REASON else printable(repr(reason), limit=80)
        raise InputError(
            f"the revocation reason ({shown}) must be one line of printable text of at most {MAX_REASON} characters",
            hint='pass --reason "what happened" in a line',
        )


class Step(StrEnum):
    """The rotation steps (see the module docstring), and prune: retired or revoked keys long unused leave the set."""

    START = "start"
    PROMOTE = "promote"
    FINISH = "finish"
    REVOKE = "revoke"
    PRUNE = "prune"


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What a step did and what the user does next."""

    step: Step
    changed: bool
    summary: str
    keyset: KeySet
    added: KeyRecord | None = None
    removed: tuple[KeyRecord, ...] = ()
    """Keys that left the registered set in this step: delete their kids from the portal."""
    next_action: str = ""
    pruned: tuple[KeyRecord, ...] = ()
    """Retired or revoked keys dropped from the set document (``prune``); the audit log keeps their story."""


def transition_time(record: KeyRecord, state: KeyState) -> datetime:
    """When the key last entered ``state`` (its creation time if the history does not say)."""
    for step in reversed(record.history):
        if step.to_state is state:
            return step.at
    return record.created


NextSteps = tuple[tuple[str, bool], ...]
"""The next thing to do as pieces of text, each marked whether it is a command to run (True) or prose (False), so a
document can set the commands as code and the prose as text: see :func:`next_steps`."""


def next_steps(keyset: KeySet, overlap: timedelta = DEFAULT_OVERLAP, now: datetime | None = None) -> NextSteps:
    """The one thing to do next for this set: commands (True) and the prose around them (False)."""
    name = f"{keyset.ref.name} --env {keyset.ref.env.value}"
    states = {key.state for key in keyset.keys}
    if KeyState.NEXT in states:
        return (
            ("register the set (", False),
            (f"jwks-tool export {name} --format jwks", True),
            ("), then: ", False),
            (f"jwks-tool rotate {name} --promote", True),
        )
    if KeyState.RETIRING in states:
        retiring = [key for key in keyset.keys if key.state is KeyState.RETIRING]
        ready = max(transition_time(key, KeyState.RETIRING) for key in retiring) + overlap
        finish = f"jwks-tool rotate {name} --finish"
        return (
            ((finish, True),)
            if now is None or ready <= now
            else ((finish, True), (f" after {ready:%Y-%m-%d %H:%M} UTC", False))
        )
    active = keyset.active
    if active is None:
        return ((f"jwks-tool rotate {name}", True), (" (no active key: make one)", False))
    if now is not None and active.expires <= now:
        return ((f"jwks-tool rotate {name} --all-steps --overlap 0", True), (" now: the active key has expired", False))
    return ((f"jwks-tool rotate {name}", True), (" before the active key expires", False))


def next_action(keyset: KeySet, overlap: timedelta = DEFAULT_OVERLAP, now: datetime | None = None) -> str:
    """The one thing to do next for this set, as one line (:func:`next_steps` joined)."""
    return "".join(text for text, _command in next_steps(keyset, overlap, now))


class Rotation:
    """The rotation lifecycle over a :class:`KeyService`."""

    def __init__(self, service: KeyService, *, disable_vault_key: Callable[[KeyRecord], None] | None = None) -> None:
        self.svc = service
        self._disable_vault_key = disable_vault_key

    def _take_out_of_use(self, record: KeyRecord) -> None:
        """A vault-native key leaving the registered set is disabled in Key Vault (before the set is written)."""
        if record.vault_key is None:
            return
        (self._disable_vault_key or self.svc.disable_vault_key)(record)

    def _clock(self) -> datetime:
        return self.svc.now()

    def next_key_request(self, name: str, env: str, *, size: int | None = None) -> GenerateRequest:
        """What the next key of a set is: the type, size, curve and algorithm of its active key (else its newest;
        RSA 3072 for a set without keys), ``size`` bits if given for RSA, made in the same Key Vault key when the
        current one lives in a vault."""
        keyset = self.svc.get_set(name, env)
        template = keyset.active or keyset.newest
        return GenerateRequest(
            name=name,
            env=env,
            kty=template.kty if template else "RSA",
            size=size if size else (template.size if template and template.kty == "RSA" else 3072),
            crv=template.crv if template else None,
            alg=template.alg if template else None,
            in_vault=self.svc.vault_key_like(template),
        )

    def rotate(
        self,
        name: str,
        env: str,
        step: str | None = None,
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        force: bool = False,
        keep_private: bool = False,
        size: int | None = None,
    ) -> list[StepResult]:
        """``jwks-tool rotate``: the step ``promote``, ``finish`` or ``all`` (start, promote, finish), else ``start``
        with the next key of :meth:`next_key_request` (``size``: its RSA bits). The set must exist for every step."""
        request = self.next_key_request(name, env, size=size)
        if step == "promote":
            return [self.promote(name, env)]
        if step == "finish":
            return [self.finish(name, env, overlap=overlap, force=force, keep_private=keep_private)]
        if step == "all":
            return self.all_steps(name, env, request, overlap=overlap, force=force, keep_private=keep_private)
        return [self.start(name, env, request)]

    def start(self, name: str, env: str, request: GenerateRequest, *, expect_active: str | None = None) -> StepResult:
        """Step 1: a new key as next (or the one already waiting). With ``expect_active``, nothing is made unless that
        kid is still the active key when the set is locked for the write (the fleet: a rotation decided on an older
        read, while another run rotated the set, must not make a second key)."""
        keyset = self.svc.get_set(name, env)
        waiting = _one(keyset, KeyState.NEXT)
        if waiting is not None:
            return self._result(Step.START, False, f"{waiting.kid} is already waiting as next", keyset, waiting)
        profile = get_profile(keyset.profile)
        if profile.max_registered is not None and len(keyset.registered) >= profile.max_registered:
            raise ProfileError(
                f"{keyset.ref} already has {len(keyset.registered)} registered keys, the most {profile.name} allows",
                hint=f"finish the rotation in progress first (jwks-tool rotate {name} --env {env} --finish)",
            )
        try:
            record = self.svc.generate(
                dataclasses.replace(request, name=name, env=env, profile=None),
                only_if_no_next=True,
                only_if_active=expect_active,
            )
        except NextKeyWaiting as raced:  # another writer's next key landed first: report it as theirs
            keyset = self.svc.get_set(name, env)
            return self._result(
                Step.START, False, f"{raced.record.kid} is already waiting as next", keyset, raced.record
            )
        except ActiveKeyChanged as moved:  # another writer rotated the set since the decision
            keyset = self.svc.get_set(name, env)
            now = moved.active.kid if moved.active is not None else "no key"
            return self._result(
                Step.START, False, f"not started: the active key is now {now} (another run rotated it)", keyset
            )
        keyset = self.svc.get_set(name, env)
        made = record.state is KeyState.NEXT
        summary = (
            f"made {record.kid} as {record.state.value}" if made else f"made {record.kid} (the set had no active key)"
        )
        return self._result(Step.START, True, summary, keyset, record)

    def promote(self, name: str, env: str) -> StepResult:
        """Step 2: next becomes active, the old active retiring."""
        ref = SetRef.parse(name, env)
        with self.svc.store.lock():
            current = self._read(ref)
            waiting = _one(current, KeyState.NEXT)
            if waiting is None:
                active = current.active
                what = f"{active.kid} is active" if active else "there is no active key"
                return self._result(Step.PROMOTE, False, f"nothing to promote: no next key ({what})", current)
            now = self._clock()
            changes: list[Change] = []
            keys: list[KeyRecord] = []
            for key in current.keys:
                if key.state is KeyState.ACTIVE:
                    changes.append(Change(key, KeyState.ACTIVE, KeyState.RETIRING, "promote"))
                    key = key.with_state(KeyState.RETIRING, "promote", at=now)
                elif key.kid == waiting.kid:
                    changes.append(Change(key, KeyState.NEXT, KeyState.ACTIVE, "promote"))
                    key = key.with_state(KeyState.ACTIVE, "promote", at=now)
                keys.append(key)
            stored = self.svc.commit(current, current.replace_keys(keys), changes)
        return self._result(Step.PROMOTE, True, f"{waiting.kid} is active now", stored)

    def finish(
        self,
        name: str,
        env: str,
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        force: bool = False,
        keep_private: bool = False,
    ) -> StepResult:
        """Step 3: retiring keys older than the overlap become retired; their private halves are destroyed."""
        ref = SetRef.parse(name, env)
        with self.svc.store.lock():
            current = self._read(ref)
            retiring = [key for key in current.keys if key.state is KeyState.RETIRING]
            if not retiring:
                return self._result(Step.FINISH, False, "nothing to finish: no retiring key", current)
            now = self._clock()
            early = [key for key in retiring if transition_time(key, KeyState.RETIRING) + overlap > now]
            if early and not force:
                ready = max(transition_time(key, KeyState.RETIRING) for key in early) + overlap
                raise ConflictError(
                    f"the overlap of {format_duration(overlap)} has not passed for {', '.join(k.kid for k in early)} "
                    f"(until {ready:%Y-%m-%d %H:%M} UTC): clients may still hold tokens signed with it",
                    hint="wait, or pass --force (or a shorter --overlap) if you are sure",
                )
            for key in retiring:
                self._take_out_of_use(key)
            changes = [Change(key, KeyState.RETIRING, KeyState.RETIRED, "finish") for key in retiring]
            gone = {key.kid for key in retiring}
            keys = [_retire(key, now, "finish", keep_private) if key.kid in gone else key for key in current.keys]
            stored = self.svc.commit(current, current.replace_keys(keys), changes)
        removed = tuple(key for key in stored.keys if key.kid in gone)
        kept = " (private halves kept)" if keep_private else " (private halves destroyed)"
        if all(key.vault_key is not None for key in retiring):
            kept = " (disabled in Key Vault)"
        return self._result(Step.FINISH, True, f"retired {', '.join(sorted(gone))}{kept}", stored, removed=removed)

    def all_steps(
        self, name: str, env: str, request: GenerateRequest, *, overlap: timedelta, force: bool, keep_private: bool
    ) -> list[StepResult]:
        """start, promote and finish in one go (for automation with --overlap 0)."""
        results = [self.start(name, env, request), self.promote(name, env)]
        results.append(self.finish(name, env, overlap=overlap, force=force, keep_private=keep_private))
        return results

    def revoke(self, name: str, env: str, kid: str, *, reason: str, keep_private: bool = False) -> StepResult:
        """Pull a key at once (compromise). If it was active, the next key takes over."""
        check_reason(reason)
        ref = SetRef.parse(name, env)
        with self.svc.store.lock():
            current = self._read(ref)
            target = current.key(kid)
            if target is None:
                raise NotFoundError(f"no key {kid!r} in {ref}", hint=f"see jwks-tool show {name} --env {env}")
            if target.state is KeyState.REVOKED:
                return self._result(Step.REVOKE, False, f"{kid} is revoked already", current)
            now = self._clock()
            self._take_out_of_use(target)
            changes = [Change(target, target.state, KeyState.REVOKED, f"revoke: {reason}")]
            successor = _one(current, KeyState.NEXT) if target.state is KeyState.ACTIVE else None
            keys: list[KeyRecord] = []
            for key in current.keys:
                if key.kid == kid:
                    key = _retire(key, now, f"revoke: {reason}", keep_private, state=KeyState.REVOKED)
                elif successor is not None and key.kid == successor.kid:
                    changes.append(Change(key, KeyState.NEXT, KeyState.ACTIVE, f"replaces revoked {kid}"))
                    key = key.with_state(KeyState.ACTIVE, f"replaces revoked {kid}", at=now)
                keys.append(key)
            stored = self.svc.commit(current, current.replace_keys(keys), changes)
        summary = f"revoked {kid}"
        if successor is not None:
            summary += f"; {successor.kid} is active now"
        elif target.state is KeyState.ACTIVE:
            summary += (
                f"; the set has NO active key: run `jwks-tool rotate {name} --env {env} --all-steps --overlap 0`, "
                "register the new key, and update Key Vault"
            )
        return self._result(Step.REVOKE, True, summary, stored, removed=(target,))

    def prune(self, name: str, env: str, *, older_than: timedelta = DEFAULT_PRUNE_AGE) -> StepResult:
        """Drop retired and revoked keys, out of use for at least ``older_than``, from the set document.

        A set keeps every key it ever had, so it grows by a key per rotation; a Key Vault store's set is one secret
        of at most 25 KB (about a dozen rotations of RSA-3072 keys). Their history stays in the audit log (see
        :meth:`KeyService.prune_keys`). Keys whose private half was kept (``--keep-private``) stay too.
        """
        ref = SetRef.parse(name, env)
        with self.svc.store.lock():
            current = self._read(ref)
            now = self._clock()
            old = [
                key
                for key in current.keys
                if not key.state.registered and transition_time(key, key.state) + older_than <= now
            ]
            gone = tuple(key for key in old if key.sealed_private is None)
            held = sorted(key.kid for key in old if key.sealed_private is not None)
            kept = (
                f"; kept {', '.join(held)}: still holding a private half (revoked with --keep-private)" if held else ""
            )
            if not gone:
                summary = f"nothing to prune: no retired or revoked key out of use for {format_duration(older_than)}"
                return self._result(Step.PRUNE, False, summary + kept, current)
            stored = self.svc.prune_keys(current, gone)
        summary = f"pruned {', '.join(key.kid for key in gone)}; their history stays in the audit log{kept}"
        return dataclasses.replace(self._result(Step.PRUNE, True, summary, stored), pruned=gone)

    # ---- helpers ----------------------------------------------------------------------------------------------
    def _read(self, ref: SetRef) -> KeySet:
        keyset = self.svc.read_set(ref)
        if keyset is None:
            raise NotFoundError(f"no key set {ref} in {self.svc.store.describe()}", hint="run `jwks-tool list`")
        return keyset

    def _result(
        self,
        step: Step,
        changed: bool,
        summary: str,
        keyset: KeySet,
        added: KeyRecord | None = None,
        removed: tuple[KeyRecord, ...] = (),
    ) -> StepResult:
        return StepResult(step, changed, summary, keyset, added, removed, next_action(keyset, now=self._clock()))


def _one(keyset: KeySet, state: KeyState) -> KeyRecord | None:
    return next((key for key in keyset.keys if key.state is state), None)


def _retire(
    key: KeyRecord, now: datetime, reason: str, keep_private: bool, *, state: KeyState = KeyState.RETIRED
) -> KeyRecord:
    moved = key.with_state(state, reason, at=now)
    return moved if keep_private else dataclasses.replace(moved, sealed_private=None)
