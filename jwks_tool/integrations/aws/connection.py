"""AWS connection: which region and endpoint, the boto3 client, and AWS errors made readable.

    >>> from jwks_tool.integrations.aws.connection import AwsConnection, check_region
    >>> check_region("eu-north-1")
    'eu-north-1'
    >>> AwsConnection("eu-north-1").max_attempts
    5

boto3 and botocore are imported only here, and only when a client is made or an AWS error is translated; without
them the user is told to ``pip install 'jwks-tool[aws]'``. Credentials come from boto3's default chain (environment,
``AWS_PROFILE`` and the shared config and credentials files, SSO, web identity, container and instance roles).
Endpoints: an explicit ``endpoint_url`` wins; otherwise boto3 itself reads ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` and
``AWS_ENDPOINT_URL`` (and ``endpoint_url`` in the config file), and ``AWS_CA_BUNDLE`` for a private CA. Whatever
endpoint boto3 resolves must be https (:func:`check_endpoint`): plain http only to this machine with
``JWKS_TOOL_ALLOW_HTTP_LOOPBACK=1``.

Throttling: botocore's ``standard`` retry mode retries ``ThrottlingException`` (and the other throttling codes, 5xx
answers and dropped connections) with exponential backoff and jitter, at most ``max_attempts`` attempts in all; a
bare HTTP 429 that names no throttling code is retried the same bounded way by :class:`_TooManyRequests` (waiting
out a ``Retry-After`` of up to 20 s). Every other error becomes a :class:`~jwks_tool.errors.RemoteError` naming the fix.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jwks_tool import __version__
from jwks_tool.core.text import printable
from jwks_tool.errors import InputError, RemoteError
from jwks_tool.integrations.network import is_loopback

INSTALL_HINT = "install the AWS extra: pip install 'jwks-tool[aws]'"
REGION_RE = re.compile(r"\A[a-z]{2}(?:-[a-z]+)+-\d{1,2}\Z")
DEFAULT_MAX_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 20.0
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException"}
)
ALLOW_HTTP_LOOPBACK_VAR = "JWKS_TOOL_ALLOW_HTTP_LOOPBACK"
"""Set to 1 to let plain http reach an AWS endpoint on this machine (test servers); anything else is https only."""
STORE_CA_HINT = "for a private CA set AWS_CA_BUNDLE or ca_bundle= in the store URL"
"""How a TLS failure's hint names the fix (``deliver --to aws`` names ``--ca-bundle`` instead)."""
NOT_SIGNED_IN_HINT = (
    "sign in to AWS: `aws sso login`, `aws configure`, AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
)


def check_region(region: str) -> str:
    """``region`` if it reads as an AWS region name (``eu-north-1``, ``us-gov-west-1``); InputError otherwise."""
    if not REGION_RE.fullmatch(region):
        raise InputError(f"invalid AWS region {printable(region, limit=60)!r}", hint="give one like eu-north-1")
    return region


@dataclasses.dataclass(frozen=True)
class AwsConnection:
    """How to reach an AWS service."""

    region: str
    endpoint_url: str | None = None
    """None: boto3 picks it (``AWS_ENDPOINT_URL_SECRETS_MANAGER``, ``AWS_ENDPOINT_URL``, else AWS's own)."""
    ca_bundle: str | None = None
    """A PEM CA bundle for private endpoints and proxies (None: ``AWS_CA_BUNDLE`` or the system's)."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Attempts of one request in all, retries of throttling and dropped connections included."""


class _TooManyRequests:
    """botocore ``needs-retry`` handler: retry a bare HTTP 429 (no throttling code botocore knows) with bounded
    exponential backoff and jitter, or after its ``Retry-After`` (at most 20 s); None leaves every other answer to
    botocore's standard retry handler."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def __call__(self, response: Any = None, attempts: int = 1, **kwargs: Any) -> float | None:
        if response is None or attempts >= self.max_attempts:
            return None
        http = response[0]
        if getattr(http, "status_code", None) != 429:
            return None
        header = str((getattr(http, "headers", None) or {}).get("Retry-After", "")).strip()
        try:
            wait = float(header)
        except ValueError:
            wait = -1.0
        if not 0 <= wait <= MAX_BACKOFF_SECONDS:
            wait = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
        return wait


def _endpoint_source(connection: AwsConnection, service: str) -> str:
    """Where the endpoint boto3 uses came from, as the user would fix it."""
    if connection.endpoint_url:
        return "endpoint= in the store URL"
    specific = "AWS_ENDPOINT_URL_" + service.upper().replace("SECRETSMANAGER", "SECRETS_MANAGER")
    for name in (specific, "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return name
    return "endpoint_url in the AWS config file"


def check_endpoint(url: str, connection: AwsConnection, service: str = "secretsmanager") -> str:
    """``url`` (the endpoint boto3 resolved) if requests may go there: https, or plain http to this machine when
    ``JWKS_TOOL_ALLOW_HTTP_LOOPBACK=1`` (test servers); InputError naming where the endpoint came from otherwise.
    Secrets (a delivered private key, the store's documents and audit log) would travel in clear over http."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        scheme = parts.scheme.lower()
    except ValueError:
        host, scheme = "", ""
    if scheme == "https" and host:
        return url
    source = _endpoint_source(connection, service)
    shown = printable(url, limit=200)
    if scheme == "http" and host:
        if os.environ.get(ALLOW_HTTP_LOOPBACK_VAR) == "1" and is_loopback(host):
            return url
        raise InputError(
            f"the AWS endpoint {shown} ({source}) is plain http: secrets would travel in clear",
            hint=f"set {source} to an https:// URL (for a test server on this machine: {ALLOW_HTTP_LOOPBACK_VAR}=1)",
        )
    raise InputError(
        f"the AWS endpoint {shown} ({source}) is not an https:// URL", hint=f"set {source} to https://HOST"
    )


def _check_ca_bundle(connection: AwsConnection) -> None:
    """A CA bundle named (``--ca-bundle``/``ca_bundle=``, else ``AWS_CA_BUNDLE``) must be a file: InputError naming it
    (botocore would only fail at the first request, as a TLS error)."""
    path = connection.ca_bundle or os.environ.get("AWS_CA_BUNDLE")
    if path and not os.path.isfile(path):
        source = "--ca-bundle or ca_bundle=" if connection.ca_bundle else "AWS_CA_BUNDLE"
        raise InputError(
            f"the CA bundle {printable(path, limit=200)} is not a file", hint=f"check {source} (a PEM file of CAs)"
        )


def configured_region() -> str | None:
    """The region boto3 would use without one given (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's
    ``region``), or None; nothing is sent."""
    with aws_errors("find the AWS region"):
        import boto3

        region = boto3.session.Session().region_name
    return str(region) if region else None


def make_client(connection: AwsConnection, service: str) -> Any:
    """A boto3 client for ``service`` (``"secretsmanager"``) with the connection's region, endpoint, CA bundle and
    bounded retries. Nothing is sent until it is used."""
    with aws_errors(f"set up the AWS {service} client"):
        from urllib.parse import urlsplit

        import boto3
        from botocore.config import Config

        config = Config(
            region_name=connection.region,
            retries={"mode": "standard", "total_max_attempts": connection.max_attempts},
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra=f"jwks-tool/{__version__}",
        )
        kwargs: dict[str, Any] = {}
        _check_ca_bundle(connection)
        if connection.endpoint_url:
            kwargs["endpoint_url"] = connection.endpoint_url
        if connection.ca_bundle:
            kwargs["verify"] = connection.ca_bundle
        session = boto3.session.Session()
        client = session.client(service, config=config, **kwargs)
        check_endpoint(str(client.meta.endpoint_url), connection, service)
        if is_loopback(urlsplit(str(client.meta.endpoint_url)).hostname or ""):
            # never through a proxy from HTTP(S)_PROXY: it would see a plain-http secret in clear (as the Maskinporten
            # client does); an empty mapping makes botocore skip the environment's proxies
            client = session.client(service, config=config.merge(Config(proxies={})), **kwargs)
        service_id = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"needs-retry.{service_id}", _TooManyRequests(connection.max_attempts))
        return client


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``ResourceNotFoundException`` ...), else ``""``."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = (response.get("Error") or {}).get("Code")
    return code if isinstance(code, str) else ""


def http_status(exc: BaseException) -> int:
    """The HTTP status of a botocore ``ClientError``, else 0."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else 0


@contextmanager
def aws_errors(
    doing: str, *, where: str = "", policy: str = "the AWS store", ca_hint: str = STORE_CA_HINT
) -> Iterator[None]:
    """Turn boto3/botocore exceptions (and a missing boto3) into one-line RemoteErrors that name the fix; ``policy``
    names where README.md lists the IAM actions needed (the AWS store's, or ``--to aws``'s), ``ca_hint`` how to give
    a private CA."""
    try:
        yield
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in ("boto3", "botocore"):
            raise RemoteError(f"cannot {doing}: the AWS SDK (boto3) is not installed", hint=INSTALL_HINT) from exc
        raise
    except Exception as exc:
        translated = translate(exc, doing, where, policy=policy, ca_hint=ca_hint)
        if translated is exc:
            raise
        raise translated from exc


def translate(
    exc: Exception, doing: str, where: str = "", *, policy: str = "the AWS store", ca_hint: str = STORE_CA_HINT
) -> Exception:
    """The RemoteError for a botocore exception (``exc`` itself for anything else)."""
    try:
        import botocore.exceptions as bx
    except ImportError:  # pragma: no cover - only botocore raises what this translates
        return exc

    place = f" {where}" if where else ""
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.CredentialRetrievalError):
        return RemoteError(f"cannot {doing}: not signed in to AWS ({_first_line(exc)})", hint=NOT_SIGNED_IN_HINT)
    if isinstance(exc, bx.TokenRetrievalError | bx.SSOError):
        return RemoteError(f"cannot {doing}: the AWS sign-in has expired ({_first_line(exc)})", hint=NOT_SIGNED_IN_HINT)
    if isinstance(exc, bx.NoRegionError):
        return RemoteError(f"cannot {doing}: no AWS region", hint="name one in the URL (secretsmanager://REGION/...)")
    if isinstance(exc, bx.ClientError):
        code = printable(error_code(exc) or "error", limit=100)
        status = http_status(exc)
        message = _server_message(exc)
        if code in THROTTLING_CODES or status == 429:
            return RemoteError(
                f"cannot {doing}: AWS{place} is throttling requests ({code}, HTTP {status}) and retries ran out",
                hint="wait a minute and run the command again (each step is safe to repeat)",
            )
        if code in ("AccessDeniedException", "AccessDenied"):
            return RemoteError(
                f"cannot {doing}: no permission{place} ({message})",
                hint=f"your IAM policy needs the secretsmanager actions README.md lists for {policy}",
            )
        if code in (
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "ExpiredTokenException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
        ):
            return RemoteError(f"cannot {doing}: AWS refused the credentials ({code})", hint=NOT_SIGNED_IN_HINT)
        if code in ("DecryptionFailure", "EncryptionFailure") or code.startswith("KMS"):
            return RemoteError(
                f"cannot {doing}: the secret's KMS key refused ({code}: {message})",
                hint="you need kms:Decrypt (and kms:GenerateDataKey to write) on the secret's KMS key",
            )
        return RemoteError(f"cannot {doing}: AWS{place} answered {code} (HTTP {status})", hint=message or None)
    if isinstance(exc, bx.SSLError):
        return RemoteError(
            f"cannot {doing}: TLS to AWS{place} failed ({_first_line(exc)})",
            hint=ca_hint,
        )
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionError | bx.HTTPClientError):
        return RemoteError(
            f"cannot {doing}: AWS{place} cannot be reached ({_first_line(exc)})",
            hint="check the region, AWS_ENDPOINT_URL_SECRETS_MANAGER or endpoint=, your network or proxy",
        )
    if isinstance(exc, bx.ParamValidationError):
        return InputError(f"cannot {doing}: {_first_line(exc)}")
    return exc


def _server_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    text = error.get("Message") if isinstance(error, dict) else None
    return printable(" ".join(str(text).split()), limit=200) if text else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0], limit=200) if text else type(exc).__name__
