"""Each option's help names only its own environment variable as its default (review12 F7: --certificate showed
``[default: $JWKS_TOOL_PORTAL_TOKEN]``, the token that replaces the certificate, not its default)."""

from __future__ import annotations

import re
from collections.abc import Callable

import click
import pytest
from click.testing import Result

from jwks_tool.cli.main import cli

Run = Callable[..., Result]

OWN_VARIABLES = {
    "--store": {"JWKS_TOOL_STORE"},
    "--passphrase-file": {"JWKS_TOOL_PASSPHRASE"},
    "--cert-passphrase-file": {"JWKS_TOOL_CERT_PASSPHRASE"},
    "--ca-bundle": {"REQUESTS_CA_BUNDLE"},
}
"""The options whose default comes from an environment variable, and that variable."""


def command(path: str) -> click.Command:
    found: click.Command | None = cli
    for word in path.split():
        assert isinstance(found, click.Group)
        found = found.get_command(click.Context(found), word)
    assert found is not None
    return found


@pytest.mark.parametrize("path", ["portal push", "portal pull", "doctor"])
def test_a_default_names_only_the_options_own_variable(path: str) -> None:
    wrong = []
    for param in command(path).params:
        if not isinstance(param, click.Option) or not param.help:
            continue
        defaults = re.findall(r"[\[(]default: ([^\])]*)[\])]", param.help)
        named = {name for text in defaults for name in re.findall(r"\$([A-Z_]+)", text)}
        if named - OWN_VARIABLES.get(param.opts[0], set()):
            wrong.append(f"{param.opts[0]}: {param.help}")
    assert wrong == []


def test_portal_push_help_shows_the_certificate_without_the_token_as_its_default(run: Run) -> None:
    result = run("portal", "push", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--certificate FILE|URL The business certificate" in text
    assert "PORTAL_TOKEN]" not in text
    assert "(default: $JWKS_TOOL_CERT_PASSPHRASE, or ask)" in text
