"""Rendered documents: every template and report format, golden files from a fixed key and clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.documents import RenderTemplate, ReportDocFormat, template_file

Run = Callable[..., Result]


@pytest.fixture
def story(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], fixed_now: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """acme (test): the RFC 7517 key imported at the fixed time, by a fixed user."""
    monkeypatch.setattr("jwks_tool.service.actor", lambda: "tester@host")
    del rfc7517_rsa["kid"]
    (tmp_path / "k.json").write_text(json.dumps(rfc7517_rsa))
    assert run("import", "acme", str(tmp_path / "k.json")).exit_code == 0


def test_every_template_and_format_has_a_file() -> None:
    root = Path(__file__).resolve().parents[2] / "templates"
    for member in [*RenderTemplate, *ReportDocFormat]:
        assert (root / template_file(member)).is_file(), member


@pytest.mark.parametrize("template", [t.value for t in RenderTemplate])
def test_render_templates_are_golden(run: Run, story: None, golden: Any, template: str) -> None:
    result = run(
        "render",
        template,
        "acme",
        "--client-id",
        "0a1b2c3d-client",
        "--scope",
        "altinn:instances.read",
        "--vault",
        "acme-kv",
    )
    assert result.exit_code == 0, result.stderr
    golden(f"render-{template}.txt", result.output)
    if template in ("appsettings", "altinn-app"):
        settings = json.loads(result.output)["MaskinportenSettings"]
        assert settings["ClientId"] == "0a1b2c3d-client"
    assert '"d"' not in result.output


def test_appsettings_is_a_key_vault_reference(run: Run, story: None) -> None:
    settings = json.loads(run("render", "appsettings", "acme", "--vault", "acme-kv").output)["MaskinportenSettings"]
    assert settings["EncodedJwk"] == (
        "@Microsoft.KeyVault(SecretUri=https://acme-kv.vault.azure.net/secrets/MaskinportenSettings--EncodedJwk)"
    )
    assert settings["Environment"] == "test"
    altinn = json.loads(run("render", "altinn-app", "acme").output)["MaskinportenSettings"]
    assert altinn["Authority"] == "https://test.maskinporten.no/"


def test_user_templates(run: Run, story: None, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "terraform.tf.j2").write_text('kid = "{{ active.kid }}" # {{ env }}\n')
    result = run("render", "terraform", "acme", "--template-dir", str(folder))
    assert result.exit_code == 0
    assert result.output == 'kid = "acme-test-20260115-NzbLsXh8" # test\n'
    missing = run("render", "nope", "acme")
    assert missing.exit_code == 3
    assert missing.stderr.startswith("jwks-tool: error: no template 'nope'; use one of appsettings, altinn-app")
    bad = run("render", "appsettings", "acme", "--secret-name", "a:b")
    assert bad.exit_code == 3


def test_report_markdown_is_golden(run: Run, story: None, golden: Any, store_dir: Path) -> None:
    result = run("report", "--format", "md")
    assert result.exit_code == 0
    golden("report.md", result.output.replace(str(store_dir), "<store>"))


def test_report_html_is_self_contained(run: Run, story: None, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run("report", "--out", str(out)).exit_code == 0
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert '<svg id="timeline"' in html
    assert 'data-kid="acme-test-20260115-NzbLsXh8" data-state="active"' in html
    for remote in ("http://", "https://", "//cdn", "<script src", "<link"):
        assert remote not in html.replace('xmlns="http://www.w3.org/2000/svg"', ""), remote


def test_report_escapes_html(run: Run, story: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        run("revoke", "acme", "--kid", "acme-test-20260115-NzbLsXh8", "--reason", "<script>alert(1)</script>").exit_code
        == 0
    )
    html = run("report").output
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
