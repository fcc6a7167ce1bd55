"""Group ``readonly`` (README figure 3, read-only checks): ``list``, ``show`` and ``export`` need no passphrase.

With the passphrase variables removed and stdin not a terminal, the read-only commands must succeed; the control, a
private export in the same environment, must fail with the passphrase error, so the passes are not vacuous.
"""

from __future__ import annotations

from benchmarks.harness import Context, Mode, run_command
from benchmarks.results import Check, Results


def readonly_checks(ctx: Context) -> list[Check]:
    """list, show and public export work with no passphrase in the environment and stdin not a terminal."""
    from jwks_tool.cli.main import EXIT_CODES
    from jwks_tool.errors import PassphraseError

    env = ctx.env(ctx.few_sets_store(), passphrase=False)
    checks = []
    for key, args in (
        ("readonly.list", ["list"]),
        ("readonly.show", ["show", "acme"]),
        ("readonly.export", ["export", "acme"]),
    ):
        result = run_command([ctx.jwks_tool, *args], env=env, cwd=ctx.workdir)
        stdout = result.stdout.decode("utf-8", "replace")
        ok = result.returncode == 0 and bool(stdout.strip())
        if key == "readonly.export":
            ok = ok and '"d"' not in stdout and '"kty"' in stdout
        why = "" if ok else f": exited {result.returncode}, {result.stderr.decode('utf-8', 'replace').strip()[-300:]}"
        detail = f"jwks-tool {' '.join(args)} without a passphrase, stdin not a terminal{why}"
        checks.append(ctx.log_check(Check(key, ok, detail)))
    # The control: the same environment does stop a command that needs the key, so the passes above mean something.
    expected = EXIT_CODES[PassphraseError]
    args = ["export", "acme", "--private", "--format", "jwk", "--yes"]
    result = run_command([ctx.jwks_tool, *args], env=env, cwd=ctx.workdir)
    ok = result.returncode == expected and not result.stdout.strip()
    detail = f"control: jwks-tool {' '.join(args)} in the same environment exits {result.returncode} (want {expected})"
    checks.append(ctx.log_check(Check("readonly.control", ok, detail)))
    return checks


def run(ctx: Context, mode: Mode, runs: int | None) -> Results:
    """The group as ``--only readonly`` runs it (no samples: ``mode`` and ``runs`` do not apply)."""
    ctx.log("3b. read-only commands without a passphrase")
    return Results(checks=readonly_checks(ctx))
