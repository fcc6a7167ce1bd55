"""The conformance suite every key store passes (the way keyring ships ``keyring.testing.backend``).

    import pytest
    from jwks_tool.testing.store_conformance import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            return MyStore.from_url(...)

It needs pytest. Every test works on a fresh, empty store.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from jwks_tool.core.b64 import b64url_encode
from jwks_tool.core.keys import thumbprint
from jwks_tool.core.model import Env, KeyRecord, KeySet, KeyState, Kid, Origin, SetRef, Transition
from jwks_tool.errors import ConflictError
from jwks_tool.stores.interface import KeyStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample_record(kid: str, state: KeyState = KeyState.ACTIVE) -> KeyRecord:
    """A key record with made-up public members (no real key; its thumbprint and its modulus size are right, as every
    read checks them)."""
    modulus = (b"\xc0" + kid.encode() + bytes(384))[:384]  # 3072 bits
    public = {"kty": "RSA", "use": "sig", "kid": kid, "alg": "RS256", "n": b64url_encode(modulus), "e": "AQAB"}
    return KeyRecord(
        kid=Kid(kid),
        kty="RSA",
        alg="RS256",
        size=3072,
        crv=None,
        thumbprint=thumbprint(public),
        created=T0,
        expires=T0 + timedelta(days=365),
        state=state,
        origin=Origin.GENERATED,
        public_jwk=public,
        sealed_private=f"sealed.{kid}",
        history=(Transition(T0, None, state, "generated"),),
    )


def sample_set(name: str = "acme", env: Env = Env.TEST, *kids: str) -> KeySet:
    """A key set ``name`` (``env``) of sample records, one per kid (``k1`` when none are given), created at T0."""
    records = tuple(sample_record(kid) for kid in (kids or ("k1",)))
    return KeySet(ref=SetRef(name, env), profile="maskinporten", keys=records, created=T0, updated=T0)


class StoreConformance:
    """Subclass it and provide a ``store`` fixture returning a new, empty store."""

    @pytest.fixture
    def store(self) -> KeyStore:
        """The store under test: subclasses override this fixture with a new, empty store."""
        pytest.fail("subclasses provide a store fixture")  # pragma: no cover

    def test_new_store_is_empty(self, store: KeyStore) -> None:
        """A new store has no configuration, no sets and no set to read."""
        assert store.read_config() is None
        assert store.list_refs() == []
        assert store.read_set(SetRef("acme", Env.TEST)) is None
        assert list(store.read_sets()) == []

    def test_config_round_trip_and_only_once(self, store: KeyStore) -> None:
        """The configuration reads back as written; a second init_config is a ConflictError."""
        config = {"created": "2026-01-01T00:00:00Z", "protection": {"scheme": "plaintext"}}
        store.init_config(config)
        read = store.read_config()
        assert read is not None
        assert read["protection"] == {"scheme": "plaintext"}
        with pytest.raises(ConflictError):
            store.init_config(config)

    def test_set_round_trip(self, store: KeyStore) -> None:
        """A written set reads back equal, key order and history included, at revision 1."""
        keyset = sample_set("acme", Env.TEST, "k1", "k2")
        stored = store.write_set(keyset, expected_revision=0)
        assert stored.revision == 1
        read = store.read_set(keyset.ref)
        assert read is not None
        assert read.to_dict() == stored.to_dict()
        assert [key.kid for key in read.keys] == ["k1", "k2"]
        assert read.keys[0].history == keyset.keys[0].history

    def test_test_and_prod_are_separate(self, store: KeyStore) -> None:
        """Sets are kept by name and environment: the same name in test and prod are two sets."""
        store.write_set(sample_set("acme", Env.TEST, "t1"), expected_revision=0)
        store.write_set(sample_set("acme", Env.PROD, "p1"), expected_revision=0)
        store.write_set(sample_set("beta", Env.TEST, "b1"), expected_revision=0)
        assert store.list_refs() == [SetRef("acme", Env.PROD), SetRef("acme", Env.TEST), SetRef("beta", Env.TEST)]
        prod = store.read_set(SetRef("acme", Env.PROD))
        assert prod is not None
        assert [key.kid for key in prod.keys] == ["p1"]
        assert sorted(str(keyset.ref) for keyset in store.read_sets()) == ["acme (prod)", "acme (test)", "beta (test)"]

    def test_revisions_detect_a_stale_writer(self, store: KeyStore) -> None:
        """A write based on a stale revision (or a second "new" set) is a ConflictError and changes nothing."""
        first = store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
        second = store.write_set(sample_set("acme", Env.TEST, "k1", "k2"), expected_revision=first.revision)
        assert second.revision == 2
        with pytest.raises(ConflictError):
            store.write_set(sample_set("acme", Env.TEST, "k1", "k3"), expected_revision=first.revision)
        with pytest.raises(ConflictError):
            store.write_set(sample_set("acme", Env.TEST, "x"), expected_revision=0)
        read = store.read_set(SetRef("acme", Env.TEST))
        assert read is not None
        assert [key.kid for key in read.keys] == ["k1", "k2"]

    def test_state_changes_are_kept(self, store: KeyStore) -> None:
        """A key's new state and its history of transitions survive a write and a read."""
        stored = store.write_set(sample_set("acme", Env.TEST, "k1"), expected_revision=0)
        moved = stored.keys[0].with_state(KeyState.RETIRING, "rotate", at=T0 + timedelta(days=1))
        store.write_set(dataclasses.replace(stored, keys=(moved,)), expected_revision=stored.revision)
        read = store.read_set(stored.ref)
        assert read is not None
        assert read.keys[0].state is KeyState.RETIRING
        assert [(step.from_state, step.to_state) for step in read.keys[0].history] == [
            (None, KeyState.ACTIVE),
            (KeyState.ACTIVE, KeyState.RETIRING),
        ]

    def test_lock_serialises_read_modify_write(self, store: KeyStore) -> None:
        """Eight threads each add a key under lock(): none is lost, the revision counts every write."""
        ref = SetRef("acme", Env.TEST)
        store.write_set(sample_set("acme", Env.TEST, "k0"), expected_revision=0)
        errors: list[BaseException] = []

        def add(kid: str) -> None:
            try:
                with store.lock():
                    current = store.read_set(ref)
                    assert current is not None
                    store.write_set(
                        current.replace_keys([*current.keys, sample_record(kid, KeyState.NEXT)]),
                        expected_revision=current.revision,
                    )
            except BaseException as exc:  # collected and re-raised in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=add, args=(f"k{i}",)) for i in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        read = store.read_set(ref)
        assert read is not None
        assert sorted(key.kid for key in read.keys) == sorted(f"k{i}" for i in range(9))
        assert read.revision == 9

    def test_audit_log_appends_in_order(self, store: KeyStore) -> None:
        """Audit events read back in the order appended, non-ASCII text intact."""
        assert store.read_audit() == []
        with store.lock():
            store.append_audit([{"n": 1, "kid": "k1"}, {"n": 2, "kid": "k1"}])
        with store.lock():
            store.append_audit([{"n": 3, "kid": "k2", "note": "ø"}])
        assert store.read_audit() == [{"n": 1, "kid": "k1"}, {"n": 2, "kid": "k1"}, {"n": 3, "kid": "k2", "note": "ø"}]
