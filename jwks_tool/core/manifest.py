"""The fleet manifest: every client in one TOML file, validated whole before anything runs.

    >>> from jwks_tool.core.manifest import parse_manifest
    >>> m = parse_manifest('''
    ... [defaults]
    ... rotate_after = "90d"
    ... [[clients]]
    ... name = "invoice-sync"
    ... env = "test"
    ... client_id = "abc"
    ... scopes = ["altinn:instances.read"]
    ... register = "manual"
    ... ''', "jwks-tool.toml")
    >>> m.clients[0].policy.rotate_after.days
    90

The keys (see README "Fleet"): top-level ``store``; ``[defaults]`` (``size``, ``profile``, ``alg``, ``rotate_after``,
``renew_before``, ``overlap``, ``propagation``); ``[admin.<env>]`` (``client_id``, ``certificate``: a PKCS#12 file
relative to the manifest, or an Azure Key Vault certificate URL; ``token_url``); ``[endpoints.<env>]`` (``token_url``,
``api_url``, ``audience``, ``ca_bundle``); ``[[clients]]`` (``name``, ``env``, ``client_id``, ``scopes``, ``register`` =
``api`` or ``manual``, and any of the defaults' keys to override them for that client) with ``[[clients.deliver]]``
(``to = "keyvault"``, ``vault``, ``for`` = ``apiclient`` or ``altinn-app``, or ``secret_name``; ``client_id`` to write
beside the key; ``out`` for a file, inside the manifest's folder unless ``allow_outside = true``).

An unknown key is refused with the file, its line and the fix; every value is checked (durations such as ``90d``,
``1h``, ``5m``; names as key set names; one line of printable text for ids and scopes). Pure: no I/O but the text
given, so a manifest is checked whole before a network call or a store write.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from jwks_tool.core.consumers import Consumer
from jwks_tool.core.model import Env, SetRef
from jwks_tool.core.text import printable
from jwks_tool.core.timeutil import parse_duration
from jwks_tool.errors import InputError

MANIFEST_NAME = "jwks-tool.toml"
"""The manifest read from the working folder when ``--manifest`` is not given."""

MAX_CLIENTS = 100_000
MAX_TEXT = 2000
"""The longest id, scope, URL or path a manifest value may be."""

_DURATION_KEYS = ("rotate_after", "renew_before", "overlap", "propagation")
_KEY_KEYS = ("size", "profile", "alg")
DEFAULTS_KEYS = (*_KEY_KEYS, *_DURATION_KEYS)
TOP_KEYS = ("store", "defaults", "admin", "endpoints", "clients")
ADMIN_KEYS = ("client_id", "certificate", "token_url")
ENDPOINT_KEYS = ("token_url", "api_url", "audience", "ca_bundle")
CLIENT_KEYS = ("name", "env", "client_id", "scopes", "register", "deliver", *DEFAULTS_KEYS)
DELIVER_COMMON_KEYS = ("to", "for", "client_id", "prefix")
DELIVER_KEYS: Mapping[str, tuple[str, ...]] = {
    "keyvault": ("vault", "secret_name", "adopt"),
    "kubernetes": ("secret_name", "namespace", "out", "reloader", "allow_outside", "adopt"),
    "dotenv": ("out", "allow_outside", "adopt"),
    "file": ("out", "allow_outside", "adopt"),
}
"""What each built-in destination takes besides the common keys (``keyvault push`` / ``deliver``'s options); a
plug-in destination (another ``to``) takes string keys of its own, given to it as the target's ``extra``."""
DELIVER_REQUIRED = {"keyvault": ("vault",), "kubernetes": ("secret_name", "out"), "dotenv": ("out",), "file": ("out",)}
"""apply runs unattended: a Secret manifest is written to a file (that a pipeline applies), never to stdout."""
NAME_LIMIT = 63
"""The longest key set name (:data:`jwks_tool.core.model.SET_NAME_RE`)."""
REGISTER_MODES = ("api", "manual")
DELIVER_PRESETS = tuple(consumer.value for consumer in Consumer)
PROFILES = ("maskinporten", "generic")
RSA_SIZES = (2048, 3072, 4096)
RSA_ALGS = ("RS256", "RS384", "RS512")


@dataclasses.dataclass(frozen=True)
class Policy:
    """When a client's key rotates and how carefully (the ``[defaults]`` merged with a client's own)."""

    size: int = 3072
    profile: str = "maskinporten"
    alg: str = "RS256"
    rotate_after: timedelta = timedelta(days=90)
    """A rotation starts when the active key is this old ..."""
    renew_before: timedelta = timedelta(days=30)
    """... or when it expires within this (its own exp, or the exp Digdir reports)."""
    overlap: timedelta = timedelta(hours=1)
    """A retiring key stays registered at least this long after its successor was delivered."""
    propagation: timedelta = timedelta(minutes=5)
    """A registered key is tested no earlier than this after it was registered."""


@dataclasses.dataclass(frozen=True)
class Admin:
    """The self-service client of one environment."""

    client_id: str
    certificate: str | None = None
    """A PKCS#12 file or an Azure Key Vault certificate URL (the business certificate)."""
    token_url: str | None = None
    lines: Mapping[str, int] = dataclasses.field(default_factory=dict, compare=False)
    """The manifest line of each key given (``""``: the table's header), for messages."""


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """Overrides of an environment's endpoints (test servers, private endpoints)."""

    token_url: str | None = None
    api_url: str | None = None
    audience: str | None = None
    ca_bundle: str | None = None
    lines: Mapping[str, int] = dataclasses.field(default_factory=dict, compare=False)
    """The manifest line of each key given (``""``: the table's header), for messages."""


@dataclasses.dataclass(frozen=True)
class Delivery:
    """Where consumers read a client's active key: a destination (``to``) and its options, as ``deliver`` and
    ``keyvault push`` take them."""

    to: str
    vault: str | None
    preset: str | None
    """The consumer (``for``): apiclient, altinn-app, pymaskinporten, nais, altinn-studio."""
    secret_name: str | None
    client_id: str | None
    out: str | None = None
    """dotenv: the file; file: the folder; kubernetes: the manifest file (relative to the manifest)."""
    namespace: str | None = None
    prefix: str = ""
    reloader: bool = True
    extra: tuple[tuple[str, str], ...] = ()
    """A plug-in destination's own keys."""
    line: int = 0
    allow_outside: bool = False
    """``out`` may be absolute or go up (``..``) out of the manifest's folder: refused unless this is given."""
    adopt: bool = False
    """Replace what jwks-tool did not write: a file or folder item without its mark, a vault secret without its
    tags (refused otherwise, as ``deliver`` refuses them without ``--force``/``--adopt``)."""
    resolved_out: str | None = None
    """``out`` as the file system path written (relative to the manifest's folder), set when the manifest is read
    from a file (:func:`jwks_tool.services.fleet.manifest_file.read_manifest`)."""

    @property
    def local(self) -> bool:
        """Written to a file or folder on this machine (a ``.env``, a Secret manifest, a folder): read back with no
        network, so ``plan --offline`` reads it too."""
        return self.to in ("dotenv", "kubernetes", "file") and self.out is not None and self.out != "-"

    def describe(self) -> str:
        """``keyvault https://app-kv.vault.azure.net/ (apiclient)``; a file destination names the path written."""
        where = (
            self.vault
            or self.resolved_out
            or self.out
            or self.secret_name
            or ", ".join(f"{k}={v}" for k, v in self.extra)
        )
        return f"{self.to} {where} ({self.preset or self.secret_name})"


@dataclasses.dataclass(frozen=True)
class ClientSpec:
    """One client of the fleet: its key set, Maskinporten client, registration and deliveries."""

    ref: SetRef
    client_id: str
    scopes: tuple[str, ...]
    register: str
    policy: Policy
    deliver: tuple[Delivery, ...] = ()
    line: int = 0
    """The line of its ``[[clients]]`` header in the manifest (0 when unknown)."""

    @property
    def scope(self) -> str:
        """The scopes as one space-separated string (a grant's ``scope``)."""
        return " ".join(self.scopes)

    @property
    def label(self) -> str:
        """``invoice-sync (prod)``."""
        return str(self.ref)


@dataclasses.dataclass(frozen=True)
class Manifest:
    """A whole, validated manifest."""

    path: str
    store: str | None
    defaults: Policy
    admin: Mapping[str, Admin]
    endpoints: Mapping[str, Endpoints]
    clients: tuple[ClientSpec, ...]

    def endpoints_for(self, env: Env | str) -> Endpoints:
        """The endpoint overrides of ``env`` (none given: all None)."""
        return self.endpoints.get(Env(env).value, Endpoints())


class _Where:
    """Finds the line of a key in the manifest text: tomllib gives no positions, so the text is searched."""

    def __init__(self, text: str, path: str) -> None:
        self.lines = text.splitlines()
        self.path = path
        self.headers: list[tuple[int, str]] = []
        self._by_name: dict[str, list[int]] = {}
        header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
        for number, line in enumerate(self.lines, 1):
            if "[" not in line:
                continue
            match = header.match(line)
            if match:
                name = re.sub(r"\s+", "", match.group(1)).replace('"', "")
                self.headers.append((number, name))
                self._by_name.setdefault(name, []).append(number)

    def table(self, name: str, index: int = 0) -> int:
        """The line of the ``index``-th header ``[name]`` / ``[[name]]`` (0 when not found)."""
        found = self._by_name.get(name, ())
        return found[index] if index < len(found) else 0

    def count_before(self, name: str, line: int) -> int:
        """How many headers ``[name]`` / ``[[name]]`` come before ``line``."""
        return bisect.bisect_left(self._by_name.get(name, []), line)

    def key(self, key: str, after: int = 0) -> int:
        """The first line at or after ``after`` that assigns ``key`` (0 when not found), also as a quoted key
        written with escapes (``"evil\\u001b"``)."""
        pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*[=.]")
        for number in range(max(after, 1), len(self.lines) + 1):
            line = self.lines[number - 1]
            if pattern.match(line) or (line.lstrip()[:1] == '"' and _quoted_key(line) == key):
                return number
        return 0

    def at(self, line: int) -> str:
        return f"{self.path}:{line}" if line else self.path


_QUOTED_KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*")\s*[=.]')


def _quoted_key(line: str) -> str | None:
    """The key a line assigns when it is a quoted key with escapes, as TOML reads it."""
    match = _QUOTED_KEY.match(line)
    if match is None:
        return None
    try:
        return next(iter(tomllib.loads(f"{match.group(1)} = 0")), None)
    except tomllib.TOMLDecodeError:
        return None


def _fail(where: _Where, line: int, problem: str, fix: str) -> InputError:
    return InputError(f"{where.at(line)}: {problem}", hint=fix)


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], what: str, where: _Where, after: int) -> None:
    for key in table:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"remove it; {what} takes {', '.join(allowed)}"
        shown = printable(str(key), limit=80)  # escaped once: 'evil\x1b[2J', as the other messages show values
        raise _fail(where, where.key(str(key), after), f"unknown key '{shown}' in {what}", fix)


def _text(value: object, key: str, what: str, where: _Where, line: int, *, limit: int = MAX_TEXT) -> str:
    if isinstance(value, str) and len(value) > limit:
        raise _fail(where, line, f"{key} in {what} is {len(value):,} characters, at most {limit}", f"shorten {key}")
    if not isinstance(value, str) or not value or not value.isprintable():
        raise _fail(
            where,
            line,
            f"{key} in {what} must be one line of printable text, not {printable(repr(value), limit=80)}",
            f'write {key} = "..."',
        )
    return value


def _flag(
    table: Mapping[str, Any], key: str, what: str, where: _Where, after: int, *, default: bool, meaning: str = ""
) -> bool:
    """A true/false key of ``table`` (``default`` when absent); anything else is refused with its line, and a fix
    that says what true means."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        fix = f"write {key} = true" + (f" ({meaning}) or remove it" if meaning else "")
        raise _fail(where, where.key(key, after), f"{what}: {key} must be true or false", fix)
    return value


def _opt_text(table: Mapping[str, Any], key: str, what: str, where: _Where, after: int) -> str | None:
    if key not in table:
        return None
    return _text(table[key], key, what, where, where.key(key, after))


def _policy(table: Mapping[str, Any], base: Policy, what: str, where: _Where, after: int) -> Policy:
    changes: dict[str, Any] = {}
    for key in _DURATION_KEYS:
        if key in table:
            value = table[key]
            line = where.key(key, after)
            if not isinstance(value, str):
                raise _fail(where, line, f"{key} in {what} must be a duration string", f'write {key} = "90d"')
            try:
                changes[key] = parse_duration(value)
            except InputError as exc:
                raise _fail(where, line, f"{key} in {what}: {exc.message}", exc.hint or "") from None
    if "size" in table:
        size = table["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size not in RSA_SIZES:
            raise _fail(
                where,
                where.key("size", after),
                f"size in {what} must be one of {', '.join(map(str, RSA_SIZES))}",
                "write size = 3072",
            )
        changes["size"] = size
    for key, allowed in (("profile", PROFILES), ("alg", RSA_ALGS)):
        if key in table:
            value = table[key]
            if value not in allowed:
                raise _fail(
                    where,
                    where.key(key, after),
                    f"{key} in {what} must be one of {', '.join(allowed)}, not {printable(repr(value), limit=40)}",
                    f'write {key} = "{allowed[0]}"',
                )
            changes[key] = value
    policy = dataclasses.replace(base, **changes)
    if policy.renew_before >= timedelta(days=365):
        raise _fail(
            where,
            where.key("renew_before", after),
            f"renew_before in {what} is a year or more: every key would rotate at once",
            'write renew_before = "30d"',
        )
    if policy.rotate_after <= policy.overlap + policy.propagation:
        raise _fail(
            where,
            where.key("rotate_after", after),
            f"rotate_after in {what} must be longer than overlap + propagation",
            'write rotate_after = "90d"',
        )
    return policy


def _table(value: object, what: str, where: _Where, line: int) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, line, f"{what} must be a table", f"write it as [{what}]")
    return value


def _env(value: str, what: str, where: _Where, line: int) -> str:
    if value not in (Env.TEST.value, Env.PROD.value):
        raise _fail(where, line, f"{what}: unknown environment {printable(repr(value), limit=40)}", "use test or prod")
    return value


def parse_manifest(text: str, path: str) -> Manifest:
    """Parse and check a whole manifest (``path`` names it in errors); InputError naming the file, the line and the
    fix for anything wrong."""
    where = _Where(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise _fail(
            where, int(match.group(1)) if match else 0, f"not valid TOML ({exc})", "fix the syntax (see toml.io)"
        ) from None
    _check_keys(data, TOP_KEYS, "the manifest", where, 1)
    store = _opt_text(data, "store", "the manifest", where, 1)
    defaults_table = _table(data.get("defaults", {}), "defaults", where, where.table("defaults"))
    _check_keys(defaults_table, DEFAULTS_KEYS, "[defaults]", where, where.table("defaults"))
    defaults = _policy(defaults_table, Policy(), "[defaults]", where, where.table("defaults"))

    admin: dict[str, Admin] = {}
    for env, value in _table(data.get("admin", {}), "admin", where, where.table("admin")).items():
        line = where.table(f"admin.{env}")
        what = f"[admin.{env}]"
        _env(env, what, where, line)
        table = _table(value, f"admin.{env}", where, line)
        if "key_set" in table:  # the fleet's first release signed the admin grant with a key set
            raise _fail(
                where,
                where.key("key_set", line),
                f"key_set in {what}: Digdir refuses admin grants signed with a registered key",
                'write certificate = "virksomhet.p12" (the business certificate, or an Azure Key Vault certificate '
                "URL) instead, or set JWKS_TOOL_PORTAL_TOKEN",
            )
        _check_keys(table, ADMIN_KEYS, what, where, line)
        if "client_id" not in table:
            raise _fail(where, line, f"{what} has no client_id", 'add client_id = "..." (the self-service client)')
        admin[env] = Admin(
            _text(table["client_id"], "client_id", what, where, where.key("client_id", line)),
            _opt_text(table, "certificate", what, where, line),
            _opt_text(table, "token_url", what, where, line),
            lines=_lines(table, where, line),
        )

    endpoints: dict[str, Endpoints] = {}
    for env, value in _table(data.get("endpoints", {}), "endpoints", where, where.table("endpoints")).items():
        line = where.table(f"endpoints.{env}")
        what = f"[endpoints.{env}]"
        _env(env, what, where, line)
        table = _table(value, f"endpoints.{env}", where, line)
        _check_keys(table, ENDPOINT_KEYS, what, where, line)
        given = {key: _opt_text(table, key, what, where, line) for key in ENDPOINT_KEYS}
        endpoints[env] = Endpoints(**given, lines=_lines(table, where, line))

    raw_clients = data.get("clients", [])
    if not isinstance(raw_clients, list):
        raise _fail(where, where.key("clients"), "clients must be an array of tables", "write each as [[clients]]")
    if len(raw_clients) > MAX_CLIENTS:
        raise _fail(where, 0, f"more than {MAX_CLIENTS:,} clients", "split the manifest")
    clients: list[ClientSpec] = []
    seen: dict[SetRef, int] = {}
    for index, value in enumerate(raw_clients):
        line = where.table("clients", index)
        clients.append(_client(value, index, line, defaults, admin, where))
        ref = clients[-1].ref
        if ref in seen:
            raise _fail(
                where, line, f"the client {ref} is declared twice (first at line {seen[ref]})", "remove one of them"
            )
        seen[ref] = line
    return Manifest(path, store, defaults, admin, endpoints, tuple(clients))


def _lines(table: Mapping[str, Any], where: _Where, line: int) -> dict[str, int]:
    """The line of each key of a table (``""``: its header)."""
    return {"": line, **{str(key): where.key(str(key), line) or line for key in table}}


def _client(
    value: object, index: int, line: int, defaults: Policy, admin: Mapping[str, Admin], where: _Where
) -> ClientSpec:
    what = f"[[clients]] #{index + 1}"
    table = _table(value, "clients", where, line)
    _check_keys(table, CLIENT_KEYS, what, where, line)
    for key in ("name", "env", "client_id", "scopes"):
        if key not in table:
            raise _fail(where, line, f"{what} has no {key}", f"add {key} = ... to it")
    name = _text(table["name"], "name", what, where, where.key("name", line), limit=NAME_LIMIT)
    what = f"client {name!r}"
    env = _env(_text(table["env"], "env", what, where, where.key("env", line)), what, where, where.key("env", line))
    try:
        ref = SetRef.parse(name, env)
    except InputError as exc:
        raise _fail(where, where.key("name", line), f"{what}: {exc.message}", exc.hint or "") from None
    client_id = _text(table["client_id"], "client_id", what, where, where.key("client_id", line))
    scopes = table["scopes"]
    if (
        not isinstance(scopes, list)
        or not scopes
        or not all(isinstance(s, str) and s and s.isprintable() and not any(c.isspace() for c in s) for s in scopes)
    ):
        raise _fail(
            where,
            where.key("scopes", line),
            f"scopes of {what} must be a list of scope names without spaces",
            'write scopes = ["altinn:instances.read"]',
        )
    register = table.get("register", "api")
    if register not in REGISTER_MODES:
        raise _fail(
            where,
            where.key("register", line),
            f"register of {what} must be api or manual, not {printable(repr(register), limit=40)}",
            'write register = "api" (through the self-service API) or "manual" (you paste the set)',
        )
    if register == "api" and env not in admin:
        raise _fail(
            where,
            where.key("register", line) or line,
            f"{what} registers through the self-service API, but the manifest has no [admin.{env}]",
            f'add [admin.{env}] with client_id (the self-service client), or write register = "manual"',
        )
    policy = _policy(table, defaults, what, where, line)
    raw = table.get("deliver", [])
    if not isinstance(raw, list):
        raise _fail(where, where.key("deliver", line), f"deliver of {what} must be [[clients.deliver]] tables", "")
    first = where.count_before("clients.deliver", line)
    deliveries = tuple(
        _delivery(item, f"{what} delivery #{number + 1}", where, where.table("clients.deliver", first + number) or line)
        for number, item in enumerate(raw)
    )
    return ClientSpec(ref, client_id, tuple(scopes), register, policy, deliveries, line)


def _delivery(value: object, what: str, where: _Where, line: int) -> Delivery:
    table = _table(value, "clients.deliver", where, line)
    to = table.get("to")
    if to is None:
        raise _fail(
            where,
            line,
            f"{what} has no to (the destination: {', '.join(DELIVER_KEYS)} or a plug-in's)",
            'write to = "keyvault"',
        )
    if not isinstance(to, str) or not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", to):
        raise _fail(
            where,
            where.key("to", line) or line,
            f"{what}: to must name a destination ({', '.join(DELIVER_KEYS)} or a plug-in's), not "
            f"{printable(repr(to), limit=40)}",
            'write to = "keyvault"',
        )
    builtin = to in DELIVER_KEYS
    if builtin:
        _check_keys(table, (*DELIVER_COMMON_KEYS, *DELIVER_KEYS[to]), f"{what} (to = {to!r})", where, line)
        for required in DELIVER_REQUIRED[to]:
            if required not in table:
                example = {"vault": '"https://NAME.vault.azure.net/"', "out": '"PATH"', "secret_name": '"NAME"'}
                raise _fail(
                    where, line, f"{what} (to = {to!r}) has no {required}", f"add {required} = {example[required]}"
                )
    extra: list[tuple[str, str]] = []
    for key in table:
        if key in DELIVER_COMMON_KEYS or builtin:
            continue
        extra.append((str(key), _text(table[key], str(key), what, where, where.key(str(key), line))))
    preset = table.get("for")
    if preset is not None and preset not in DELIVER_PRESETS:
        raise _fail(
            where,
            where.key("for", line),
            f"{what}: for must be one of {', '.join(DELIVER_PRESETS)}, not {printable(repr(preset), limit=40)}",
            'write for = "apiclient"',
        )
    secret_name = _opt_text(table, "secret_name", what, where, line) if builtin else None
    if to == "keyvault":
        if (preset is None) == (secret_name is None):
            raise _fail(
                where,
                line,
                f"{what} needs exactly one of for and secret_name",
                'write for = "apiclient" or secret_name',
            )
    elif preset is None:
        raise _fail(where, line, f"{what} has no for (the consumer)", 'add for = "apiclient" (or nais, ...)')
    reloader = _flag(table, "reloader", what, where, line, default=True)
    prefix = table.get("prefix", "")
    if prefix != "":
        prefix = _text(prefix, "prefix", what, where, where.key("prefix", line))
    outside = "out may be outside the manifest's folder"
    allow_outside = _flag(table, "allow_outside", what, where, line, default=False, meaning=outside)
    adopt = _flag(table, "adopt", what, where, line, default=False, meaning="replace what jwks-tool did not write")
    out = _opt_text(table, "out", what, where, line) if builtin else None
    if out is not None and not allow_outside and is_outside(out):
        raise _fail(
            where,
            where.key("out", line),
            f"out of {what} ({printable(out, limit=200)}) is outside the manifest's folder: private keys would be "
            "written wherever it points",
            "write a path inside the manifest's folder (no .., not absolute), or add allow_outside = true to this "
            "[[clients.deliver]]",
        )
    return Delivery(
        to,
        _opt_text(table, "vault", what, where, line) if builtin else None,
        preset,
        secret_name,
        _opt_text(table, "client_id", what, where, line),
        out=out,
        namespace=_opt_text(table, "namespace", what, where, line) if builtin else None,
        prefix=str(prefix),
        reloader=reloader,
        extra=tuple(extra),
        line=line,
        allow_outside=allow_outside,
        adopt=adopt,
    )


def is_outside(out: str) -> bool:
    """Whether a delivery's ``out`` leaves the manifest's folder as written: absolute (``/``, ``\\``, ``C:``) or
    with a ``..`` part. ``-`` (stdout) is not a path.

    >>> [is_outside(p) for p in ("k8s/a.yaml", "../a.env", "k8s/../../a", "/tmp/a", "-")]
    [False, True, True, True, False]
    """
    if out == "-":
        return False
    if out.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", out):
        return True
    return ".." in re.split(r"[/\\]", out)
