"""``render`` templates that run ``jwks-tool apply`` on a schedule: cron, GitHub Actions, Azure DevOps, Kubernetes.

    >>> from jwks_tool.documents.schedules import ScheduleTemplate
    >>> [t.value for t in ScheduleTemplate]
    ['cron', 'github-actions', 'azure-devops', 'kubernetes']

Each takes the manifest (checked whole first) instead of a key set: the manifest's path goes into the command line
single-quoted for the shell (``%`` escaped in a crontab line), the whole line quoted for the YAML it lands in, and the
store it names into a comment. The CI templates refuse a store that dies with the job (see :func:`render_schedule`).
Secrets (the store's passphrase, the business certificate's passphrase) come from the platform's secret mechanism,
never from the file itself.

The admin sign-in is the business certificate each ``[admin.<env>]`` names (Digdir's self-service API takes nothing
else): an Azure Key Vault certificate URL (recommended: the vault signs, the job signs in to Azure with OIDC or
workload identity and holds no key) needs nothing more; a ``.p12`` file is written where the manifest names it (its
folders made 0700) from the platform's secret store (a GitHub secret, an Azure DevOps secure file, a Kubernetes Secret
projected beside the manifest) and its passphrase comes from ``JWKS_TOOL_CERT_PASSPHRASE``.

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
import shutil
import sys
from dataclasses import dataclass
from enum import StrEnum

from jwks_tool import __version__
from jwks_tool.core.manifest import Delivery, Manifest
from jwks_tool.core.text import printable
from jwks_tool.documents.templates import render_template
from jwks_tool.errors import InputError
from jwks_tool.stores import default_store_url, is_keyvault_url


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


_CI = frozenset({ScheduleTemplate.GITHUB_ACTIONS, ScheduleTemplate.AZURE_DEVOPS, ScheduleTemplate.KUBERNETES})
"""The templates whose job starts on a fresh machine or pod each run (a local store dies with it)."""

_EXPANDED = {
    ScheduleTemplate.GITHUB_ACTIONS: ("${{",),
    ScheduleTemplate.AZURE_DEVOPS: ("$(", "${{", "$["),
}
"""What the platform itself expands in a script before any shell sees it (GitHub's expressions, Azure DevOps's
macros, template and runtime expressions): shell quoting cannot protect a value holding one."""

PVC_STORE = "/var/lib/jwks-tool/store"
"""Kubernetes with ``--store-persists`` and a manifest that names no store: the store in the claim mounted above it."""


def is_remote_store(url: str | None) -> bool:
    """Whether the store outlives the machine that runs the job: Azure Key Vault, AWS Secrets Manager, or a plug-in
    store's URL (``scheme://``), not a folder, ``file:`` or ``memory:``.

    >>> [is_remote_store(u) for u in ("https://kv.vault.azure.net/", "secretsmanager://eu-north-1/j", "/srv/s", None)]
    [True, True, False, False]
    """
    if url is None or url.startswith(("file:", "memory:")):
        return False
    return is_keyvault_url(url) or url.startswith("secretsmanager://") or "://" in url


def _check_value(name: ScheduleTemplate, what: str, value: str) -> None:
    """Refuse a value the rendered file could not carry as written (a control character, a platform expression)."""
    if not all(char.isprintable() for char in value):
        raise InputError(
            f"{what} {printable(value, limit=200)} holds a control character (a newline, an escape, a tab)",
            hint="rename it, then render again",
        )
    for marker in _EXPANDED.get(name, ()):
        if marker in value:
            raise InputError(
                f"{what} {printable(value, limit=200)} holds {marker}, which {name.value} expands before the shell",
                hint="rename it, then render again",
            )


def _pvc_store(manifest: Manifest) -> str:
    """Kubernetes with ``--store-persists``: the store's absolute path in the pod (a claim is mounted above it)."""
    if manifest.store is None:
        return PVC_STORE
    path = manifest.store.removeprefix("file:")
    if not posixpath.isabs(path) or posixpath.dirname(posixpath.normpath(path)) == "/":
        raise InputError(
            f"the manifest's store {printable(manifest.store, limit=200)} is not an absolute folder below /, where a "
            "PersistentVolumeClaim could be mounted above it in the pod",
            hint=f'name one (store = "{PVC_STORE}"), or leave store out for that one',
        )
    return posixpath.normpath(path)


def render_schedule(
    name: ScheduleTemplate,
    manifest: Manifest,
    *,
    store_persists: bool = False,
    store_url: str | None = None,
    program: str | None = None,
) -> str:
    """Fill the schedule template ``name`` for ``manifest``.

    cron runs the line with its own environment (``PATH=/usr/bin:/bin``, no ``$JWKS_TOOL_STORE``): the line names
    ``program`` (default: the jwks-tool running now, :func:`jwks_tool_program`) by its absolute path, and, when the
    manifest names no store, the store apply would use here (``store_url``: ``--store`` or ``$JWKS_TOOL_STORE``,
    else the default store) as ``JWKS_TOOL_STORE='...'``; it makes the log's folder (0700) first.

    github-actions, azure-devops and kubernetes refuse a manifest whose store is not remote (InputError) unless
    ``store_persists`` says the job's disk keeps it (a self-hosted runner, a PersistentVolumeClaim): a store that dies
    with the job would make a new key every run, replace the consumers' secret, lose the earlier private keys and
    fail once Digdir holds 5 keys. A ``memory:`` store never lasts. They refuse a manifest with a delivery
    written to a local file (dotenv, kubernetes, file) the same way (:func:`_check_local_deliveries`).
    """
    path = manifest.path
    files = certificate_files(manifest)
    values = [("the manifest's path", path)]
    if name is ScheduleTemplate.CRON:  # the others run from the checkout (or the pod's mount), not this folder
        values.append(("the manifest's folder", os.path.dirname(os.path.abspath(path))))
    values += [(f"[admin.{c.env}] certificate", c.beside_manifest) for c in files]
    for what, value in values:
        _check_value(name, what, value)
    if manifest.store is not None:
        _check_value(name, "the manifest's store", manifest.store)
    remote = is_remote_store(manifest.store)
    if manifest.store is not None and manifest.store.startswith("memory:"):
        raise InputError(
            "the manifest's store is memory:, which is gone when the run ends",
            hint='name a lasting store (store = "https://NAME.vault.azure.net/" or a folder)',
        )
    if name in _CI and not remote and not store_persists:
        shown = "names no store" if manifest.store is None else f"names the local store {printable(manifest.store)}"
        raise InputError(
            f"the manifest {printable(path, limit=200)} {shown}, which is lost when the {name.value} job ends "
            "(each run would make a new key and fail at 6 registered keys)",
            hint='name a remote store in the manifest (store = "https://NAME.vault.azure.net/" or '
            'store = "secretsmanager://REGION/PREFIX"), or pass --store-persists if the job\'s disk keeps it '
            "(a self-hosted runner, a PersistentVolumeClaim)",
        )
    _check_local_deliveries(name, manifest, store_persists=store_persists)
    cron_store = _cron_store(manifest, store_url) if name is ScheduleTemplate.CRON else None
    if cron_store is not None:
        _check_value(name, "the store", cron_store)
    argv = [program] if program else jwks_tool_program()
    if name is ScheduleTemplate.CRON:
        for part in argv:
            _check_value(name, "the jwks-tool program", part)
    pvc_store = _pvc_store(manifest) if name is ScheduleTemplate.KUBERNETES and not remote else None
    if manifest.store is not None:
        store = manifest.store
    elif name is ScheduleTemplate.KUBERNETES and pvc_store is not None:
        store = pvc_store
    elif cron_store is not None:
        store = f"{cron_store} (the manifest names none: the line sets JWKS_TOOL_STORE)"
    else:
        store = "$JWKS_TOOL_STORE, else the default store of the job's user (the manifest names no store)"
    aws = manifest.store is not None and manifest.store.startswith("secretsmanager://")
    package = f"jwks-tool{'[aws]' if aws else ''}=={__version__}"
    folder = os.path.dirname(os.path.abspath(path))
    summary_sh = ' --summary "$GITHUB_STEP_SUMMARY"'
    mkdir = {c.env: _mkdir(c.beside_manifest) for c in files}
    azure_copy = {
        c.env: " && ".join(
            [
                "umask 077",
                *([mkdir[c.env]] if mkdir[c.env] else []),
                f'install -m 600 "$(certificate{c.env.capitalize()}.secureFilePath)" {shlex.quote(c.beside_manifest)}',
            ]
        )
        for c in files
    }
    return render_template(
        _FILES[name],
        manifest=printable(path, limit=300),
        version=__version__,
        package=package,
        pip_sh=f"pip install {shlex.quote(package)}",
        aws=aws,
        cron_command=_cron_escape(
            f"umask 077 && mkdir -p {CRON_LOG_FOLDER} && cd {shlex.quote(folder)} && "
            + (f"JWKS_TOOL_STORE={shlex.quote(cron_store)} " if cron_store is not None else "")
            + f"{shlex.join(argv)} apply --yes --manifest "
            + shlex.quote(os.path.basename(path))
        ),
        cron_log=CRON_LOG,
        github_apply=f"jwks-tool apply --yes --credential cli --manifest {shlex.quote(path)}{summary_sh}",
        azure_apply=f"jwks-tool apply --yes --credential cli --manifest {shlex.quote(path)}"
        ' --summary "$(Agent.TempDirectory)/jwks-tool.md"',
        configmap_sh=shlex.quote(f"jwks-tool.toml={path}"),
        store=printable(store, limit=300),
        remote_store=remote,
        store_persists=store_persists and not remote,
        pvc_store=pvc_store,
        pvc_env=pvc_store is not None and manifest.store is None,
        pvc_mount=posixpath.dirname(pvc_store) if pvc_store else None,
        claim_outs=_claim_outs(manifest, posixpath.dirname(pvc_store) if pvc_store else None)
        if name is ScheduleTemplate.KUBERNETES
        else [],
        vault_certificates=[printable(url, limit=300) for url in vault_certificates(manifest)],
        certificate_files=files,
        mkdir=mkdir,
        azure_copy=azure_copy,
        rm_sh=" ".join(["rm -f", *(shlex.quote(c.beside_manifest) for c in files)]),
        printable=printable,
        sh=shlex.quote,
        isabs=posixpath.isabs,
        yaml=json.dumps,
    )


CRON_LOG_FOLDER = '"$HOME/.local/state"'
CRON_LOG = '"$HOME/.local/state/jwks-tool-apply.log"'
"""Where the crontab line appends apply's output (its folder made 0700 first: ``umask 077``, so the log is 0600)."""


def jwks_tool_program() -> list[str]:
    """The jwks-tool running now by its absolute path, for a crontab line (cron's PATH is ``/usr/bin:/bin``, where a
    venv's or pipx's jwks-tool is not): ``sys.argv[0]`` when it is the ``jwks-tool`` console script (absolute, not
    resolved through symbolic links, so pipx's link in ~/.local/bin survives an upgrade), else the console script
    beside ``sys.executable`` (an in-process run), else this Python with ``-m jwks_tool`` (``python -m jwks_tool``).
    """
    started = sys.argv[0] if sys.argv else ""
    if os.path.basename(started) == "jwks-tool":
        found = started if os.sep in started else shutil.which(started)
        if found:
            return [os.path.abspath(found)]
    python = os.path.abspath(sys.executable)
    beside = os.path.join(os.path.dirname(python), "jwks-tool")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return [beside]
    return [python, "-m", "jwks_tool"]


def _cron_store(manifest: Manifest, store_url: str | None) -> str | None:
    """The store a crontab line must set (cron has not this shell's ``$JWKS_TOOL_STORE``): None when the manifest
    names its own; else ``store_url`` (``--store`` or ``$JWKS_TOOL_STORE``), else the default store, a folder
    (``file:PATH`` or ``PATH``) made absolute with ``~`` expanded, as jwks-tool by hand opens it. A ``memory:`` one is
    refused (gone when the run ends)."""
    if manifest.store is not None:
        return None
    url = store_url or default_store_url()
    if url.startswith("memory:"):
        raise InputError(
            "the store (--store or $JWKS_TOOL_STORE) is memory:, which is gone when the run ends",
            hint='name a lasting store in the manifest (store = "https://NAME.vault.azure.net/" or a folder)',
        )
    if "://" in url:  # a remote store, or file:///abs (the opener takes it as written)
        return url
    from jwks_tool.stores.file import folder_from_url

    # the folder the file store opens, made absolute against the cwd here: cron runs the line in the manifest's
    # folder with its own HOME
    return os.path.abspath(folder_from_url(url))


K8S_MANIFEST_FOLDER = "/etc/jwks-tool"
"""Where the CronJob mounts the manifest's ConfigMap (read-only)."""

_LOCAL_FIX = 'deliver to a remote destination instead (to = "keyvault" or to = "aws")'


def _check_local_deliveries(name: ScheduleTemplate, manifest: Manifest, *, store_persists: bool) -> None:
    """Refuse a CI template for a manifest that delivers to a local file (a ``.env``, a Secret manifest, a folder)
    the job's disk would lose: github-actions and azure-devops unless ``store_persists`` (a self-hosted runner's
    disk lasts); kubernetes always for a relative ``out`` (the manifest's folder there is the read-only ConfigMap
    mount), and for an absolute one (``allow_outside``) unless ``store_persists`` (it must be on a mounted claim)."""
    if name is ScheduleTemplate.CRON:
        return
    found: list[tuple[str, Delivery]] = []
    absolute: list[tuple[str, Delivery]] = []
    for client in manifest.clients:
        for delivery in client.deliver:
            if not delivery.local or delivery.out is None:
                continue
            if name is ScheduleTemplate.KUBERNETES and posixpath.isabs(delivery.out):
                absolute.append((client.label, delivery))
                continue
            if name is not ScheduleTemplate.KUBERNETES and store_persists:
                continue
            found.append((client.label, delivery))
    if not found and (store_persists or not absolute):
        return
    label, first = (found or absolute)[0]
    count = len(found or absolute)
    more = f" (and {count - 1} more local file{'s' if count > 2 else ''})" if count > 1 else ""
    what = (
        f"the manifest {printable(manifest.path, limit=200)} delivers {printable(label)} to {first.to} "
        f"{printable(first.out or '', limit=200)}{more}"
    )
    if found and name is ScheduleTemplate.KUBERNETES:
        raise InputError(
            f"{what}, relative to the manifest's folder, which in the CronJob is the read-only ConfigMap mount "
            f"{K8S_MANIFEST_FOLDER}",
            hint=f"{_LOCAL_FIX}, apply a kubernetes delivery's Secret another way (a pipeline that runs deliver and "
            "kubectl apply), or give an absolute out (with allow_outside = true) on a volume the pod mounts writable",
        )
    if name is ScheduleTemplate.KUBERNETES:
        raise InputError(
            f"{what}, which the CronJob's pod writes to its own disk and loses when it ends (nothing keeps or "
            "applies it; each run writes it again)",
            hint=f"{_LOCAL_FIX}, or put it on a PersistentVolumeClaim the pod mounts and pass --store-persists",
        )
    raise InputError(
        f"{what}, which the {name.value} job writes to its own disk and loses when it ends (nothing keeps or "
        "applies it; each run writes it again)",
        hint=f"{_LOCAL_FIX}, or pass --store-persists if the job's disk keeps it (a self-hosted runner)",
    )


def _claim_outs(manifest: Manifest, pvc_mount: str | None) -> list[tuple[str, str, str, bool]]:
    """Kubernetes with ``--store-persists``: each local delivery's absolute ``out`` (client, to, out, whether it is
    below ``pvc_mount``, the store's claim), printable, for the comment that says it must be on a mounted claim."""
    outs: list[tuple[str, str, str, bool]] = []
    for client in manifest.clients:
        for delivery in client.deliver:
            if delivery.local and delivery.out is not None and posixpath.isabs(delivery.out):
                normal = posixpath.normpath(delivery.out)
                on_claim = pvc_mount is not None and normal.startswith(pvc_mount.rstrip("/") + "/")
                outs.append((printable(client.label), delivery.to, printable(delivery.out, limit=200), on_claim))
    return outs


def _mkdir(path: str) -> str:
    """The command that makes the folder ``path`` is written into, 0700 (with ``umask 077`` before it, the folders
    above it too); empty when there is none to make."""
    folder = posixpath.dirname(path)
    return "" if folder in ("", "/") else f"mkdir -p -m 700 -- {shlex.quote(folder)}"


def _cron_escape(command: str) -> str:
    """A crontab command: cron turns an unescaped ``%`` into a newline (the rest is the job's stdin)."""
    return command.replace("%", "\\%")
