"""AWS Secrets Manager secrets: every consumer's items as secrets (``deliver --to aws``).

    >>> from jwks_tool.destinations.aws import SecretsManagerSecrets, request_token
    >>> SecretsManagerSecrets.naming.value
    'secret'
    >>> request_token("KID", "k1") == request_token("KID", "k1") != request_token("KID", "k2")
    True

Each item is one secret named as the consumer reads it in a secret store (pymaskinporten's ``PRIVATE-KEY``, ``KID``,
``MASKINPORTEN-CLIENT-ID``, ``SCOPE``; NAIS's ``MASKINPORTEN-CLIENT-JWK`` ...), ``--prefix`` in front (``/`` is
allowed: ``maskinporten/prod/``). Every name (1-512 of ``A-Z a-z 0-9 / _ + = . @ -``), value (at most 64 KB),
description and tag is checked for every item before anything is sent.

Writes, item by item, the key's secret last:

- a new secret: ``CreateSecret`` with the value, a description and tags (the key's secret: kid, thumbprint, set,
  env; the others: set, env; never key material);
- a changed value: ``PutSecretValue`` (the new version becomes ``AWSCURRENT``, the old one ``AWSPREVIOUS``), then
  ``TagResource`` with the key's new kid and thumbprint;
- the value of an earlier version (a rollback): ``UpdateSecretVersionStage`` moves ``AWSCURRENT`` back to it.
  ``DescribeSecret`` lists only versions that carry a staging label (AWS calls the others deprecated, and answers a
  ``PutSecretValue`` with the token of an existing version by ignoring it), so before a new version is written
  ``ListSecretVersionIds(IncludeDeprecated=True)`` says whether the value's version is already there, labelled or
  not;
- an unchanged value: nothing (its tags only, if they differ); the description is set when a secret is made.

An existing secret without the tag ``managed-by=jwks-tool`` was made by someone else: it is refused (ConflictError,
before anything is written) unless ``adopt`` (``--adopt``), so a wrong ``--prefix`` in a shared account cannot
overwrite another team's secrets.

Every version's ``ClientRequestToken`` (so its version id) is :func:`request_token` of the secret's name and value: a
retried request (a reply lost on the way back) is the same request and makes no second version, and "unchanged" is
read from ``DescribeSecret`` alone (``AWSCURRENT`` is on that version id): jwks-tool never reads a secret's value, so
whoever delivers needs no ``GetSecretValue``. A failure part-way names what was written before it; running the same
command again writes the rest. Credentials: boto3's default chain; the endpoint: ``AWS_ENDPOINT_URL_SECRETS_MANAGER``
or ``AWS_ENDPOINT_URL`` (boto3 reads them, as the consumers' own boto3 clients do); a private CA: ``--ca-bundle`` or
``AWS_CA_BUNDLE``; throttling: the bounded retries of :mod:`jwks_tool.integrations.aws.connection`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jwks_tool.core.consumers import Item, Naming
from jwks_tool.core.text import printable
from jwks_tool.destinations.interface import Delivery, Destination, Outcome, Target
from jwks_tool.errors import ConflictError, InputError, JwksToolError
from jwks_tool.integrations.aws.connection import (
    AwsConnection,
    aws_errors,
    check_region,
    configured_region,
    error_code,
    make_client,
)

MAX_SECRET_BYTES = 65536
"""Secrets Manager's limit of one secret value."""
NAME_RE = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
TAG_RE = re.compile(r"[\w .:/=+@-]{0,256}")
"""Secrets Manager's tag value alphabet (letters, digits, spaces, ``_ . : / = + - @``) and length."""
CURRENT = "AWSCURRENT"
DONE = {"create": "created", "add-version": "new-version", "make-current": "made-current", "tag": "tagged"}
"""What each write is reported as (a dry run says ``would-`` and the action)."""
POLICY = "deliver --to aws"
CA_HINT = "for a private CA pass --ca-bundle or set AWS_CA_BUNDLE"
"""How the IAM hint names the README's list of the actions this destination calls."""
TOKEN_DOMAIN = b"jwks-tool deliver --to aws v1\x00"
IAM_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:TagResource",
)
"""Exactly the actions :class:`SecretsManagerSecrets` calls (README.md shows the policy)."""


def request_token(name: str, value: str) -> str:
    """The ClientRequestToken (and version id) of ``value`` in the secret ``name``: a UUID made from a SHA-256 of
    both, so the same content is the same request. It reveals nothing of the value (a private key has far too much
    entropy to be guessed from a hash)."""
    digest = hashlib.sha256(TOKEN_DOMAIN + name.encode() + b"\x00" + value.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


@dataclasses.dataclass(frozen=True)
class _Planned:
    item: Item = dataclasses.field(repr=False)
    token: str
    description: str
    tags: dict[str, str]


@dataclasses.dataclass(frozen=True)
class _Current:
    """What ``DescribeSecret`` says of a secret (never its value)."""

    exists: bool
    current_version: str | None = None
    versions: frozenset[str] = frozenset()
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    description: str = ""
    kid: str | None = None


def check_name(name: str) -> None:
    """InputError unless ``name`` is a valid Secrets Manager secret name."""
    if not NAME_RE.fullmatch(name):
        raise InputError(
            f"{printable(name, limit=100)!r} is not a valid AWS Secrets Manager secret name",
            hint="use a --prefix of A-Z a-z 0-9 / _ + = . @ - (names of at most 512 characters)",
        )


def _plan(delivery: Delivery) -> list[_Planned]:
    """Every item as the secret to write, checked; the key's secret last."""
    plan = []
    for item in sorted(delivery.items, key=lambda item: item.sensitive):
        check_name(item.name)
        size = len(item.value.encode("utf-8"))
        if size > MAX_SECRET_BYTES:
            raise InputError(
                f"the value for {item.name} is {size:,} bytes; AWS Secrets Manager holds at most 64 KB",
                hint="use a smaller key (RSA 4096 fits easily)",
            )
        tags = {"managed-by": "jwks-tool", "set": delivery.set_name, "env": delivery.env}
        if item.sensitive:
            tags |= delivery.tags()
            if delivery.expires is not None:
                tags["expires"] = delivery.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        for key, value in tags.items():
            if not TAG_RE.fullmatch(value):
                raise InputError(
                    f"the tag {key}={printable(value, limit=60)!r} is not valid in AWS Secrets Manager",
                    hint="use set names and kids of letters, digits, . _ and -",
                )
        description = (
            f"Maskinporten {item.role.replace('_', ' ')} for {delivery.consumer.value}, "
            f"from jwks-tool set {delivery.set_name} ({delivery.env})"
        )
        plan.append(_Planned(item, request_token(item.name, item.value), description, tags))
    names = [planned.item.name for planned in plan]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise InputError(f"two items would be the secret {duplicate}", hint="this is a bug: please report")
    return plan


class SecretsManagerSecrets(Destination):
    """Write deliveries as secrets in AWS Secrets Manager, in the region and through the endpoint ``connection``
    says."""

    name = "aws"
    naming = Naming.SECRET

    def __init__(self, connection: AwsConnection, *, adopt: bool = False) -> None:
        self.connection = connection
        self.adopt = adopt
        self._client: Any = None

    @classmethod
    def from_target(cls, target: Target, *, connect: Callable[[str], Any] | None = None) -> SecretsManagerSecrets:
        """``extra``: ``region`` (default boto3's configured region: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the
        profile's), ``ca_bundle`` (default ``AWS_CA_BUNDLE``), ``endpoint_url`` (default
        ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` / ``AWS_ENDPOINT_URL``)."""
        region = target.extra.get("region") or configured_region()
        if not region:
            raise InputError("--to aws needs the AWS region", hint="pass --region (e.g. eu-north-1) or set AWS_REGION")
        return cls(
            AwsConnection(
                check_region(region),
                endpoint_url=target.extra.get("endpoint_url") or None,
                ca_bundle=target.extra.get("ca_bundle") or None,
            ),
            adopt=target.adopt,
        )

    @classmethod
    def check_target(cls, target: Target, names: Sequence[str]) -> None:
        """A region given must read as one; names by Secrets Manager's rules (nothing is sent)."""
        region = target.extra.get("region")
        if region:
            check_region(region)
        for name in names:
            check_name(name)

    @property
    def where(self) -> str:
        """How messages name the destination."""
        return f"Secrets Manager ({self.connection.region})"

    def client(self) -> Any:
        """The boto3 client (made once)."""
        if self._client is None:
            self._client = make_client(self.connection, "secretsmanager")
        return self._client

    def check(self, delivery: Delivery) -> None:
        """Names, sizes, descriptions and tags by Secrets Manager's rules (nothing is sent)."""
        _plan(delivery)

    def deliver(self, delivery: Delivery, *, dry_run: bool = False) -> list[Outcome]:
        """Read what is there (``DescribeSecret``), then write what changed, the key's secret last."""
        plan = _plan(delivery)
        client = self.client()
        current = [self._describe(client, planned.item.name) for planned in plan]
        foreign = [p.item.name for p, now in zip(plan, current, strict=True) if now.exists and not _ours(now)]
        if foreign and not self.adopt:
            raise ConflictError(
                f"the secret {foreign[0]} in AWS {self.where} was not made by jwks-tool (no managed-by=jwks-tool "
                "tag), so nothing was written",
                hint="check --prefix, or pass --adopt to take it over",
            )
        outcomes: list[Outcome] = []
        for planned, now in zip(plan, current, strict=True):
            action = _action(planned, now)
            if action == "add-version" and self._has_version(client, planned):
                action = "make-current"  # an earlier version without a label (AWS lists those only on request)
            if action == "unchanged" or dry_run:
                shown = action if action == "unchanged" else f"would-{action}"
                outcomes.append(Outcome(planned.item.name, shown, now.kid, now.current_version))
                continue
            try:
                self._write(client, planned, now, action)
            except JwksToolError as exc:
                raise _part_way(exc, [o.name for o in outcomes if o.action != "unchanged"], plan, planned) from exc
            outcomes.append(Outcome(planned.item.name, DONE[action], now.kid, planned.token))
        return outcomes

    # ---- the requests ---------------------------------------------------------------------------------------------
    def _describe(self, client: Any, name: str) -> _Current:
        with aws_errors(f"read the secret {name}", where=self.where, policy=POLICY, ca_hint=CA_HINT):
            try:
                answer = client.describe_secret(SecretId=name)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return _Current(exists=False)
                raise
        if answer.get("DeletedDate"):
            raise ConflictError(
                f"the secret {name} in AWS {self.where} is scheduled for deletion",
                hint=f"restore it first: `aws secretsmanager restore-secret --secret-id {name}`",
            )
        stages = answer.get("VersionIdsToStages") or {}
        current = next((version for version, labels in stages.items() if CURRENT in (labels or ())), None)
        tags = {str(tag.get("Key")): str(tag.get("Value")) for tag in answer.get("Tags") or ()}
        return _Current(
            exists=True,
            current_version=current,
            versions=frozenset(stages),
            tags=tags,
            description=str(answer.get("Description") or ""),
            kid=tags.get("kid"),
        )

    def _has_version(self, client: Any, planned: _Planned) -> bool:
        """Whether the secret has the version ``planned`` would write, with or without staging labels."""
        name = planned.item.name
        token: str | None = None
        with aws_errors(f"list the versions of the secret {name}", where=self.where, policy=POLICY, ca_hint=CA_HINT):
            for _page in range(1000):
                answer = client.list_secret_version_ids(
                    SecretId=name, IncludeDeprecated=True, MaxResults=100, **({"NextToken": token} if token else {})
                )
                if any(version.get("VersionId") == planned.token for version in answer.get("Versions") or ()):
                    return True
                token = answer.get("NextToken")
                if not token:
                    break
        return False

    def _write(self, client: Any, planned: _Planned, now: _Current, action: str) -> None:
        name = planned.item.name
        tags = [{"Key": key, "Value": value} for key, value in planned.tags.items()]
        if action == "create":
            with aws_errors(f"create the secret {name}", where=self.where, policy=POLICY, ca_hint=CA_HINT):
                client.create_secret(
                    Name=name,
                    ClientRequestToken=planned.token,
                    SecretString=planned.item.value,
                    Description=planned.description,
                    Tags=tags,
                )
            return
        if action == "add-version":
            with aws_errors(
                f"write a new version of the secret {name}", where=self.where, policy=POLICY, ca_hint=CA_HINT
            ):
                client.put_secret_value(
                    SecretId=name,
                    ClientRequestToken=planned.token,
                    SecretString=planned.item.value,
                    VersionStages=[CURRENT],
                )
        elif action == "make-current":
            with aws_errors(
                f"make the earlier version of {name} current again", where=self.where, policy=POLICY, ca_hint=CA_HINT
            ):
                client.update_secret_version_stage(
                    SecretId=name,
                    VersionStage=CURRENT,
                    MoveToVersionId=planned.token,
                    **({"RemoveFromVersionId": now.current_version} if now.current_version else {}),
                )
        if any(now.tags.get(key) != value for key, value in planned.tags.items()):
            with aws_errors(f"tag the secret {name}", where=self.where, policy=POLICY, ca_hint=CA_HINT):
                client.tag_resource(SecretId=name, Tags=tags)


def _ours(now: _Current) -> bool:
    """Whether jwks-tool made the secret (``deliver --to aws`` tags it ``managed-by=jwks-tool``)."""
    return now.tags.get("managed-by") == "jwks-tool"


def _action(planned: _Planned, now: _Current) -> str:
    """``create``, ``add-version``, ``make-current``, ``tag`` or ``unchanged``."""
    if not now.exists:
        return "create"
    if now.current_version == planned.token:
        return "unchanged" if all(now.tags.get(key) == value for key, value in planned.tags.items()) else "tag"
    return "make-current" if planned.token in now.versions else "add-version"


def _part_way(exc: JwksToolError, written: list[str], plan: list[_Planned], failed: _Planned) -> JwksToolError:
    """``exc``, naming what was written before it and what was not."""
    left = [planned.item.name for planned in plan[plan.index(failed) :]]
    before = ", ".join(written) if written else "nothing"
    message = f"{exc.message} (written before it: {before}; not written: {', '.join(left)})"
    hint = exc.hint or "fix that and run the same command again: it writes only what is missing"
    return type(exc)(message, hint=hint)
