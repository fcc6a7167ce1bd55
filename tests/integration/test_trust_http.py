"""Grants and admin tokens travel over https only, redirects are never followed, answers are capped in size and
time, and what a server says reaches the terminal escaped (issue #10). Small HTTP servers on 127.0.0.1 play the
hostile endpoints."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.errors import InputError, RemoteError
from jwks_tool.integrations.maskinporten.client import MAX_RESPONSE_BYTES, PortalClient, request_token

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
Behaviour = Callable[[BaseHTTPRequestHandler], None]


class Hostile:
    """A plain-http server on 127.0.0.1 whose every answer is ``behaviour(handler)``; it records each request."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    behaviour(self)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile() -> Iterator[Callable[[Behaviour], Hostile]]:
    servers: list[Hostile] = []

    def start(behaviour: Behaviour) -> Hostile:
        server = Hostile(behaviour).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    def behave(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behave


def token_args(url: str, *extra: str) -> list[str]:
    return ["--client-id", "c", "--scope", "altinn:x", "--token-url", url, *extra]


@pytest.fixture
def acme(run: Run) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0


# ---- https only ---------------------------------------------------------------------------------------------------
def test_token_refuses_plain_http_before_sending(run: Run, acme: None, hostile: Callable[[Behaviour], Hostile]) -> None:
    server = hostile(answer(200, b'{"access_token": "t", "expires_in": 120}'))
    result = run("token", "acme", *token_args(server.url))
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: the token endpoint {server.url} is plain http: the grant would travel in clear; "
        "use an https:// URL (for a test server on this machine: --allow-http-loopback)\n"
    )
    assert server.requests == []


def test_token_http_to_loopback_needs_the_flag(run: Run, acme: None, hostile: Callable[[Behaviour], Hostile]) -> None:
    server = hostile(answer(200, b'{"access_token": "t", "expires_in": 120, "scope": "altinn:x"}'))
    result = run("token", "acme", *token_args(server.url, "--allow-http-loopback"))
    assert result.exit_code == 0, result.stderr
    assert len(server.requests) == 1


def test_a_grant_to_loopback_never_goes_through_a_proxy(
    run: Run, acme: None, hostile: Callable[[Behaviour], Hostile], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy from the environment would get a plain-http grant in clear: loopback is always reached directly."""
    proxy = hostile(answer(200, b'{"access_token": "p", "expires_in": 120, "scope": "altinn:x"}'))
    server = hostile(answer(200, b'{"access_token": "t", "expires_in": 120, "scope": "altinn:x"}'))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url.rsplit("/", 1)[0])
    result = run("token", "acme", *token_args(server.url, "--allow-http-loopback"))
    assert result.exit_code == 0, result.stderr
    assert proxy.requests == []
    assert len(server.requests) == 1


def test_the_loopback_flag_does_not_open_other_hosts(run: Run, acme: None) -> None:
    result = run("token", "acme", *token_args("http://maskinporten.example/token", "--allow-http-loopback"))
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "jwks-tool: error: the token endpoint http://maskinporten.example/token is plain http"
    )
    result = run("token", "acme", *token_args("ftp://127.0.0.1/token"))
    assert result.exit_code == 3
    assert result.stderr == (
        "jwks-tool: error: the token endpoint ftp://127.0.0.1/token is not an https:// URL; use an https:// URL\n"
    )


def test_portal_pull_refuses_to_send_the_admin_token_over_http(
    run: Run, acme: None, hostile: Callable[[Behaviour], Hostile], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", "admin-secret")
    server = hostile(answer(200, b'{"keys": []}'))
    result = run("portal", "pull", "acme", "--client-id", "c", "--api-url", server.url)
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: the self-service API {server.url} is plain http: the admin token would travel in clear; "
        "use an https:// URL (for a test server on this machine: --allow-http-loopback)\n"
    )
    assert server.requests == []
    with pytest.raises(InputError):
        PortalClient(server.url, "admin-secret")


# ---- redirects ----------------------------------------------------------------------------------------------------
def test_token_redirect_is_an_error_naming_the_host(
    run: Run, acme: None, hostile: Callable[[Behaviour], Hostile]
) -> None:
    sink = hostile(answer(200, b'{"access_token": "stolen", "expires_in": 120}'))
    server = hostile(answer(307, b"", {"Location": f"http://evil.example:{sink.url.split(':')[2]}token"}))
    result = run("token", "acme", *token_args(server.url, "--allow-http-loopback"))
    assert result.exit_code == 10
    assert result.stderr == (
        "jwks-tool: error: cannot reach the token endpoint: it redirects (HTTP 307) to evil.example; "
        "jwks-tool does not follow redirects with grants and tokens: give the final https:// URL\n"
    )
    assert len(server.requests) == 1
    assert sink.requests == []


def test_portal_redirect_is_not_followed(hostile: Callable[[Behaviour], Hostile]) -> None:
    sink = hostile(answer(200, b'{"keys": []}'))
    server = hostile(answer(302, b"", {"Location": sink.url + "x"}))
    client = PortalClient(server.url, "admin-secret", allow_http_loopback=True)
    with pytest.raises(RemoteError, match=r"redirects \(HTTP 302\) to 127\.0\.0\.1"):
        client.get_jwks("c")
    assert sink.requests == []


# ---- size and time ------------------------------------------------------------------------------------------------
def test_a_huge_answer_is_cut_off(hostile: Callable[[Behaviour], Hostile]) -> None:
    def flood(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(400)
        handler.end_headers()  # no Content-Length: read until the server closes
        block = b" " * 65536
        for _ in range(300 * 16):  # 300 MB if nobody stops reading
            handler.wfile.write(block)

    server = hostile(flood)
    with pytest.raises(RemoteError) as caught:
        request_token(server.url, "g", ca_bundle=None, timeout=20, allow_http_loopback=True)
    assert caught.value.diagnostics() == (
        f"cannot reach the token endpoint: its answer is larger than {MAX_RESPONSE_BYTES // 1024 // 1024} MiB; "
        "check the URL: no honest answer is that large"
    )


def test_a_declared_huge_answer_is_refused_unread(hostile: Callable[[Behaviour], Hostile]) -> None:
    def liar(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(300 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.write(b"{")

    server = hostile(liar)
    with pytest.raises(RemoteError, match="larger than 1 MiB"):
        request_token(server.url, "g", ca_bundle=None, timeout=5, allow_http_loopback=True)


@pytest.mark.parametrize("where", ["headers", "body"])
def test_one_deadline_for_the_whole_call(
    run: Run, acme: None, hostile: Callable[[Behaviour], Hostile], where: str
) -> None:
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        out = handler.wfile
        if where == "headers":
            payload = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 60
        else:
            handler.send_response(200)
            handler.send_header("Content-Length", "60")
            handler.end_headers()
            payload = b"{" + b" " * 59
        for byte in payload:
            out.write(bytes([byte]))
            out.flush()
            time.sleep(0.25)  # each byte well inside the per-read timeout

    server = hostile(trickle)
    started = time.monotonic()
    result = run("token", "acme", *token_args(server.url, "--allow-http-loopback", "--timeout", "1.5"))
    took = time.monotonic() - started
    assert result.exit_code == 10
    assert result.stderr == (
        "jwks-tool: error: cannot reach the token endpoint: no complete answer within 1.5 s; "
        "check the network or proxy, or raise --timeout\n"
    )
    assert took < 4.0, took


# ---- text from servers --------------------------------------------------------------------------------------------
EVIL = "\x1b]0;pwned\x07\x1b[2J\rStore passphrase: \u202egnp.exe\x9b31m" + "A" * 5000


def test_a_hostile_error_reaches_the_terminal_escaped(
    run: Run, acme: None, hostile: Callable[[Behaviour], Hostile]
) -> None:
    body = json.dumps({"error": "invalid_grant\x1b[31m", "error_description": EVIL}).encode()
    server = hostile(answer(400, body))
    result = run("token", "acme", *token_args(server.url, "--allow-http-loopback"))
    assert result.exit_code == 10
    line = result.stderr
    assert line.count("\n") == 1
    assert line.endswith("\n")
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in line[:-1]), repr(line)
    assert "\u202e" not in line
    assert line.startswith(
        "jwks-tool: error: Maskinporten refused the grant: invalid_grant\\x1b[31m: "
        "\\x1b]0;pwned\\x07\\x1b[2J\\x0dStore passphrase: \\u202egnp.exe\\x9b31mAAA"
    )
    assert len(line) < 700  # a remote message is cut


def test_hostile_claims_and_kids_are_escaped(
    run: Run, acme: None, hostile: Callable[[Behaviour], Hostile], monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    claims = {"iss": "x\x1b[2Jy", "client_id": "c\rStore passphrase: ", "aud": ["\x1b]0;t\x07"]}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    body = json.dumps({"access_token": f"e30.{payload}.sig", "expires_in": 120, "scope": "a\x1bb"}).encode()
    server = hostile(answer(200, body))
    result = run("token", "acme", *token_args(server.url, "--allow-http-loopback"))
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\r" not in result.stdout
    assert "  iss       x\\x1b[2Jy\n" in result.stdout
    assert "  scope     a\\x1bb\n" in result.stdout

    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", "admin-secret")
    portal = hostile(answer(200, json.dumps({"keys": [{"kid": "k\x1b]0;t\x07"}]}).encode()))
    args = ("portal", "pull", "acme", "--client-id", "c", "--api-url", portal.url, "--allow-http-loopback")
    result = run(*args)
    assert result.exit_code == 2
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "  extra     k\\x1b]0;t\\x07  (not in the key set: `portal push --replace` removes it)\n" in result.stdout


def test_the_error_printer_escapes_whatever_reaches_it(run: Run) -> None:
    result = run("show", "\x1b]0;x\x07")
    assert "\x1b" not in result.stderr
    assert "\x07" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_the_error_line_printer_is_the_last_line_of_defence(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def hostile_service(*args: object) -> None:
        raise RemoteError("the vault said \x1b]0;x\x07\x1b[2J\rStore passphrase: \u2066", hint="go\x9b")

    monkeypatch.setattr("jwks_tool.cli.lifecycle.make_service", hostile_service)
    result = run("status")
    assert result.exit_code == 10
    assert result.stderr == (
        "jwks-tool: error: the vault said \\x1b]0;x\\x07\\x1b[2J Store passphrase: \\u2066; go\\x9b\n"
    )


@pytest.mark.parametrize("value", ["0", "-1", "1e308", "nan", "inf", "601"])
def test_a_timeout_outside_0_to_600_seconds_is_a_usage_error(run: Run, acme: None, value: str) -> None:
    result = run("token", "acme", *token_args("https://127.0.0.1:9/token", "--timeout", value))
    assert result.exit_code == 2, result.stderr
    assert f"Invalid value for '--timeout': {float(value)} is not a number of seconds from 0 (not included) to 600" in (
        result.stderr
    )


@pytest.mark.parametrize("command", ["grant", "token"])
@pytest.mark.parametrize(
    ("option", "value"), [("--client-id", "c\n"), ("--scope", "altinn:x\x1b[2J"), ("--client-id", "")]
)
def test_client_id_and_scope_are_one_printable_line(
    run: Run, acme: None, command: str, option: str, value: str
) -> None:
    args = {"--client-id": "c", "--scope": "altinn:x"} | {option: value}
    result = run(command, "acme", *[part for pair in args.items() for part in pair])
    assert result.exit_code == 3, result.stderr
    assert result.stderr == (
        f"jwks-tool: error: {option} {value!r} is not one line of printable text; give it without newlines or "
        "control characters\n"
    ).replace("\x1b", "\\x1b")
