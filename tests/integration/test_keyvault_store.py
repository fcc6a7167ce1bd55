"""The Key Vault store against the Key Vault-compatible server, over HTTPS, with the real SDK clients.

The conformance suite, the CLI end to end on a ``https://...?store=keyvault`` store (signing in through the real
ManagedIdentityCredential), concurrent writers (the revision protocol), throttling and dropped connections.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.keyvault.secrets import SecretClient
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from jwks_tool.core.keys import thumbprint
from jwks_tool.core.model import SET_NAME_RE, Env, KeySet, KeyState, SetRef
from jwks_tool.core.sealing import MIN_ITERATIONS, new_passphrase_protection
from jwks_tool.errors import ConflictError, RemoteError, StoreCorruptError, StoreError, StoreVersionError
from jwks_tool.services.key_service import GenerateRequest, KeyService
from jwks_tool.services.rotation import Rotation
from jwks_tool.stores import store_class_for
from jwks_tool.stores.interface import KeyStore
from jwks_tool.stores.keyvault import (
    REFERENCE_PREFIX,
    KeyVaultStore,
    decode_set_name,
    encode_set_name,
    key_secret_name,
    ref_from_secret_name,
    set_secret_name,
)
from jwks_tool.testing.store_conformance import StoreConformance, sample_record, sample_set
from tests.conftest import PASSPHRASE
from tests.servers.keyvault import KeyVaultServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
ACME = SetRef("acme", Env.TEST)


def store_for(vault: KeyVaultServer) -> KeyVaultStore:
    """A store object of its own (as another process or machine would have), with the server's token."""
    return KeyVaultStore(f"{vault.url}?store=keyvault&ca_bundle={vault.ca_path}", credential=vault.credential())


def cli_url(vault: KeyVaultServer) -> str:
    return f"{vault.url}?store=keyvault&credential=managed-identity&ca_bundle={vault.ca_path}"


def reader(vault: KeyVaultServer) -> SecretClient:
    return SecretClient(vault.url, vault.credential(), **vault.client_kwargs())


@pytest.fixture
def kv(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    """The server, with the managed-identity variables set so the CLI signs in through it."""
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


class TestKeyVaultStore(StoreConformance):
    @pytest.fixture
    def store(self, vault: KeyVaultServer) -> KeyStore:
        return store_for(vault)


# ---- names and URLs (no server) -------------------------------------------------------------------------------------
@given(st.from_regex(SET_NAME_RE, fullmatch=True))
def test_set_names_encode_reversibly_into_key_vault_names(name: str) -> None:
    encoded = encode_set_name(name)
    assert set(encoded) <= set("0123456789abcdefghijklmnopqrstuvwxyz-")
    assert decode_set_name(encoded) == name
    for env in Env:
        secret = set_secret_name(SetRef(name, env))
        assert len(secret) <= 127
        assert ref_from_secret_name(secret, {"set": name, "env": env.value}) == SetRef(name, env)


def test_names_that_differ_in_case_get_different_secrets() -> None:
    assert set_secret_name(SetRef("Acme", Env.TEST)) == "jwks-tool-set-test--3acme"
    assert set_secret_name(SetRef("acme", Env.TEST)) == "jwks-tool-set-test-acme"
    assert set_secret_name(SetRef("a.b_c-d", Env.PROD)) == "jwks-tool-set-prod-a-1b-2c-0d"
    assert decode_set_name("a-9b") is None
    assert decode_set_name("-3A") is None
    assert ref_from_secret_name("jwks-tool-set-stage-acme") is None
    assert key_secret_name("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs") == (
        "jwks-tool-key-3736cbb1787cb8309c77ee8c3705c5e16ffb9e859715901f1e4c59b11182f57b"
    )


def test_urls_and_options() -> None:
    url = "https://team-keys.vault.azure.net/?credential=cli&retry_total=2"
    assert store_class_for(url) is KeyVaultStore
    assert store_class_for("https://team.vault.azure.cn/") is KeyVaultStore
    store = KeyVaultStore.from_url(url)
    assert store.describe() == "https://team-keys.vault.azure.net/"
    assert store.connection.credential.value == "cli"
    assert store.connection.retry_total == 2
    emulator = KeyVaultStore.from_url("https://localhost:8443?store=keyvault&verify_challenge_resource=false")
    assert emulator.describe() == "https://localhost:8443/"
    assert emulator.connection.verify_challenge_resource is False
    for bad, message in [
        ("https://x.vault.azure.net/?credential=password", "unknown credential"),
        ("https://x.vault.azure.net/?colour=blue", "unknown option 'colour'"),
        ("https://x.vault.azure.net/?retry_total=many", "retry_total"),
    ]:
        with pytest.raises(StoreError, match=message):
            KeyVaultStore.from_url(bad)


# ---- the CLI on a Key Vault store -----------------------------------------------------------------------------------
def test_cli_end_to_end(run: Run, kv: KeyVaultServer) -> None:
    url = cli_url(kv)
    assert run("generate", "acme", "--size", "2048", "--kid", "k1", "--store", url).exit_code == 0
    public = json.loads(run("export", "acme", "--store", url).output)
    assert public["kid"] == "k1"
    assert "d" not in public
    first = json.loads(run("export", "acme", "--private", "--store", url).output)
    assert first["kid"] == "k1"
    rotated = run("rotate", "acme", "--all-steps", "--overlap", "0", "--store", url)
    assert rotated.exit_code == 0, rotated.stderr
    second = json.loads(run("export", "acme", "--private", "--store", url).output)
    assert second["kid"] != "k1"

    status = run("status", "--store", url)
    assert status.exit_code == 0, status.stderr
    assert second["kid"] in status.output
    log = run("log", "--store", url).output.splitlines()
    assert [line.split()[3:6] for line in log] == [
        ["k1", "new", "->"],
        [second["kid"], "new", "->"],
        ["k1", "active", "->"],
        [second["kid"], "next", "->"],
        ["k1", "retiring", "->"],
    ]
    report = run("report", "--format", "md", "--store", url)
    assert report.exit_code == 0, report.stderr
    assert "acme" in report.output
    assert second["kid"] in report.output

    # the layout: the set document references private halves; the retired key's secret is deleted
    client = reader(kv)
    document = json.loads(client.get_secret("jwks-tool-set-test-acme").value or "")
    keys = {key["kid"]: key for key in document["keys"]}
    assert keys["k1"]["state"] == "retired"
    assert keys["k1"]["sealed_private"] is None
    active = keys[second["kid"]]
    assert active["sealed_private"] == REFERENCE_PREFIX + key_secret_name(active["thumbprint"])
    retired_secret = key_secret_name(keys["k1"]["thumbprint"])
    assert retired_secret in kv.deleted_secret_names()
    names = sorted(props.name or "" for props in client.list_properties_of_secrets())
    assert retired_secret not in names
    assert names == [
        next(n for n in names if n.startswith("jwks-tool-audit-")),
        key_secret_name(active["thumbprint"]),
        "jwks-tool-set-test-acme",
        "jwks-tool-store",
    ]
    key_secret = client.get_secret(key_secret_name(active["thumbprint"]))
    assert key_secret.properties.tags == {
        "set": "acme",
        "env": "test",
        "kid": second["kid"],
        "thumbprint": active["thumbprint"],
    }
    assert (key_secret.value or "").count(".") == 4  # a compact JWE
    # no private member of either key appears in any secret, in any version (the JWE is encrypted)
    private_values = [jwk[member] for jwk in (first, second) for member in ("d", "p", "q")]
    for name in names:
        for props in client.list_properties_of_secret_versions(name):
            value = client.get_secret(name, props.version).value or ""
            for secret in private_values:
                assert secret not in value, name


# ---- concurrency ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Racer:
    created: str | None = None
    conflicts: list[str] = dataclasses.field(default_factory=list)
    errors: list[BaseException] = dataclasses.field(default_factory=list)
    seen: list[KeySet] = dataclasses.field(default_factory=list)


def test_concurrent_rotations_never_lose_a_key(vault: KeyVaultServer) -> None:
    """Ten sets, each rotated by two writers at once (each its own store object, as two machines would be)."""
    protection, _ = new_passphrase_protection(PASSPHRASE, iterations=MIN_ITERATIONS)  # 30 services open it
    store_for(vault).init_config({"created": "2026-01-01T00:00:00Z", "protection": protection})
    rounds = 10
    racers = {(r, w): Racer() for r in range(rounds) for w in range(2)}
    initial: dict[int, str] = {}

    def race(round_: int) -> None:
        name = f"race{round_}"
        svc = KeyService(store_for(vault), lambda confirm: PASSPHRASE)
        initial[round_] = svc.generate(GenerateRequest(name=name, size=2048)).kid
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=rotate, args=(name, racers[round_, w], barrier)) for w in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    def rotate(name: str, racer: Racer, barrier: threading.Barrier) -> None:
        rotation = Rotation(KeyService(store_for(vault), lambda confirm: PASSPHRASE))
        barrier.wait()
        try:
            try:
                started = rotation.start(name, "test", GenerateRequest(name=name, size=2048))
                racer.seen.append(started.keyset)
                racer.created = started.added.kid if started.added else None
                racer.seen.append(rotation.promote(name, "test").keyset)
            except ConflictError as exc:
                racer.conflicts.append(exc.message)
        except BaseException as exc:  # re-raised in the test's thread
            racer.errors.append(exc)

    coordinators = [threading.Thread(target=race, args=(r,)) for r in range(rounds)]
    for thread in coordinators:
        thread.start()
    for thread in coordinators:
        thread.join(timeout=120)

    check = store_for(vault)
    assert sorted(ref.name for ref in check.list_refs()) == sorted(f"race{r}" for r in range(rounds))
    for r in range(rounds):
        pair = [racers[r, 0], racers[r, 1]]
        assert [exc for racer in pair for exc in racer.errors] == []
        keyset = check.read_set(SetRef(f"race{r}", Env.TEST))
        assert keyset is not None
        for seen in [keyset, *(s for racer in pair for s in racer.seen)]:
            assert len([key for key in seen.keys if key.state is KeyState.ACTIVE]) == 1, seen.keys
        reported = {racer.created for racer in pair if racer.created}
        assert reported, "one of the two made the next key"
        # every key reported created is in the set, and a loser left nothing behind
        assert {key.kid for key in keyset.keys} == {initial[r], *reported}
        for racer in pair:
            if racer.created is None:
                assert racer.conflicts, "a racer that made nothing got a ConflictError"
        for key in keyset.keys:  # every private half resolves
            assert key.sealed_private is not None
            assert check.resolve_sealed(key.sealed_private).count(".") == 4
    # no orphan private halves: every live key secret is referenced by its set
    referenced = {
        key.sealed_private.removeprefix(REFERENCE_PREFIX)
        for keyset in check.read_sets()
        for key in keyset.keys
        if key.sealed_private
    }
    assert {name for name in vault.secret_names() if name.startswith("jwks-tool-key-")} == referenced
    assert len(check.read_audit()) >= 2 * rounds


@pytest.mark.parametrize("replies", ["received", "lost"])
def test_a_forced_race_has_exactly_one_winner(vault: KeyVaultServer, replies: str) -> None:
    """Both writers read revision 1; their writes are slowed down so both land before either checks. With the
    replies lost (and no retries), each writer finds its own version by its writer tag: still exactly one wins."""
    first = store_for(vault).write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    vault.faults.latency(0.5, method="PUT", path="/secrets/jwks-tool-set-", count=2)
    if replies == "lost":
        vault.faults.lose_reply(count=2, method="PUT", path="/secrets/jwks-tool-set-")
    barrier = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def write(kid: str) -> None:
        store = KeyVaultStore(
            f"{vault.url}?store=keyvault&ca_bundle={vault.ca_path}&retry_total=0", credential=vault.credential()
        )
        current = store.read_set(ACME)
        assert current is not None
        barrier.wait()
        try:
            outcomes[kid] = store.write_set(
                current.replace_keys([*current.keys, sample_record(kid, KeyState.NEXT)]),
                expected_revision=current.revision,
            )
        except ConflictError as exc:
            outcomes[kid] = exc

    threads = [threading.Thread(target=write, args=(kid,)) for kid in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    won = {kid: result for kid, result in outcomes.items() if isinstance(result, KeySet)}
    lost = {kid: result for kid, result in outcomes.items() if isinstance(result, ConflictError)}
    assert len(won) == 1
    assert len(lost) == 1
    (winner, stored), (loser, error) = next(iter(won.items())), next(iter(lost.items()))
    assert "changed by someone else at the same time; run the command again" in error.message
    faults = "latency+lose_reply" if replies == "lost" else "latency"
    assert len([r for r in vault.requests if r.method == "PUT" and r.fault == faults]) == 2
    for store in (store_for(vault), store_for(vault)):  # every reader agrees on the winner
        read = store.read_set(ACME)
        assert read is not None
        assert read.to_dict() == stored.to_dict()
        assert [key.kid for key in read.keys] == ["k1", winner]
        assert read.revision == first.revision + 1
    assert len(vault.secret_versions(set_secret_name(ACME))) == 3  # the losing version stays in the history
    # its private half is cleaned up
    assert key_secret_name(sample_record(loser).thumbprint) in vault.deleted_secret_names()


def test_a_set_too_big_for_a_secret_is_refused(vault: KeyVaultServer) -> None:
    store = store_for(vault)
    big = sample_set("acme", Env.TEST, *(f"key-{n:03}" for n in range(80)))
    with pytest.raises(StoreError, match=r"key set acme \(test\) would be .* bytes; .* at most 25,600") as info:
        store.write_set(big, expected_revision=0)
    assert (
        info.value.hint
        == "drop its retired keys (their history stays in the audit log): jwks-tool prune acme --env test"
    )
    assert vault.secret_names() == []  # refused before anything was written


# ---- throttling and broken connections ------------------------------------------------------------------------------
def test_throttling_and_dropped_connections(run: Run, kv: KeyVaultServer) -> None:
    url = cli_url(kv)
    kv.faults.throttle(retry_after=0, count=1, method="PUT")
    done = run("generate", "one", "--size", "2048", "--store", url)
    assert done.exit_code == 0, done.stderr
    assert [r.status for r in kv.requests if r.method == "PUT"][:2] == [429, 200]

    kv.faults.drop_connection(count=1, method="PUT", path="/secrets/jwks-tool-set-")
    dropped = run("generate", "two", "--size", "2048", "--store", url)
    assert [r.fault for r in kv.requests if r.status is None] == ["drop"]
    assert dropped.exit_code in (0, 10), dropped.stderr
    if dropped.exit_code == 10:
        assert dropped.stderr.count("\n") == 1
        assert dropped.stderr.startswith("jwks-tool: error: cannot ")
        assert run("generate", "two", "--size", "2048", "--store", url).exit_code == 0
    assert run("show", "two", "--store", url).exit_code == 0

    # throttled for good: retries run out (retry_total=1 keeps it short), nothing is half-written
    kv.faults.throttle(retry_after=0, count=None, method="PUT")
    throttled = run("generate", "three", "--size", "2048", "--store", url + "&retry_total=1")
    assert throttled.exit_code == 10
    assert throttled.stderr.count("\n") == 1
    assert "is throttling requests (HTTP 429) and retries ran out" in throttled.stderr
    kv.faults.clear()
    listed = run("list", "--store", url)
    assert listed.exit_code == 0
    assert "three" not in listed.output
    assert "two" in listed.output
    again = run("generate", "three", "--size", "2048", "--store", url)
    assert again.exit_code == 0, again.stderr
    shown = json.loads(run("show", "three", "--json", "--store", url).output)
    assert [key["state"] for key in shown["keys"]] == ["active"]


def test_a_set_write_whose_replies_are_lost_still_wins(vault: KeyVaultServer) -> None:
    """The vault stores each PUT of the set but every reply is lost and the retries run out: the store looks for its
    own version (the writer tag) and, as it won the race, the write succeeds instead of reporting an error."""
    store = KeyVaultStore(
        f"{vault.url}?store=keyvault&ca_bundle={vault.ca_path}&retry_total=1", credential=vault.credential()
    )
    first = store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    name = set_secret_name(ACME)
    rule = vault.faults.lose_reply(count=None, method="PUT", path=f"/secrets/{name}")
    with store.lock():
        second = store.write_set(sample_set("acme", Env.TEST, "k1", "k2"), expected_revision=first.revision)
    vault.faults.clear()
    assert rule.hits == 2  # the PUT and its one retry: both landed, neither reply arrived
    assert len(vault.secret_versions(name)) == 3
    assert second.revision == 2
    stored = store_for(vault).read_set(ACME)
    assert stored is not None
    assert [key.kid for key in stored.keys] == ["k1", "k2"]
    assert stored.revision == 2


@pytest.mark.parametrize("fault", ["answered 503", "no reply"])
def test_a_failed_set_write_deletes_its_private_halves_only_when_the_vault_refused_it(
    vault: KeyVaultServer, fault: str
) -> None:
    """A 503 means the write changed nothing: the private half uploaded for it is an orphan and goes. No reply at
    all (the request read, the connection dropped) proves nothing: the half stays, sealed, so a write that lands
    late can never name a deleted secret."""
    store = KeyVaultStore(
        f"{vault.url}?store=keyvault&ca_bundle={vault.ca_path}&retry_total=0", credential=vault.credential()
    )
    first = store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    path = f"/secrets/{set_secret_name(ACME)}"
    if fault == "no reply":
        vault.faults.drop_connection(count=None, method="PUT", path=path)
    else:
        vault.faults.server_error(503, count=None, method="PUT", path=path)
    with pytest.raises(RemoteError, match=r"cannot write the key set acme \(test\)"):
        store.write_set(sample_set("acme", Env.TEST, "k1", "k2"), expected_revision=first.revision)
    vault.faults.clear()
    half = key_secret_name(sample_record("k2").thumbprint)
    assert (half in vault.deleted_secret_names()) is (fault == "answered 503")
    assert (half in vault.secret_names()) is (fault == "no reply")
    stored = store_for(vault).read_set(ACME)
    assert stored is not None
    assert [key.kid for key in stored.keys] == ["k1"]


def test_a_set_that_outgrew_its_secret_is_pruned_and_rotates_again(run: Run, kv: KeyVaultServer) -> None:
    """A set keeps every key it had; a Key Vault set is one secret of at most 25 KB. When a rotation would overflow
    it, the error names `jwks-tool prune`, which drops the retired keys (their story stays in the audit log)."""
    url = cli_url(kv)
    assert run("generate", "acme", "--size", "2048", "--kid", "k0", "--store", url).exit_code == 0
    store = store_for(kv)
    current = store.read_set(ACME)
    assert current is not None
    bulky = [
        {"kty": "RSA", "use": "sig", "kid": f"old{n:02}", "alg": "RS256", "n": "x" * 683, "e": "AQAB"}
        for n in range(24)
    ]
    old = [
        dataclasses.replace(
            sample_record(f"old{n:02}", KeyState.RETIRED),
            sealed_private=None,
            public_jwk=public,
            size=4096,  # every read checks it against n,
            thumbprint=thumbprint(public),  # and this
        )
        for n, public in enumerate(bulky)
    ]
    while True:  # as many old keys as the secret holds
        try:
            current = store.write_set(current.replace_keys([*old, *current.keys]), expected_revision=current.revision)
            break
        except StoreError:
            old.pop()
    assert len(kv.secret_value(set_secret_name(ACME)) or "") > 25_600 - 1_200  # less room than one more key needs

    checked = run("check", "--json", "--store", url)
    assert checked.exit_code == 1  # a warning, before any rotation is refused
    (finding,) = [f for f in json.loads(checked.stdout)["findings"] if f["code"] == "set-size"]
    assert finding["severity"] == "warning"
    assert finding["message"].endswith(
        "KB its store holds: drop retired keys before a rotation is refused (jwks-tool prune acme --env test)"
    )

    refused = run("rotate", "acme", "--size", "2048", "--store", url)
    assert refused.exit_code == 5
    (line,) = refused.stderr.splitlines()
    assert "bytes; a Key Vault secret holds at most 25,600; drop its retired keys" in line
    assert line.endswith("jwks-tool prune acme --env test")

    pruned = run("prune", "acme", "--older-than", "0d", "--store", url, "--json")
    assert pruned.exit_code == 0, pruned.stderr
    assert json.loads(pruned.stdout)["pruned"] == [key.kid for key in old]
    assert run("check", "--store", url).exit_code == 0  # room again
    assert run("rotate", "acme", "--size", "2048", "--store", url).exit_code == 0
    shown = json.loads(run("show", "acme", "--json", "--store", url).stdout)
    assert [key["state"] for key in shown["keys"]] == ["active", "next"]
    events = json.loads(run("log", "acme", "--json", "--store", url).stdout)["events"]
    for key in old:  # each old key's story, though no set holds it any more: made (recovered), then pruned
        mine = [(e["to"], bool(e.get("recovered"))) for e in events if e["kid"] == key.kid]
        assert mine == [("retired", True), ("pruned", False)], (key.kid, mine)


# ---- the checks every store makes the same way (KeyStore.check_revision, KeyStore.check_config_document) ------------
def test_a_stale_revision_is_refused_in_the_same_words_as_the_other_stores(vault: KeyVaultServer) -> None:
    store = store_for(vault)
    store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
    with pytest.raises(ConflictError) as info:
        store.write_set(sample_set("acme", Env.TEST, "k2"), expected_revision=0)
    assert info.value.diagnostics() == (
        "key set acme (test) changed while this command ran (revision 1, expected 0); run the command again"
    )


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ({"format": "other"}, StoreCorruptError, "the secret jwks-tool-store in {store} is not a jwks-tool store"),
        (
            {"format": "jwks-tool-store"},
            StoreCorruptError,
            "the secret jwks-tool-store in {store} has no schema version",
        ),
        (
            {"format": "jwks-tool-store", "schema": 2},
            StoreVersionError,
            "the store {store} was written by a newer jwks-tool (schema 2, this one reads 1); "
            "upgrade jwks-tool (pip install -U jwks-tool)",
        ),
    ],
)
def test_a_store_configuration_jwks_tool_cannot_read_is_refused_in_exact_words(
    vault: KeyVaultServer, document: dict[str, Any], error: type[StoreError], message: str
) -> None:
    reader(vault).set_secret("jwks-tool-store", json.dumps(document))
    store = store_for(vault)
    with pytest.raises(error) as info:
        store.read_config()
    assert type(info.value) is error
    assert info.value.diagnostics() == message.format(store=store.describe())


def test_a_set_version_written_outside_jwks_tool_is_store_damage(run: Run, kv: KeyVaultServer) -> None:
    url = cli_url(kv)
    assert run("generate", "acme", "--size", "2048", "--kid", "k1", "--store", url).exit_code == 0
    name = set_secret_name(ACME)
    edited = reader(kv).set_secret(name, '{"broken": ')  # az keyvault secret set: no revision tag
    secret_id = f"https://{urlsplit(kv.url).netloc}/secrets/{name}/{edited.properties.version}"
    problem = (
        f"the newest version of the secret {name} in {store_for(kv).describe()} was written outside jwks-tool (it "
        "has no revision tag)"
    )
    for command in (("show", "acme"), ("rotate", "acme")):
        result = run(*command, "--store", url)
        assert result.exit_code == 5, result.stderr
        assert result.stderr == (
            f"jwks-tool: error: {problem}; disable that version to go back to its last jwks-tool version (az "
            f"keyvault secret set-attributes --enabled false --id {secret_id}), or restore the secret from a backup\n"
        )
    listed = run("list", "--store", url)
    assert listed.exit_code == 5
    assert f"key set acme (test) is damaged: {problem}" in listed.stderr
    check = run("check", "--store", url, "--json")
    assert check.exit_code == 2
    assert [f["code"] for f in json.loads(check.stdout)["findings"]] == ["set-damaged"]
    reader(kv).update_secret_properties(name, edited.properties.version, enabled=False)  # the fix the hint names
    assert run("show", "acme", "--store", url).exit_code == 0
