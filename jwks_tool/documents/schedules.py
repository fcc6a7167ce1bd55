"""``render`` templates that run ``jwks-tool apply`` on a schedule: cron, GitHub Actions, Azure DevOps, Kubernetes.

    >>> from jwks_tool.documents.schedules import ScheduleTemplate
    >>> [t.value for t in ScheduleTemplate]
    ['cron', 'github-actions', 'azure-devops', 'kubernetes']

Each takes the manifest (checked whole first) instead of a key set: the manifest's path goes into the command line
quoted for the shell or YAML it lands in, and the store it names into a comment. Secrets (the store's passphrase,
the business certificate's passphrase) come from the platform's secret mechanism, never from the file itself.

The admin sign-in is the business certificate each ``[admin.<env>]`` names (Digdir's self-service API takes nothing
else): an Azure Key Vault certificate URL (recommended: the vault signs, the job signs in to Azure with OIDC or
workload identity and holds no key) needs nothing more; a ``.p12`` file is written next to the manifest from the
platform's secret store (a GitHub secret, an Azure DevOps secure file, a Kubernetes Secret projected beside the
manifest) and its passphrase comes from ``JWKS_TOOL_CERT_PASSPHRASE``.

    >>> from jwks_tool.core.manifest import Admin, Policy
    >>> manifest = Manifest("ci/jwks-tool.toml", None, Policy(), {"prod": Admin("admin", "v.p12")}, {}, ())
    >>> [(c.beside_manifest, c.secret) for c in certificate_files(manifest)]
    [('ci/v.p12', 'JWKS_TOOL_CERT_P12_PROD')]
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from jwks_tool.core.manifest import Manifest
from jwks_tool.core.text import printable
from jwks_tool.documents.templates import render_template


class ScheduleTemplate(StrEnum):
    """The built-in schedule templates."""

    CRON = "cron"
    GITHUB_ACTIONS = "github-actions"
    AZURE_DEVOPS = "azure-devops"
    KUBERNETES = "kubernetes"


_FILES = {
    ScheduleTemplate.CRON: "schedule/cron.txt.j2",
    ScheduleTemplate.GITHUB_ACTIONS: "schedule/github-actions.yml.j2",
    ScheduleTemplate.AZURE_DEVOPS: "schedule/azure-devops.yml.j2",
    ScheduleTemplate.KUBERNETES: "schedule/kubernetes.yaml.j2",
}


@dataclass(frozen=True)
class CertificateFile:
    """A ``.p12`` business certificate the manifest names by path, and where the job gets it from."""

    env: str
    path: str
    """As the manifest names it (relative to the manifest's folder)."""
    beside_manifest: str
    """The path from the job's working folder (the manifest's folder joined with ``path``)."""
    secret: str
    """The name of the secret (a CI secret, a secure file's variable) that holds it: JWKS_TOOL_CERT_P12_<ENV>."""
    key: str
    """A Kubernetes Secret key for it ([-._a-zA-Z0-9], from its file name)."""
    volume_path: str
    """``path`` normalised (``a/./b.p12`` is ``a/b.p12``), as a volume item's path."""
    inside: bool
    """Whether ``path`` stays inside the manifest's folder (a Kubernetes volume can only put it there)."""


def certificate_files(manifest: Manifest) -> list[CertificateFile]:
    """The ``.p12`` files the manifest's ``[admin.<env>]`` tables name (not Key Vault certificate URLs)."""
    found: list[CertificateFile] = []
    folder = os.path.dirname(manifest.path)
    for env, admin in sorted(manifest.admin.items()):
        given = admin.certificate
        if given is None or given.startswith("https://"):
            continue
        normal = posixpath.normpath(given)
        inside = not posixpath.isabs(normal) and normal != ".." and not normal.startswith("../")
        key = re.sub(r"[^-._a-zA-Z0-9]", "_", posixpath.basename(normal)) or "certificate.p12"
        found.append(
            CertificateFile(
                env, given, posixpath.join(folder, given), f"JWKS_TOOL_CERT_P12_{env.upper()}", key, normal, inside
            )
        )
    return found


def vault_certificates(manifest: Manifest) -> list[str]:
    """The Azure Key Vault certificate URLs the manifest's ``[admin.<env>]`` tables name."""
    return [
        admin.certificate
        for _env, admin in sorted(manifest.admin.items())
        if admin.certificate is not None and admin.certificate.startswith("https://")
    ]


def render_schedule(name: ScheduleTemplate, manifest: Manifest) -> str:
    """Fill the schedule template ``name`` for ``manifest``."""
    path = manifest.path
    store = manifest.store or "$JWKS_TOOL_STORE (the manifest names no store)"
    files = certificate_files(manifest)
    return render_template(
        _FILES[name],
        manifest=printable(path, limit=300),
        manifest_sh=shlex.quote(os.path.basename(path)),
        folder_sh=shlex.quote(os.path.dirname(os.path.abspath(path))),
        manifest_yaml=json.dumps(path),
        store=printable(store, limit=300),
        store_is_vault=bool(manifest.store and manifest.store.startswith("https://")),
        vault_certificates=[printable(url, limit=300) for url in vault_certificates(manifest)],
        certificate_files=files,
        printable=printable,
        sh=shlex.quote,
        yaml=json.dumps,
    )
