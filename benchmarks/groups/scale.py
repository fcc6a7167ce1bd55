"""Group ``scale`` (README figure 4): ``jwks-tool status`` and ``jwks-tool check`` on 100, 1,000 and 10,000 keys.

Three file stores of ten-key sets are written fast (:func:`build_scale_store`, through the file store's own atomic
write), then both commands are timed round-robin on all three. Figures: the time on 10,000 keys (under 1 s) and the
time per key at 10,000 against 1,000 (linearity), with the whole curve in the notes.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.harness import BenchmarkError, Context, Mode, finish, passphrase, run_command, time_command
from benchmarks.results import Comparison, Results, align, ms, show_time

if TYPE_CHECKING:
    from jwks_tool.core.model import KeySet

SCALE_SIZES = ((10, 100), (100, 1_000), (1_000, 10_000))
"""(sets, keys) of the scale stores: ten keys a set. The first is the start-up, the last is judged."""
SCALE_KEYS_PER_SET = 10
SCALE_LIMIT = 1.0
"""Seconds: ``status`` and ``check`` on 10,000 keys must take less."""
LINEARITY_TARGET = 2.0
"""Time per key at 10,000 keys over time per key at 1,000 keys (start-up subtracted) must be at most this."""
SCALE_WARN_EVERY = 100
"""Every 100th set's active key expires in 30 days, so ``check`` has a few warnings to print (and exits 1)."""
SEALED_PLACEHOLDER = "benchmark-placeholder-not-a-sealed-key"
COMMANDS = {"status": 0, "check": 1}
"""Each command and the exit status it must give (check: 1, the warnings of the sets that expire soon)."""


def scale_keyset(index: int, public: Mapping[str, Any], now: datetime) -> KeySet:
    """Set ``index`` of a scale store: ten keys as years of rotation leave them, public JWKs copied from one key.

    Key k was made 2 + 90 x (9 - k) days ago, as next; promoted 2 days later; it became retiring when the key after
    it was promoted and retired a day after that. So keys 0-6 are retired (private halves destroyed), 7 is retiring,
    8 active and 9 next (2 days old). Every ``SCALE_WARN_EVERY``-th set's active key expires in 30 days.
    """
    from jwks_tool.core import keys as keymod
    from jwks_tool.core.model import Env, KeyRecord, KeySet, KeyState, Kid, Origin, SetRef, Thumbprint, Transition

    ref = SetRef(f"client-{index:04d}", Env.TEST if index % 2 == 0 else Env.PROD)
    made = [now - timedelta(days=2 + 90 * (SCALE_KEYS_PER_SET - 1 - k)) for k in range(SCALE_KEYS_PER_SET)]
    records = []
    for k, created in enumerate(made):
        last = SCALE_KEYS_PER_SET - 1
        history = [Transition(created, None, KeyState.ACTIVE if k == 0 else KeyState.NEXT, "generated")]
        if 0 < k < last:
            history.append(Transition(created + timedelta(days=2), KeyState.NEXT, KeyState.ACTIVE, "promote"))
        if k < last - 1:
            history.append(Transition(made[k + 1] + timedelta(days=2), KeyState.ACTIVE, KeyState.RETIRING, "promote"))
        if k < last - 2:
            history.append(Transition(made[k + 1] + timedelta(days=3), KeyState.RETIRING, KeyState.RETIRED, "finish"))
        state = history[-1].to_state
        expires = created + timedelta(days=365)
        if state is KeyState.ACTIVE and index % SCALE_WARN_EVERY == 0:
            expires = now + timedelta(days=30)
        thumb = keymod.thumbprint(public)  # every read checks it: the one public key stands in for each key
        kid = keymod.readable_kid(ref.name, ref.env.value, created, thumb)
        records.append(
            KeyRecord(
                kid=Kid(kid),
                kty="RSA",
                alg="RS256",
                size=3072,
                crv=None,
                thumbprint=Thumbprint(thumb),
                created=created,
                expires=expires,
                state=state,
                origin=Origin.GENERATED,
                public_jwk=keymod.decorate(public, kid=kid, alg="RS256", exp=int(expires.timestamp())),
                sealed_private=None if state is KeyState.RETIRED else SEALED_PLACEHOLDER,
                history=tuple(history),
            )
        )
    return KeySet(ref=ref, profile="maskinporten", keys=tuple(records), created=made[0], updated=now)


def build_scale_store(ctx: Context, sets: int, public: Mapping[str, Any]) -> Path:
    """A file store with ``sets`` sets of ten keys, each set document written by ``FileStore.write_set``."""
    from jwks_tool.core.model import utcnow
    from jwks_tool.services.key_service import KeyService
    from jwks_tool.stores.file import FileStore

    path = ctx.workdir / f"store-scale-{sets * SCALE_KEYS_PER_SET}"
    store = FileStore.from_url(str(path))
    KeyService(store, passphrase).init_store()  # a real store.json (one KDF run)
    now = utcnow()
    for index in range(sets):
        store.write_set(scale_keyset(index, public, now), expected_revision=0)
    return path


def _check_output(ctx: Context, stores: Mapping[int, Path]) -> None:
    """The warm-up run of each command on each store, checked: the exit status, and every set in the output."""
    for sets, keys in SCALE_SIZES:
        env = ctx.env(stores[keys], passphrase=False)
        for command, expect in COMMANDS.items():
            result = run_command([ctx.jwks_tool, command], env=env, cwd=ctx.workdir)
            stdout = result.stdout.decode("utf-8", "replace")
            shown = (
                sum(1 for line in stdout.splitlines() if re.match(r"^\S+ \((test|prod)\), ", line))
                if command == "status"
                else int(f"{sets} key sets checked" in stdout) * sets
            )
            if result.returncode != expect or shown != sets:
                stderr = result.stderr.decode("utf-8", "replace").strip()[-500:]
                raise BenchmarkError(
                    f"jwks-tool {command} on {keys:,} keys exited {result.returncode} (want {expect}) and showed "
                    f"{shown} of {sets} sets: {stderr}"
                )


def _curve(
    samples: Mapping[tuple[str, int], list[float]], per_key: Mapping[tuple[str, int], list[float]], rounds: int
) -> list[str]:
    """The notes under the table: median time and time per key of both commands at every size."""
    small = SCALE_SIZES[0][1]
    notes = [f"curve (medians of {rounds} rounds; per key = (t - t at {small} keys) / (keys - {small})):"]
    rows: list[Sequence[str]] = [("keys", "sets", "status", "per key", "check", "per key")]
    for sets, keys in SCALE_SIZES:
        row = [f"{keys:,}", f"{sets:,}"]
        for command in COMMANDS:
            row.append(ms(statistics.median(samples[command, keys])))
            row.append(show_time(statistics.median(per_key[command, keys]), "us") if keys != small else "-")
        rows.append(row)
    notes.extend("  " + "  ".join(cells) for cells in align(rows))
    return notes


def scale_figures(ctx: Context, rounds: int) -> list[Comparison]:
    """``jwks-tool status`` and ``jwks-tool check`` on 100, 1,000 and 10,000 keys, sampled round-robin."""
    from jwks_tool.core import keys as keymod

    public = keymod.public_jwk(keymod.generate_private_jwk(kty="RSA", size=3072, crv=None))
    stores: dict[int, Path] = {}
    for sets, keys in SCALE_SIZES:
        started = time.perf_counter()
        stores[keys] = build_scale_store(ctx, sets, public)
        ctx.log(
            f"  wrote {sets:,} sets ({keys:,} keys) with FileStore.write_set in {time.perf_counter() - started:.1f} s"
        )
    _check_output(ctx, stores)
    ctx.log(f"  status and check on {', '.join(f'{keys:,}' for _, keys in SCALE_SIZES)} keys: {rounds} rounds ...")
    samples: dict[tuple[str, int], list[float]] = {(c, keys): [] for c in COMMANDS for _, keys in SCALE_SIZES}
    for _ in range(rounds):
        for _sets, keys in SCALE_SIZES:
            env = ctx.env(stores[keys], passphrase=False)
            for command, expect in COMMANDS.items():
                cmd = [ctx.jwks_tool, command]
                samples[command, keys].append(time_command(cmd, env=env, cwd=ctx.workdir, expect=expect))

    (_, small), (_, mid), (big_sets, big) = SCALE_SIZES
    results: list[Comparison] = []
    per_key: dict[tuple[str, int], list[float]] = {}
    for command in COMMANDS:
        base = samples[command, small]
        for keys in (mid, big):  # the marginal time per key of each round: (t - t at 100 keys) / (keys - 100)
            per_key[command, keys] = [
                (t - t0) / (keys - small) for t, t0 in zip(samples[command, keys], base, strict=True)
            ]
        absolute = Comparison(
            f"scale.{command}",
            f"{command}: {big:,} keys in {big_sets:,} sets",
            f"{big:,} keys",
            f"{small:,} keys",
            samples[command, big],
            base,
            None,
            limit=SCALE_LIMIT,
        )
        linearity = Comparison(
            f"scale.{command}.linearity",
            f"{command}: time per key at {big:,} / at {mid:,}",
            f"per key at {big:,}",
            f"per key at {mid:,}",
            per_key[command, big],
            per_key[command, mid],
            LINEARITY_TARGET,
            unit="us",
        )
        results += [finish(ctx, absolute), finish(ctx, linearity)]
    results[0].notes.extend(_curve(samples, per_key, rounds))
    return results


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only scale`` runs it: ``runs`` rounds, or the mode's."""
    ctx.log("4. scale: status and check on 100, 1,000 and 10,000 keys")
    return Results(comparisons=scale_figures(ctx, runs or mode.scale))
