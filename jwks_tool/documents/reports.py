"""Documents people read, rendered from Jinja2 templates in ``templates/``: the inventory report and settings/guides.

    >>> from jwks_tool.documents.reports import RenderTemplate
    >>> [t.value for t in RenderTemplate]
    ['appsettings', 'altinn-app', 'portal', 'runbook']

``report`` (``html`` or ``md``) is an inventory of every set for a security team: a timeline picture (inline SVG, each
key a bar from creation to expiry coloured by state, ending where a retired or revoked key left use with the rest of
its validity faint; axis ticks spaced by the span: months, years, decades or centuries; a line for today), expiry
findings and the audit trail. The HTML is one self-contained file (no network). ``render`` fills one template for one
set: ``appsettings`` (Altinn.ApiClients.Maskinporten), ``altinn-app`` (Altinn Studio), ``portal`` (step-by-step
registration with the JSON to paste) and ``runbook`` (this set's rotation, with its kids). ``--template-dir`` adds
or overrides templates.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, assert_never

from jwks_tool.core.environments import audience_for
from jwks_tool.core.keys import public_jwk
from jwks_tool.core.model import Env, KeyRecord, KeySet, KeyState
from jwks_tool.core.text import printable, printable_document
from jwks_tool.documents.templates import template_env
from jwks_tool.errors import InputError, JwksToolError
from jwks_tool.integrations.azure.connection import check_name, normalise_vault_url
from jwks_tool.services.rotation import transition_time
from jwks_tool.services.status import CheckReport

PORTALS = {
    Env.TEST: "https://sjolvbetjening.test.samarbeid.digdir.no/integrations",
    Env.PROD: "https://sjolvbetjening.samarbeid.digdir.no/integrations",
}
STATE_COLOURS = {
    KeyState.NEXT: "#3b82f6",
    KeyState.ACTIVE: "#16a34a",
    KeyState.RETIRING: "#f59e0b",
    KeyState.RETIRED: "#9ca3af",
    KeyState.REVOKED: "#dc2626",
}


class ReportDocFormat(StrEnum):
    """The formats of the report document: HTML (with the timeline picture) or Markdown."""

    HTML = "html"
    MD = "md"


class RenderTemplate(StrEnum):
    """The built-in templates ``render`` fills for one key set."""

    APPSETTINGS = "appsettings"
    """``MaskinportenSettings`` for Altinn.ApiClients.Maskinporten, EncodedJwk as a Key Vault reference."""
    ALTINN_APP = "altinn-app"
    """``MaskinportenSettings`` for an Altinn Studio app (Authority, ClientId, JwkBase64 from Key Vault)."""
    PORTAL = "portal"
    """Step-by-step registration in Digdir's self-service portal, with the exact JSON to paste."""
    RUNBOOK = "runbook"
    """The rotation of this set, step by step, with its kids."""


def template_file(name: RenderTemplate | ReportDocFormat) -> str:
    """The file of a built-in template or report format, relative to the package's templates folder."""
    if isinstance(name, ReportDocFormat):
        match name:
            case ReportDocFormat.HTML:
                return "report.html.j2"
            case ReportDocFormat.MD:
                return "report.md.j2"
            case _:
                assert_never(name)
    match name:
        case RenderTemplate.APPSETTINGS:
            return "render/appsettings.json.j2"
        case RenderTemplate.ALTINN_APP:
            return "render/altinn-app.json.j2"
        case RenderTemplate.PORTAL:
            return "render/portal.md.j2"
        case RenderTemplate.RUNBOOK:
            return "render/runbook.md.j2"
        case _:
            assert_never(name)


# ---- the timeline -------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Bar:
    """One key's bar in the timeline picture: its row, colour by state, and where it starts and ends.

    The solid bar runs from creation to the end of the key's use: its expiry, or for a retired or revoked key the
    moment it left use (``ended``); what would have been left of its validity is drawn faintly (``rest_width``)."""

    label: str
    kid: str
    state: str
    colour: str
    x: float
    y: float
    width: float
    created: datetime
    expires: datetime
    ended: datetime | None = None
    """When a retired or revoked key left use; None for a key still registered."""
    rest_width: float = 0.0


@dataclasses.dataclass(frozen=True)
class Timeline:
    """The timeline picture's size, bars, today's line and axis ticks (see :func:`timeline`)."""

    width: int
    height: int
    left: int
    bars: tuple[Bar, ...]
    today_x: float
    ticks: tuple[tuple[float, str], ...]
    row_height: int = 22


TICK_MONTHS = (1, 2, 3, 6, 12, 24, 60, 120, 240, 600, 1200)
"""The spacings the timeline's axis may use, in months: monthly up to every 100 years (then multiples of that)."""
MIN_TICK_SPACING = 64
"""Pixels between two axis labels at least, so labels (``2026-03`` is about 45 px) never overlap."""


def axis_ticks(start: datetime, end: datetime, plot_width: float) -> tuple[int, list[datetime]]:
    """The axis's spacing in months (the smallest of :data:`TICK_MONTHS` that keeps labels
    :data:`MIN_TICK_SPACING` pixels apart over ``plot_width``) and its ticks from ``start`` to ``end``: the first
    of a month divisible by the spacing, or of January of a year divisible by it (in years)."""
    span_months = max((end - start).total_seconds() / (30.44 * 86400), 1e-9)
    fits = max(int(plot_width // MIN_TICK_SPACING), 1)
    step = next((months for months in TICK_MONTHS if span_months / months <= fits), 0)
    if not step:  # longer than a century per tick: whole centuries
        step = TICK_MONTHS[-1] * math.ceil(span_months / fits / TICK_MONTHS[-1])
    if step >= 12:
        years = step // 12
        year = start.year - start.year % years
        moment = datetime(year, 1, 1, tzinfo=start.tzinfo)
    else:
        month = start.month - (start.month - 1) % step
        moment = datetime(start.year, month, 1, tzinfo=start.tzinfo)
    ticks: list[datetime] = []
    while moment <= end:
        if moment >= start:
            ticks.append(moment)
        year, month = divmod(moment.month - 1 + step, 12)
        moment = moment.replace(year=moment.year + year, month=month + 1)
    return step, ticks


def timeline(keysets: Sequence[KeySet], now: datetime, *, width: int = 960, left: int = 330) -> Timeline:
    """Geometry of the timeline picture: one row per key, x from the earliest creation to the latest expiry."""
    keys = [(keyset, key) for keyset in keysets for key in keyset.keys]
    start = min([key.created for _, key in keys] + [now - timedelta(days=30)])
    end = max([key.expires for _, key in keys] + [now + timedelta(days=30)])
    span = max((end - start).total_seconds(), 1.0)
    plot = width - left - 20

    def x(moment: datetime) -> float:
        return round(left + plot * (moment - start).total_seconds() / span, 1)

    def ended(key: KeyRecord) -> datetime | None:
        if key.state.registered:
            return None
        return min(max(transition_time(key, key.state), key.created), key.expires)

    rows = 28
    bars = []
    for index, (keyset, key) in enumerate(keys):
        stop = ended(key)
        solid_end = key.expires if stop is None else stop
        width_solid = max(x(solid_end) - x(key.created), 2.0)
        bars.append(
            Bar(
                label=f"{keyset.ref.name} ({keyset.ref.env.value})",
                kid=key.kid,
                state=key.state.value,
                colour=STATE_COLOURS[key.state],
                x=x(key.created),
                y=rows + index * 22,
                width=width_solid,
                created=key.created,
                expires=key.expires,
                ended=stop,
                rest_width=0.0 if stop is None else round(max(x(key.expires) - x(key.created) - width_solid, 0.0), 1),
            )
        )
    step, moments = axis_ticks(start, end, plot)
    label = "%Y" if step >= 12 else "%Y-%m"
    ticks = tuple((x(moment), f"{moment:{label}}") for moment in moments)
    return Timeline(width, rows + len(keys) * 22 + 30, left, tuple(bars), x(now), ticks)


# ---- rendering ----------------------------------------------------------------------------------------------------
def _public_view(keyset: KeySet) -> KeySet:
    """The set as every template sees it: no sealed (or, in a plaintext store, unsealed) private half is handed to
    a template, since a user's own template could print whatever it is given."""
    return dataclasses.replace(
        keyset, keys=tuple(dataclasses.replace(record, sealed_private=None) for record in keyset.keys)
    )


def render_report(
    fmt: ReportDocFormat,
    keysets: Sequence[KeySet],
    check: CheckReport,
    audit: Sequence[dict[str, Any]],
    *,
    now: datetime,
    store: str,
    template_dir: str | None = None,
) -> str:
    """The report of ``keysets`` in ``fmt``: check results, timeline and audit trail, from the built-in template
    or the same file in ``template_dir``. Templates see no private half; control characters in the result are
    escaped (:func:`~jwks_tool.core.text.printable_document`)."""
    file = template_file(fmt)
    keysets = [_public_view(keyset) for keyset in keysets]
    context = dict(
        keysets=keysets,
        check=check,
        audit=audit,
        now=now,
        store=store,
        timeline=timeline(keysets, now),
        colours={state.value: colour for state, colour in STATE_COLOURS.items()},
    )
    if template_dir is not None and (Path(template_dir) / file).is_file():
        text = _render_user(template_dir, file, context)  # the folder's own report, asked for by --template-dir
    else:
        text = template_env().get_template(file).render(**context)
    # reasons, users and commands come from the store, which anyone who can write to it fills: autoescaping stops
    # HTML, this stops terminal escapes (the report goes to a terminal as often as to a file)
    return printable_document(text)


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    """What ``render`` fills in beside the key set; None gives a placeholder or the template's default."""

    client_id: str | None = None
    scope: str | None = None
    vault: str | None = None
    secret_name: str | None = None


def render_document(
    name: str,
    keyset: KeySet,
    options: RenderOptions,
    *,
    now: datetime,
    template_dir: str | None = None,
) -> str:
    """Fill one template (built in, or NAME.j2 / NAME.<ext>.j2 in ``template_dir``, rendered in Jinja2's immutable
    sandbox) for one set. A user template never replaces a built-in one: a folder that holds one of our names is
    refused."""
    built_in: str | None
    try:
        built_in = template_file(RenderTemplate(name))
    except ValueError:
        built_in = None
    if built_in is not None and template_dir is not None:
        _refuse_shadowing(name, built_in, template_dir)
    file = built_in if built_in is not None else _user_template(name, template_dir)
    default_secret = "MaskinportenSettings--JwkBase64" if name == "altinn-app" else "MaskinportenSettings--EncodedJwk"
    secret_name = options.secret_name or default_secret
    check_name(secret_name)
    url = None if options.vault is None else normalise_vault_url(options.vault)
    keyset = _public_view(keyset)
    registered = [public_jwk(dict(key.public_jwk)) for key in keyset.registered]
    context = dict(
        keyset=keyset,
        env=keyset.ref.env.value,
        active=keyset.active,
        newest=keyset.newest,
        registered=registered,
        jwks_json=json.dumps({"keys": registered}, indent=2),
        newest_json=json.dumps(public_jwk(dict(keyset.newest.public_jwk)), indent=2) if keyset.newest else "{}",
        client_id=options.client_id or "<client id from the portal>",
        scope=options.scope or "<scopes, space separated>",
        authority=audience_for(keyset.ref.env.value),
        portal=PORTALS[keyset.ref.env],
        vault_url=url,
        secret_name=secret_name,
        secret_uri=f"{url}secrets/{secret_name}" if url else None,
        now=now,
    )
    if built_in is None:
        assert template_dir is not None  # _user_template found the file there
        return _render_user(template_dir, file, context)
    return template_env().get_template(file).render(**context)


def _user_files(name: str, template_dir: str) -> list[str]:
    """The files of ``template_dir`` that are the template NAME: NAME.j2 or NAME.<ext>.j2."""
    folder = Path(template_dir)
    return sorted(
        path.name for path in [folder / f"{name}.j2", *folder.glob(f"{glob_escape(name)}.*.j2")] if path.is_file()
    )


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters escaped, to match it literally."""
    import glob

    return glob.escape(text)


def _refuse_shadowing(name: str, built_in: str, template_dir: str) -> None:
    found = _user_files(name, template_dir)
    if (Path(template_dir) / built_in).is_file():
        found.append(built_in)
    if found:
        raise InputError(
            f"{template_dir} has {found[0]}, which would replace the built-in template {name}",
            hint=f"rename yours (e.g. my-{Path(found[0]).name}) and render it by that name",
        )


MAX_TEMPLATE_RANGE = 10_000
"""The most items ``range()`` makes in a user template."""
MAX_TEMPLATE_PRODUCT = 1_000_000
"""The longest string or list a user template may make with ``*`` (characters or items)."""
MAX_TEMPLATE_POWER_BITS = 1_000_000
"""The largest number a user template may make with ``**`` (bits)."""


def _limited_sandbox(template_dir: str) -> Any:
    """Jinja2's immutable sandbox with limits on what a template can build (``range``, ``*``, ``**``), loading only
    regular files of ``template_dir`` (never through a symbolic link)."""
    import os

    import jinja2
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class NoLinkLoader(jinja2.FileSystemLoader):
        def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
            source, filename, uptodate = super().get_source(environment, template)
            if os.path.islink(filename):
                raise InputError(
                    f"the template {template} is a symbolic link ({filename})",
                    hint="put the template itself in the --template-dir folder",
                )
            return source, filename, uptodate

    def limited_range(*args: int) -> range:
        try:
            values = range(*args)
            count = len(values)
        except OverflowError:
            count = MAX_TEMPLATE_RANGE + 1
        if count > MAX_TEMPLATE_RANGE:
            raise SecurityError(f"range() of more than {MAX_TEMPLATE_RANGE:,} items")
        return values

    class Limited(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, times in ((left, right), (right, left)):
                    if (
                        isinstance(seq, str | bytes | list | tuple)
                        and isinstance(times, int)
                        and len(seq) * times > MAX_TEMPLATE_PRODUCT
                    ):
                        raise SecurityError(f"a string or list of more than {MAX_TEMPLATE_PRODUCT:,} items")
            elif (
                operator == "**"
                and isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and right * abs(left).bit_length() > MAX_TEMPLATE_POWER_BITS
            ):
                raise SecurityError(f"a number of more than {MAX_TEMPLATE_POWER_BITS:,} bits")
            return super().call_binop(context, operator, left, right)

    env = Limited(
        loader=NoLinkLoader([template_dir]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "html.j2", "svg", "svg.j2"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["range"] = limited_range
    return env


def _render_user(template_dir: str, file: str, context: dict[str, Any]) -> str:
    """A user's template, in Jinja2's immutable sandbox (no attribute that leads to code, no mutation, limits on
    what it builds), loading only from the user's folder; whatever it does wrong is an InputError naming it, with
    the file and line where Jinja2 knows them (``tpl/report.html.j2:3``)."""
    import jinja2
    from jinja2.exceptions import SecurityError

    ours = template_env()
    env = _limited_sandbox(template_dir)
    for name in ("time", "date", "untrusted", "md", "plural", "expiry"):
        env.filters[name] = ours.filters[name]
    try:
        return str(env.get_template(file).render(**context))
    except SecurityError as exc:
        raise InputError(
            f"the template {_where(template_dir, file, exc)} tried something unsafe ({printable(exc, limit=200)})",
            hint="templates may only read the values they are given",
        ) from exc
    except jinja2.TemplateError as exc:
        raise InputError(
            f"the template {_where(template_dir, file, exc)} cannot be rendered: {printable(exc, limit=200)}",
            hint="fix the template",
        ) from exc
    except (MemoryError, RecursionError, OverflowError) as exc:
        raise InputError(
            f"the template {_where(template_dir, file, exc)} needs more memory or nesting than jwks-tool gives a "
            f"template ({type(exc).__name__})",
            hint="make it build less",
        ) from exc
    except JwksToolError:
        raise  # ours already (a linked template file): it names the problem and the fix
    except Exception as exc:  # whatever else a user's template does wrong (1/0, a filter given the wrong type)
        raise InputError(
            f"the template {_where(template_dir, file, exc)} failed: {type(exc).__name__}: {printable(exc, limit=200)}",
            hint="fix the template",
        ) from exc


def _where(template_dir: str, file: str, exc: BaseException) -> str:
    """``FOLDER/FILE:LINE`` of a user template's error: a syntax error's own file and line, or for an error while
    rendering the innermost traceback frame in the folder (Jinja2 maps template code back to template lines);
    ``FOLDER/FILE`` where no line is known."""
    import os

    from jinja2 import TemplateSyntaxError

    folder = os.path.normpath(os.path.abspath(template_dir))
    shown, line = os.path.join(template_dir, file), None
    if isinstance(exc, TemplateSyntaxError):
        if exc.filename:
            shown = os.path.join(template_dir, os.path.relpath(os.path.abspath(exc.filename), folder))
        line = exc.lineno
    else:
        tb = exc.__traceback__
        while tb is not None:
            code_file = os.path.abspath(tb.tb_frame.f_code.co_filename)  # the loader's path: maybe relative
            if code_file.startswith(folder + os.sep):
                shown, line = os.path.join(template_dir, os.path.relpath(code_file, folder)), tb.tb_lineno
            tb = tb.tb_next
    return printable(shown if line is None else f"{shown}:{line}", limit=300)


def _user_template(name: str, template_dir: str | None) -> str:
    if template_dir is not None and re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", name):
        matches = _user_files(name, template_dir)
        if matches:
            return matches[0]
    known = ", ".join(t.value for t in RenderTemplate)
    raise InputError(
        f"no template {name!r}", hint=f"use one of {known}, or put {name}.<ext>.j2 in a folder given to --template-dir"
    )
