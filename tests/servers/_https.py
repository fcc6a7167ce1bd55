"""Shared HTTPS plumbing of the local test servers (Key Vault and Maskinporten).

Both servers are a ``ThreadingHTTPServer`` on ``127.0.0.1`` speaking TLS with a throw-away test CA, served from a
background thread, with a runtime-configurable fault injector and a log of the requests they saw. This module holds
that machinery; the servers only add their REST semantics on top:

* :class:`BackgroundServer`: the servers' base class (``with server:`` calls ``start()`` / ``close()``).
* :func:`make_tls` / :class:`TlsFiles`: a test CA (created in, or reused from, a directory) and a fresh
  ``localhost`` / ``127.0.0.1`` server certificate issued by it.
* :class:`HttpsServer` / :class:`HttpsHandler`: the HTTP/1.1 server (TCP_NODELAY, TLS handshake in the connection
  thread, every connection tracked so it can be shut down); :class:`HttpsService` binds it, serves it in a
  background thread and closes it again (``stopping`` is set while it closes, so injected latency ends early).
* :func:`read_body`, :func:`bearer_token`, :func:`send`, :func:`retry_after_value`: request and response helpers.
* :class:`FaultInjector` / :class:`FaultRule`: latency, errors, throttling and dropped connections on demand.
* :class:`RequestLog`: a bounded, thread-safe, numbered log of request records.
* :func:`stop_on_sigterm` / :func:`announce_and_wait`: the command-line ``serve until Ctrl-C`` loop.

Usage::

    import logging
    from dataclasses import dataclass
    import requests
    from tests.servers._https import FaultInjector, HttpsHandler, HttpsService, RequestLog, send

    @dataclass(frozen=True)
    class Record:
        seq: int
        method: str
        path: str
        fault: str | None

    class Handler(HttpsHandler):
        server_version = "EchoTestServer/1.0"

    faults = FaultInjector()
    log: RequestLog[Record] = RequestLog(1000)

    def serve(handler: HttpsHandler) -> None:
        outcome = faults.apply(handler.command, handler.path, service.stopping)
        log.append(lambda seq: Record(seq, handler.command, handler.path, outcome.label))
        if outcome.rule is not None and outcome.rule.kind in ("drop", "lose_reply"):  # echoing changes nothing
            handler.close_connection = True
            return
        status = outcome.rule.status if outcome.rule is not None else 200
        send(handler, status, [("Content-Type", "text/plain"), ("Content-Length", "5")], b"hello")

    service = HttpsService(serve, Handler, name="echo-test", logger=logging.getLogger("echo"))
    service.bind(None, 0)                    # TLS files in a temporary directory; port 0 picks a free port
    service.serve_in_background()
    faults.server_error(503)                 # the next request is answered 503
    ca = str(service.tls.ca_cert)
    assert requests.get(f"https://127.0.0.1:{service.port}/", verify=ca).status_code == 503
    assert requests.get(f"https://127.0.0.1:{service.port}/", verify=ca).text == "hello"
    assert [r.fault for r in log.snapshot()] == ["error", None]
    service.close()                          # joins the threads and removes the temporary directory
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final, Generic, Literal, Protocol, Self, TypeAlias, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_COMMON_NAME",
    "MAX_BODY_BYTES",
    "MAX_CHUNKS",
    "MAX_FAULT_DELAY_SECONDS",
    "BackgroundServer",
    "BodyError",
    "FaultInjector",
    "FaultKind",
    "FaultOutcome",
    "FaultRule",
    "HttpsHandler",
    "HttpsServer",
    "HttpsService",
    "LoggedRequest",
    "RequestLog",
    "TlsFiles",
    "announce_and_wait",
    "bearer_token",
    "make_tls",
    "read_body",
    "retry_after_value",
    "send",
    "stop_on_sigterm",
    "write_private",
]

MAX_BODY_BYTES: Final = 1 << 20
MAX_CHUNKS: Final = 4096
MAX_FAULT_DELAY_SECONDS: Final = 60.0
CA_COMMON_NAME: Final = "jwks-tool Key Vault test CA"

FaultKind: TypeAlias = Literal["throttle", "error", "drop", "lose_reply", "latency"]


# --------------------------------------------------------------------------------------------------------------------
# TLS material
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a test CA and a server certificate it issued (the chain is server certificate + CA)."""

    ca_cert: Path
    server_chain: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        """A TLS 1.2+ server context presenting the server chain."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.server_chain), str(self.server_key))
        return context


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, creating it with mode 0600 (truncating it if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError:
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.not_valid_after_utc < dt.datetime.now(dt.UTC) + dt.timedelta(days=2):
        return None
    return cert, key


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_tls(directory: Path) -> TlsFiles:
    """Create (or reuse) a test CA in ``directory`` and issue a fresh localhost server certificate from it.

    Files: ``ca.pem`` / ``ca-key.pem`` (the CA, reused while it is valid for two more days) and ``server.pem`` /
    ``server-key.pem`` (SAN ``DNS:localhost``, ``IP:127.0.0.1``; valid 30 days). Private keys are mode 0600.
    """
    now = dt.datetime.now(dt.UTC)
    ca_cert_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    loaded = _load_ca(ca_cert_path, ca_key_path)
    if loaded is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jwks-tool tests"),
            ]
        )
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        write_private(ca_key_path, _pem_key(ca_key))
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    else:
        ca_cert, ca_key = loaded

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain_path, key_path = directory / "server.pem", directory / "server-key.pem"
    chain_path.write_bytes(
        server_cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
    write_private(key_path, _pem_key(server_key))
    return TlsFiles(ca_cert=ca_cert_path, server_chain=chain_path, server_key=key_path)


# --------------------------------------------------------------------------------------------------------------------
# Request log
# --------------------------------------------------------------------------------------------------------------------


class LoggedRequest(Protocol):
    """What :meth:`RequestLog.find` needs of a record."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...


_R = TypeVar("_R", bound=LoggedRequest)


class RequestLog(Generic[_R]):
    """A thread-safe log of the last ``max_entries`` request records, numbered from 1 (oldest dropped first)."""

    def __init__(self, max_entries: int) -> None:
        self._lock = threading.Lock()
        self._records: collections.deque[_R] = collections.deque(maxlen=max_entries)
        self._seq = 0

    def append(self, build: Callable[[int], _R]) -> _R:
        """Append ``build(seq)`` with the next sequence number (never reused, also not after :meth:`clear`)."""
        with self._lock:
            self._seq += 1
            record = build(self._seq)
            self._records.append(record)
            return record

    def snapshot(self) -> list[_R]:
        """Every record kept, oldest first."""
        with self._lock:
            return list(self._records)

    def find(self, method: str | None = None, path: str | None = None) -> list[_R]:
        """Records with this method (any if None) whose path matches the regex ``path``."""
        pattern = re.compile(path) if path is not None else None
        return [
            r
            for r in self.snapshot()
            if (method is None or r.method == method.upper()) and (pattern is None or pattern.search(r.path))
        ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


# --------------------------------------------------------------------------------------------------------------------
# HTTP server, handler and background service
# --------------------------------------------------------------------------------------------------------------------


class HttpsHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler: TLS handshake in the connection thread, every method passed to ``server.serve``.

    Subclass it to set ``server_version``.
    """

    protocol_version = "HTTP/1.1"
    server_version = "HttpsTestServer/1.0"
    sys_version = ""
    timeout = 30.0
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid the 40 ms delayed-ACK stall
    server: HttpsServer

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def _dispatch(self) -> None:
        self.server.serve(self)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        self.server.logger.debug("%s - %s", self.address_string(), format % args)


class HttpsServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that wraps connections in TLS and can shut every open connection down.

    Each connection is served by its own daemon thread named ``<name>-conn-<address>``; ``serve`` is called with
    the handler of every request. Connection errors (resets, TLS failures, timeouts) are logged at DEBUG level.
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        context: ssl.SSLContext,
        handler_class: type[HttpsHandler],
        serve: Callable[[HttpsHandler], None],
        *,
        name: str,
        logger: logging.Logger,
    ) -> None:
        self.serve = serve
        self.logger = logger
        self._name = name
        self._context = context
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._closing = False
        super().__init__(address, handler_class)

    def get_request(self) -> tuple[socket.socket, Any]:
        raw, address = self.socket.accept()
        try:
            conn = self._context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        except OSError:
            raw.close()
            raise
        return conn, address

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        if not isinstance(request, socket.socket):  # pragma: no cover - TCP servers only get sockets
            return
        worker = threading.Thread(
            target=self._work, args=(request, client_address), name=f"{self._name}-conn-{client_address}", daemon=True
        )
        with self._conn_lock:
            if self._closing:
                self.shutdown_request(request)
                return
            self._connections.add(request)
            self._workers.add(worker)
        worker.start()

    def _work(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # resets, TLS failures, timeouts: normal for a test server
            self.logger.debug("connection from %s ended: %r", client_address, exc)
        else:
            self.logger.error("error while handling a request from %s", client_address, exc_info=exc)

    def close_connections(self, timeout: float) -> None:
        """Unblock every connection thread (shut its socket down) and join the threads."""
        with self._conn_lock:
            self._closing = True
            connections = list(self._connections)
            workers = list(self._workers)
        for conn in connections:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)  # the raw socket, bypassing the TLS layer
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))


class BackgroundServer(ABC, Generic[_R]):
    """Base of the test servers: a context manager around ``start()`` / ``close()``; ``running``, ``port``, ``url``.


    Also the request log: ``requests``, ``find_requests()``, ``clear_requests()``. Subclasses set ``_service``
    (their :class:`HttpsService`), ``_port`` and ``_log``, and implement :meth:`start`, :meth:`close` and
    ``_require_started``.
    """

    _service: HttpsService
    _port: int
    _log: RequestLog[_R]

    @abstractmethod
    def start(self) -> Self:
        """Start serving (idempotent); returns the server."""

    @abstractmethod
    def close(self, timeout: float = 5.0) -> None:
        """Stop serving and clean up."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._service.running

    @abstractmethod
    def _require_started(self) -> TlsFiles:
        """The TLS files; RuntimeError if the server cannot be used (yet)."""

    @property
    def port(self) -> int:
        self._require_started()
        return self._port

    @property
    def url(self) -> str:
        """The base URL (the Key Vault server's vault URL), ``https://127.0.0.1:PORT/``."""
        self._require_started()
        return f"https://127.0.0.1:{self._port}/"

    @property
    def requests(self) -> list[_R]:
        """Every request so far (a snapshot), oldest first."""
        return self._log.snapshot()

    def find_requests(self, method: str | None = None, path: str | None = None) -> list[_R]:
        """Recorded requests with this method (any if None) whose path matches the regex ``path``."""
        return self._log.find(method, path)

    def clear_requests(self) -> None:
        self._log.clear()


class HttpsService:
    """An :class:`HttpsServer` on ``127.0.0.1`` with its TLS files, served from a background thread.

    :meth:`bind` creates the TLS files and the listening socket, :meth:`serve_in_background` starts the thread
    (``<name>-server-<port>``), :meth:`close` stops it. ``tls`` and ``port`` keep describing the last binding after
    :meth:`close`; ``stopping`` is set from :meth:`close` until the next :meth:`serve_in_background`.
    """

    def __init__(
        self,
        serve: Callable[[HttpsHandler], None],
        handler_class: type[HttpsHandler],
        *,
        name: str,
        logger: logging.Logger,
    ) -> None:
        self.stopping = threading.Event()
        self.tls: TlsFiles | None = None
        self.port = 0
        self._serve = serve
        self._handler_class = handler_class
        self._name = name
        self._logger = logger
        self._httpd: HttpsServer | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: Path | None = None

    @property
    def running(self) -> bool:
        """True from :meth:`bind` until :meth:`close`."""
        return self._httpd is not None

    def bind(self, directory: Path | None, port: int) -> int:
        """Create the TLS files in ``directory`` (None: a temporary one, removed on close) and bind; returns the port.

        On failure the temporary directory is removed and the exception raised.
        """
        if directory is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix=f"{self._name}-server-"))
            directory = self._tmpdir
        try:
            self.tls = make_tls(directory)
            httpd = HttpsServer(
                ("127.0.0.1", port),
                self.tls.server_context(),
                self._handler_class,
                self._serve,
                name=self._name,
                logger=self._logger,
            )
        except BaseException:
            self._remove_tmpdir()
            raise
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        return self.port

    def serve_in_background(self) -> None:
        """Serve the bound server from a daemon thread."""
        httpd = self._httpd
        if httpd is None:
            raise RuntimeError("bind() first")
        self.stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self._name}-server-{self.port}"
        )
        self._thread.daemon = True
        self._thread.start()

    def close(self, timeout: float = 5.0) -> bool:
        """Stop serving, close every connection, join the threads, remove a temporary directory.

        Returns False (doing nothing) if the service was not running.
        """
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return False
        self.stopping.set()
        httpd.shutdown()
        if thread is not None:
            thread.join(timeout)
        httpd.server_close()
        httpd.close_connections(timeout)
        self._httpd = self._thread = None
        self._remove_tmpdir()
        return True

    def _remove_tmpdir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


# --------------------------------------------------------------------------------------------------------------------
# Request and response helpers
# --------------------------------------------------------------------------------------------------------------------


class BodyError(Exception):
    """A request body that cannot be read: ``status`` 400 (malformed) or 413 (too large); ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_body(
    handler: BaseHTTPRequestHandler, *, max_bytes: int = MAX_BODY_BYTES, max_chunks: int = MAX_CHUNKS
) -> bytes:
    """Read the request body (``Content-Length`` or chunked); no length means an empty body.

    Raises :class:`BodyError` (``Malformed chunked request body``, ``Too many chunks in the request body``,
    ``Invalid Content-Length``: 400; ``The request body is too large``: 413) and ``ConnectionError`` when the client
    closes the connection mid-body.
    """
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        chunks: list[bytes] = []
        total = 0
        for _ in range(max_chunks):
            line = handler.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BodyError(400, "Malformed chunked request body") from None
            if size == 0:
                for _ in range(64):  # trailers, up to the blank line
                    if handler.rfile.readline(8192) in (b"\r\n", b"\n", b""):
                        break
                return b"".join(chunks)
            total += size
            if total > max_bytes:
                raise BodyError(413, "The request body is too large")
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(8)
        raise BodyError(400, "Too many chunks in the request body")
    raw_length = handler.headers.get("Content-Length")
    if raw_length is None:
        return b""
    try:
        length = int(raw_length)
    except ValueError:
        raise BodyError(400, "Invalid Content-Length") from None
    if length < 0 or length > max_bytes:
        raise BodyError(413, "The request body is too large")
    data = handler.rfile.read(length)
    if len(data) != length:
        raise ConnectionError("client closed the connection mid-body")
    return data


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value (scheme case-insensitive), else None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def retry_after_value(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds without a fraction (``"2"``), others as they are (``"0.5"``)."""
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def send(handler: BaseHTTPRequestHandler, status: int, headers: Iterable[tuple[str, str]], payload: bytes) -> None:
    """Write a response: status line, ``headers``, ``Connection: close`` if the connection is closing, payload.

    A connection error while writing marks the connection for closing instead of raising.
    """
    try:
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if payload:
            handler.wfile.write(payload)
    except OSError:
        handler.close_connection = True


# --------------------------------------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FaultRule:
    """A fault applied to the next ``remaining`` matching requests (``None``: every matching request)."""

    id: int
    kind: FaultKind
    method: str | None
    path: re.Pattern[str] | None
    remaining: int | None
    status: int
    retry_after: float | None
    delay: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or self.path.search(path) is not None


@dataclass(frozen=True)
class FaultOutcome:
    """What :meth:`FaultInjector.apply` did to a request.

    ``rule`` is the ``throttle`` / ``error`` / ``drop`` rule that answers the request (None: handle it normally);
    ``applied`` names the faults applied so far (``"latency"`` and / or the rule's kind).
    """

    rule: FaultRule | None
    applied: tuple[str, ...]

    @property
    def label(self) -> str | None:
        """The applied faults joined with ``+``, or None if there were none."""
        return "+".join(self.applied) or None


class FaultInjector:
    """Thread-safe, runtime-configurable fault injection (the servers' ``faults``).

    Each request is checked against the rules in the order they were added: every matching ``latency`` rule adds
    its delay, then the first matching ``throttle`` / ``error`` / ``drop`` rule answers the request. A rule
    matches when ``method`` (case-insensitive; ``None`` = any) equals the request's method and the regex ``path``
    (``None`` = any) is found in the URL path (identity endpoint included). ``count`` is how many matching
    requests the rule applies to; ``None`` means all of them until removed. Faults apply before authentication.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(
        self,
        kind: FaultKind,
        *,
        method: str | None = None,
        path: str | None = None,
        count: int | None = 1,
        status: int | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> FaultRule:
        """Add a rule and return it (its ``hits`` / ``remaining`` show how often it fired)."""
        if kind not in ("throttle", "error", "drop", "lose_reply", "latency"):
            raise ValueError(f"unknown fault kind {kind!r}")
        if count is not None and count < 1:
            raise ValueError("count must be a positive integer or None")
        if not 0.0 <= delay <= MAX_FAULT_DELAY_SECONDS:
            raise ValueError(f"delay must be between 0 and {MAX_FAULT_DELAY_SECONDS} seconds")
        if retry_after is not None and not 0.0 <= retry_after <= MAX_FAULT_DELAY_SECONDS:
            raise ValueError(f"retry_after must be between 0 and {MAX_FAULT_DELAY_SECONDS} seconds")
        if kind == "throttle":
            status = 429 if status is None else status
        elif kind == "error":
            status = 500 if status is None else status
            if not 400 <= status <= 599:
                raise ValueError("error faults need a 4xx or 5xx status")
        with self._lock:
            rule = FaultRule(
                id=self._next_id,
                kind=kind,
                method=method.upper() if method else None,
                path=re.compile(path) if path is not None else None,
                remaining=count,
                status=status or 0,
                retry_after=retry_after,
                delay=delay,
            )
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def throttle(
        self,
        *,
        retry_after: float | None = 1,
        count: int | None = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> FaultRule:
        """Answer 429 ``Throttled``, with ``Retry-After: <retry_after>`` unless ``retry_after`` is None."""
        return self.add("throttle", method=method, path=path, count=count, retry_after=retry_after)

    def server_error(
        self, status: int = 500, *, count: int | None = 1, method: str | None = None, path: str | None = None
    ) -> FaultRule:
        """Answer with ``status`` (500 ``InternalServerError``, 503 ``ServiceUnavailable``, ...)."""
        return self.add("error", method=method, path=path, count=count, status=status)

    def drop_connection(
        self, *, count: int | None = 1, method: str | None = None, path: str | None = None
    ) -> FaultRule:
        """Read the request, then close the connection without sending any response."""
        return self.add("drop", method=method, path=path, count=count)

    def lose_reply(self, *, count: int | None = 1, method: str | None = None, path: str | None = None) -> FaultRule:
        """Handle the request (a write lands), then close the connection without sending the response: a reply
        lost on the way back."""
        return self.add("lose_reply", method=method, path=path, count=count)

    def latency(
        self, seconds: float, *, count: int | None = None, method: str | None = None, path: str | None = None
    ) -> FaultRule:
        """Delay matching requests by ``seconds`` before handling them."""
        return self.add("latency", method=method, path=path, count=count, delay=seconds)

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if r.id != rule.id]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        """The active rules (exhausted rules are dropped)."""
        with self._lock:
            return list(self._rules)

    def select(self, method: str, path: str) -> tuple[float, FaultRule | None]:
        """Count a request against the rules: the total latency to add and the rule that answers it (if any)."""
        delay = 0.0
        chosen: FaultRule | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.kind == "latency":
                    delay += rule.delay
                elif chosen is None:
                    chosen = rule
                else:
                    continue
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
            self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        return min(delay, MAX_FAULT_DELAY_SECONDS), chosen

    def apply(self, method: str, path: str, stopping: threading.Event) -> FaultOutcome:
        """:meth:`select`, then wait out the latency (cut short when ``stopping`` is set)."""
        applied: list[str] = []
        delay, rule = self.select(method, path)
        if delay > 0:
            applied.append("latency")
            stopping.wait(delay)
        if rule is not None:
            applied.append(rule.kind)
        return FaultOutcome(rule, tuple(applied))


# --------------------------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------------------------


def stop_on_sigterm() -> threading.Event:
    """An event that SIGTERM sets (for :func:`announce_and_wait`)."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    return stop


def announce_and_wait(lines: Sequence[str], stop: threading.Event) -> None:
    """Print ``lines``, wait for Ctrl-C or ``stop``, then ignore further Ctrl-C (so shutdown is not interrupted)."""
    print("\n".join(lines), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the clean shutdown
