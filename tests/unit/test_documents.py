"""Rendered documents: every template and report format, golden files from a fixed key and clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.documents.reports import RenderTemplate, ReportDocFormat, template_file

Run = Callable[..., Result]


@pytest.fixture
def story(
    run: Run, tmp_path: Path, rfc7517_rsa: dict[str, Any], fixed_now: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """acme (test): the RFC 7517 key imported at the fixed time, by a fixed user."""
    monkeypatch.setattr("jwks_tool.services.key_service.actor", lambda: "tester@host")
    del rfc7517_rsa["kid"]
    (tmp_path / "k.json").write_text(json.dumps(rfc7517_rsa))
    assert run("import", "acme", str(tmp_path / "k.json")).exit_code == 0


def test_every_template_and_format_has_a_file() -> None:
    root = Path(__file__).resolve().parents[2] / "jwks_tool" / "documents" / "templates"
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
    from jwks_tool.documents.templates import markdown_text

    golden("report.md", result.output.replace(markdown_text(str(store_dir)), markdown_text("<store>")))


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


# ---- issue #10: user templates are sandboxed and cannot replace ours; Markdown escapes what users wrote -----------
def test_user_templates_cannot_run_code(run: Run, story: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "evil.txt.j2").write_text(f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}\n")
    monkeypatch.setenv("JWKS_TOOL_PASSPHRASE", "the passphrase")
    (folder / "leak.txt.j2").write_text("{{ lipsum.__globals__['os'].environ['JWKS_TOOL_PASSPHRASE'] }}\n")
    for name in ("evil", "leak"):
        result = run("render", name, "acme", "--template-dir", str(folder))
        assert result.exit_code == 3, name
        assert result.stderr.startswith(
            f"jwks-tool: error: the template {folder / name}.txt.j2:1 tried something unsafe ("
        ), name
        assert result.stderr.endswith("; templates may only read the values they are given\n"), name
        assert "the passphrase" not in result.output
    assert not marker.exists()
    (folder / "mutate.txt.j2").write_text("{{ registered.append(1) }}\n")
    assert run("render", "mutate", "acme", "--template-dir", str(folder)).exit_code == 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ range(100000000)|list }}", "range() of more than 10,000 items"),
        ("{{ range(10**30)|list }}", "range() of more than 10,000 items"),
        ('{{ "a" * 3000000000 }}', "a string or list of more than 1,000,000 items"),
        ("{{ 3000000000 * [1] }}", "a string or list of more than 1,000,000 items"),
        ("{{ 7 ** 100000000 }}", "a number of more than 1,000,000 bits"),
    ],
    ids=["range", "huge-range", "string", "list", "power"],
)
def test_user_templates_cannot_build_too_much(run: Run, story: None, tmp_path: Path, text: str, problem: str) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "big.txt.j2").write_text(text + "\n")
    result = run("render", "big", "acme", "--template-dir", str(folder))
    assert result.exit_code == 3, result.stderr
    assert result.stderr == (
        f"jwks-tool: error: the template {folder}/big.txt.j2:1 tried something unsafe ({problem}); templates may "
        "only read the values they are given\n"
    )
    (folder / "small.txt.j2").write_text('{{ range(3)|list }} {{ "ab" * 2 }} {{ 2 ** 10 }}\n')
    assert run("render", "small", "acme", "--template-dir", str(folder)).stdout == "[0, 1, 2] abab 1024\n"


def test_a_template_that_recurses_too_deep_is_an_input_error(run: Run, story: None, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "deep.txt.j2").write_text("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}\n")
    result = run("render", "deep", "acme", "--template-dir", str(folder))
    assert result.exit_code == 3, result.stderr
    assert result.stderr == (
        f"jwks-tool: error: the template {folder}/deep.txt.j2:1 needs more memory or nesting than jwks-tool gives a "
        "template (RecursionError); make it build less\n"
    )


def test_a_user_template_that_is_a_symbolic_link_is_refused(run: Run, story: None, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("not for templates\n")
    (folder / "evil.txt.j2").symlink_to(secret)
    result = run("render", "evil", "acme", "--template-dir", str(folder))
    assert result.exit_code == 3, result.stderr
    assert result.stderr == (
        f"jwks-tool: error: the template evil.txt.j2 is a symbolic link ({folder / 'evil.txt.j2'}); put the "
        "template itself in the --template-dir folder\n"
    )
    assert "not for templates" not in result.output


def test_a_user_folder_cannot_replace_a_built_in_template(run: Run, story: None, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "render").mkdir(parents=True)
    (folder / "render" / "runbook.md.j2").write_text("fake runbook\n")
    (folder / "runbook.md.j2").write_text("fake runbook\n")
    result = run("render", "runbook", "acme", "--template-dir", str(folder))
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {folder} has runbook.md.j2, which would replace the built-in template runbook; "
        "rename yours (e.g. my-runbook.md.j2) and render it by that name\n"
    )
    (folder / "runbook.md.j2").unlink()
    result = run("render", "runbook", "acme", "--template-dir", str(folder))
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {folder} has render/runbook.md.j2, which would replace the built-in template runbook; "
        "rename yours (e.g. my-runbook.md.j2) and render it by that name\n"
    )
    (folder / "render" / "runbook.md.j2").rename(folder / "render" / "other.md.j2")
    result = run("render", "runbook", "acme", "--template-dir", str(folder))
    assert result.exit_code == 0
    assert result.output.startswith("# Rotation runbook: acme")
    (folder / "render" / "runbook.md.j2").write_text("fake runbook\n")
    (folder / "mine.txt.j2").write_text('{% include "render/runbook.md.j2" %}')
    assert run("render", "mine", "acme", "--template-dir", str(folder)).output == "fake runbook\n"


def test_report_template_dir_is_sandboxed(run: Run, story: None, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "report.md.j2").write_text("{{ cycler.__init__.__globals__.os.getcwd() }}\n")
    result = run("report", "--format", "md", "--template-dir", str(folder))
    assert result.exit_code == 3
    assert result.stderr.startswith(f"jwks-tool: error: the template {folder}/report.md.j2:1 tried something unsafe (")


HOSTILE = "<script>alert(1)</script> *bold* [x](javascript:alert(1)) | `code` _u_ &amp; \\"
ESCAPED = (
    "&lt;script&gt;alert(1)&lt;/script&gt; \\*bold\\* \\[x\\](javascript:alert(1)) \\| \\`code\\` \\_u\\_ "
    "&amp;amp; \\\\"
)


def test_markdown_escapes_what_users_wrote(run: Run, story: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jwks_tool.services.key_service.actor", lambda: "<img src=x onerror=alert(1)>@host")
    kid = "acme-test-20260115-NzbLsXh8"
    assert run("revoke", "acme", "--kid", kid, "--reason", HOSTILE).exit_code == 0
    report = run("report", "--format", "md").output
    assert "<script>" not in report
    assert "<img" not in report
    assert f"| revoke: {ESCAPED} |" in report
    assert "| &lt;img src=x onerror=alert(1)&gt;@host |" in report
    runbook = run("render", "runbook", "acme", "--client-id", HOSTILE).output
    assert "<script>" not in runbook
    assert f"client {ESCAPED}." in runbook
    portal = run("render", "portal", "acme", "--client-id", HOSTILE, "--scope", "<b>x</b>").output
    assert "<script>" not in portal
    assert "<b>" not in portal


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ 1/0 }}", "ZeroDivisionError: division by zero"),
        ("{{ 1 | join }}", "TypeError: 'int' object is not iterable"),
    ],
    ids=["zero-division", "type-error"],
)
def test_a_failing_template_is_an_input_error(run: Run, story: None, tmp_path: Path, text: str, problem: str) -> None:
    """Whatever a user's template does wrong is bad input naming it (exit 3), never an internal error (exit 70)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "bad.txt.j2").write_text(text + "\n")
    result = run("render", "bad", "acme", "--template-dir", str(folder))
    assert result.exit_code == 3, result.stderr
    assert (
        result.stderr == f"jwks-tool: error: the template {folder}/bad.txt.j2:1 failed: {problem}; fix the template\n"
    )


@pytest.mark.parametrize("option", ["--client-id", "--scope"])
@pytest.mark.parametrize("value", ["id\x1b[31mX", "id\nX"])
def test_render_refuses_a_client_id_or_scope_that_is_not_one_printable_line(run: Run, option: str, value: str) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    result = run("render", "runbook", "acme", option, value)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        f"jwks-tool: error: {option} {value!r} is not one line of printable text; give it without newlines or "
        "control characters\n"
    )
