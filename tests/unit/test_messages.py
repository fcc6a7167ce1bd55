"""Messages at the command level say the right thing in the right words (issue #14): plurals, expiry, the set a
hint names, refusals of options that would be ignored."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import Result

from jwks_tool.core.text import plural
from jwks_tool.core.timeutil import expiry_phrase
from tests.conftest import FIXED_NOW

Run = Callable[..., Result]


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Move the service's clock to ``moment``."""
    monkeypatch.setattr("jwks_tool.services.key_service.utcnow", lambda: moment)


def test_plural_and_expiry_phrases() -> None:
    assert [plural(n, "key set") for n in (0, 1, 2)] == ["0 key sets", "1 key set", "2 key sets"]
    now = FIXED_NOW
    phrases = {
        timedelta(days=3, hours=1): "expires in 3 days",
        timedelta(days=1, hours=1): "expires in 1 day",
        timedelta(hours=5): "expires today",
        timedelta(0): "expired today",
        timedelta(hours=-5): "expired today",
        timedelta(days=-1): "expired 1 day ago",
        timedelta(days=-2, hours=-3): "expired 2 days ago",
    }
    assert {left: expiry_phrase(now + left, now) for left in phrases} == phrases


def test_status_says_expired_and_today_not_minus_days(
    run: Run, monkeypatch: pytest.MonkeyPatch, fixed_now: Any
) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1", "--expires-in", "1d").exit_code == 0
    at(monkeypatch, FIXED_NOW + timedelta(hours=20))
    result = run("status")
    assert "  active k1: 0 days old, expires today (2026-01-16)\n" in result.output
    assert "  error: k1 (active) expires today\n" in result.output
    at(monkeypatch, FIXED_NOW + timedelta(days=3))
    result = run("status")
    assert "  active k1: 3 days old, expired 2 days ago (2026-01-16)\n" in result.output
    assert "  error: k1 (active) expired on 2026-01-16\n" in result.output
    assert "  next: jwks-tool rotate acme --env test --all-steps --overlap 0 now: the active key has expired\n" in (
        result.output
    )
    at(monkeypatch, FIXED_NOW + timedelta(hours=25))
    assert "  active k1: 1 day old, expired today (2026-01-16)\n" in run("status").output


def test_counts_are_in_the_right_number(run: Run, tmp_path: Any, fixed_now: Any) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    assert run("check").output.endswith("OK: 1 key set checked\n")
    md = run("report", "--format", "md").output
    assert ", 1 key set, made 2026-01-15 09:30 UTC." in md
    html = run("report", "--format", "html").output
    assert " · 1 key set · made " in html
    assert run("generate", "beta", "--size", "2048").exit_code == 0
    assert ", 2 key sets, made " in run("report", "--format", "md").output


def test_an_expired_key_names_its_set_in_the_grant_hint(
    run: Run, monkeypatch: pytest.MonkeyPatch, fixed_now: Any
) -> None:
    assert (
        run("generate", "acme", "--env", "prod", "--size", "2048", "--kid", "k1", "--expires-in", "1d").exit_code == 0
    )
    at(monkeypatch, FIXED_NOW + timedelta(days=2))
    result = run("grant", "acme", "--env", "prod", "--client-id", "c", "--scope", "s")
    assert result.exit_code == 4
    assert result.stderr == (
        "jwks-tool: error: key k1 expired on 2026-01-16; rotate: jwks-tool rotate acme --env prod --all-steps "
        "--overlap 0, then register the new key\n"
    )
    assert result.stdout == ""


def test_report_sets_only_commands_as_code(run: Run, fixed_now: Any) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    assert run("rotate", "acme").exit_code == 0
    md = run("report", "--format", "md").output
    assert (
        "\nNext: register the set (`jwks-tool export acme --env test --format jwks`), then: "
        "`jwks-tool rotate acme --env test --promote`\n" in md
    )
    html = run("report", "--format", "html").output
    assert (
        "<p>Next: register the set (<code>jwks-tool export acme --env test --format jwks</code>), then: "
        "<code>jwks-tool rotate acme --env test --promote</code></p>" in html
    )
    status = json.loads(run("status", "--json").output)["sets"][0]["next_action"]
    assert status == (  # the one-line form is unchanged for scripts
        "register the set (jwks-tool export acme --env test --format jwks), then: "
        "jwks-tool rotate acme --env test --promote"
    )


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--promote", "--finish"), "--promote and --finish"),
        (("--finish", "--promote"), "--promote and --finish"),
        (("--all-steps", "--finish"), "--finish and --all-steps"),
    ],
)
def test_rotate_refuses_two_steps_at_once(run: Run, store_dir: Any, flags: tuple[str, ...], named: str) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    assert run("rotate", "acme").exit_code == 0
    before = {path: path.read_bytes() for path in store_dir.rglob("*") if path.is_file()}
    result = run("rotate", "acme", *flags)
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"jwks-tool: error: {named} are separate steps; run one at a time, in order: `jwks-tool rotate acme --env "
        "test --promote`, then after the overlap `jwks-tool rotate acme --env test --finish` (or --all-steps alone "
        "for start, promote and finish); see `jwks-tool rotate --help`\n"
    )
    assert result.stderr.count("\n") == 1
    assert {path: path.read_bytes() for path in store_dir.rglob("*") if path.is_file()} == before  # nothing done


def test_rotate_asks_to_register_only_when_the_registered_set_changed(run: Run, tmp_path: Any) -> None:
    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    start = run("rotate", "acme")
    assert "Register now, the whole set (it replaces the registered one):\n" in start.output
    again = run("rotate", "acme")  # the next key is waiting already: its registration may still be to do
    assert "Register now, if not done yet, the whole set (it replaces the registered one):\n" in again.output
    promote = run("rotate", "acme", "--promote")
    assert promote.exit_code == 0
    assert "Register now" not in promote.output
    assert promote.output.startswith("promote: ")
    assert "\nThe registered set is unchanged: nothing new to register.\nNext: jwks-tool rotate acme" in promote.output
    data = json.loads(run("rotate", "acme", "--promote", "--json").output)
    assert data["register_changed"] is False
    finish = run("rotate", "acme", "--finish", "--force", "--json")
    data = json.loads(finish.output)
    assert (data["register_changed"], data["delete_kids"]) == (True, ["k1"])
    out = tmp_path / "set.json"
    assert run("rotate", "acme", "--finish", "--out", str(out)).output.startswith(
        "finish: nothing to finish: no retiring key\nThe registered set is unchanged: nothing new to register.\n"
        f"Wrote the registered set to {out}\n"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("--crv", "P-384"),
            "--crv P-384 is for EC keys, and this is an RSA key (--kty RSA is the default); drop --crv, or add "
            "--kty EC (EC keys need --profile generic)",
        ),
        (
            ("--kty", "RSA", "--crv", "P-256", "--profile", "generic"),
            "--crv P-256 is for EC keys, and this is an RSA key (--kty RSA is the default); drop --crv, or add "
            "--kty EC (EC keys need --profile generic)",
        ),
        (
            ("--kty", "EC", "--size", "4096", "--profile", "generic"),
            "--size 4096 is for RSA keys; an EC key's size is its curve's; drop --size, or use --crv",
        ),
    ],
)
def test_generate_refuses_options_it_would_ignore(run: Run, store_dir: Any, args: tuple[str, ...], line: str) -> None:
    result = run("generate", "acme", *args)
    assert (result.exit_code, result.stderr, result.stdout) == (3, f"jwks-tool: error: {line}\n", "")
    assert not store_dir.exists()
    assert run("generate", "acme", "--kty", "EC", "--crv", "P-384", "--profile", "generic").exit_code == 0


@pytest.mark.parametrize(
    ("value", "problem", "hint"),
    [
        ("12", "", "give the nine digits of the Norwegian organisation number (orgnr), without spaces or prefix"),
        (
            "0192:974760673",
            "",
            "give the nine digits of the Norwegian organisation number (orgnr), without spaces or prefix",
        ),
        (
            "97476067\uff13",  # a fullwidth digit 3: not ASCII
            "",
            "give the nine digits of the Norwegian organisation number (orgnr), without spaces or prefix",
        ),
        (
            "974760672",
            ": its check digit is wrong",
            "check the number in Enhetsregisteret (brreg.no); a typo changes the check digit",
        ),
        (
            "400000000",  # remainder 1: no check digit makes it a valid number
            ": its check digit is wrong",
            "check the number in Enhetsregisteret (brreg.no); a typo changes the check digit",
        ),
    ],
)
@pytest.mark.parametrize("command", ["grant", "token"])
def test_consumer_org_must_be_an_organisation_number(
    run: Run, monkeypatch: pytest.MonkeyPatch, command: str, value: str, problem: str, hint: str
) -> None:
    monkeypatch.delenv("JWKS_TOOL_PASSPHRASE")  # refused before the store is opened or a passphrase is asked
    result = run(command, "acme", "--client-id", "c", "--scope", "s", "--consumer-org", value)
    assert (result.exit_code, result.stdout) == (3, "")
    assert (
        result.stderr == f"jwks-tool: error: --consumer-org {value!r} is not an organisation number{problem}; {hint}\n"
    )


def test_a_valid_consumer_org_is_signed_into_the_grant(run: Run) -> None:
    import base64

    assert run("generate", "acme", "--size", "2048").exit_code == 0
    for orgnr in ("974760673", "991825827"):  # Brønnøysundregistrene, Digdir
        result = run("grant", "acme", "--client-id", "c", "--scope", "s", "--consumer-org", orgnr, "--json")
        assert result.exit_code == 0, result.stderr
        token = json.loads(result.output)["grant"]
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["consumer_org"] == orgnr


@pytest.mark.parametrize(
    ("command", "services"),
    [
        (("token",), "Key Vault and to Maskinporten (the token endpoint and the self-service API)"),
        (("portal", "push"), "Key Vault and to Maskinporten (the token endpoint and the self-service API)"),
        (("portal", "pull"), "Key Vault and to Maskinporten (the token endpoint and the self-service API)"),
        (("doctor",), "Key Vault and to Maskinporten (the token endpoint and the self-service API)"),
        (("grant",), "Key Vault"),
        (("keyvault", "push"), "Key Vault"),
    ],
)
def test_ca_bundle_help_says_it_replaces_the_system_cas(run: Run, command: tuple[str, ...], services: str) -> None:
    text = " ".join(run(*command, "--help").output.split())
    assert (
        "--ca-bundle FILE A PEM file of CA certificates used INSTEAD of the system's (and REQUESTS_CA_BUNDLE) to "
        f"verify TLS to {services} [default: $REQUESTS_CA_BUNDLE if set, else the system's CAs]." in text
    )
    assert "for TLS to the vault" not in text
    assert "adds a CA" not in text
    if command == ("doctor",):
        assert (
            "--vault-ca-bundle FILE A PEM file of CA certificates used INSTEAD of the system's to verify TLS to "
            in (text)
        )
        assert "--maskinporten-ca-bundle FILE" in text


def test_timeline_axis_labels_never_overlap_whatever_the_span(run: Run, store_dir: Any, fixed_now: Any) -> None:
    from jwks_tool.documents.reports import MIN_TICK_SPACING, timeline
    from jwks_tool.stores import open_store

    spans = {}
    for days, label in ((90, "2026-01"), (400, "2026-01"), (3650, "2026"), (36500, "2040"), (365000, "2400")):
        name = f"s{days}"
        generic = ("--profile", "generic", "--expires-in", f"{days}d")
        assert run("generate", name, "--kty", "EC", *generic).exit_code == 0
        sets = [s for s in open_store(str(store_dir)).read_sets() if s.ref.name == name]
        picture = timeline(sets, FIXED_NOW)
        xs = [x for x, _label in picture.ticks]
        labels = [text for _x, text in picture.ticks]
        assert len(xs) >= 2, (days, labels)
        assert min(b - a for a, b in itertools.pairwise(xs)) >= MIN_TICK_SPACING, (days, labels)
        assert label in labels, (days, labels)
        assert len(set(labels)) == len(labels)
        spans[days] = labels
    assert spans[90][:3] == ["2026-01", "2026-02", "2026-03"]  # months while they fit
    assert spans[3650][:3] == ["2026", "2028", "2030"]  # years for a decade (every other: ten would be too close)
    assert all(int(year) % 20 == 0 for year in spans[36500])  # a century: every 20 years (not 200 monthly labels)
    assert all(int(year) % 200 == 0 for year in spans[365000])  # a millennium: centuries


def test_timeline_bars_of_retired_and_revoked_keys_end_when_they_left_use(
    run: Run, store_dir: Any, monkeypatch: pytest.MonkeyPatch, fixed_now: Any
) -> None:
    from jwks_tool.documents.reports import timeline
    from jwks_tool.stores import open_store

    assert run("generate", "acme", "--size", "2048", "--kid", "k1").exit_code == 0
    at(monkeypatch, FIXED_NOW + timedelta(days=60))
    assert run("rotate", "acme", "--all-steps", "--overlap", "0").exit_code == 0  # k1 retired after 60 days
    assert run("generate", "beta", "--size", "2048", "--kid", "b1").exit_code == 0
    assert run("revoke", "beta", "--kid", "b1", "--reason", "leaked").exit_code == 0  # b1 revoked at once
    sets = list(open_store(str(store_dir)).read_sets())
    picture = timeline(sets, FIXED_NOW + timedelta(days=60))
    bars = {bar.kid: bar for bar in picture.bars}
    k1, b1 = bars["k1"], bars["b1"]
    full = k1.width + k1.rest_width  # created to expiry: 365 days
    assert k1.ended == FIXED_NOW + timedelta(days=60)
    assert k1.width == pytest.approx(full * 60 / 365, abs=0.2)
    assert k1.rest_width > 0
    assert b1.width == 2.0  # revoked the day it was made: the narrowest bar
    assert b1.rest_width > 0
    active = next(bar for bar in picture.bars if bar.state == "active")
    assert (active.ended, active.rest_width) == (None, 0.0)  # a key in use runs to its expiry
    html = run("report", "--format", "html").output
    assert '<rect class="rest" data-kid="k1"' in html
    assert "k1: retired, 2026-01-15 to 2027-01-15 (retired 2026-03-16)" in html


@pytest.mark.parametrize(
    ("command", "content"),
    [
        (("token", "acme", "--client-id", "c", "--scope", "s"), b"root:x:0:0:root:/root:/bin/bash\n"),
        (("keyvault", "push", "acme", "--vault", "https://127.0.0.1:9/", "--for", "apiclient"), b""),
        (("grant", "acme", "--client-id", "c", "--scope", "s"), b"-----BEGIN CERTIFICATE-----\nnope\n"),
    ],
)
def test_a_ca_bundle_that_is_not_pem_is_bad_input_before_any_connection(
    run: Run, tmp_path: Any, command: tuple[str, ...], content: bytes
) -> None:
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    bundle = tmp_path / "ca.txt"
    bundle.write_bytes(content)
    result = run(*command, "--ca-bundle", str(bundle), "--json")
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: --ca-bundle {bundle} holds no PEM certificate; give a PEM file of CA certificates "
        "(-----BEGIN CERTIFICATE----- blocks)\n"
    )
    assert json.loads(result.stdout)["error"]["code"] == "input"
