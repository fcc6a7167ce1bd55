"""Fleet commands: plan and apply over a manifest (thin layers over :mod:`jwks_tool.services.fleet`)."""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import UTC, datetime
from typing import Any, NamedTuple

import click

from jwks_tool.cli.main import (
    ENV_ALLOW_PLAINTEXT,
    ENV_PASSPHRASE,
    EXIT_CHANGES_DUE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STEP_FAILED,
    EXIT_WAITING,
    azure_options,
    cli,
    is_terminal,
    json_option,
    option_group,
    passphrase_provider,
    print_json,
    print_warning,
    read_secret_file,
)
from jwks_tool.core.manifest import Manifest
from jwks_tool.core.model import format_time
from jwks_tool.core.timeutil import parse_duration
from jwks_tool.errors import AbortedError, InputError
from jwks_tool.services.key_service import AzureOptions, KeyService

ENV_PORTAL_TOKEN = "JWKS_TOOL_PORTAL_TOKEN"


class FleetOptions(NamedTuple):
    """--manifest, --store, --passphrase-file, --cert-passphrase-file, --workers, --timeout."""

    manifest: str | None
    store_url: str | None
    passphrase_file: str | None
    cert_passphrase_file: str | None
    workers: int
    timeout: float


fleet_options = option_group(
    "fleet",
    FleetOptions,
    click.option("--manifest", metavar="FILE", help="The manifest [jwks-tool.toml in this folder]."),
    click.option(
        "--store",
        "store_url",
        metavar="URL",
        help="Key store [the manifest's store, else $JWKS_TOOL_STORE, else your data folder].",
    ),
    click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False),
        help="Read the store passphrase from the first line of this file (default: $JWKS_TOOL_PASSPHRASE, or ask).",
    ),
    click.option(
        "--cert-passphrase-file",
        type=click.Path(dir_okay=False),
        help="Read the business certificate's (.p12) passphrase from this file (default: $JWKS_TOOL_CERT_PASSPHRASE).",
    ),
    click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=8,
        show_default=True,
        help="Clients worked on at once (network steps overlap).",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(0, 600, min_open=True),
        default=30.0,
        show_default=True,
        help="Seconds for each call to Maskinporten or Digdir.",
    ),
)


def _load(fleet: FleetOptions, *, certificates: bool = True) -> Manifest:
    from jwks_tool.services.fleet.manifest_file import read_manifest

    return read_manifest(fleet.manifest, certificates=certificates)


def _service(fleet: FleetOptions, manifest: Manifest, azure: AzureOptions, clock: Any, command: str) -> KeyService:
    url = fleet.store_url or manifest.store or os.environ.get("JWKS_TOOL_STORE") or None
    return KeyService.open(
        url,
        passphrase=passphrase_provider(fleet.passphrase_file),
        azure=azure,
        command=f"{command} --manifest {manifest.path}",
        on_warning=print_warning,
        allow_plaintext=os.environ.get(ENV_ALLOW_PLAINTEXT) == "1",
        clock=clock.now,
    )


def build_fleet(fleet: FleetOptions, azure: AzureOptions, command: str, *, offline: bool = False) -> Any:
    """The library's Fleet for this command: the manifest, the store, and the adapters of today's integrations."""
    from jwks_tool.services.fleet import adapters
    from jwks_tool.services.fleet.engine import Fleet
    from jwks_tool.services.fleet.ports import SystemClock

    manifest = _load(fleet, certificates=not offline)  # offline: no sign-in, so no certificate is needed
    clock = SystemClock()
    svc = _service(fleet, manifest, azure, clock, command)
    auth = adapters.CertificateAdminAuth(
        manifest,
        azure,
        clock,
        passphrase=_cert_passphrase(fleet.cert_passphrase_file),
        timeout=fleet.timeout,
        on_certificate=_show_certificate,
        given_token=os.environ.get(ENV_PORTAL_TOKEN) or None,
    )
    registrar = adapters.PortalRegistrar(manifest, auth, timeout=fleet.timeout)
    return Fleet(
        manifest,
        svc,
        registrar=lambda client: registrar,
        prover=adapters.TokenProver(manifest, svc, timeout=fleet.timeout),
        deliverer=adapters.DestinationDeliverer(manifest, svc, azure),
        clock=clock,
        workers=fleet.workers,
    )


def _cert_passphrase(path: str | None) -> Any:
    """The .p12 passphrase: --cert-passphrase-file, else $JWKS_TOOL_CERT_PASSPHRASE; never argv, never the manifest,
    no prompt (apply runs unattended, and its workers share the terminal)."""
    from jwks_tool.services.admin import ENV_CERT_PASSPHRASE

    def provide() -> str | None:
        if path is not None:
            return read_secret_file(path, "certificate passphrase")
        given = os.environ.get(ENV_CERT_PASSPHRASE)
        if given:
            return given
        raise InputError(
            "the business certificate's passphrase is not given",
            hint=f"set {ENV_CERT_PASSPHRASE} or pass --cert-passphrase-file",
        )

    return provide


def _show_certificate(source: str, certificate: Any) -> None:
    """The organisation signed in as, once per certificate per run (stderr: stdout may be JSON)."""
    from jwks_tool.core.text import printable

    line = f"Signing in to Digdir with {printable(source, limit=200)}: the {certificate.describe()}."
    bar = _ProgressBar.current
    if bar is not None:
        bar.say(line)  # above the bar, which is drawn again below it
    else:
        click.echo(line, err=True)


def _parse_at(value: str | None) -> datetime | None:
    """--at: an RFC 3339 time, a date (midnight UTC), or +DURATION from now (+90d)."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith("+"):
        return datetime.now(UTC).replace(microsecond=0) + parse_duration(text[1:])
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--at {value!r} is not a time", hint="write 2027-03-01, 2027-03-01T12:00:00Z or +90d"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@cli.command()
@fleet_options
@click.option(
    "--at", "at", metavar="TIME", help="Plan for this time instead of now: 2027-03-01, an RFC 3339 time, +90d."
)
@click.option(
    "--offline",
    is_flag=True,
    help="No network: the store, its audit log and local deliveries only (no call to Digdir, Maskinporten or a vault).",
)
@azure_options
@json_option
def plan(fleet: FleetOptions, at: str | None, offline: bool, azure: AzureOptions, as_json: bool) -> None:
    """Show what is due for every client of the manifest, one line each with why.

    Reads only (--offline: no call to Digdir, Maskinporten or a delivery; a remote store is still read). Exits 0
    when nothing is due, 11 when changes are due, 12 when a client could not be checked.
    """
    from jwks_tool.documents.fleet import plan_text

    when = _parse_at(at)
    engine = build_fleet(fleet, azure, "jwks-tool plan", offline=offline)
    if (fleet.passphrase_file or os.environ.get(ENV_PASSPHRASE)) and engine.service.store.read_config() is not None:
        engine.service.unlock()  # given, so checked: plan as a CI preflight catches the passphrase apply would refuse
    plans = engine.plan(at=when, offline=offline)
    moment = plans[0].at if plans else (when or engine.clock.now())
    if as_json:
        print_json(
            {
                "manifest": engine.manifest.path,
                "at": format_time(moment),
                "offline": offline,
                "due": sum(1 for item in plans if item.due),
                "clients": [item.to_dict() for item in plans],
            }
        )
    else:
        click.echo(plan_text(plans, engine.manifest.path, format_time(moment)), nl=False)
    ctx = click.get_current_context()
    if any(item.error for item in plans):
        ctx.exit(EXIT_STEP_FAILED)
    ctx.exit(EXIT_CHANGES_DUE if any(item.due for item in plans) else EXIT_OK)


@cli.command()
@fleet_options
@click.option("--yes", "-y", is_flag=True, help="Do it without asking (cron, CI); needed when stdin is no terminal.")
@click.option("--summary", metavar="FILE", help="Append a Markdown summary to FILE ($GITHUB_STEP_SUMMARY).")
@click.option(
    "--max-changes", type=click.IntRange(0), metavar="N", help="Refuse a run that would touch more than N clients."
)
@click.option(
    "--max-wait",
    default="10m",
    show_default=True,
    metavar="DURATION",
    help="Wait at most this long for a new key's propagation before testing it (longer: the next run tests it).",
)
@azure_options
@json_option
def apply(
    fleet: FleetOptions,
    yes: bool,
    summary: str | None,
    max_changes: int | None,
    max_wait: str,
    azure: AzureOptions,
    as_json: bool,
) -> None:
    """Do what is due for every client of the manifest, step by step, and report each client's outcome.

    A key is delivered only after Maskinporten issued a token signed with it; a retiring key leaves the registered
    set only after its successor was delivered and the overlap passed. Exits 0 when every client is where the
    manifest wants it, 12 when a step failed (the next run resumes there), 13 when waiting on a person (a manual
    registration), 130 when stopped by Ctrl-C or SIGTERM (no step starts after it; the next run resumes).
    """
    from jwks_tool.documents.fleet import result_line, summary_markdown

    wait = parse_duration(max_wait)
    if summary is not None:
        _check_summary(summary)
    engine = build_fleet(fleet, azure, "jwks-tool apply")
    engine.max_wait = wait
    if not yes:
        if not (is_terminal(sys.stdin) and is_terminal(sys.stderr)):
            raise AbortedError(
                "apply changes keys, registrations and secrets and asks first",
                hint="pass --yes (cron, CI), or run it on a terminal",
            )
        from jwks_tool.core.text import plural

        plans = engine.plan()
        due = sum(1 for item in plans if item.due)
        errors = sum(1 for item in plans if item.error and not item.due)
        question = f"{plural(due, 'client')} {'has' if due == 1 else 'have'} changes due"
        if errors:
            question += f", {plural(errors, 'client')} could not be checked (apply tries again)"
        if not click.confirm(f"{question}: apply?", default=False, err=True):
            raise AbortedError("nothing was done", hint="run `jwks-tool plan` to see what is due")
    bar = None
    if is_terminal(sys.stderr) and not as_json:  # the client lines only when stdout is not this terminal too
        bar = _ProgressBar(len(engine.manifest.clients), client_lines=not is_terminal(sys.stdout))
        engine.on_progress, engine.on_step = bar.finished, bar.doing
    with bar if bar is not None else contextlib.nullcontext():
        run = _apply_stoppable(engine, max_changes, before_exit=bar.close if bar is not None else None)
    if summary is not None:
        _append_summary(summary, summary_markdown(run))
    if as_json:
        print_json(run.to_dict())
    else:
        for result in run.results:
            click.echo(result_line(result))
            if result.paste:
                click.echo(f"  paste this set into Digdir's portal for {result.client.client_id}:")
                click.echo("  " + result.paste.replace("\n", "\n  "))
    from jwks_tool.services.fleet.engine import Outcome

    ctx = click.get_current_context()
    if run.stopped:
        from jwks_tool.core.text import plural

        click.echo(
            f"jwks-tool: interrupted; {plural(run.count(Outcome.INTERRUPTED), 'client')} stopped where they were "
            "(no step started after the signal, the steps in flight finished): run apply again to resume",
            err=True,
        )
        ctx.exit(EXIT_INTERRUPTED)
    if run.count(Outcome.FAILED):
        ctx.exit(EXIT_STEP_FAILED)
    ctx.exit(EXIT_WAITING if run.count(Outcome.WAITING) else EXIT_OK)


def _apply_stoppable(engine: Any, max_changes: int | None, before_exit: Any = None) -> Any:
    """engine.apply with SIGTERM taken as Ctrl-C (CI runners and Kubernetes stop a job with it): the first sets the
    engine's stop signal and the run ends with its result; a second one while the steps in flight finish exits at
    once (exit 130, as a kill would: the run's end is not in the audit log, and the next run resumes)."""
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if main_thread else None
    try:
        return engine.apply(max_changes=max_changes)
    except KeyboardInterrupt:
        if not engine.stop.is_set():
            raise  # before the workers started: nothing was done (the usual one line, exit 130)
        if before_exit is not None:
            before_exit()
        click.echo("jwks-tool: interrupted again; exiting now: run apply again to resume", err=True)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_INTERRUPTED)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class _ProgressBar:
    """apply's progress on a terminal (stderr): one bar line redrawn in place (carriage return and erase-line) with
    the clients finished, what failed, and what the workers are doing; lines said meanwhile (the sign-in, and each
    finished client's line when stdout is not this terminal: ``apply | tee log``) are printed above it. Called from
    the worker threads; the line never wraps (it is cut to the terminal's width) and is erased at the end."""

    current: _ProgressBar | None = None
    """The bar being drawn, so that other stderr lines of the run go above it."""

    def __init__(self, total: int, stream: Any = None, *, client_lines: bool = True) -> None:
        import threading

        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.client_lines = client_lines
        self.counts: dict[str, int] = {}
        self.done = 0
        self.active: dict[str, tuple[str, str]] = {}
        self.lock = threading.Lock()
        self.drawn = False

    def __enter__(self) -> _ProgressBar:
        _ProgressBar.current = self
        return self

    def __exit__(self, *_exc: object) -> None:
        _ProgressBar.current = None
        self.close()

    def _draw(self) -> None:
        import shutil

        from jwks_tool.documents.fleet import progress_bar

        width = shutil.get_terminal_size((80, 24)).columns
        line = progress_bar(self.done, self.total, self.counts, list(self.active.values()), width)
        self.stream.write("\r\x1b[K" + line)
        self.stream.flush()
        self.drawn = True

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.drawn = False

    def say(self, line: str) -> None:
        """A line above the bar (already made printable by the caller)."""
        with self.lock:
            self._clear()
            self.stream.write(line + "\n")
            self._draw()

    def doing(self, client: Any, what: str) -> None:
        """A worker started something for ``client``."""
        with self.lock:
            self.active[client.label] = (client.label, what)
            self._draw()

    def finished(self, result: Any) -> None:
        """A client finished: its line above the bar (unless stdout shows it on this terminal), then the bar."""
        from jwks_tool.documents.fleet import result_line

        with self.lock:
            self.active.pop(result.client.label, None)
            self.done += 1
            outcome = result.outcome.value
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self._clear()
            if self.client_lines:
                self.stream.write(f"[{self.done}/{self.total}] {result_line(result)}\n")
            self._draw()

    def close(self) -> None:
        """The bar goes; the lines stay."""
        with self.lock:
            self._clear()
            self.stream.flush()


def _check_summary(path: str) -> None:
    """--summary: a regular file or a new one in an existing folder; never a link, device or folder."""
    import stat

    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise InputError(f"the folder {folder} does not exist", hint="create it first (--summary makes no folders)")
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
        raise InputError(f"{path} is not a regular file", hint="--summary appends to a regular file only")


def _append_summary(path: str, text: str) -> None:
    """Append ``text`` to ``path`` atomically: the old content and the new, written beside it and renamed over it."""
    from pathlib import Path

    from jwks_tool.stores.file import atomic_write

    _check_summary(path)
    try:
        with open(path, "rb") as handle:
            old = handle.read()
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        old, mode = b"", 0o600
    atomic_write(Path(path), old + text.encode("utf-8"), mode=mode)
