"""AWS Secrets Manager over HTTPS for tests: moto's server mode behind a TLS front that can inject faults.

Usage::

    from tests.servers.aws import AwsServer

    with AwsServer() as aws:
        client = aws.client()                                   # the real boto3 client, verifying the test CA
        client.create_secret(Name="demo", SecretString="{}")
        aws.faults.add("throttle", path="/GetSecretValue", status=400)  # next read: ThrottlingException

What it is
    ``moto.server.ThreadedMotoServer`` (a real HTTP server speaking the AWS protocols, moto's in-memory backends)
    on 127.0.0.1, plain HTTP, on an ephemeral port; in front of it an HTTPS server (``tests.servers._https``: a
    throw-away test CA, certificate for ``127.0.0.1`` and ``localhost``) that forwards every request to moto as it
    came. Give clients :attr:`AwsServer.url` as the endpoint and :attr:`AwsServer.ca_path` as the CA bundle
    (``AWS_ENDPOINT_URL_SECRETS_MANAGER`` / ``AWS_CA_BUNDLE``: :meth:`AwsServer.env`). moto keeps its state per
    process, shared by every server in it: :meth:`reset` empties it (and clears the faults) between tests.

Faults
    ``aws.faults`` (:class:`~tests.servers._https.FaultInjector`) matches the method ``POST`` and the path
    ``/<Operation>`` (the ``X-Amz-Target`` operation, e.g. ``/UpdateSecretVersionStage``): ``throttle`` with status
    400 answers AWS's ``ThrottlingException``, with status 429 a bare ``429 Too Many Requests``; ``error`` a 5xx
    ``InternalServiceError``; ``drop`` closes the connection unanswered; ``lose_reply`` forwards the request (it
    lands) and closes the connection before the answer; ``latency`` delays. Every forwarded request's operation is in
    :attr:`AwsServer.operations`.

Version listing like AWS
    moto lists every version of a secret in ``DescribeSecret`` and ``ListSecretVersionIds``; AWS lists only versions
    that carry a staging label, the others ("deprecated") only in ``ListSecretVersionIds`` with
    ``IncludeDeprecated=True``. ``aws.aws_version_listing = True`` makes the front answer as AWS does (until
    :meth:`reset`). (moto already ignores a ``PutSecretValue`` with the token of an existing version, as AWS does.)
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
from typing import Any, Self

from tests.servers._https import (
    FaultInjector,
    HttpsHandler,
    HttpsService,
    TlsFiles,
    read_body,
    send,
)

_log = logging.getLogger(__name__)
REGION = "eu-north-1"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def _json_headers(payload: bytes) -> list[tuple[str, str]]:
    return [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))]


class _Handler(HttpsHandler):
    server_version = "AwsTestFront/1.0"


class AwsServer:
    """moto (HTTP, loopback) behind an HTTPS front with fault injection; a context manager."""

    def __init__(self) -> None:
        self.faults = FaultInjector()
        self.operations: list[str] = []
        self.aws_version_listing = False
        self._ops_lock = threading.Lock()
        self._moto: Any = None
        self._moto_port = 0
        self._service = HttpsService(self._serve, _Handler, name="aws-test", logger=_log)
        self._port = 0

    # ---- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Start moto and the HTTPS front (idempotent)."""
        if self._service.running:
            return self
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        self._moto_port = int(self._moto.get_host_and_port()[1])
        self._port = self._service.bind(None, 0)
        self._service.serve_in_background()
        self.reset()
        return self

    def close(self) -> None:
        """Stop both servers."""
        self._service.close()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget every secret (moto's reset API) and every fault."""
        self.faults.clear()
        self.aws_version_listing = False
        with self._ops_lock:
            self.operations.clear()
        conn = http.client.HTTPConnection("127.0.0.1", self._moto_port, timeout=10)
        try:
            conn.request("POST", "/moto-api/reset")
            conn.getresponse().read()
        finally:
            conn.close()

    def stop_front(self) -> None:
        """Stop the HTTPS front only (the port is then closed: "server down")."""
        self._service.close()

    # ---- what clients need --------------------------------------------------------------------------------------
    @property
    def tls(self) -> TlsFiles:
        if self._service.tls is None:
            raise RuntimeError("start() first")
        return self._service.tls

    @property
    def url(self) -> str:
        """The HTTPS endpoint, ``https://127.0.0.1:PORT``."""
        return f"https://127.0.0.1:{self._port}"

    @property
    def plain_url(self) -> str:
        """moto itself, plain HTTP on loopback (no faults, no HTTPS): what jwks-tool must refuse unless allowed."""
        return f"http://127.0.0.1:{self._moto_port}"

    @property
    def ca_path(self) -> str:
        return str(self.tls.ca_cert)

    def env(self) -> dict[str, str]:
        """The environment that points boto3 (and so jwks-tool) here, with test credentials."""
        return {
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.url,
            "AWS_CA_BUNDLE": self.ca_path,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self, **config: Any) -> Any:
        """A real boto3 Secrets Manager client for this server (not through jwks-tool)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        ).client("secretsmanager", endpoint_url=self.url, verify=self.ca_path, config=Config(**config))

    # ---- the front ----------------------------------------------------------------------------------------------
    def _serve(self, handler: HttpsHandler) -> None:
        body = read_body(handler)
        target = handler.headers.get("X-Amz-Target") or ""
        operation = target.rpartition(".")[2] or handler.path
        path = "/" + operation.lstrip("/")
        outcome = self.faults.apply(handler.command, path, self._service.stopping)
        rule = outcome.rule
        if rule is not None and rule.kind == "drop":
            handler.close_connection = True
            return
        if rule is not None and rule.kind == "throttle":
            if rule.status == 429:
                send(handler, 429, [("Content-Type", "text/plain"), ("Content-Length", "17")], b"Too Many Requests")
            else:
                payload = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
                send(handler, rule.status or 400, _json_headers(payload), payload)
            return
        if rule is not None and rule.kind == "error":
            payload = json.dumps({"__type": "InternalServiceError", "message": "injected"}).encode()
            send(handler, rule.status, _json_headers(payload), payload)
            return
        with self._ops_lock:
            self.operations.append(operation)
        status, headers, answer = self._forward(handler, body)
        if self.aws_version_listing and status == 200:
            answer = _list_versions_like_aws(operation, body, answer)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(answer))))
        if rule is not None and rule.kind == "lose_reply":
            handler.close_connection = True
            return
        send(handler, status, headers, answer)

    def _forward(self, handler: HttpsHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self._moto_port, timeout=30)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            out.append(("Content-Length", str(len(answer))))
            return response.status, out, answer
        finally:
            conn.close()


def _list_versions_like_aws(operation: str, request: bytes, answer: bytes) -> bytes:
    """moto's answer with the versions that have no staging label left out, as AWS leaves them out."""
    if operation not in ("DescribeSecret", "ListSecretVersionIds"):
        return answer
    document = json.loads(answer)
    if operation == "DescribeSecret":
        stages = document.get("VersionIdsToStages") or {}
        document["VersionIdsToStages"] = {version: labels for version, labels in stages.items() if labels}
    elif not json.loads(request or b"{}").get("IncludeDeprecated"):
        document["Versions"] = [version for version in document.get("Versions") or [] if version.get("VersionStages")]
    return json.dumps(document).encode()


def main() -> None:  # pragma: no cover - manual use
    """Serve until Ctrl-C: ``python -m tests.servers.aws``."""
    from tests.servers._https import announce_and_wait, stop_on_sigterm

    stop = stop_on_sigterm()
    with AwsServer() as aws:
        lines = [f"export {name}={value}" for name, value in aws.env().items() if not name.endswith("_FILE")]
        announce_and_wait(lines, stop)


if __name__ == "__main__":  # pragma: no cover
    main()
