"""Output formats: every one an enum member with its renderer.

    >>> from jwks_tool.formats import PublicFormat, render_public
    >>> print(render_public([{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}], PublicFormat.JWKS_ARRAY), end="")
    [
      {
        "kty": "EC",
        "crv": "P-256",
        "x": "x",
        "y": "y"
      }
    ]

Key exports (:class:`PublicFormat`, :class:`PrivateFormat`) are documents for other programs. Reports for people
(:class:`ReportFormat`) are ``text`` (Jinja2 templates in ``templates/``) or ``json`` (stable, for machines).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, assert_never

from jwks_tool import keys as keymod

if TYPE_CHECKING:
    from pathlib import Path

    import jinja2

    from jwks_tool.model import KeyRecord


class PublicFormat(StrEnum):
    JWK = "jwk"
    """One public JWK."""
    JWKS = "jwks"
    """``{"keys": [...]}``: what the Maskinporten portal and API register."""
    JWKS_ARRAY = "jwks-array"
    """The bare JSON array that older portal pages wanted."""
    PEM = "pem"
    """SubjectPublicKeyInfo PEM."""


class PrivateFormat(StrEnum):
    JWK = "jwk"
    """The private JWK with kid, use, alg and exp."""
    PEM = "pem"
    """PKCS#8 PEM, encrypted with a passphrase unless asked otherwise."""
    BASE64 = "base64"
    """Standard base64 of the compact JSON of one private JWK: Altinn's EncodedJwk / JwkBase64."""


class ReportFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def to_json(value: object) -> str:
    """The one JSON style of jwks-tool output: two-space indent, UTF-8, trailing newline (\\u escapes only when
    the data holds text that is not valid Unicode, such as a lone surrogate from a file being inspected)."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, indent=2, ensure_ascii=True) + "\n"
    return text


def render_public(jwks: Sequence[Mapping[str, Any]], fmt: PublicFormat) -> str:
    public = [keymod.public_jwk(jwk) for jwk in jwks]  # belt and braces: never a private member
    match fmt:
        case PublicFormat.JWK:
            (only,) = public
            return to_json(only)
        case PublicFormat.JWKS:
            return to_json({"keys": public})
        case PublicFormat.JWKS_ARRAY:
            return to_json(public)
        case PublicFormat.PEM:
            return "".join(keymod.public_pem(jwk) for jwk in public)
        case _:
            assert_never(fmt)


def render_private(
    record: KeyRecord,
    members: Mapping[str, Any],
    fmt: PrivateFormat,
    *,
    pem_passphrase: str | None,
    trusted: bool,
) -> str:
    """A private export; ``pem_passphrase`` None means an unencrypted PEM (the caller made sure it was asked for)."""
    match fmt:
        case PrivateFormat.JWK:
            exp = record.public_jwk.get("exp")
            return to_json(
                keymod.decorate(members, kid=record.kid, alg=record.alg, exp=exp if isinstance(exp, int) else None)
            )
        case PrivateFormat.BASE64:
            return keymod.encode_b64_jwk(keymod.altinn_private_jwk(members, kid=record.kid, alg=record.alg)) + "\n"
        case PrivateFormat.PEM:
            key = keymod.private_key_from_jwk(members, trusted=trusted)
            return keymod.private_pem(key, pem_passphrase)
        case _:
            assert_never(fmt)


# ---- templates for people -------------------------------------------------------------------------------------
def templates_dir() -> Path:
    """``jwks_tool/templates`` in an installed wheel, the checkout's ``templates/`` otherwise."""
    from pathlib import Path  # here, not at the top: pathlib costs start-up time that show --json need not pay

    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("jwks-tool's templates folder is missing; reinstall jwks-tool")


@cache
def template_env(extra_dir: str | None = None) -> jinja2.Environment:
    import jinja2

    folders = [extra_dir] if extra_dir else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(templates_dir())]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "html.j2", "svg", "svg.j2"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"
    env.filters["date"] = lambda value: value.strftime("%Y-%m-%d") if value is not None else "-"
    env.filters["untrusted"] = untrusted_text
    env.filters["md"] = markdown_text
    return env


def untrusted_text(value: object) -> str:
    """Text from outside (a kid in a file being inspected) made safe for a terminal: control characters and lone
    surrogates are escaped, so nothing can inject lines or colour codes into a report."""
    text = str(value)
    if text.isprintable():
        return text
    escaped = repr(text)[1:-1]
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


_MARKDOWN_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{char: "\\" + char for char in "\\`*_[]|~"},
}


def markdown_text(value: object) -> str:
    """Text someone wrote (a reason, a user name, a client id) made inert in Markdown, in running text or a table
    cell: control characters escaped as by :func:`untrusted_text`, HTML's ``& < >`` as entities (no tag survives),
    and the Markdown punctuation that starts emphasis, code, links or cells (``\\ ` * _ [ ] | ~``) backslashed.
    Every Markdown template uses it (the ``md`` filter) for such values."""
    return "".join(_MARKDOWN_ESCAPES.get(char, char) for char in untrusted_text(value))


def render_template(name: str, **context: Any) -> str:
    return template_env().get_template(name).render(**context)
