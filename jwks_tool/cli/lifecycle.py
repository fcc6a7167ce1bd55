"""Lifecycle commands: rotate, revoke, status, check, log (thin layers over rotation.py and status.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from jwks_tool.cli.main import (
    StoreOptions,
    azure_options,
    check_out,
    cli,
    emit,
    exit_with,
    is_terminal,
    json_option,
    make_service,
    one_line,
    out_option,
    print_json,
    print_warning,
    require_store,
    set_options,
    store_options,
)
from jwks_tool.core.formats import PublicFormat
from jwks_tool.core.model import Env, KeySet, KeyState, SetRef
from jwks_tool.core.text import plural, printable, printable_document
from jwks_tool.core.timeutil import parse_duration
from jwks_tool.documents.reports import RenderOptions, ReportDocFormat, render_document, render_report
from jwks_tool.documents.templates import render_template
from jwks_tool.errors import InputError, NotFoundError, StoreError
from jwks_tool.services.audit import trail
from jwks_tool.services.key_service import AzureOptions, KeyService
from jwks_tool.services.rotation import Rotation, Step, StepResult
from jwks_tool.services.status import CheckPolicy, CheckReport, check_store, damage_findings
from jwks_tool.services.status import check as run_check


@cli.command()
@click.argument("name")
@set_options
@click.option("--promote", is_flag=True, help="Step 2: make the next key active (after registering it).")
@click.option("--finish", is_flag=True, help="Step 3: retire the retiring keys after the overlap.")
@click.option("--all-steps", is_flag=True, help="Start, promote and finish in one go (automation; alone).")
@click.option("--overlap", default="24h", show_default=True, metavar="DURATION", help="How long retiring keys stay.")
@click.option("--force", is_flag=True, help="Finish before the overlap has passed.")
@click.option("--keep-private", is_flag=True, help="Keep the private halves of retired keys (default: destroy).")
@click.option("--single", is_flag=True, help="Print only the new JWK (for portals that add keys one at a time).")
@click.option("--size", type=click.Choice(["2048", "3072", "4096"]), help="RSA bits of the new key [the active key's].")
@out_option(flag="--overwrite")
@azure_options
@store_options
@json_option
def rotate(
    name: str,
    env: str,
    promote: bool,
    finish: bool,
    all_steps: bool,
    overlap: str,
    force: bool,
    keep_private: bool,
    single: bool,
    size: str | None,
    out: str | None,
    force_out: bool,
    azure: AzureOptions,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Rotate the keys of set NAME, one safe step at a time.

    \b
    jwks-tool rotate NAME             1. make a next key; register the printed set in the portal
    jwks-tool rotate NAME --promote   2. next becomes active, the old active retiring
    jwks-tool rotate NAME --finish    3. after --overlap (24h), retire the old key; delete its kid from the portal
    jwks-tool rotate NAME --all-steps --overlap 0    all three, for automation
    Each step is safe to run again: it converges and never loses the active key. Give one step at a time.
    """
    step = _one_step(name, env, promote=promote, finish=finish, all_steps=all_steps)
    out = None if out == "-" else out  # - is stdout: the set is printed as without --out
    force_out = check_out(out, force=force_out, flag="--overwrite")  # before the step: a refusal changes nothing
    svc = make_service(store, azure)
    window = parse_duration(overlap)
    results = Rotation(svc).rotate(
        name, env, step, overlap=window, force=force, keep_private=keep_private, size=int(size) if size else None
    )
    final = results[-1].keyset
    added = next((result.added for result in results if result.added is not None), None)
    if single and added is not None:
        document = svc.export_public(final, added.kid, PublicFormat.JWK)
    else:
        document = svc.export_public(final, None, PublicFormat.JWKS) if final.registered else '{"keys": []}\n'
    # what must be registered changes when a key is added (start) or leaves (finish); promote changes only which
    # registered key signs
    register_changed = any(result.changed and (result.added is not None or result.removed) for result in results)
    # a start that finds its next key waiting prints the set again: registering it is still to be done
    pending = not register_changed and any(
        result.step is Step.START and result.added is not None and result.added.state is KeyState.NEXT
        for result in results
    )
    if out is not None:
        emit(document, out, force=force_out, flag="--overwrite")
    if as_json:
        import json

        print_json(
            {
                "set": name,
                "env": env,
                "steps": [_step_json(result) for result in results],
                "register": json.loads(document),
                "register_changed": register_changed,
                "delete_kids": sorted({key.kid for result in results for key in result.removed}),
                "next_action": results[-1].next_action,
            }
        )
        return
    for result in results:
        click.echo(f"{result.step.value}: {result.summary}")
    removed = sorted({key.kid for result in results for key in result.removed})
    if removed:
        click.echo(f"Delete from the portal: {', '.join(removed)}")
    if not register_changed and not pending:
        click.echo("The registered set is unchanged: nothing new to register.")
        if out is not None:
            click.echo(f"Wrote the registered set to {out}")
    elif out is None:
        what = (
            "the new JWK to add" if single and added is not None else "the whole set (it replaces the registered one)"
        )
        click.echo(f"Register now{', if not done yet' if pending else ''}, {what}:")
        click.echo(document, nl=False)
    else:
        click.echo(f"Wrote the set to register to {out}")
    click.echo(f"Next: {results[-1].next_action}")


def _one_step(name: str, env: str, *, promote: bool, finish: bool, all_steps: bool) -> str | None:
    """The step the flags ask for (None: start); more than one is a usage error naming the steps to run in order."""
    name = printable(name)
    given = [flag for flag, on in (("--promote", promote), ("--finish", finish), ("--all-steps", all_steps)) if on]
    if len(given) > 1:
        raise click.UsageError(
            f"{' and '.join(given)} are separate steps; run one at a time, in order: "
            f"`jwks-tool rotate {name} --env {env} --promote`, then after the overlap "
            f"`jwks-tool rotate {name} --env {env} --finish` (or --all-steps alone for start, promote and finish)"
        )
    if all_steps:
        return "all"
    return "promote" if promote else ("finish" if finish else None)


def _step_json(result: StepResult) -> dict[str, Any]:
    return {
        "step": result.step.value,
        "changed": result.changed,
        "summary": result.summary,
        "added": None if result.added is None else result.added.kid,
        "removed": [key.kid for key in result.removed],
        "states": {key.kid: key.state.value for key in result.keyset.keys},
    }


@cli.command()
@click.argument("name")
@set_options
@click.option("--kid", required=True, help="The compromised key.")
@click.option("--reason", required=True, help="What happened (kept in the key's history and the audit log).")
@click.option("--keep-private", is_flag=True, help="Keep the private half (default: destroy it).")
@azure_options
@store_options
@json_option
def revoke(
    name: str,
    env: str,
    kid: str,
    reason: str,
    keep_private: bool,
    azure: AzureOptions,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Revoke a compromised key of set NAME at once: it leaves the registered set.

    If it was the active key, a next key becomes active; otherwise you are told exactly what to do.
    """
    svc = make_service(store, azure)
    result = Rotation(svc).revoke(name, env, kid, reason=reason, keep_private=keep_private)
    if as_json:
        print_json({"set": name, "env": env, **_step_json(result), "next_action": result.next_action})
        return
    click.echo(f"revoke: {result.summary}")
    if result.changed:
        click.echo(
            f"Take {kid} out of the registered set now: jwks-tool portal push {name} --env {env} --client-id CLIENT_ID "
            f"(the self-service API), or delete it in Digdir's portal and register the set that "
            f"`jwks-tool export {name} --env {env} --format jwks` prints"
        )
    click.echo(f"Next: {result.next_action}")


def _policy(warn: str, fail: str, next_max_age: str) -> CheckPolicy:
    policy = CheckPolicy(parse_duration(warn), parse_duration(fail), parse_duration(next_max_age))
    if policy.fail > policy.warn:
        raise InputError("--fail must not be longer than --warn", hint="for example --warn 60d --fail 14d")
    return policy


@cli.command()
@click.argument("name", required=False)
@click.option("--env", type=click.Choice(["test", "prod"]), help="Only this environment.")
@click.option("--warn", default="60d", show_default=True, metavar="DURATION")
@click.option("--fail", default="14d", show_default=True, metavar="DURATION")
@store_options
@json_option
def status(
    name: str | None,
    env: str | None,
    warn: str,
    fail: str,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Show every set (or NAME): active kid, age, days to expiry, each key's state, and the next step."""
    svc = make_service(store)
    policy = _policy(warn, fail, "7d")
    require_store(svc.store)
    sets, damaged = svc.select_sets_or_damage(name, env)
    report = run_check(sets, svc.now(), policy, svc.store.set_size, damage_findings(damaged))
    if as_json:
        print_json({"store": svc.store.describe(), **report.to_dict()})
    else:
        click.echo(render_template("status.txt.j2", report=report, store=svc.store.describe()), nl=False)
    if damaged:  # the others were shown; a damaged set fails as check's set-damaged does
        exit_with(report.verdict)


@cli.command()
@click.argument("name", required=False)
@click.option("--env", type=click.Choice(["test", "prod"]), help="Only this environment.")
@click.option("--warn", default="60d", show_default=True, metavar="DURATION", help="Warn when a key expires this soon.")
@click.option("--fail", default="14d", show_default=True, metavar="DURATION", help="Fail when a key expires this soon.")
@click.option(
    "--next-max-age", default="7d", show_default=True, metavar="DURATION", help="Warn when next waits longer."
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="A store with no key sets is OK (by default nothing to check fails; a missing store always fails).",
)
@store_options
@json_option
def check(
    name: str | None,
    env: str | None,
    warn: str,
    fail: str,
    next_max_age: str,
    allow_empty: bool,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Check key expiry and rotation health, for cron and CI: exit 0 OK, 1 warnings, 2 failing.

    Flags registered keys expiring within --warn / --fail, sets with no active key, a next key waiting longer than
    --next-max-age, and more registered keys than the profile allows. A store that does not exist fails, and so
    does one with no key set to check unless --allow-empty, and a set the audit log names that the store lacks.
    """
    svc = make_service(store)
    policy = _policy(warn, fail, next_max_age)
    report, whole = check_store(svc, policy, name=name, env=env, allow_empty=allow_empty)
    for finding in whole:  # one line on stderr: nothing was checked
        click.echo(f"jwks-tool: error: {finding.message}", err=True)
    if as_json:
        print_json(report.to_dict())
    elif not whole:
        for finding in report.findings:
            click.echo(f"{finding.severity.value.upper()}: {finding.where}: {finding.message}")
        checked = len(report.statuses)
        click.echo(f"{report.verdict.value.upper()}: {plural(checked, 'key set')} checked")
    exit_with(report.verdict)


@cli.command()
@click.argument("name")
@set_options
@click.option(
    "--older-than",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="Prune keys retired or revoked at least this long ago.",
)
@store_options
@json_option
def prune(name: str, env: str, older_than: str, store: StoreOptions, as_json: bool) -> None:
    """Drop retired and revoked keys from set NAME; the audit log keeps their whole story.

    A set keeps every key it ever had. On a Key Vault store a set is one secret of at most 25 KB, about a dozen
    rotations of RSA-3072 keys: prune before it fills. Registered keys (next, active, retiring) are never pruned.
    """
    svc = make_service(store)
    result = Rotation(svc).prune(name, env, older_than=parse_duration(older_than))
    if as_json:
        pruned = {"pruned": [key.kid for key in result.pruned]}
        print_json({"set": name, "env": env, **_step_json(result), **pruned, "next_action": result.next_action})
        return
    click.echo(f"prune: {result.summary}")


@cli.command()
@click.argument("name", required=False)
@click.option("--env", type=click.Choice(["test", "prod"]), help="Only this environment.")
@store_options
@json_option
def log(name: str | None, env: str | None, store: StoreOptions, as_json: bool) -> None:
    """Show the store's audit log (every change: time, user, command, set, kid, from-state, to-state).

    A change whose log append was interrupted (a kill, a vault refusing the append) is recovered from its key's
    history and marked "recovered".
    """
    svc = make_service(store)
    require_store(svc.store)
    envs = [env] if env else list(Env)
    refs = svc.store.list_refs() if name is None else [SetRef.parse(name, one) for one in envs]
    keysets = []
    unreadable = False
    for ref in refs:  # a set that cannot be read must not hide the log: that is when it is needed most
        try:
            keyset = svc.read_set(ref)
        except StoreError as exc:
            unreadable = True
            print_warning(f"cannot read {ref} ({exc.diagnostics()}): events only its history holds are not shown")
            continue
        if keyset is not None:
            keysets.append(keyset)
    events = [
        event
        for event in trail(svc.store, keysets, on_damage=print_warning)
        if (name is None or event.get("set") == name) and (env is None or event.get("env") == env)
    ]
    if name is not None and not keysets and not events and not unreadable:
        where = f" ({env})" if env else ""
        raise NotFoundError(
            f"no key set {name}{where} in {svc.store.describe()}, and the audit log names none",
            hint="run `jwks-tool list` to see the sets, or `jwks-tool log` for every change",
        )
    if as_json:
        print_json({"store": svc.store.describe(), "events": events})
        return
    click.echo(render_template("log.txt.j2", events=events), nl=False)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True)
@out_option()
@click.option("--warn", default="60d", show_default=True, metavar="DURATION")
@click.option("--fail", default="14d", show_default=True, metavar="DURATION")
@click.option(
    "--template-dir",
    type=click.Path(file_okay=False, exists=True),
    help="A folder with your own report.html.j2 / report.md.j2 (rendered in Jinja2's sandbox).",
)
@store_options
@json_option
def report(
    fmt: str,
    out: str | None,
    force_out: bool,
    warn: str,
    fail: str,
    template_dir: str | None,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """An inventory of every key set for a security team: a timeline picture, expiry findings, the audit trail.

    The HTML is one self-contained file that opens in any browser; md is Markdown for wikis and tickets.
    """
    force_out = check_out(out, force=force_out)
    svc = make_service(store)
    require_store(svc.store)
    keysets, damaged = svc.select_sets_or_damage()
    result = run_check(keysets, svc.now(), _policy(warn, fail, "7d"), svc.store.set_size, damage_findings(damaged))
    audit = trail(svc.store, keysets, on_damage=print_warning)
    to_file = out is not None and out != "-"
    if not as_json or to_file:  # --json --out FILE: the report in FILE, the verdict on stdout naming it
        _emit_report(fmt, keysets, result, audit, svc, template_dir, out, force_out)
    if as_json:
        print_json(
            {"store": svc.store.describe(), **result.to_dict(), "audit": audit} | ({"out": out} if to_file else {})
        )
    if damaged:  # the report names each damaged set as a failing finding
        exit_with(result.verdict)


def _emit_report(
    fmt: str,
    keysets: list[KeySet],
    result: CheckReport,
    audit: Any,
    svc: KeyService,
    template_dir: str | None,
    out: str | None,
    force_out: bool,
) -> None:
    text = render_report(
        ReportDocFormat(fmt),
        keysets,
        result,
        audit,
        now=svc.now(),
        store=svc.store.describe(),
        template_dir=template_dir,
    )
    emit(text, out, force=force_out)


@cli.command()
@click.argument("template")
@click.argument("name")
@set_options
@click.option(
    "--client-id",
    callback=one_line,
    help="The Maskinporten client id (integration id in the portal).",
)
@click.option("--scope", callback=one_line, help="Scopes, space separated.")
@click.option("--vault", help="Key Vault name or URL, for Key Vault references.")
@click.option("--secret-name", help="Key Vault secret name [MaskinportenSettings--EncodedJwk or --JwkBase64].")
@click.option(
    "--template-dir",
    type=click.Path(file_okay=False, exists=True),
    help="Your own templates, NAME.<ext>.j2, rendered in Jinja2's sandbox (they cannot replace ours).",
)
@click.option(
    "--store-persists",
    is_flag=True,
    help="github-actions, azure-devops, kubernetes: the manifest's local store lasts between runs (a self-hosted "
    "runner's disk, a PersistentVolumeClaim); without it they need a remote store in the manifest. github-actions, "
    "azure-devops: its deliveries to local files last too.",
)
@out_option()
@store_options
@json_option
def render(
    template: str,
    name: str,
    env: str,
    client_id: str | None,
    scope: str | None,
    vault: str | None,
    secret_name: str | None,
    template_dir: str | None,
    store_persists: bool,
    out: str | None,
    force_out: bool,
    store: StoreOptions,
    as_json: bool,
) -> None:
    """Fill TEMPLATE for the key set NAME: appsettings, altinn-app, portal, runbook, or one of yours.

    \b
    appsettings  MaskinportenSettings for Altinn.ApiClients.Maskinporten (EncodedJwk as a Key Vault reference)
    altinn-app   MaskinportenSettings for an Altinn Studio app (Authority, ClientId, JwkBase64)
    portal       step-by-step registration in Digdir's self-service portal, with the exact JSON to paste
    runbook      this set's rotation steps, with its kids
    cron, github-actions, azure-devops, kubernetes
                 run `jwks-tool apply` on a schedule; NAME is then the fleet manifest (jwks-tool.toml),
                 whose store and deliveries must be remote for the last three (or pass --store-persists)
    No template holds private key material.
    """
    force_out = check_out(out, force=force_out)
    from jwks_tool.documents.schedules import ScheduleTemplate, render_schedule

    if template in {item.value for item in ScheduleTemplate}:
        from jwks_tool.services.fleet.manifest_file import read_manifest

        text = render_schedule(
            ScheduleTemplate(template), read_manifest(name), store_persists=store_persists, store_url=store.url
        )
        if as_json:
            print_json({"template": template, "manifest": name, "text": text})
            return
        emit(text, out, force=force_out)
        return
    svc = make_service(store)
    keyset = svc.get_set(name, env)
    options = RenderOptions(client_id=client_id, scope=scope, vault=vault, secret_name=secret_name)
    text = render_document(template, keyset, options, now=svc.now(), template_dir=template_dir)
    to_file = out is not None and out != "-"
    if not to_file and not as_json and is_terminal(sys.stdout):  # a user template is not trusted with a terminal
        text = printable_document(text)
    if not as_json or to_file:  # --json --out FILE: the document in FILE too, the result on stdout naming it
        emit(text, out, force=force_out)
    if as_json:
        print_json({"template": template, "set": name, "env": env, "text": text} | ({"out": out} if to_file else {}))
