"""The ``jwks-tool`` command line: thin click commands over :mod:`jwks_tool.services.key_service`.

    $ jwks-tool generate acme --env test
    $ jwks-tool export acme > acme-public.jwk.json
    $ jwks-tool export acme --private --format base64 --out keyvault-value.txt

Each command parses options, calls one library function and renders the result. Errors are mapped to exit codes in
one place (:data:`EXIT_CODES`, applied by :class:`JwksGroup`). Nothing heavy is imported before a command runs.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar

import click

from jwks_tool import __version__
from jwks_tool.errors import (
    AbortedError,
    ConflictError,
    InputError,
    JwksToolError,
    JwksToolWarning,
    NotFoundError,
    PassphraseError,
    ProfileError,
    RemoteError,
    StoreError,
)

if TYPE_CHECKING:  # start-up: --help loads this module; these load with the commands that use them
    from jwks_tool.core.findings import Verdict
    from jwks_tool.core.model import KeyRecord, KeySet
    from jwks_tool.services.key_service import AzureOptions, KeyService
    from jwks_tool.stores.interface import KeyStore

F = TypeVar("F", bound=Callable[..., Any])

ENV_PASSPHRASE = "JWKS_TOOL_PASSPHRASE"
ENV_ALLOW_PLAINTEXT = "JWKS_TOOL_ALLOW_PLAINTEXT"
"""Set to 1 to let one command write unencrypted keys into a store that holds sealed ones."""
ENV_KEY_PASSPHRASE = "JWKS_TOOL_KEY_PASSPHRASE"
ENV_EXPORT_PASSPHRASE = "JWKS_TOOL_EXPORT_PASSPHRASE"

EXIT_OK = 0
EXIT_WARNINGS = 1
EXIT_FINDINGS = 2
EXIT_USAGE = 2
ERRORS: tuple[tuple[type[JwksToolError], int, str], ...] = (
    (InputError, 3, "input"),
    (ProfileError, 4, "profile"),
    (StoreError, 5, "store"),
    (NotFoundError, 6, "not-found"),
    (ConflictError, 7, "conflict"),
    (PassphraseError, 8, "passphrase"),
    (AbortedError, 9, "declined"),
    (RemoteError, 10, "remote"),
    (JwksToolError, 1, "error"),
)
"""Each error class, its exit code and its stable ``--json`` error code (the nearest base class wins). The README's
"Exit codes" table is tested against these and the constants below (tests/unit/test_contract_tables.py)."""
EXIT_CODES: dict[type[JwksToolError], int] = {cls: code for cls, code, _slug in ERRORS}
"""Exit codes by error class. 2 is a usage error (click), or errors found by inspect/check/doctor/portal pull."""
ERROR_SLUGS: dict[type[JwksToolError], str] = {cls: slug for cls, _code, slug in ERRORS}
EXIT_CHANGES_DUE = 11
"""``plan``: changes are due."""
EXIT_STEP_FAILED = 12
"""``apply``: a step failed (the next run resumes there); ``plan``: a client could not be checked."""
EXIT_WAITING = 13
"""``apply``: waiting on a person (a manual registration not yet proven)."""
EXIT_INTERNAL = 70
EXIT_IO = 74
EXIT_INTERRUPTED = 130
OTHER_ERRORS: dict[str, int] = {
    "usage": EXIT_USAGE,
    "internal": EXIT_INTERNAL,
    "io": EXIT_IO,
    "interrupted": EXIT_INTERRUPTED,
}
"""The ``--json`` error codes of failures that are not a :class:`JwksToolError`, with their exit codes."""

META_JSON = "jwks_tool.json"
"""ctx.meta key: the command was given --json (its error, too, is one JSON document on stdout)."""
META_JSON_BEFORE = "jwks_tool.json_before"
"""ctx.meta key: --json was given before the command (``jwks-tool --json show acme``): the command's own --json."""
META_JSON_PRINTED = "jwks_tool.json_printed"
"""ctx.meta key: the command printed its JSON document already (a verdict, then an exit code): no second one."""
META_VERBOSE = "jwks_tool.verbose"


def exit_code_for(error: JwksToolError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def error_slug_for(error: JwksToolError) -> str:
    for cls in type(error).__mro__:
        if cls in ERROR_SLUGS:
            return ERROR_SLUGS[cls]
    return "error"


COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("jwks_tool.cli.keys", "Create a key store (generate and import create one on first use)."),
    "generate": ("jwks_tool.cli.keys", "Generate a key in the key set NAME (made if new)."),
    "import": (
        "jwks_tool.cli.keys",
        "Import an existing private key (PEM, JWK or base64 JWK) from SOURCE (a file, or - for stdin).",
    ),
    "export": (
        "jwks_tool.cli.keys",
        "Export a key of the set NAME: the public half, or with --private the private one.",
    ),
    "inspect": (
        "jwks_tool.cli.keys",
        "Say what SOURCE (a file, or - for stdin) holds and lint it against a profile.",
    ),
    "list": ("jwks_tool.cli.read", "List the key sets in the store with their keys (never key material)."),
    "show": (
        "jwks_tool.cli.read",
        "Show one key set: each key's kid, algorithm, size, thumbprint, dates and state (never key material).",
    ),
    "rotate": ("jwks_tool.cli.lifecycle", "Rotate the keys of set NAME, one safe step at a time."),
    "revoke": (
        "jwks_tool.cli.lifecycle",
        "Revoke a compromised key of set NAME at once: it leaves the registered set.",
    ),
    "prune": (
        "jwks_tool.cli.lifecycle",
        "Drop retired and revoked keys from set NAME; the audit log keeps their whole story.",
    ),
    "status": (
        "jwks_tool.cli.lifecycle",
        "Show every set (or NAME): active kid, age, days to expiry, each key's state, and the next step.",
    ),
    "check": (
        "jwks_tool.cli.lifecycle",
        "Check key expiry and rotation health, for cron and CI: exit 0 OK, 1 warnings, 2 failing.",
    ),
    "log": (
        "jwks_tool.cli.lifecycle",
        "Show the store's audit log (every change: time, user, command, set, kid, from-state, to-state).",
    ),
    "report": (
        "jwks_tool.cli.lifecycle",
        "An inventory of every key set for a security team: a timeline picture, expiry findings, the audit trail.",
    ),
    "render": (
        "jwks_tool.cli.lifecycle",
        "Fill TEMPLATE for the key set NAME: appsettings, altinn-app, portal, runbook, or one of yours.",
    ),
    "keyvault": (
        "jwks_tool.cli.vault",
        "Azure Key Vault: push a set's key as the secrets its consumer reads, and check what a vault holds.",
    ),
    "deliver": (
        "jwks_tool.cli.deliver",
        "Write set NAME's key where its consumer reads it: a Kubernetes Secret, a .env file, a folder, Key Vault, AWS.",
    ),
    "grant": ("jwks_tool.cli.maskinporten", "Print a signed JWT grant for Maskinporten made with a key of set NAME."),
    "token": (
        "jwks_tool.cli.maskinporten",
        "Ask Maskinporten for an access token with a grant from set NAME: proves the key is registered and works.",
    ),
    "doctor": (
        "jwks_tool.cli.maskinporten",
        "Check set NAME end to end, with a verdict per check: exit 0 healthy, 1 warnings, 2 failing.",
    ),
    "plan": (
        "jwks_tool.cli.fleet",
        "Show what is due for every client of the manifest, one line each with why.",
    ),
    "apply": (
        "jwks_tool.cli.fleet",
        "Do what is due for every client of the manifest, step by step, and report each client's outcome.",
    ),
    "portal": (
        "jwks_tool.cli.maskinporten",
        "Digdir's self-service API: register a set's keys (push) and compare what is registered (pull).",
    ),
}
"""Every command: the module that defines it (imported only when the command runs) and its one-line help, so
`jwks-tool --help` costs little more than importing click. tests/unit/test_cli.py keeps this table true."""


def _short(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 3, 1)].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "..."


class JwksGroup(click.Group):
    """The top-level group: loads commands lazily, and turns every error into one line and its exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS) + [name for name in self.commands if name not in COMMANDS]

    def _lazy_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            import importlib

            importlib.import_module(COMMANDS[cmd_name][0])  # its decorators register it on this group
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, _short(COMMANDS[name][1], limit)) for name in names if name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self._lazy_command(ctx, cmd_name)
        if command is not None:
            add_common_options(command)
        return command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Notes whether --json is on the command line (before ``--``), so a usage error can answer in JSON too."""
        words = args[: args.index("--")] if "--" in args else args
        if "--json" in words:
            ctx.meta[META_JSON] = True
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            self._usage_fail(ctx, exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            self._usage_fail(ctx, exc)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except (KeyboardInterrupt, click.Abort):  # Ctrl-C (click turns one at a prompt into Abort)
            self._fail(
                ctx,
                "interrupted",
                "each store write is whole or not made at all: `jwks-tool list` shows what is there",
                EXIT_INTERRUPTED,
                "interrupted",
                traceback=False,
                prefix="jwks-tool: ",
            )
        except JwksToolError as exc:
            self._fail(ctx, exc.message, exc.hint, exit_code_for(exc), error_slug_for(exc))
        except OSError as exc:
            where = f" {exc.filename}" if exc.filename else ""
            self._fail(ctx, f"{exc.strerror or exc}{where}", "check the path and its permissions", EXIT_IO, "io")
        except Exception as exc:
            self._fail(
                ctx,
                f"internal error {type(exc).__name__}: {exc}",
                "run with -v for the traceback and report it",
                EXIT_INTERNAL,
                "internal",
            )

    @classmethod
    def _usage_fail(cls, ctx: click.Context, exc: click.UsageError) -> NoReturn:
        """A usage error: one line on stderr (and under --json the JSON error on stdout), exit 2.

        A group called with no arguments (``jwks-tool``, ``jwks-tool keyvault``) shows its help as click does.
        """
        if isinstance(exc, click.exceptions.NoArgsIsHelpError) and not ctx.meta.get(META_JSON):
            raise exc
        where = "jwks-tool"
        if exc.ctx is not None:  # the command's path under its own name, whatever the program was called
            root = exc.ctx.find_root()
            where += exc.ctx.command_path[len(root.command_path) :]
        message = " ".join(exc.format_message().split()).removesuffix(".")  # "No such command 'x'."
        cls._fail(ctx, message, f"see `{where} --help`", EXIT_USAGE, "usage", traceback=False)

    @staticmethod
    def _fail(
        ctx: click.Context,
        message: str,
        hint: str | None,
        code: int,
        slug: str,
        *,
        traceback: bool = True,
        prefix: str = "jwks-tool: error: ",
    ) -> NoReturn:
        from jwks_tool.core.text import printable  # start-up: --help loads this module

        if traceback and ctx.meta.get(META_VERBOSE):
            import traceback as tb

            tb.print_exc()
        message = printable(" ".join(message.split()), limit=4000)
        hint = None if hint is None else printable(" ".join(hint.split()), limit=4000)
        if ctx.meta.get(META_JSON) and not ctx.meta.get(META_JSON_PRINTED):
            error = {"code": slug, "exit": code, "message": message, "hint": hint}
            print_json({"error": error})
        click.echo(f"{prefix}{message}" + ("" if hint is None else f"; {hint}"), err=True)
        ctx.exit(code)


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value and not ctx.meta.get(META_VERBOSE):
        ctx.meta[META_VERBOSE] = True
        import logging  # what the libraries log (the Azure SDK's sign-in attempts) is shown only with -v

        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    return value


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    value = value or bool(ctx.meta.get(META_JSON_BEFORE))
    if value:
        ctx.meta[META_JSON] = True
    return value


def _set_json_before(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[META_JSON_BEFORE] = ctx.meta[META_JSON] = True
    return value


def _verbose_option() -> click.Option:
    return click.Option(
        ["-v", "--verbose"],
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_verbose,
        help="Show tracebacks of errors.",
    )


def add_common_options(command: click.Command) -> None:
    """-v/--verbose on every command and subcommand too (``jwks-tool render x a -v``); added once, by the group."""
    if any(param.name == "verbose" for param in command.params):
        return
    command.params.append(_verbose_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_common_options(sub)


@click.group(cls=JwksGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", prog_name="jwks-tool")
@click.option("-v", "--verbose", is_flag=True, is_eager=True, callback=_set_verbose, help="Show tracebacks of errors.")
@click.option(
    "--json",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_set_json_before,
    help="The same as --json after the command: one JSON document on stdout.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Manage the signing keys of OAuth2 machine clients: Maskinporten first.

    \b
    Onboarding a Maskinporten client:
      jwks-tool generate acme                      # a key for the client 'acme' (test)
      jwks-tool export acme                        # the public JWK to paste into the portal
      jwks-tool export acme --private --format base64 --out kv.txt   # the Key Vault value

    The store's passphrase comes from JWKS_TOOL_PASSPHRASE, --passphrase-file or a prompt; never from argv.
    """
    del verbose  # its callback noted it in ctx.meta (as -v after a subcommand does)
    _route_library_warnings()


def _route_library_warnings() -> None:
    """Library warnings (:class:`~jwks_tool.errors.JwksToolWarning`: a store plug-in skipped, ...) become one
    ``jwks-tool: warning:`` line each; other warnings keep Python's own display."""
    import warnings

    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, JwksToolWarning):
            print_warning(str(message))
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show


# ---- shared options ----------------------------------------------------------------------------------------------
class StoreOptions(NamedTuple):
    """--store and --passphrase-file: which store, and where its passphrase comes from."""

    url: str | None
    passphrase_file: str | None


def option_group(target: str, build: Callable[..., Any], *options: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator for a group of options (listed in the order --help shows them): the command receives one
    object, ``build(**their values)``, as its parameter ``target`` instead of one parameter per option."""

    def decorate(func: F) -> F:
        names: list[str] = []

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs[target] = build(**{name: kwargs.pop(name) for name in names})
            return func(*args, **kwargs)

        params: list[click.Parameter] = getattr(wrapper, "__click_params__", [])
        wrapper.__click_params__ = params = list(params)  # type: ignore[attr-defined]
        before = len(params)
        for option in reversed(options):
            option(wrapper)
        names.extend(str(param.name) for param in params[before:])
        return wrapper  # type: ignore[return-value]

    return decorate


store_options = option_group(
    "store",
    lambda store_url, passphrase_file: StoreOptions(store_url, passphrase_file),
    click.option(
        "--store",
        "store_url",
        envvar="JWKS_TOOL_STORE",
        metavar="URL",
        help="Key store: a folder, file:PATH, https://NAME.vault.azure.net/ or memory: "
        "(default: $JWKS_TOOL_STORE, else your data folder).",
    ),
    click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False),
        help="Read the store passphrase from the first line of this file (default: $JWKS_TOOL_PASSPHRASE, or ask).",
    ),
)
"""--store and --passphrase-file, passed to the command as ``store`` (:class:`StoreOptions`)."""


def json_option(func: F) -> F:
    """--json: the result as one JSON document on stdout, or on failure ``{"error": {...}}`` (schemas in
    jwks_tool/schemas/); the exit code is the same as without it."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        is_eager=True,
        callback=_set_json,
        help="Print one JSON document for programs, an error too (jwks_tool/schemas/).",
    )(func)


def set_options(func: F) -> F:
    func = click.option(
        "--env", type=click.Choice(["test", "prod"]), default="test", show_default=True, help="Environment."
    )(func)
    return func


def one_line(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: --client-id / --scope go into a signed grant or a rendered document: one line of printable
    text (no newline, no control character)."""
    from jwks_tool.core.text import printable  # start-up: --help loads this module

    if value is not None and (not value or not value.isprintable()):
        option = "--" + (param.name or "").replace("_", "-")
        raise InputError(
            f"{option} {printable(repr(value), limit=80)} is not one line of printable text",
            hint="give it without newlines or control characters",
        )
    return value


def is_terminal(stream: object) -> bool:
    """Whether a standard stream is a terminal (a person is there to ask or to read)."""
    return bool(getattr(stream, "isatty", lambda: False)())


def _azure(credential: str, ca_bundle: str | None, no_verify: bool) -> AzureOptions:
    from jwks_tool.services.key_service import AzureOptions  # start-up: --help loads this module

    if ca_bundle is not None:  # checked before any connection: TLS would only say the server cannot be reached
        from jwks_tool.core.certificates import check_ca_bundle

        check_ca_bundle(ca_bundle)
    return AzureOptions(credential, ca_bundle, verify_challenge_resource=not no_verify)


def azure_option_group(tls_to: str) -> Callable[[F], F]:
    """--credential, --ca-bundle and --no-verify-challenge-resource, passed to the command as ``azure``
    (:class:`~jwks_tool.services.key_service.AzureOptions`); ``tls_to`` says in --help which services --ca-bundle
    is used for."""
    return option_group(
        "azure",
        _azure,
        click.option(
            "--credential",
            type=click.Choice(["default", "cli", "environment", "managed-identity"]),
            default="default",
            show_default=True,
            help="How to sign in to Azure: DefaultAzureCredential, az login, AZURE_* variables, or managed identity.",
        ),
        click.option(
            "--ca-bundle",
            type=click.Path(dir_okay=False, exists=True),
            metavar="FILE",
            help=f"A PEM file of CA certificates used INSTEAD of the system's (and REQUESTS_CA_BUNDLE) to verify TLS "
            f"to {tls_to} [default: $REQUESTS_CA_BUNDLE if set, else the system's CAs].",
        ),
        click.option(
            "--no-verify-challenge-resource",
            "no_verify",
            is_flag=True,
            help="Accept a challenge resource that is not the vault's domain (emulators, private endpoints).",
        ),
    )


azure_options = azure_option_group("Key Vault")
"""The Key Vault options of commands that talk to Key Vault only."""
maskinporten_azure_options = azure_option_group(
    "Key Vault and to Maskinporten (the token endpoint and the self-service API)"
)
"""The Key Vault options of ``token``, ``portal`` and ``doctor``, whose --ca-bundle also verifies Maskinporten."""


def exit_with(verdict: Verdict) -> NoReturn:
    """End the command with the exit code of a verdict: 0 OK, 1 warnings, 2 errors."""
    from jwks_tool.core.findings import Verdict  # start-up: --help loads this module

    codes = {Verdict.OK: EXIT_OK, Verdict.WARNINGS: EXIT_WARNINGS, Verdict.ERRORS: EXIT_FINDINGS}
    click.get_current_context().exit(codes[verdict])


def read_secret_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise InputError(
            f"cannot read the {what} file {path}: {exc.strerror}",
            hint="check the path and its permissions (the passphrase goes on the file's first line)",
        ) from exc
    line = text.splitlines()[0] if text else ""
    if not line:
        raise PassphraseError(f"the {what} file {path} is empty", hint="put the passphrase on its first line")
    return line


def passphrase_provider(passphrase_file: str | None) -> Callable[[bool], str]:
    """The store passphrase: --passphrase-file, then $JWKS_TOOL_PASSPHRASE, then a prompt on a terminal."""
    cached: list[str] = []

    def provide(confirm: bool) -> str:
        if cached:
            return cached[0]
        if passphrase_file is not None:
            value = read_secret_file(passphrase_file, "passphrase")
        elif os.environ.get(ENV_PASSPHRASE):
            value = os.environ[ENV_PASSPHRASE]
        elif is_terminal(sys.stdin):
            prompt = "New store passphrase" if confirm else "Store passphrase"
            value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
        else:
            raise PassphraseError(
                "the key store needs its passphrase",
                hint=f"set {ENV_PASSPHRASE} or pass --passphrase-file (stdin is not a terminal to ask on)",
            )
        cached.append(value)
        return value

    return provide


def secret_from_env_or_prompt(env_name: str, prompt: str, *, confirm: bool) -> str:
    if os.environ.get(env_name):
        return os.environ[env_name]
    if is_terminal(sys.stdin):
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))
    raise PassphraseError(f"{prompt.lower()} is needed", hint=f"set {env_name} (stdin is not a terminal to ask on)")


def make_service(store: StoreOptions, azure: AzureOptions | None = None) -> KeyService:
    """The library's :class:`KeyService` for this command: its store, passphrase, Azure options and audit name."""
    from jwks_tool.services.key_service import KeyService  # start-up: --help loads this module

    context = click.get_current_context(silent=True)
    command = f"jwks-tool {context.command.name}" if context is not None else "jwks-tool"
    return KeyService.open(
        store.url,
        passphrase=passphrase_provider(store.passphrase_file),
        azure=azure,
        command=command,
        on_warning=print_warning,
        allow_plaintext=os.environ.get(ENV_ALLOW_PLAINTEXT) == "1",
    )


def require_store(store: KeyStore) -> None:
    """A command that reads a store (list, log, report, status) refuses one that is not there, rather than showing
    an empty one: a typo in --store must not look like a store with nothing in it (NotFoundError, exit 6)."""
    if store.read_config() is None:
        raise NotFoundError(
            f"there is no key store at {store.describe()}",
            hint="check --store and $JWKS_TOOL_STORE, or run `jwks-tool generate NAME` to make one",
        )


def print_warning(message: str) -> None:
    """One ``jwks-tool: warning:`` line on stderr: something failed that did not undo the command's change."""
    from jwks_tool.core.text import printable  # start-up: --help loads this module

    click.echo(f"jwks-tool: warning: {printable(' '.join(message.split()), limit=4000)}", err=True)


OUT_TEMP_SUFFIX = ".jwks-tool-out.tmp"
"""``--force`` over an existing file writes ``.<name>.jwks-tool-out.tmp`` beside it and renames it over the file; a
temp a crash left there is removed by the next command given that --out path, before anything else."""


def out_option(*names: str, flag: str = "--force") -> Callable[[F], F]:
    """--out FILE, and the flag (``--force``, or ``--overwrite`` where --force means something else) that lets it
    replace an existing file."""

    def decorate(func: F) -> F:
        func = click.option(
            flag,
            *names,
            "force_out",
            is_flag=True,
            help="Replace an existing --out file (without it: refused, or asked on a terminal).",
        )(func)
        return click.option(
            "--out",
            metavar="FILE",
            help="Write to this new file instead of stdout (- is stdout). Never a link, device or pipe; its "
            "folder must exist.",
        )(func)

    return decorate


def _out_temp(out: str) -> str:
    folder, name = os.path.split(out)
    return os.path.join(folder, f".{name}{OUT_TEMP_SUFFIX}")


def check_out(out: str | None, *, force: bool, flag: str = "--force") -> bool:
    """Refuse an --out path that is not a regular file or absent (a link, device, pipe, folder), whose folder is
    missing, or that exists while ``force`` is not given (a terminal is asked instead). Call it before doing the
    work; it returns whether an existing file may be replaced. Also removes a temp an interrupted run left."""
    if out is None or out == "-":
        return force
    import stat

    folder = os.path.dirname(out) or "."
    try:
        folder_mode = os.stat(folder).st_mode
    except FileNotFoundError:
        raise InputError(
            f"the folder {folder} does not exist", hint="create it first (--out makes no folders)"
        ) from None
    except NotADirectoryError:
        folder_mode = 0
    if not stat.S_ISDIR(folder_mode):
        raise InputError(f"{folder} is not a folder", hint="give --out a path in a folder")
    _remove_stale_temp(out)
    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        return force
    if stat.S_ISLNK(mode):
        raise InputError(
            f"{out} is a symbolic link", hint="jwks-tool does not write through links: give the path of the file itself"
        )
    if not stat.S_ISREG(mode):
        raise InputError(f"{out} is not a regular file", hint="--out writes regular files only (--out - is stdout)")
    if force:
        return True
    replace_hint = f"pass {flag} to replace it, or choose another path"
    if is_terminal(sys.stdin) and is_terminal(sys.stderr):
        if click.confirm(f"{out} exists: replace it?", default=False, err=True):
            return True
        raise AbortedError(f"{out} was left as it was", hint=replace_hint)
    raise ConflictError(f"{out} exists", hint=replace_hint)


def _remove_stale_temp(out: str) -> None:
    import contextlib
    import stat

    temp = _out_temp(out)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISDIR(os.lstat(temp).st_mode):
            os.unlink(temp)


def emit(text: str, out: str | None, *, private: bool = False, force: bool = False, flag: str = "--force") -> None:
    """Write a result to stdout (``out`` None or -) or to the file ``out``, checked by :func:`check_out`.

    A new file is created with O_EXCL|O_NOFOLLOW (0600 for private material), written and fsynced: the content is
    written once, where it belongs. Replacing an existing file (``force``) writes a temp beside it the same way and
    renames it over the file, so readers see the old or the new content; an interrupted run's temp is removed by the
    next run to that path."""
    if out is None or out == "-":
        click.echo(text, nl=False)
        return
    from jwks_tool.stores.file import fsync_folder, write_all  # start-up: only a command that writes a file needs it

    force = check_out(out, force=force, flag=flag)
    exists = os.path.lexists(out)
    target = _out_temp(out) if exists else out
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for extra in ("O_NOFOLLOW", "O_CLOEXEC", "O_BINARY"):
        flags |= getattr(os, extra, 0)
    mode = 0o600 if private else 0o644
    try:
        fd = os.open(target, flags, mode)
    except FileExistsError:
        raise ConflictError(f"{target} appeared while jwks-tool was writing", hint="run the command again") from None
    try:
        if private and hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        write_all(fd, text.encode("utf-8"))
    except BaseException:
        os.close(fd)
        os.unlink(target)
        raise
    os.close(fd)
    if exists:
        try:
            os.replace(target, out)
        except BaseException:
            os.unlink(target)
            raise
    fsync_folder(os.path.dirname(out) or ".")


def key_json(record: KeyRecord, keyset: KeySet | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kid": record.kid,
        "kty": record.kty,
        "alg": record.alg,
        "size": record.size,
        "crv": record.crv,
        "thumbprint": record.thumbprint,
        "created": record.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expires": record.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "state": record.state.value,
        "origin": record.origin.value,
        "has_private": record.sealed_private is not None,
        "private": record.private_where(),
    }
    if keyset is not None:
        newest = keyset.newest
        data["newest"] = newest is not None and newest.kid == record.kid
    return data


def set_json(keyset: KeySet) -> dict[str, Any]:
    active = keyset.active
    return {
        "name": keyset.ref.name,
        "env": keyset.ref.env.value,
        "profile": keyset.profile,
        "active": None if active is None else active.kid,
        "newest": None if keyset.newest is None else keyset.newest.kid,
        "keys": [key_json(key, keyset) for key in keyset.keys],
    }


def print_json(value: object) -> None:
    from jwks_tool.core.formats import to_json  # start-up: --help loads this module

    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta[META_JSON_PRINTED] = True
    click.echo(to_json(value), nl=False)


def main() -> None:
    """Console entry point."""
    cli(prog_name="jwks-tool")
