"""The fleet engine: what is due for each client of a manifest (``plan``) and doing it, step by step (``apply``).

    >>> from jwks_tool.services.fleet.engine import ORDER, StepKind
    >>> [step.value for step in ORDER][:3]
    ['generate', 'register', 'prove']

Each client's state is read, never remembered: its key set in the store, the set Digdir has registered (with each
key's ``exp``), what each delivery holds, and the fleet's own events in the store's audit log (when a key was
registered, proven, delivered). From that, :func:`decide` lists the steps due, each with its reason and the time it
may happen. ``apply`` does the first step due now, reads the state again, and goes on until nothing is due now;
a step that fails stops that client (nothing after it), the other clients go on, and the next run resumes from the
state it finds. The invariants:

1. a key is delivered only after Maskinporten issued a token signed with it, and no earlier than ``propagation``
   after it was registered;
2. a key leaves the registered set only after its successor was delivered and ``overlap`` has passed;
3. never more than 5 registered keys (the PUT is refused before it is sent), never two active keys (the store's
   rotation steps), never a registered set without the active key (every PUT holds the store's registered keys);
4. a failed step stops its client where it is and is reported with its fix.

Stopping (Ctrl-C, SIGTERM): :attr:`Fleet.stop` is the engine's stop signal. Once it is set no new step starts
anywhere: each worker checks it before every step and the propagation wait wakes on it; a step already in flight
(one store write, one PUT, one token, one delivery) finishes; clients not started yet are cancelled; every client
that had not finished is reported as ``interrupted``, and the run's ``ended: interrupted`` event is written. The
next run resumes from the state it finds, as after a failed step.

Two runs at once are safe: a rotation starts only if the active key it was decided on is still active when the new
key is written under the store's lock (a second ``start`` finds the next key there, or the set rotated), promote and
finish are idempotent under the store's lock, and a PUT is made from the store as it is under the lock and made again
when the set's revision moved during it: a run that lost a race sees the other's keys and registers the whole set.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from jwks_tool.core.keys import public_jwk
from jwks_tool.core.manifest import ClientSpec, Manifest
from jwks_tool.core.model import KeyRecord, KeySet, KeyState, format_time, parse_time
from jwks_tool.core.text import printable
from jwks_tool.core.timeutil import format_duration
from jwks_tool.errors import (
    AbortedError,
    ConflictError,
    JwksToolError,
    ProfileError,
    RemoteError,
    StoreCorruptError,
)
from jwks_tool.services.fleet.ports import Clock, DeliveredKey, Deliverer, Prover, RegisteredKey, Registrar
from jwks_tool.services.key_service import GenerateRequest, KeyService, actor
from jwks_tool.services.rotation import Rotation, transition_time

MAX_REGISTERED = 5
"""Digdir's limit of registered keys per client."""
MAX_STEPS_PER_CLIENT = 16
"""A client's steps in one run: a whole rotation takes about six; more means the state does not converge."""
STOP_POLL_SECONDS = 0.1
"""How often apply's main thread looks at the stop signal while it waits for the workers."""
FLEET_PREFIX = "fleet:"
"""The ``to`` of the fleet's own audit events: ``fleet:registered``, ``fleet:proven``, ``fleet:delivered``, ..."""


class StepKind(StrEnum):
    """A client's steps, in the order ``apply`` takes them when several are due."""

    GENERATE = "generate"
    REGISTER = "register"
    PROVE = "prove"
    MANUAL = "manual"
    PROMOTE = "promote"
    DELIVER = "deliver"
    FINISH = "finish"
    UNREGISTER = "unregister"
    START = "start"


ORDER = tuple(StepKind)


@dataclasses.dataclass(frozen=True)
class Due:
    """A step for a client, why, and from when (``at`` None: now)."""

    step: StepKind
    reason: str
    kid: str | None = None
    at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON output shows it."""
        return {
            "step": self.step.value,
            "reason": self.reason,
            "kid": self.kid,
            "at": None if self.at is None else format_time(self.at),
        }


@dataclasses.dataclass
class KidHistory:
    """When the fleet last registered, proved and delivered a key (from the audit log)."""

    registered: datetime | None = None
    proven: datetime | None = None
    delivered: datetime | None = None


History = dict[tuple[str, str, str], KidHistory]


@dataclasses.dataclass(frozen=True)
class Observation:
    """A client's state as read now. ``registered`` is None when not read (offline, manual); ``delivered`` is None
    when not read, and offline holds :data:`NOT_CHECKED` for each delivery off this machine (a vault, a plug-in's)."""

    client: ClientSpec
    keyset: KeySet | None
    registered: tuple[RegisteredKey, ...] | None
    delivered: tuple[DeliveredKey | None, ...] | None
    history: Mapping[str, KidHistory]
    offline: bool = False
    """Read with no network (``plan --offline``): the audit log stands in for Digdir's set and remote deliveries."""


NOT_CHECKED = DeliveredKey(None, None, readable=False)
"""What an offline plan knows of a delivery off this machine: nothing (the audit log says if it was delivered)."""


@dataclasses.dataclass(frozen=True)
class ClientPlan:
    """What is due for one client at a time: now, later (with when), notes on drift, or the error reading it."""

    client: ClientSpec
    at: datetime
    due: tuple[Due, ...] = ()
    later: tuple[Due, ...] = ()
    notes: tuple[str, ...] = ()
    error: str | None = None
    active: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON output shows it."""
        return {
            "name": self.client.ref.name,
            "env": self.client.ref.env.value,
            "client_id": self.client.client_id,
            "active": self.active,
            "due": [item.to_dict() for item in self.due],
            "later": [item.to_dict() for item in self.later],
            "notes": list(self.notes),
            "error": self.error,
        }


class Outcome(StrEnum):
    """Where a client is after ``apply``."""

    CONVERGED = "converged"
    """Nothing is due now (later steps may be scheduled)."""
    FAILED = "failed"
    WAITING = "waiting"
    """Waiting on a person: a manual registration not yet proven."""
    INTERRUPTED = "interrupted"
    """The run was stopped (Ctrl-C, SIGTERM) before this client got where the manifest wants it."""


class _Stopped(Exception):
    """The stop signal was seen before a step: the client's result is ``interrupted`` (not an error)."""


@dataclasses.dataclass(frozen=True)
class ClientResult:
    """What ``apply`` did for one client."""

    client: ClientSpec
    outcome: Outcome
    steps: tuple[str, ...]
    error: str | None = None
    next: Due | None = None
    paste: str | None = None
    """For a manual registration: the JWKS to paste into the portal."""

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON output shows it."""
        return {
            "name": self.client.ref.name,
            "env": self.client.ref.env.value,
            "client_id": self.client.client_id,
            "outcome": self.outcome.value,
            "steps": list(self.steps),
            "error": self.error,
            "next": None if self.next is None else self.next.to_dict(),
            "paste": self.paste,
        }


@dataclasses.dataclass(frozen=True)
class RunResult:
    """A whole ``apply``: its id, the manifest, each client's result."""

    run_id: str
    manifest: str
    started: datetime
    results: tuple[ClientResult, ...]
    stopped: bool = False
    """The stop signal came (Ctrl-C, SIGTERM): no step started after it."""

    def count(self, outcome: Outcome) -> int:
        """How many clients ended with ``outcome``."""
        return sum(1 for result in self.results if result.outcome is outcome)

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON output shows it."""
        return {
            "run": self.run_id,
            "manifest": self.manifest,
            "started": format_time(self.started),
            "converged": self.count(Outcome.CONVERGED),
            "failed": self.count(Outcome.FAILED),
            "waiting": self.count(Outcome.WAITING),
            "interrupted": self.count(Outcome.INTERRUPTED),
            "stopped": self.stopped,
            "clients": [result.to_dict() for result in self.results],
        }


def read_history(store_events: Sequence[Mapping[str, Any]]) -> History:
    """The fleet's events in an audit log, indexed by (set, env, kid): the latest time of each kind."""
    history: History = {}
    for event in store_events:
        to = event.get("to")
        if not isinstance(to, str) or not to.startswith(FLEET_PREFIX):
            continue
        kind = to[len(FLEET_PREFIX) :]
        if kind not in ("registered", "proven", "delivered"):
            continue
        try:
            when = parse_time(event.get("time"), "an audit event's time")
        except StoreCorruptError:
            continue
        key = (str(event.get("set")), str(event.get("env")), str(event.get("kid")))
        item = history.setdefault(key, KidHistory())
        current = getattr(item, kind)
        if current is None or when > current:
            setattr(item, kind, when)
    return history


def _days(value: timedelta) -> str:
    return format_duration(value) if value < timedelta(days=2) else f"{value.days}d"


def decide(obs: Observation, now: datetime) -> ClientPlan:
    """Every step due for one client at ``now`` (and the next ones later), each with its reason."""
    client, keyset, policy = obs.client, obs.keyset, obs.client.policy
    dues: list[Due] = []
    notes: list[str] = []
    active = keyset.active if keyset is not None else None
    waiting = next((key for key in keyset.keys if key.state is KeyState.NEXT), None) if keyset else None
    _check_deliveries_are_ours(client, keyset, obs.delivered)
    if keyset is None or (active is None and waiting is None):
        what = "no key set in the store" if keyset is None else "the set has no active or next key"
        _check_room(client, keyset, obs.registered)
        return _plan(client, now, [Due(StepKind.GENERATE, f"missing key: {what}")], notes, active)
    retiring = [key for key in keyset.keys if key.state is KeyState.RETIRING]
    hist = obs.history
    theirs: dict[str, RegisteredKey] | None = None
    if obs.registered is not None:
        theirs = {key.kid: key for key in obs.registered}
        missing = [key.kid for key in keyset.registered if key.kid not in theirs]
        changed = [
            key.kid
            for key in keyset.registered
            if key.kid in theirs and theirs[key.kid].thumbprint not in (None, key.thumbprint)
        ]
        if missing:
            dues.append(Due(StepKind.REGISTER, f"missing registration: {', '.join(missing)} not registered at Digdir"))
        if changed:
            dues.append(Due(StepKind.REGISTER, f"drift: Digdir holds another key under kid {', '.join(changed)}"))
        stale = [kid for kid in theirs if (known := keyset.key(kid)) is not None and not known.state.registered]
        if stale:
            dues.append(Due(StepKind.UNREGISTER, f"drift: Digdir still holds {', '.join(stale)}, retired in the store"))
        foreign = [kid for kid in theirs if keyset.key(kid) is None]
        if foreign:
            notes.append(f"drift: Digdir holds {', '.join(foreign)}, unknown to the store (kept)")

    def proven(record: KeyRecord) -> bool:
        item = hist.get(record.kid)
        if item is None or item.proven is None:
            return False
        return item.registered is None or item.proven >= item.registered

    def gate(record: KeyRecord) -> None:
        """Prove a key registered but not proven (api), or wait for a person (manual)."""
        if client.register == "manual":
            dues.append(
                Due(
                    StepKind.MANUAL,
                    f"register {record.kid} in Digdir's portal (the set to paste is printed), then a token proves it",
                    record.kid,
                )
            )
            return
        item = hist.get(record.kid)
        if theirs is None:  # offline: the audit log says whether apply registered it
            if item is None or item.registered is None:
                dues.append(
                    Due(
                        StepKind.REGISTER,
                        f"{record.kid} has no registration in the audit log (offline: Digdir's set is not read)",
                        record.kid,
                    )
                )
                return
        elif record.kid not in theirs:
            return  # registering comes first
        registered_at = item.registered if item is not None and item.registered is not None else now
        ready = registered_at + policy.propagation
        reason = f"{record.kid} is registered, not yet proven: a token signed with it" + (
            "" if ready <= now else f" (after propagation, {format_duration(policy.propagation)})"
        )
        dues.append(Due(StepKind.PROVE, reason, record.kid, None if ready <= now else ready))

    active_proven = active is not None and proven(active)
    if active is not None and not active_proven:
        gate(active)
    if waiting is not None:
        if proven(waiting):
            dues.append(
                Due(StepKind.PROMOTE, f"{waiting.kid} is registered and proven: it becomes active", waiting.kid)
            )
        else:
            gate(waiting)
    for delivery, seen in zip(client.deliver, obs.delivered or (), strict=False):
        if obs.offline and not delivery.local:
            notes.append(f"{delivery.describe()} not checked offline: plan without --offline reads it")
        elif seen is not None and not seen.readable:
            notes.append(f"{delivery.describe()} cannot be read back: apply goes by its audit log")
    delivered_ok = True
    if active is not None and active_proven:
        for index, delivery in enumerate(client.deliver):
            held = obs.delivered[index] if obs.delivered is not None else None
            if obs.delivered is not None and (held is None or held.readable):
                if held is None or held.kid != active.kid or held.thumbprint not in (None, active.thumbprint):
                    delivered_ok = False
                    if held is None:
                        holds = "nothing"
                    elif held.kid is None:
                        holds = "no kid jwks-tool wrote"
                    else:
                        holds = f"kid {printable(held.kid, limit=80)}"
                    dues.append(
                        Due(
                            StepKind.DELIVER,
                            f"drift: {delivery.describe()} holds {holds}, the active key is {active.kid}",
                            active.kid,
                        )
                    )
            elif hist.get(active.kid) is None or hist[active.kid].delivered is None:  # offline, or not readable
                delivered_ok = False
                dues.append(
                    Due(StepKind.DELIVER, f"{active.kid} has not been delivered to {delivery.describe()}", active.kid)
                )
    if retiring and active is not None and active_proven and delivered_ok:
        item = hist.get(active.kid)
        since = max(transition_time(key, KeyState.RETIRING) for key in retiring)
        if client.deliver:
            since = max(since, item.delivered if item is not None and item.delivered is not None else now)
        ready = since + policy.overlap
        kids = ", ".join(key.kid for key in retiring)
        dues.append(
            Due(
                StepKind.FINISH,
                f"{kids} retiring: leaves the registered set {format_duration(policy.overlap)} after "
                f"{active.kid} was delivered",
                kids,
                None if ready <= now else ready,
            )
        )
    if waiting is None and active is not None:
        dues.extend(_rotation_due(active, theirs, policy.rotate_after, policy.renew_before, now))
    made = _plan(client, now, dues, notes, active)
    if made.due and made.due[0].step in (StepKind.GENERATE, StepKind.START):
        _check_room(client, keyset, obs.registered)
    return made


def _check_deliveries_are_ours(
    client: ClientSpec, keyset: KeySet | None, delivered: Sequence[DeliveredKey | None] | None
) -> None:
    """Refuse to deliver over a key this store did not make: a delivery whose jwks-tool mark names a kid the store
    does not know holds another store's key (a laptop's and CI's, or a store that was lost), and each run would
    replace the other's, so the consumers' key would flip. Unless the delivery says ``adopt = true``."""
    for delivery, held in zip(client.deliver, delivered or (), strict=False):
        if held is None or not held.readable or held.kid is None or delivery.adopt:
            continue
        if keyset is None or keyset.key(held.kid) is None:
            raise ConflictError(
                f"{delivery.describe()} holds {printable(held.kid, limit=80)}, a key this store does not know "
                "(another store's, or one that was lost): each would replace the other's key",
                hint="point the manifest at the store that made it (store = ...), or set adopt = true on this "
                "delivery to replace it",
            )


def _check_room(client: ClientSpec, keyset: KeySet | None, registered: Sequence[RegisteredKey] | None) -> None:
    """Refuse to make a key that could not be registered: the set registered after it (the store's registered keys,
    keys Digdir holds that the store does not know, and the new key) would hold more than Digdir's limit. Raised
    before the key is generated, so ``plan`` shows it as the client's error and ``apply`` makes no key."""
    ours = list(keyset.registered) if keyset is not None else []
    foreign = [key.kid for key in registered or () if keyset is None or keyset.key(key.kid) is None]
    count = len(ours) + len(foreign) + 1
    if count <= MAX_REGISTERED:
        return
    if foreign and keyset is None:
        held = f"Digdir holds {', '.join(printable(kid, limit=80) for kid in foreign)}, unknown to the store"
        fix = "remove some in Digdir's portal (the store has no key of this client to register instead)"
    elif foreign:
        held = f"Digdir holds {', '.join(printable(kid, limit=80) for kid in foreign)}, unknown to the store"
        fix = (
            "remove them in Digdir's portal, or register the store's keys alone: `jwks-tool portal push "
            f"{client.ref.name} --env {client.ref.env.value} --client-id {client.client_id} --replace` with your "
            "sign-in options"
        )
    else:
        retiring = [key.kid for key in ours if key.state is KeyState.RETIRING]
        held = f"the store still registers {', '.join(retiring) or ', '.join(key.kid for key in ours)}"
        fix = "let apply finish the rotations in progress (after their overlap), then run it again"
    raise ProfileError(
        f"a new key would make {count} registered keys, more than Digdir's {MAX_REGISTERED} ({held}), so none is made",
        hint=fix,
    )


def _rotation_due(
    active: KeyRecord,
    theirs: Mapping[str, RegisteredKey] | None,
    rotate_after: timedelta,
    renew_before: timedelta,
    now: datetime,
) -> list[Due]:
    reasons: list[tuple[datetime, str, str]] = [
        (
            active.created + rotate_after,
            f"age {_days(now - active.created)} >= rotate_after {_days(rotate_after)}",
            f"{active.kid} reaches rotate_after {_days(rotate_after)}",
        ),
        (
            active.expires - renew_before,
            f"expiry: {active.kid} expires {active.expires:%Y-%m-%d} (within renew_before {_days(renew_before)})",
            f"{active.kid} expires {active.expires:%Y-%m-%d} (renew_before {_days(renew_before)})",
        ),
    ]
    digdir = theirs.get(active.kid) if theirs is not None else None
    if digdir is not None and digdir.exp is not None:
        reasons.append(
            (
                digdir.exp - renew_before,
                f"Digdir-side expiry: Digdir reports exp {digdir.exp:%Y-%m-%d} (within renew_before "
                f"{_days(renew_before)})",
                f"Digdir reports exp {digdir.exp:%Y-%m-%d} for {active.kid} (renew_before {_days(renew_before)})",
            )
        )
    due_now = [reason for when, reason, _ in reasons if when <= now]
    if due_now:
        return [Due(StepKind.START, "; ".join(due_now), active.kid)]
    when, _, later = min(reasons)
    return [Due(StepKind.START, f"rotation: {later}", at=when)]


def _plan(client: ClientSpec, now: datetime, dues: list[Due], notes: list[str], active: KeyRecord | None) -> ClientPlan:
    dues.sort(key=lambda item: ORDER.index(item.step))
    due_now = tuple(item for item in dues if item.at is None or item.at <= now)
    later = tuple(sorted((item for item in dues if item.at is not None and item.at > now), key=lambda d: d.at or now))
    return ClientPlan(client, now, due_now, later, tuple(notes), active=None if active is None else active.kid)


@dataclasses.dataclass
class Fleet:
    """Plan and apply a manifest over a key service and the ports (see the module docstring)."""

    manifest: Manifest
    service: KeyService
    registrar: Callable[[ClientSpec], Registrar]
    """The Registrar of a ``register = "api"`` client (built lazily: a manual client never needs one)."""
    prover: Prover
    deliverer: Deliverer
    clock: Clock
    workers: int = 8
    max_wait: timedelta = timedelta(minutes=10)
    """apply waits this long at most for a key's propagation before it proves it; longer waits end the run."""
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:12])
    on_progress: Callable[[ClientResult], None] | None = None
    """Told each client's result as it finishes (from its worker thread)."""
    on_step: Callable[[ClientSpec, str], None] | None = None
    """Told what a worker starts doing for a client ("read", a step's name, "wait for propagation"), for a progress
    display (from the worker thread)."""
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    """The stop signal: set it (or press Ctrl-C while :meth:`apply` runs) and no new step starts."""
    _history: History = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    # ---- reading ------------------------------------------------------------------------------------------------
    def load_history(self) -> None:
        """Read the fleet's events from the store's audit log (once per run)."""
        self._history = read_history(self.service.store.read_audit())

    def _client_history(self, client: ClientSpec) -> dict[str, KidHistory]:
        name, env = client.ref.name, client.ref.env.value
        with self._lock:
            return {
                kid: dataclasses.replace(item)
                for (set_name, set_env, kid), item in self._history.items()
                if set_name == name and set_env == env
            }

    def observe(self, client: ClientSpec, *, offline: bool = False) -> Observation:
        """Read a client's state: its set, its deliveries (``offline``: only those on this machine's file system)
        and unless ``offline`` its registered set."""
        keyset = self.service.store.read_set(client.ref)
        registered: tuple[RegisteredKey, ...] | None = None
        if not offline and client.register == "api":
            registered = tuple(self.registrar(client).get(client))
        delivered = tuple(  # offline: the local files are read (read-only, no network), the others are not
            NOT_CHECKED if offline and not delivery.local else self.deliverer.delivered(client, delivery)
            for delivery in client.deliver
        )
        return Observation(client, keyset, registered, delivered, self._client_history(client), offline=offline)

    def plan(self, *, at: datetime | None = None, offline: bool = False) -> list[ClientPlan]:
        """What is due for every client at ``at`` (default now); reads only. A client that cannot be read gets an
        ``error`` and the others are planned."""
        self.load_history()
        when = at or self.clock.now()

        def one(client: ClientSpec) -> ClientPlan:
            try:
                return decide(self.observe(client, offline=offline), when)
            except JwksToolError as exc:
                return ClientPlan(client, when, error=exc.diagnostics())

        if offline or len(self.manifest.clients) < 2:
            return [one(client) for client in self.manifest.clients]
        with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="jwks-tool-plan") as pool:
            return list(pool.map(one, self.manifest.clients))

    # ---- doing --------------------------------------------------------------------------------------------------
    def apply(self, *, max_changes: int | None = None) -> RunResult:
        """Do what is due now for every client (bounded concurrency across clients); see the module docstring."""
        started = self.clock.now()
        if self.service.store.read_config() is None:  # made once, before the workers (each would race to make it)
            self.service.init_store()
        self.service.unlock()  # here, on this thread: a prompt never waits on a worker, a wrong passphrase does nothing
        if max_changes is not None:
            plans = self.plan()
            touched = [item for item in plans if item.due or item.error]
            if len(touched) > max_changes:
                raise AbortedError(
                    f"{len(touched)} clients have changes due, more than --max-changes {max_changes}: nothing was done",
                    hint="run `jwks-tool plan` to see them, then raise --max-changes or apply a smaller manifest",
                )
        else:
            self.load_history()
        self._event_run("started")
        results = self._run_clients()
        run = RunResult(self.run_id, self.manifest.path, started, tuple(results), stopped=self.stop.is_set())
        counts = (
            f"{run.count(Outcome.CONVERGED)} converged, {run.count(Outcome.FAILED)} failed, "
            f"{run.count(Outcome.WAITING)} waiting"
        )
        if run.stopped:
            counts = f"interrupted: {counts}, {run.count(Outcome.INTERRUPTED)} interrupted"
        self._event_run(f"ended: {counts}")
        return run

    def _run_clients(self) -> list[ClientResult]:
        """Each client on a worker thread (``workers`` at once) while this thread waits and watches for the stop
        signal: a KeyboardInterrupt here (Ctrl-C; the CLI turns SIGTERM into one) sets it, queued clients are
        cancelled, and the steps in flight finish. A second KeyboardInterrupt while they finish goes out of here."""
        clients = self.manifest.clients
        if not clients:
            return []
        pool = ThreadPoolExecutor(
            max_workers=max(1, min(self.workers, len(clients))), thread_name_prefix="jwks-tool-apply"
        )
        futures: list[Future[ClientResult]] = []
        try:
            try:
                for client in clients:
                    futures.append(pool.submit(self._apply_client, client))
                pending: set[Future[ClientResult]] = set(futures)
                while pending and not self.stop.is_set():
                    pending = wait(pending, timeout=STOP_POLL_SECONDS).not_done
            except KeyboardInterrupt:
                self.stop.set()
            if self.stop.is_set():
                pool.shutdown(wait=False, cancel_futures=True)
            wait(futures)  # the steps in flight finish (each client's worker sees the signal before its next step)
        finally:
            pool.shutdown(wait=False)
        results: list[ClientResult] = []
        for index, client in enumerate(clients):
            future = futures[index] if index < len(futures) else None
            if future is None or future.cancelled():
                results.append(self._result(client, Outcome.INTERRUPTED, []))
            else:
                results.append(future.result())
        return results

    def _doing(self, client: ClientSpec, what: str) -> None:
        if self.on_step is not None:
            self.on_step(client, what)

    def _check_stop(self) -> None:
        """Before a step: stop here when the stop signal was given."""
        if self.stop.is_set():
            raise _Stopped

    def _apply_client(self, client: ClientSpec) -> ClientResult:
        done: list[str] = []
        paste: str | None = None
        waited = False
        step: Due | None = None
        try:
            for _ in range(MAX_STEPS_PER_CLIENT):
                step = None
                self._check_stop()
                self._doing(client, "read")
                obs = self.observe(client)
                self._note_observed(obs)
                obs = dataclasses.replace(obs, history=self._client_history(client))
                plan = decide(obs, self.clock.now())
                if not plan.due:
                    upcoming = plan.later[0] if plan.later else None
                    if (
                        not waited
                        and upcoming is not None
                        and upcoming.step is StepKind.PROVE
                        and upcoming.at is not None
                        and upcoming.at - self.clock.now() <= self.max_wait
                    ):
                        step = upcoming
                        self._check_stop()
                        self._doing(client, "wait for propagation")
                        self.clock.sleep((upcoming.at - self.clock.now()).total_seconds(), self.stop)
                        self._check_stop()  # woken by the stop signal: the proof waits for the next run
                        waited = True
                        continue
                    return self._result(client, Outcome.CONVERGED, done, next_due=upcoming, paste=paste)
                step = plan.due[0]
                self._check_stop()
                self._doing(client, step.step.value)
                if step.step is StepKind.MANUAL:
                    paste = self._registered_jwks_text(obs)
                    if not self._try_manual_proof(obs, step):
                        return self._result(client, Outcome.WAITING, done, next_due=step, paste=paste)
                    done.append(f"proven {step.kid} (manual registration)")
                    continue
                done.append(self._do(obs, step))
            raise RemoteError(
                f"{client.label} did not converge in {MAX_STEPS_PER_CLIENT} steps",
                hint="run `jwks-tool plan` and report what it shows",
            )
        except _Stopped:
            return self._result(client, Outcome.INTERRUPTED, done, next_due=step, paste=paste)
        except JwksToolError as exc:
            self._event(client, None, "failed", exc.diagnostics())
            return self._result(client, Outcome.FAILED, done, error=exc.diagnostics(), paste=paste)

    def _result(
        self,
        client: ClientSpec,
        outcome: Outcome,
        done: list[str],
        *,
        error: str | None = None,
        next_due: Due | None = None,
        paste: str | None = None,
    ) -> ClientResult:
        result = ClientResult(client, outcome, tuple(done), error, next_due, paste)
        if self.on_progress is not None:
            self.on_progress(result)
        return result

    def _note_observed(self, obs: Observation) -> None:
        """A key Digdir holds, or a delivery holds, with no event of ours (a run killed between the change and its
        audit event, or another run): recorded now, so propagation and overlap count from now (never earlier)."""
        keyset = obs.keyset
        if keyset is None:
            return
        if obs.registered is not None:
            for key in obs.registered:
                record = keyset.key(key.kid)
                if record is None or not record.state.registered:
                    continue
                item = obs.history.get(key.kid)
                if item is None or item.registered is None:
                    self._event(obs.client, record, "registered", "observed at Digdir (no event of this run)")
        active = keyset.active
        if (
            active is not None
            and obs.delivered
            and all(held is not None and held.readable and held.kid == active.kid for held in obs.delivered)
        ):
            item = obs.history.get(active.kid)
            if item is not None and item.proven is not None and item.delivered is None:
                self._event(obs.client, active, "delivered", "observed in every delivery (no event of this run)")

    def _do(self, obs: Observation, step: Due) -> str:
        client, keyset = obs.client, obs.keyset
        svc = self.service
        name, env = client.ref.name, client.ref.env.value
        policy = client.policy
        request = GenerateRequest(name=name, env=env, profile=policy.profile, size=policy.size, alg=policy.alg)
        if step.step is StepKind.GENERATE:
            made = svc.generate(request, only_if_no_next=True) if keyset is not None else svc.generate(request)
            self._event(client, made, "generated", step.reason)
            return f"generated {made.kid}"
        assert keyset is not None
        if step.step is StepKind.START:
            current = svc.store.read_set(client.ref)  # decided on a read taken earlier: another run may have rotated
            if (
                current is None
                or current.active is None
                or current.active.kid != step.kid
                or any(key.state is KeyState.NEXT for key in current.keys)
            ):
                return "rotation already under way (another run)"
            # checked again under the store's lock as the key is written: another run may rotate while this one
            # generates its key (a second rotation otherwise)
            result = Rotation(svc).start(name, env, dataclasses.replace(request, profile=None), expect_active=step.kid)
            if result.added is not None:
                self._event(client, result.added, "started", step.reason)
            return result.summary
        if step.step in (StepKind.REGISTER, StepKind.UNREGISTER):
            return self._register(obs, step)
        if step.step is StepKind.PROVE:
            record = keyset.key(step.kid or "")
            if record is None:
                raise RemoteError(f"{client.label}: the key {step.kid} is gone", hint="run apply again")
            self.prover.prove(client, keyset, record)
            self._event(client, record, "proven", f"Maskinporten issued a token signed with {record.kid}")
            return f"proven {record.kid}"
        if step.step is StepKind.PROMOTE:
            result = Rotation(svc).promote(name, env)
            self._event(client, keyset.key(step.kid or ""), "promoted", result.summary)
            return result.summary
        if step.step is StepKind.DELIVER:
            return self._deliver(obs)
        if step.step is StepKind.FINISH:
            result = Rotation(svc).finish(name, env, overlap=policy.overlap)
            for record in result.removed:
                self._event(client, record, "finished", result.summary)
            if client.register == "manual" and result.removed:
                return result.summary + f"; delete {', '.join(k.kid for k in result.removed)} in Digdir's portal"
            return result.summary
        raise AssertionError(step.step)  # pragma: no cover

    def _register(self, obs: Observation, step: Due) -> str:
        """PUT the whole registered set: the store's registered keys (read again under its lock, so a concurrent
        run's new key is in it) plus keys Digdir holds that the store does not know."""
        client = obs.client
        summary = ""
        for attempt in range(3):  # the set again from the store if another run changed it during the PUT
            if attempt:
                self._check_stop()
            summary, revision = self._put_registered(obs, step)
            with self.service.store.lock():
                after = self.service.store.read_set(client.ref)
            if after is None or after.revision == revision:
                break
            obs = dataclasses.replace(obs, registered=tuple(self.registrar(client).get(client)))
        return summary

    def _put_registered(self, obs: Observation, step: Due) -> tuple[str, int]:
        client = obs.client
        with self.service.store.lock():
            keyset = self.service.store.read_set(client.ref)
        if keyset is None or (keyset.active is None and not keyset.registered):
            raise RemoteError(f"{client.label}: the key set changed under this run", hint="run apply again")
        ours = [public_jwk(dict(key.public_jwk)) for key in keyset.registered]
        foreign = [key.jwk for key in obs.registered or () if keyset.key(key.kid) is None and key.jwk]
        wanted = ours + foreign
        if len(wanted) > MAX_REGISTERED:
            raise ProfileError(
                f"{client.label} would have {len(wanted)} registered keys, more than Digdir's {MAX_REGISTERED}",
                hint="delete the keys the store does not know in Digdir's portal, or finish rotations in progress",
            )
        active = keyset.active
        if active is not None and all(key.get("kid") != active.kid for key in wanted):  # pragma: no cover - invariant
            raise ProfileError(f"{client.label}: the set to register lacks the active key", hint="report this")
        before = {key.kid: key for key in obs.registered or ()}
        self.registrar(client).put(client, wanted)
        for record in keyset.registered:
            seen = before.get(record.kid)
            if seen is None or seen.thumbprint not in (None, record.thumbprint):
                self._event(client, record, "registered", f"registered at Digdir (PUT of {len(wanted)} keys)")
        for kid in before:
            gone = keyset.key(kid)
            if gone is not None and not gone.state.registered:
                self._event(client, gone, "unregistered", f"removed from Digdir's registered set ({step.reason})")
        kids = ", ".join(str(key.get("kid")) for key in wanted)
        return f"registered {kids}", keyset.revision

    def _deliver(self, obs: Observation) -> str:
        client, keyset = obs.client, obs.keyset
        assert keyset is not None
        active = keyset.active
        if active is None:
            raise RemoteError(f"{client.label}: no active key to deliver", hint="run apply again")
        if client.register == "api" and client.deliver:  # the active key must still be registered (a race)
            registered = {key.kid for key in self.registrar(client).get(client)}
            if active.kid not in registered:
                raise RemoteError(
                    f"{client.label}: {active.kid} left Digdir's registered set before it was delivered",
                    hint="run apply again: it registers the set again and proves the key before delivering it",
                )
        for index, delivery in enumerate(client.deliver):
            held = obs.delivered[index] if obs.delivered is not None else None
            if (
                held is not None
                and held.readable
                and held.kid == active.kid
                and held.thumbprint in (None, active.thumbprint)
            ):
                continue
            self._check_stop()  # another delivery is another step (the next run delivers the rest)
            self.deliverer.deliver(client, delivery, keyset, active)
            back = self.deliverer.delivered(client, delivery)
            if back is not None and not back.readable:
                continue  # nothing to read back: the audit event below is the record
            if back is None or back.kid != active.kid or back.thumbprint not in (None, active.thumbprint):
                raise RemoteError(
                    f"{client.label}: {delivery.describe()} does not hold {active.kid} after it was written",
                    hint="check who else writes that secret",
                )
        self._event(client, active, "delivered", f"delivered to {len(client.deliver)} place(s)")
        return f"delivered {active.kid}"

    def _try_manual_proof(self, obs: Observation, step: Due) -> bool:
        keyset = obs.keyset
        record = keyset.key(step.kid or "") if keyset is not None else None
        if keyset is None or record is None:
            return False
        try:
            self.prover.prove(obs.client, keyset, record)
        except RemoteError as exc:
            self._event(obs.client, record, "waiting", f"not yet registered: {exc.message}")
            return False
        now = self.clock.now()
        self._event(obs.client, record, "registered", "registered by a person (a token proves it)", at=now)
        self._event(obs.client, record, "proven", f"Maskinporten issued a token signed with {record.kid}", at=now)
        return True

    @staticmethod
    def _registered_jwks_text(obs: Observation) -> str | None:
        import json

        if obs.keyset is None:
            return None
        keys = [public_jwk(dict(key.public_jwk)) for key in obs.keyset.registered]
        return json.dumps({"keys": keys}, indent=2)

    # ---- the audit log ------------------------------------------------------------------------------------------
    def _event(
        self, client: ClientSpec, record: KeyRecord | None, what: str, reason: str, *, at: datetime | None = None
    ) -> None:
        when = at or self.clock.now()
        named = record is not None  # an event without a key may come before the set exists: `check` would take
        event = {  # a set the log names but the store lacks for a deleted set (set-missing), so it names the client
            "time": format_time(when),
            "user": actor(),
            "command": self.service.command,
            "set": client.ref.name if named else None,
            "env": client.ref.env.value if named else None,
            "client": client.label,
            "kid": None if record is None else record.kid,
            "from": None if record is None else record.state.value,
            "to": FLEET_PREFIX + what,
            "reason": reason,
            "revision": None,
            "manifest": self.manifest.path,
            "run": self.run_id,
        }
        self._append([event])
        if record is not None and what in ("registered", "proven", "delivered"):
            with self._lock:
                item = self._history.setdefault((client.ref.name, client.ref.env.value, record.kid), KidHistory())
                setattr(item, what, when)

    def _event_run(self, what: str) -> None:
        event = {
            "time": format_time(self.clock.now()),
            "user": actor(),
            "command": self.service.command,
            "set": None,
            "env": None,
            "kid": None,
            "from": None,
            "to": FLEET_PREFIX + "run",
            "reason": f"apply {what}",
            "revision": None,
            "manifest": self.manifest.path,
            "run": self.run_id,
        }
        self._append([event])

    def _append(self, events: list[dict[str, Any]]) -> None:
        store = self.service.store
        with self._lock, store.lock():
            store.append_audit(events)
