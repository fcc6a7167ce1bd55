"""A Kubernetes ``v1`` Secret manifest (``stringData``) for ``kubectl apply -f -`` or GitOps (sealed/external secrets).

    >>> from jwks_tool.destinations.kubernetes import yaml_scalar
    >>> yaml_scalar("line 1\\nline 2")
    '"line 1\\\\nline 2"'

The manifest is YAML whose every scalar is a JSON string (valid YAML 1.2 double-quoted scalars), so no value, PEM
or JSON can change its structure. ``metadata`` has the Secret's name, an optional namespace, labels
(``app.kubernetes.io/managed-by: jwks-tool`` and ``--label``s) and annotations: ``jwks-tool/kid``,
``jwks-tool/thumbprint``, ``jwks-tool/set`` and, unless turned off, ``reloader.stakater.com/match: "true"`` so that
Stakater Reloader restarts the workloads that opted in (``reloader.stakater.com/search: "true"``) when the key
changes. A ``--label``/``--annotation`` may not set jwks-tool's own keys (``jwks-tool/*``, the managed-by label).
Keys are the consumer's environment variable names (use the Secret with ``envFrom``) or, for
``altinn-studio``, the settings file name (mount it as a folder). Written to stdout, or to a file (0600, atomically,
an existing one only with ``--force``; an unchanged one is left alone).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from jwks_tool.core.consumers import Naming
from jwks_tool.core.text import printable
from jwks_tool.destinations._files import check_target, read_if_regular, write_files
from jwks_tool.destinations.interface import Delivery, Destination, Outcome, Target
from jwks_tool.errors import InputError

RELOADER_ANNOTATION = "reloader.stakater.com/match"
MANAGED_BY = {"app.kubernetes.io/managed-by": "jwks-tool"}
OWN_PREFIX = "jwks-tool/"
"""Labels and annotations under this prefix are jwks-tool's provenance: no --label/--annotation may set them."""

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_NAMESPACE = re.compile(_DNS_LABEL)
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")


def yaml_scalar(value: str) -> str:
    """``value`` as a double-quoted YAML scalar (a JSON string: YAML 1.2 reads it as the same string)."""
    return json.dumps(value, ensure_ascii=True)


def check_metadata_key(key: str, what: str) -> None:
    """A label or annotation key: an optional DNS-subdomain prefix and ``/``, then a name of at most 63 characters."""
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix))) or not _QUALIFIED_NAME.fullmatch(name):
        raise InputError(
            f"{key!r} is not a valid Kubernetes {what} key",
            hint="use [prefix/]name: a DNS subdomain prefix, a name of letters, digits, -, _ and . (at most 63)",
        )


def check_key(name: str) -> None:
    """InputError unless ``name`` is a valid key of a Secret's data."""
    if len(name) > 253 or not _SECRET_KEY.fullmatch(name):
        raise InputError(f"{name!r} is not a valid Secret key", hint="use a --prefix of letters, digits, -, _ and .")


class KubernetesSecret(Destination):
    """Write a delivery as a Secret manifest to ``out`` (a file path; None: ``stream``, stdout by default)."""

    name = "kubernetes"
    naming = Naming.FILE

    def __init__(
        self,
        secret_name: str,
        *,
        namespace: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        reloader: bool = True,
        out: str | Path | None = None,
        replace: bool = False,
        stream: TextIO | None = None,
    ) -> None:
        self.secret_name = secret_name
        self.namespace = namespace
        self.given_labels = dict(labels or {})
        self.labels = {**MANAGED_BY, **(labels or {})}
        self.annotations = dict(annotations or {})
        self.reloader = reloader
        self.out = None if out is None or str(out) == "-" else Path(out)
        self.replace = replace
        self.stream = stream

    @classmethod
    def from_target(cls, target: Target, *, connect: Callable[[str], Any] | None = None) -> KubernetesSecret:
        """``secret_name`` names the Secret; ``out`` None or ``-`` is stdout."""
        if not target.secret_name:
            raise InputError("--to kubernetes needs the Secret's name", hint="pass --secret-name NAME")
        return cls(
            target.secret_name,
            namespace=target.namespace,
            labels=target.labels,
            annotations=target.annotations,
            reloader=target.reloader,
            out=target.out,
            replace=target.replace,
        )

    @classmethod
    def check_target(cls, target: Target, names: Sequence[str]) -> None:
        """The Secret's name, namespace, labels and annotations, and the keys ``names``."""
        cls.from_target(target).check_metadata()
        for name in names:
            check_key(name)

    def check(self, delivery: Delivery) -> None:
        """The Secret's name, namespace, label and annotation keys and values, and its keys, by Kubernetes' rules."""
        self.check_metadata()
        for item in delivery.items:
            check_key(item.name)

    def preflight(self) -> None:
        """A file ``out`` is a regular file or not there yet, in an existing folder only its owner can write to."""
        if self.out is not None:
            check_target(self.out, replace=self.replace)

    def check_metadata(self) -> None:
        """The Secret's name, namespace, label and annotation keys and values, by Kubernetes' rules."""
        if len(self.secret_name) > 253 or not _SUBDOMAIN.fullmatch(self.secret_name):
            raise InputError(
                f"{self.secret_name!r} is not a valid Secret name",
                hint="use lower-case letters, digits, - and . (a DNS subdomain, at most 253 characters)",
            )
        if self.namespace is not None and not _NAMESPACE.fullmatch(self.namespace):
            raise InputError(
                f"{self.namespace!r} is not a valid namespace", hint="use lower-case letters, digits and - (at most 63)"
            )
        for kind, given in (("label", self.given_labels), ("annotation", self.annotations)):
            for key in given:
                if key in MANAGED_BY or key.startswith(OWN_PREFIX):
                    raise InputError(
                        f"the {kind} {printable(key, limit=100)!r} is jwks-tool's own",
                        hint=f"choose another --{kind} key (jwks-tool sets {OWN_PREFIX}* and {', '.join(MANAGED_BY)})",
                    )
        for key, value in self.labels.items():
            check_metadata_key(key, "label")
            if not _LABEL_VALUE.fullmatch(value):
                raise InputError(
                    f"the label value {value!r} is not valid",
                    hint="use at most 63 letters, digits, -, _ and ., starting and ending with a letter or digit",
                )
        for key in self.annotations:
            check_metadata_key(key, "annotation")

    def manifest(self, delivery: Delivery, *, redact: bool = False) -> str:
        """The Secret as YAML; ``redact`` shows sensitive values as their length only (dry runs)."""
        annotations = {
            "jwks-tool/kid": delivery.kid,
            "jwks-tool/thumbprint": delivery.thumbprint,
            "jwks-tool/set": f"{delivery.set_name}/{delivery.env}",
            **({RELOADER_ANNOTATION: "true"} if self.reloader else {}),
            **self.annotations,
        }
        lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {yaml_scalar(self.secret_name)}"]
        if self.namespace:
            lines.append(f"  namespace: {yaml_scalar(self.namespace)}")
        lines.append("  labels:")
        lines += [f"    {yaml_scalar(key)}: {yaml_scalar(value)}" for key, value in self.labels.items()]
        lines.append("  annotations:")
        lines += [f"    {yaml_scalar(key)}: {yaml_scalar(value)}" for key, value in annotations.items()]
        lines += ["type: Opaque", "stringData:"]
        for item in delivery.items:
            value = item.shown_value() if redact else item.value
            lines.append(f"  {yaml_scalar(item.name)}: {yaml_scalar(value)}")
        return "\n".join(lines) + "\n"

    def deliver(self, delivery: Delivery, *, dry_run: bool = False) -> list[Outcome]:
        """Print the manifest, or write it to ``out`` (values redacted in a dry run, which writes no file)."""
        self.check(delivery)
        if self.out is None:
            (self.stream or sys.stdout).write(self.manifest(delivery, redact=dry_run))
            return [Outcome("-", "would-print" if dry_run else "printed")]
        text = self.manifest(delivery)
        if read_if_regular(self.out) == text.encode("utf-8"):
            return [Outcome(str(self.out), "unchanged", delivery.kid)]
        exists = check_target(self.out, replace=self.replace)
        if dry_run:
            return [Outcome(str(self.out), "would-replace" if exists else "would-create")]
        write_files({self.out: text.encode("utf-8")})
        return [Outcome(str(self.out), "replaced" if exists else "created")]
