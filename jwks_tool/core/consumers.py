"""What each consumer of a Maskinporten key reads, and under which names: the one place that knows the formats.

    >>> from jwks_tool.core.consumers import Consumer, Naming, names
    >>> names(Consumer.PYMASKINPORTEN, Naming.SECRET, prefix="mp-prod-")
    ['mp-prod-PRIVATE-KEY', 'mp-prod-MASKINPORTEN-CLIENT-ID', 'mp-prod-KID', 'mp-prod-SCOPE']
    >>> names(Consumer.NAIS, Naming.ENV)[:3]
    ['MASKINPORTEN_CLIENT_ID', 'MASKINPORTEN_CLIENT_JWK', 'MASKINPORTEN_SCOPES']

Pure: given one private JWK (with its kid and alg), the client id, the scopes and the environment, :func:`items`
gives the named values a consumer reads, for a naming style: :attr:`Naming.SECRET` (Key Vault and AWS Secrets
Manager secret names), :attr:`Naming.ENV` (environment variables: a ``.env`` file, a Kubernetes Secret used with
``envFrom``) or :attr:`Naming.FILE` (files in a folder: a mounted Secret volume). An optional prefix goes in front of
every name. The sources each format follows:

- ``apiclient``: Altinn.ApiClients.Maskinporten's ``MaskinportenSettings:EncodedJwk`` (standard base64 of the compact
  JSON of the private JWK) and ``ClientId``; ``:`` is ``--`` in Key Vault names and ``__`` in environment variables.
- ``altinn-app``: an Altinn Studio app's ``MaskinportenSettings:JwkBase64``, ``ClientId`` and ``Authority``.
- ``pymaskinporten`` (PyPI ``pymaskinporten`` 2.x, ``config.py``): ``PRIVATE_KEY`` (an unencrypted PEM private key;
  it is read with PyJWT/cryptography, so PKCS#8 is written), ``MASKINPORTEN_CLIENT_ID``, ``KID``, ``SCOPE``
  (space-delimited); secret stores use the same names with ``_`` as ``-`` (``PRIVATE-KEY``); the prefix is put in
  front as it is. It signs with RS256 whatever the key's ``alg``: an RSA key is required.
- ``nais`` (digdirator ``pkg/secrets/consts.go`` and ``secrets.go``): ``MASKINPORTEN_CLIENT_ID``,
  ``MASKINPORTEN_CLIENT_JWK`` (the private JWK as JSON), ``MASKINPORTEN_SCOPES`` (space-separated),
  ``MASKINPORTEN_WELL_KNOWN_URL``, ``MASKINPORTEN_ISSUER``, ``MASKINPORTEN_JWKS_URI``,
  ``MASKINPORTEN_TOKEN_ENDPOINT`` (Maskinporten's metadata for the environment).
- ``altinn-studio`` (Altinn Studio's operator, ``src/Runtime/operator/internal/maskinporten/client_state.go``): one
  file ``maskinporten-settings.json`` holding ``{"MaskinportenSettings": {"Jwks": {"keys": [JWK]}, "Jwk": JWK,
  "ClientId": ..., "Authority": ...}}`` with the private JWK and the environment's authority (trailing slash).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from jwks_tool.core import keys as keymod
from jwks_tool.core.environments import audience_for, token_url_for
from jwks_tool.errors import InputError, ProfileError


class Consumer(StrEnum):
    """The programs that read a Maskinporten key, each with its own names and formats (``--for``)."""

    APICLIENT = "apiclient"
    """Altinn.ApiClients.Maskinporten: MaskinportenSettings:EncodedJwk (+ ClientId)."""
    ALTINN_APP = "altinn-app"
    """Altinn Studio apps configured by hand: MaskinportenSettings:JwkBase64 (+ ClientId, Authority)."""
    PYMASKINPORTEN = "pymaskinporten"
    """The pymaskinporten package: PRIVATE_KEY (PEM), KID, MASKINPORTEN_CLIENT_ID, SCOPE."""
    NAIS = "nais"
    """The MASKINPORTEN_* variables NAIS's digdirator writes."""
    ALTINN_STUDIO = "altinn-studio"
    """The maskinporten-settings.json document Altinn Studio's operator mounts for apps."""


class Naming(StrEnum):
    """How a destination names what it writes."""

    SECRET = "secret"
    """Secret names in Key Vault or AWS Secrets Manager (``--`` for ``:``, ``-`` for ``_``)."""
    ENV = "env"
    """Environment variable names (``__`` for ``:``)."""
    FILE = "file"
    """File names in a folder, or keys of a Kubernetes Secret (as environment variables, or a document's file name)."""


CONTENT_TYPE_B64_JWK = "application/jwk+json; encoding=base64"
CONTENT_TYPE_JWK = "application/jwk+json"
CONTENT_TYPE_PEM = "application/x-pem-file"
CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_TEXT = "text/plain"

WELL_KNOWN_PATH = ".well-known/oauth-authorization-server"
"""Maskinporten's metadata document under its issuer (digdirator's well-known-url)."""


@dataclasses.dataclass(frozen=True)
class Item:
    """One named value a consumer reads. ``value`` may be private key material: never in repr, logs or dry runs."""

    role: str
    """What it is, the same in every naming: ``jwk``, ``private_key``, ``kid``, ``client_id``, ``scopes``, ..."""
    name: str
    value: str = dataclasses.field(repr=False)
    content_type: str
    sensitive: bool

    def shown_value(self) -> str:
        """The value as dry runs and reports show it: redacted (its length only) when sensitive."""
        return f"<{len(self.value)} characters, redacted>" if self.sensitive else self.value


@dataclasses.dataclass(frozen=True)
class ConsumerInput:
    """What every preset is made from. ``private_jwk`` is the key's private members with kid and alg."""

    private_jwk: Mapping[str, Any] = dataclasses.field(repr=False)
    env: str
    client_id: str | None = None
    scopes: tuple[str, ...] = ()
    expires: int | None = None
    """The key's expiry (NumericDate): carried as ``exp`` in Altinn's base64 value, as ``export --format base64``."""

    @property
    def kid(self) -> str:
        """The key's kid."""
        return str(self.private_jwk["kid"])


# role -> (SECRET name, ENV/FILE name); a name None means "not in this naming"
_NAMES: dict[Consumer, list[tuple[str, str | None, str | None]]] = {
    Consumer.APICLIENT: [
        ("jwk", "MaskinportenSettings--EncodedJwk", "MaskinportenSettings__EncodedJwk"),
        ("client_id", "MaskinportenSettings--ClientId", "MaskinportenSettings__ClientId"),
    ],
    Consumer.ALTINN_APP: [
        ("jwk", "MaskinportenSettings--JwkBase64", "MaskinportenSettings__JwkBase64"),
        ("client_id", "MaskinportenSettings--ClientId", "MaskinportenSettings__ClientId"),
        ("authority", "MaskinportenSettings--Authority", "MaskinportenSettings__Authority"),
    ],
    Consumer.PYMASKINPORTEN: [
        ("private_key", "PRIVATE-KEY", "PRIVATE_KEY"),
        ("client_id", "MASKINPORTEN-CLIENT-ID", "MASKINPORTEN_CLIENT_ID"),
        ("kid", "KID", "KID"),
        ("scopes", "SCOPE", "SCOPE"),
    ],
    Consumer.NAIS: [
        ("client_id", "MASKINPORTEN-CLIENT-ID", "MASKINPORTEN_CLIENT_ID"),
        ("jwk", "MASKINPORTEN-CLIENT-JWK", "MASKINPORTEN_CLIENT_JWK"),
        ("scopes", "MASKINPORTEN-SCOPES", "MASKINPORTEN_SCOPES"),
        ("well_known_url", "MASKINPORTEN-WELL-KNOWN-URL", "MASKINPORTEN_WELL_KNOWN_URL"),
        ("issuer", "MASKINPORTEN-ISSUER", "MASKINPORTEN_ISSUER"),
        ("jwks_uri", "MASKINPORTEN-JWKS-URI", "MASKINPORTEN_JWKS_URI"),
        ("token_endpoint", "MASKINPORTEN-TOKEN-ENDPOINT", "MASKINPORTEN_TOKEN_ENDPOINT"),
    ],
    Consumer.ALTINN_STUDIO: [
        ("settings", "maskinporten-settings", None),
    ],
}
ALTINN_STUDIO_FILE = "maskinporten-settings.json"
"""The file name Altinn Studio's operator gives the settings document (``JsonFileName``)."""


KEY_ROLES = ("jwk", "private_key", "settings")
"""The roles of the item that holds the private key (one per consumer)."""


def roles_and_names(consumer: Consumer, naming: Naming, *, prefix: str = "") -> list[tuple[str, str]]:
    """(role, name) of everything ``consumer`` reads in ``naming``, each name with ``prefix`` in front (not checked
    here: destinations check names against their own rules)."""
    out = []
    for role, secret_name, env_name in _NAMES[consumer]:
        if naming is Naming.SECRET:
            name = secret_name
        elif naming is Naming.FILE and role == "settings":
            name = ALTINN_STUDIO_FILE
        else:
            name = env_name
        if name is None:
            raise InputError(
                f"{consumer.value} reads a settings file, not environment variables",
                hint="deliver it --to file or --to kubernetes (a Secret mounted as a folder)",
            )
        out.append((role, prefix + name))
    return out


def names(consumer: Consumer, naming: Naming, *, prefix: str = "") -> list[str]:
    """The names ``consumer`` reads in ``naming``, with ``prefix`` (see :func:`roles_and_names`)."""
    return [name for _, name in roles_and_names(consumer, naming, prefix=prefix)]


def required(consumer: Consumer) -> tuple[bool, bool]:
    """Whether ``consumer`` needs (a client id, scopes)."""
    if consumer in (Consumer.PYMASKINPORTEN, Consumer.NAIS):
        return True, True
    if consumer is Consumer.ALTINN_STUDIO:
        return True, False
    return False, False


_LINE = re.compile(r"[\x21-\x7e]+")


def check_input(consumer: Consumer, data: ConsumerInput) -> None:
    """Refuse what ``consumer`` cannot use: a missing client id or scope, a value that is not one printable word,
    a key type it cannot sign with."""
    need_client, need_scopes = required(consumer)
    if need_client and not data.client_id:
        raise InputError(f"{consumer.value} needs the client id", hint="pass --client-id")
    if need_scopes and not data.scopes:
        raise InputError(f"{consumer.value} needs the scopes", hint="pass --scope (space-separated, or repeated)")
    if data.client_id is not None and not _LINE.fullmatch(data.client_id):
        raise InputError("the client id must be one printable word", hint="check --client-id")
    for scope in data.scopes:
        if not _LINE.fullmatch(scope):
            raise InputError(f"the scope {scope!r} is not one printable word", hint="check --scope")
    if data.env not in ("test", "prod"):
        raise InputError(f"unknown environment {data.env!r}", hint="use test or prod")
    kty = data.private_jwk.get("kty")
    if consumer is Consumer.PYMASKINPORTEN and kty != "RSA":
        raise ProfileError("pymaskinporten signs with RS256 and needs an RSA key", hint="deliver an RSA key")
    if "d" not in data.private_jwk or "kid" not in data.private_jwk or "alg" not in data.private_jwk:
        raise InputError("a consumer needs the private JWK with its kid and alg", hint="this is a bug: please report")


def items(consumer: Consumer, data: ConsumerInput, naming: Naming, *, prefix: str = "") -> list[Item]:
    """The named values ``consumer`` reads, made from ``data``. Optional settings (a client id where one is not
    required) are left out when not given."""
    check_input(consumer, data)
    values = _values(consumer, data)
    out: list[Item] = []
    for role, name in roles_and_names(consumer, naming, prefix=prefix):
        if role not in values:
            continue
        value, content_type, sensitive = values[role]
        out.append(Item(role, name, value, content_type, sensitive))
    return out


def _values(consumer: Consumer, data: ConsumerInput) -> dict[str, tuple[str, str, bool]]:
    """role -> (value, content type, sensitive), for the roles ``consumer`` has."""
    jwk = data.private_jwk
    audience = audience_for(data.env)
    scopes = " ".join(data.scopes)
    values: dict[str, tuple[str, str, bool]] = {}
    if data.client_id:
        values["client_id"] = (data.client_id, CONTENT_TYPE_TEXT, False)
    match consumer:
        case Consumer.APICLIENT | Consumer.ALTINN_APP:
            altinn = keymod.altinn_private_jwk(jwk, kid=data.kid, alg=str(jwk["alg"]), exp=data.expires)
            values["jwk"] = (keymod.encode_b64_jwk(altinn), CONTENT_TYPE_B64_JWK, True)
            if consumer is Consumer.ALTINN_APP and data.client_id:
                values["authority"] = (audience, CONTENT_TYPE_TEXT, False)
        case Consumer.PYMASKINPORTEN:
            key = keymod.private_key_from_jwk(jwk, trusted=True)
            values["private_key"] = (keymod.private_pem(key, None), CONTENT_TYPE_PEM, True)
            values["kid"] = (data.kid, CONTENT_TYPE_TEXT, False)
            values["scopes"] = (scopes, CONTENT_TYPE_TEXT, False)
        case Consumer.NAIS:
            values["jwk"] = (keymod.compact_json(_jwk(jwk)), CONTENT_TYPE_JWK, True)
            values["scopes"] = (scopes, CONTENT_TYPE_TEXT, False)
            values["well_known_url"] = (audience + WELL_KNOWN_PATH, CONTENT_TYPE_TEXT, False)
            values["issuer"] = (audience, CONTENT_TYPE_TEXT, False)
            values["jwks_uri"] = (audience + "jwk", CONTENT_TYPE_TEXT, False)
            values["token_endpoint"] = (token_url_for(audience), CONTENT_TYPE_TEXT, False)
        case Consumer.ALTINN_STUDIO:
            private = _jwk(jwk)
            settings = {
                "MaskinportenSettings": {
                    "Jwks": {"keys": [private]},
                    "Jwk": private,
                    "ClientId": data.client_id,
                    "Authority": audience,
                }
            }
            values["settings"] = (keymod.compact_json(settings), CONTENT_TYPE_JSON, True)
    return values


def _jwk(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """The private JWK as NAIS and Altinn Studio hold it: use, kid, alg and the key's members (no exp)."""
    return keymod.decorate(jwk, kid=str(jwk["kid"]), alg=str(jwk["alg"]), exp=None)


def consumer_choices() -> Sequence[str]:
    """Every ``--for`` value, in the order --help shows them."""
    return [consumer.value for consumer in Consumer]


def parse_scopes(values: Sequence[str]) -> tuple[str, ...]:
    """``--scope a --scope "b c"`` -> ``("a", "b", "c")``, duplicates dropped, order kept."""
    seen: dict[str, None] = {}
    for value in values:
        for scope in value.split():
            seen.setdefault(scope, None)
    return tuple(seen)
