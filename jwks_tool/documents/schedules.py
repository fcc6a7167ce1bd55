"""``render`` templates that run ``jwks-tool apply`` on a schedule: cron, GitHub Actions, Azure DevOps, Kubernetes.

    >>> from jwks_tool.documents.schedules import ScheduleTemplate
    >>> [t.value for t in ScheduleTemplate]
    ['cron', 'github-actions', 'azure-devops', 'kubernetes']

Each takes the manifest (checked whole first) instead of a key set: the manifest's path goes into the command line
quoted for the shell or YAML it lands in, and the store it names into a comment. Secrets (the store's passphrase,
the admin token) come from the platform's secret mechanism, never from the file itself.
"""

from __future__ import annotations

import json
import os
import shlex
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


def render_schedule(name: ScheduleTemplate, manifest: Manifest) -> str:
    """Fill the schedule template ``name`` for ``manifest``."""
    path = manifest.path
    store = manifest.store or "$JWKS_TOOL_STORE (the manifest names no store)"
    return render_template(
        _FILES[name],
        manifest=printable(path, limit=300),
        manifest_sh=shlex.quote(os.path.basename(path)),
        folder_sh=shlex.quote(os.path.dirname(os.path.abspath(path))),
        manifest_yaml=json.dumps(path),
        store=printable(store, limit=300),
        store_is_vault=bool(manifest.store and manifest.store.startswith("https://")),
        admin_note="the business certificate the manifest names signs in to Digdir's self-service API, its .p12 "
        "passphrase from a file too (or set JWKS_TOOL_PORTAL_TOKEN in the crontab's environment).",
    )
