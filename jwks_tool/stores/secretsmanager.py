"""AWS Secrets Manager as a team's shared key store: ``--store secretsmanager://REGION/PREFIX``.

    >>> from jwks_tool.stores.secretsmanager import SecretsManagerStore
    >>> store = SecretsManagerStore.from_url("secretsmanager://eu-north-1/jwks-tool")
    >>> store.describe()
    'secretsmanager://eu-north-1/jwks-tool'
    >>> from jwks_tool.core.model import Env, SetRef
    >>> store.set_secret(SetRef("acme", Env.PROD))
    'jwks-tool/set/prod/acme.json'

Nothing is sent until the store is used. boto3 is an optional extra (``pip install 'jwks-tool[aws]'``), signs in
with its default credential chain and reads ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` / ``AWS_ENDPOINT_URL`` and
``AWS_CA_BUNDLE`` itself. Options in the query string: ``endpoint=https://...`` (a private endpoint; wins over the
environment), ``ca_bundle=/path/ca.pem`` and ``max_attempts=N`` (attempts of one request, throttling retries
included; default 5). PREFIX is 1-256 characters of ``A-Z a-z 0-9 / _ + = . @ -`` (Secrets Manager's alphabet), no
``/`` at either end or twice in a row. The IAM actions it calls are listed in README.md.

Layout (every secret's value is UTF-8 JSON, at most 64 KB; names and tags hold no key material)::

    PREFIX/store.json              the configuration (how private keys are sealed); created once, its only
                                   version is CONFIG_VERSION: any other current version is a change from outside
    PREFIX/set/ENV/NAME.json       one key set: the KeySet document with its sealed private halves inline
                                   (sealed with the store passphrase before they leave the machine); tags
                                   jwks-tool=key-set, set, env
    PREFIX/audit/YYYYMM.N.jsonl    the audit log: JSON lines, a new part when one would pass 64 KB

(The names end in ``.json``: Secrets Manager warns against names ending in a hyphen and six characters.) A set holds
its sealed private halves itself, so one write of one secret changes a set and its keys together: there is nothing
to clean up after a failed or lost write, and ``check`` warns when a set nears 64 KB (about 12 RSA-3072 keys).

Concurrency: conditional writes, from Secrets Manager's own version stages. The current document of a set is the
version labelled ``AWSCURRENT``. A writer reads it (its version id V and its revision r; ConflictError unless r is
the revision the caller expects), then:

1. ``PutSecretValue`` with ``VersionStages=["jwks-tool-pending"]``: a new version W that is *not* current (readers
   do not see it), with ``ClientRequestToken`` W, a random UUID: a retried request (a reply lost on the way back)
   is the same request and makes no second version;
2. ``UpdateSecretVersionStage(VersionStage="AWSCURRENT", MoveToVersionId=W, RemoveFromVersionId=V)``: Secrets
   Manager moves the label only if it is still on V, and refuses (``InvalidParameterException``) otherwise. This is a
   compare-and-swap on the current version: of two writers that both read V, exactly one moves the label; the other
   is refused, raises ConflictError, and its version W' stays unlabelled (never current, so no reader sees it;
   Secrets Manager deletes unlabelled versions older than a day once a secret has more than 100 versions). This
   rests on Secrets Manager checking ``RemoveFromVersionId`` and moving the label in one step per secret, as its API
   documents; moto, which the tests run against, refuses the second mover too.

If the reply to step 2 is lost and the retry is refused (the label is no longer on V), the writer asks
``DescribeSecret`` where ``AWSCURRENT`` is: on W, its write won (it is not reported as failed); elsewhere it lost.
So no update is lost: every successful write was based on the document it replaced. A new set is made with
``CreateSecret`` (refused if the name exists: the same compare-and-swap for revision 0); the configuration likewise
(the first creator wins, the other gets ConflictError). Audit appends use the same compare-and-swap, retried a
bounded number of times, so appends from several machines are never lost. :meth:`SecretsManagerStore.lock`
serialises the writers of one store object (a thread lock); the compare-and-swap keeps processes and machines apart.
Secrets Manager names are matched as written; the read check (the document must name the set its secret is named
after) catches a name that another casing shares.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from jwks_tool.core.model import SET_NAME_RE, Env, KeySet, SetRef
from jwks_tool.core.text import printable
from jwks_tool.errors import ConflictError, StoreCorruptError, StoreError
from jwks_tool.integrations.aws.connection import (
    DEFAULT_MAX_ATTEMPTS,
    REGION_RE,
    AwsConnection,
    aws_errors,
    error_code,
    make_client,
)
from jwks_tool.stores.interface import STORE_SCHEMA, KeyStore, thread_lock_held, url_options

SCHEME = "secretsmanager://"
MAX_SECRET_BYTES = 65536
"""Secrets Manager's limit of one secret value."""
PREFIX_RE = re.compile(r"\A(?!/)(?!.*//)[A-Za-z0-9/_+=.@-]{1,256}(?<!/)\Z")
CONFIG_NAME = "store.json"
CONFIG_VERSION = "jwks-tool-store-configuration-0001"
"""The ClientRequestToken (so the version id) of the configuration's one version."""
PENDING_STAGE = "jwks-tool-pending"
CURRENT_STAGE = "AWSCURRENT"
AUDIT_ATTEMPTS = 12
_OPTIONS = ("endpoint", "ca_bundle", "max_attempts")
_RESTORE = (
    "it was changed outside jwks-tool; restore the earlier version (aws secretsmanager update-secret-version-stage)"
)


def connection_from_url(url: str) -> tuple[AwsConnection, str]:
    """The connection and secret-name prefix of a ``secretsmanager://REGION/PREFIX?options`` URL."""
    parts = urlsplit(url)
    shown = printable(url, limit=200)
    if parts.scheme != "secretsmanager" or "@" in parts.netloc or parts.fragment:
        raise StoreError(f"not a Secrets Manager store URL: {shown}", hint="use secretsmanager://REGION/PREFIX")
    region, prefix = parts.netloc, parts.path.removeprefix("/")
    if not REGION_RE.fullmatch(region):
        raise StoreError(
            f"no valid AWS region in the store URL {shown}", hint="use secretsmanager://REGION/PREFIX, e.g. eu-north-1"
        )
    if not PREFIX_RE.fullmatch(prefix):
        raise StoreError(
            f"invalid secret name prefix {printable(prefix, limit=100)!r} in the store URL",
            hint="use 1-256 characters of A-Z a-z 0-9 / _ + = . @ -, no / at either end or twice in a row",
        )
    values = url_options(parts.query, _OPTIONS, "Secrets Manager", hint="use endpoint=, ca_bundle= or max_attempts=")
    endpoint = values.get("endpoint") or None
    if endpoint is not None and not re.fullmatch(r"https?://[A-Za-z0-9.:\[\]-]+(?:/[^\s?#]*)?", endpoint):
        raise StoreError(
            f"endpoint={printable(endpoint, limit=100)!r} in the store URL", hint="give https://HOST[:PORT]"
        )
    attempts_text = values.get("max_attempts", str(DEFAULT_MAX_ATTEMPTS))
    if not attempts_text.isdigit() or not 1 <= int(attempts_text) <= 20:
        raise StoreError(f"max_attempts={printable(attempts_text, limit=20)!r} in the store URL", hint="give 1 to 20")
    connection = AwsConnection(
        region=region,
        endpoint_url=endpoint,
        ca_bundle=values.get("ca_bundle") or None,
        max_attempts=int(attempts_text),
    )
    return connection, prefix


@dataclasses.dataclass(frozen=True)
class _Current:
    """The current (AWSCURRENT) version of a secret."""

    version: str
    text: str = dataclasses.field(repr=False)


class SecretsManagerStore(KeyStore):
    """Key sets (sealed private halves inline) and the audit log as secrets in AWS Secrets Manager."""

    def __init__(self, url: str, *, client: Any = None) -> None:
        """Open the store at ``url``; ``client`` replaces the boto3 client the URL describes (embedding programs)."""
        self.url = url
        self.connection, self.prefix = connection_from_url(url)
        self._client = client
        self._client_lock = threading.Lock()
        self._lock = threading.RLock()
        self._audit_part: dict[str, int] = {}

    @classmethod
    def supports(cls, url: str) -> bool:
        """``secretsmanager://...`` URLs."""
        return url.startswith(SCHEME)

    @classmethod
    def from_url(cls, url: str) -> SecretsManagerStore:
        """The store the URL names (region, prefix, options in its query)."""
        return cls(url)

    def describe(self) -> str:
        """``secretsmanager://REGION/PREFIX`` (without the options)."""
        return f"{SCHEME}{self.connection.region}/{self.prefix}"

    # ---- names --------------------------------------------------------------------------------------------------
    @property
    def config_secret(self) -> str:
        """The configuration's secret name."""
        return f"{self.prefix}/{CONFIG_NAME}"

    def set_secret(self, ref: SetRef) -> str:
        """``PREFIX/set/ENV/NAME.json``."""
        return f"{self.prefix}/set/{ref.env.value}/{ref.name}.json"

    def _ref_of(self, name: str) -> SetRef | None:
        head = f"{self.prefix}/set/"
        if not name.startswith(head) or not name.endswith(".json"):
            return None
        env_text, _, set_name = name[len(head) : -len(".json")].partition("/")
        if env_text not in {env.value for env in Env} or not SET_NAME_RE.fullmatch(set_name):
            return None
        return SetRef(set_name, Env(env_text))

    def _audit_secret(self, month: str, part: int) -> str:
        return f"{self.prefix}/audit/{month}.{part}.jsonl"

    # ---- the AWS boundary ---------------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The boto3 Secrets Manager client, made on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self.connection, "secretsmanager")
            return self._client

    @contextmanager
    def _aws(self, doing: str) -> Iterator[None]:
        with aws_errors(doing, where=self.describe()):
            yield

    def _current(self, name: str, doing: str) -> _Current | None:
        """The secret's AWSCURRENT version, or None if there is no such secret."""
        with self._aws(doing):
            from botocore.exceptions import ClientError

            try:
                answer = self.client.get_secret_value(SecretId=name, VersionStage=CURRENT_STAGE)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return None
                self._refuse_if_deleting(exc, name, f"restore it: aws secretsmanager restore-secret --secret-id {name}")
                raise
        text = answer.get("SecretString")
        if not isinstance(text, str):
            raise StoreCorruptError(f"the secret {name} in {self.describe()} holds no text", hint=_RESTORE)
        return _Current(str(answer.get("VersionId", "")), text)

    def _json(self, name: str, current: _Current) -> Any:
        try:
            return json.loads(current.text)
        except json.JSONDecodeError as exc:
            raise StoreCorruptError(
                f"the secret {name} in {self.describe()} is not valid JSON ({exc.msg})", hint=_RESTORE
            ) from exc

    def _names(self, under: str, doing: str) -> list[str]:
        """Names of the secrets whose name starts with ``under`` (not those scheduled for deletion)."""
        found: list[str] = []
        with self._aws(doing):
            paginator = self.client.get_paginator("list_secrets")
            for page in paginator.paginate(Filters=[{"Key": "name", "Values": [under]}]):
                for entry in page.get("SecretList", []):
                    name = entry.get("Name")
                    if isinstance(name, str) and name.startswith(under) and not entry.get("DeletedDate"):
                        found.append(name)
        return found

    def _create(self, name: str, text: str, *, token: str, tags: Mapping[str, str], description: str) -> bool:
        """CreateSecret; False if a secret of that name exists already (someone else made it first)."""
        with self._aws(f"create the secret {name}"):
            from botocore.exceptions import ClientError

            try:
                self.client.create_secret(
                    Name=name,
                    SecretString=text,
                    ClientRequestToken=token,
                    Description=description,
                    Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
                )
            except ClientError as exc:
                if error_code(exc) == "ResourceExistsException":
                    return False
                self._refuse_if_deleting(
                    exc,
                    name,
                    f"restore it (aws secretsmanager restore-secret --secret-id {name}) or use another prefix",
                )
                raise
        return True

    def _refuse_if_deleting(self, exc: Exception, name: str, hint: str) -> None:
        """StoreError (with ``hint``) if ``exc`` says the secret ``name`` is scheduled for deletion."""
        if error_code(exc) == "InvalidRequestException" and "delet" in str(exc).lower():
            raise StoreError(f"the secret {name} in {self.describe()} is scheduled for deletion", hint=hint) from exc

    def _swap(self, name: str, text: str, base: str, doing: str) -> bool:
        """Make ``text`` the secret's current version if ``base`` is still current (see the module's description of
        concurrency); False if another writer moved it first."""
        token = str(uuid.uuid4())
        with self._aws(doing):
            from botocore.exceptions import ClientError

            self.client.put_secret_value(
                SecretId=name, SecretString=text, ClientRequestToken=token, VersionStages=[PENDING_STAGE]
            )
        try:
            with self._aws(doing):
                try:
                    self.client.update_secret_version_stage(
                        SecretId=name, VersionStage=CURRENT_STAGE, MoveToVersionId=token, RemoveFromVersionId=base
                    )
                    return True
                except ClientError as exc:
                    if error_code(exc) != "InvalidParameterException":
                        raise
        except Exception:
            # refused, or no answer: AWSCURRENT on our version means the move happened (a reply lost on the way
            # back, then a retry refused); anywhere else, someone else's write won
            if self._current_version(name, doing) == token:
                return True
            raise
        return self._current_version(name, doing) == token

    def _current_version(self, name: str, doing: str) -> str | None:
        with self._aws(doing):
            described = self.client.describe_secret(SecretId=name)
        for version, stages in (described.get("VersionIdsToStages") or {}).items():
            if CURRENT_STAGE in stages:
                return str(version)
        return None

    # ---- configuration ------------------------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any] | None:
        """The configuration secret's one version. Another current version (anyone allowed to write secrets could
        put one, e.g. a plaintext scheme) is tampering; key sets without a configuration too."""
        name = self.config_secret
        current = self._current(name, "read the store configuration")
        if current is None:
            if self._names(f"{self.prefix}/set/", "list the store's secrets"):
                raise StoreCorruptError(
                    f"the store {self.describe()} holds key sets but no configuration ({name})",
                    hint=f"someone deleted it; restore it (aws secretsmanager restore-secret --secret-id {name})",
                )
            return None
        if current.version != CONFIG_VERSION:
            raise StoreCorruptError(
                f"the configuration {name} in {self.describe()} has a version jwks-tool did not write",
                hint="someone changed it outside jwks-tool; move AWSCURRENT back to the version "
                f"{CONFIG_VERSION} (aws secretsmanager update-secret-version-stage)",
            )
        return self.check_config_document(self._json(name, current), f"the secret {name} in {self.describe()}")

    def init_config(self, config: Mapping[str, Any]) -> None:
        """Create the configuration secret; ConflictError if it exists (or another writer made it first)."""
        document = {"format": "jwks-tool-store", "schema": STORE_SCHEMA, **config}
        with self._held():
            # CreateSecret with the same token and value is answered as a repeat of the same request (idempotent),
            # so a second init with equal content would pass unnoticed: look first
            if self._current(self.config_secret, "read the store configuration") is not None:
                raise ConflictError(
                    f"the store {self.describe()} exists already",
                    hint="another jwks-tool made it; run the command again",
                )
            made = self._create(
                self.config_secret,
                json.dumps(document, indent=2, ensure_ascii=False),
                token=CONFIG_VERSION,
                tags={"jwks-tool": "store", "schema": str(STORE_SCHEMA)},
                description="jwks-tool store configuration (how private keys are sealed)",
            )
        if not made:
            raise ConflictError(
                f"the store {self.describe()} exists already", hint="another jwks-tool made it; run the command again"
            )

    # ---- key sets -----------------------------------------------------------------------------------------------
    def list_refs(self) -> list[SetRef]:
        """Every key set secret under the prefix, sorted."""
        refs = {self._ref_of(name) for name in self._names(f"{self.prefix}/set/", "list the key sets")}
        return sorted(ref for ref in refs if ref is not None)

    def _read(self, ref: SetRef) -> tuple[KeySet, str] | None:
        name = self.set_secret(ref)
        current = self._current(name, f"read the key set {ref}")
        if current is None:
            return None
        where = f"the secret {name} in {self.describe()}"
        keyset = KeySet.from_dict(self._json(name, current), where)
        if keyset.ref != ref or keyset.revision < 1:
            raise StoreCorruptError(f"{where} holds {keyset.ref} revision {keyset.revision}, not {ref}", hint=_RESTORE)
        return keyset, current.version

    def read_set(self, ref: SetRef) -> KeySet | None:
        """The set's current version, checked; None when there is none."""
        found = self._read(ref)
        return None if found is None else found[0]

    def write_set(self, keyset: KeySet, *, expected_revision: int) -> KeySet:
        """Store the set as its secret's new current version if its revision is still ``expected_revision``
        (a compare-and-swap: see the module's description of concurrency)."""
        ref = keyset.ref
        name = self.set_secret(ref)
        conflict = ConflictError(
            f"key set {ref} was changed by someone else at the same time; run the command again",
            hint="nothing of this command was kept",
        )
        with self._held():
            found = self._read(ref)
            self.check_revision(ref, 0 if found is None else found[0].revision, expected_revision)
            stored = dataclasses.replace(keyset, revision=expected_revision + 1)
            text = self._document_text(stored)
            size = len(text.encode("utf-8"))
            if size > MAX_SECRET_BYTES:
                raise StoreError(
                    f"key set {ref} would be {size:,} bytes; a Secrets Manager secret holds at most "
                    f"{MAX_SECRET_BYTES:,}",
                    hint=f"drop its retired keys (their history stays in the audit log): jwks-tool prune {ref.name} "
                    f"--env {ref.env.value}",
                )
            doing = f"write the key set {ref}"
            if found is None:
                made = self._create(
                    name,
                    text,
                    token=str(uuid.uuid4()),
                    tags={"jwks-tool": "key-set", "set": ref.name, "env": ref.env.value},
                    description=f"jwks-tool key set {ref.name} ({ref.env.value}): public keys, sealed private keys",
                )
                if not made:
                    raise conflict
            elif not self._swap(name, text, found[1], doing):
                raise conflict
            return KeySet.from_dict(json.loads(text), f"the secret {name} in {self.describe()}")

    @staticmethod
    def _document_text(keyset: KeySet) -> str:
        return json.dumps(keyset.to_dict(), indent=1, ensure_ascii=False)

    def set_size(self, keyset: KeySet) -> tuple[int, int]:
        """A set is one secret, its sealed private halves included: at most 64 KB."""
        return len(self._document_text(keyset).encode("utf-8")), MAX_SECRET_BYTES

    # ---- lock and audit -----------------------------------------------------------------------------------------
    def _held(self) -> AbstractContextManager[None]:
        return thread_lock_held(self._lock, self)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise this store object's writers (a thread lock); other processes and machines are kept apart by
        the compare-and-swap of :meth:`write_set`."""
        with self._held():
            yield

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append to this month's audit secret with the compare-and-swap of :meth:`write_set` (retried, with
        jitter, when another writer appended first); a part that would pass 64 KB starts the next part."""
        lines = "".join(json.dumps(dict(event), ensure_ascii=False, separators=(",", ":")) + "\n" for event in events)
        if not lines:
            return
        if len(lines.encode("utf-8")) > MAX_SECRET_BYTES:
            raise StoreError(f"the audit events are {len(lines.encode()):,} bytes, too many for one secret")
        month = datetime.now(UTC).strftime("%Y%m")
        part = self._audit_part.get(month, 1)
        for attempt in range(AUDIT_ATTEMPTS):
            name = self._audit_secret(month, part)
            current = self._current(name, "read the audit log")
            if current is None:
                made = self._create(
                    name,
                    lines,
                    token=str(uuid.uuid4()),
                    tags={"jwks-tool": "audit", "month": month},
                    description=f"jwks-tool audit log, {month} part {part}",
                )
                if made:
                    self._audit_part[month] = part
                    return
            elif len((current.text + lines).encode("utf-8")) > MAX_SECRET_BYTES:
                part += 1
                continue
            elif self._swap(name, current.text + lines, current.version, "append to the audit log"):
                self._audit_part[month] = part
                return
            time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))  # noqa: S311 - jitter, not a secret
        raise ConflictError(
            f"the audit log of {self.describe()} changed {AUDIT_ATTEMPTS} times while this command appended to it",
            hint="run the command again",
        )

    def read_audit(self) -> list[dict[str, Any]]:
        """Every part of every month's audit secret, oldest first."""
        pattern = re.compile(re.escape(f"{self.prefix}/audit/") + r"(\d{6})\.(\d{1,6})\.jsonl\Z")
        parts: list[tuple[str, int, str]] = []
        for name in self._names(f"{self.prefix}/audit/", "list the audit log"):
            match = pattern.fullmatch(name)
            if match:
                parts.append((match.group(1), int(match.group(2)), name))
        events: list[dict[str, Any]] = []
        for _month, _part, name in sorted(parts):
            current = self._current(name, "read the audit log")
            for number, line in enumerate((current.text if current else "").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    raise StoreCorruptError(
                        f"the audit secret {name} line {number} is not JSON",
                        hint=f"restore the secret {name} from a backup, or remove line {number} from its value",
                    ) from None
                if isinstance(event, dict):
                    events.append(event)
        return events
