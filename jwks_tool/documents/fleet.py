"""What ``plan`` and ``apply`` show people: one line per client, and a Markdown summary for a CI job.

    >>> from jwks_tool.documents.fleet import md_cell
    >>> md_cell("a|b\\nc")
    'a\\\\|b c'

Everything from a store, a server or the manifest passes :func:`jwks_tool.core.text.printable` (and Markdown
escaping in the summary) before it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from jwks_tool.core.model import format_time
from jwks_tool.core.text import printable
from jwks_tool.services.fleet.engine import ClientPlan, ClientResult, Outcome, RunResult


def progress_bar(
    finished: int, total: int, counts: dict[str, int], doing: Sequence[tuple[str, str]], width: int = 80
) -> str:
    """apply's progress on a terminal, one line of at most ``width - 1`` characters (it never wraps): a bar, the
    clients finished, what went wrong so far, and what the workers are doing.

    >>> progress_bar(3, 8, {"failed": 1}, [("invoice-sync (prod)", "register")], width=100)
    'apply [#########---------------] 3/8 clients, 1 failed | invoice-sync (prod): register'
    >>> progress_bar(8, 8, {}, [("reporting (test)", "deliver")], width=60)
    'apply [########################] 8/8 clients | reporting...'
    """
    cells = 24
    filled = cells * finished // total if total else cells
    text = f"apply [{'#' * filled}{'-' * (cells - filled)}] {finished}/{total} clients"
    for outcome in ("failed", "waiting", "interrupted"):
        if counts.get(outcome):
            text += f", {counts[outcome]} {outcome}"
    if doing:
        text += " | " + ", ".join(f"{printable(label, limit=60)}: {printable(what, limit=40)}" for label, what in doing)
    limit = max(width - 1, 20)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def plan_line(item: ClientPlan, width: int = 24) -> str:
    """One line: the client, what is due (or ``ok``/``error``) and why."""
    label = printable(item.client.label, limit=80).ljust(width)
    if item.error is not None:
        return f"{label} error     {printable(item.error, limit=500)}"
    if item.due:
        steps = "+".join(dict.fromkeys(due.step.value for due in item.due))
        reasons = "; ".join(printable(due.reason, limit=300) for due in item.due)
        return f"{label} {steps:<9} {reasons}"
    text = f"active {printable(item.active)}" if item.active else "nothing to do"
    if item.later:
        upcoming = item.later[0]
        when = format_time(upcoming.at) if upcoming.at is not None else "later"
        text += f"; next: {upcoming.step.value} at {when} ({printable(upcoming.reason, limit=200)})"
    for note in item.notes:
        text += f"; {printable(note, limit=200)}"
    return f"{label} {'ok':<9} {text}"


def plan_text(plans: Sequence[ClientPlan], manifest: str, at: str) -> str:
    """The plan for people: a header line, then one line per client."""
    due = sum(1 for item in plans if item.due)
    errors = sum(1 for item in plans if item.error)
    width = max((len(item.client.label) for item in plans), default=10) + 1
    clients = f"{len(plans)} client" if len(plans) == 1 else f"{len(plans)} clients"
    head = f"Plan at {at} for {printable(manifest)} ({clients}): {due} with changes due"
    if errors:
        head += f", {errors} could not be checked"
    return "\n".join([head, *(plan_line(item, min(width, 60)) for item in plans)]) + "\n"


def result_line(result: ClientResult) -> str:
    """One line: the client, its outcome and what was done (or the error)."""
    label = printable(result.client.label, limit=80)
    text = f"{label}: {result.outcome.value}"
    if result.steps:
        text += " (" + "; ".join(printable(step, limit=200) for step in result.steps) + ")"
    if result.error is not None:
        text += f"; {printable(result.error, limit=500)}"
    elif result.next is not None:
        when = f" at {format_time(result.next.at)}" if result.next.at is not None else ""
        text += f"; next: {result.next.step.value}{when}"
    return text


def md_cell(value: object) -> str:
    """A value for one Markdown table cell: printable, one line, pipes escaped."""
    text = " ".join(str(value).split())
    return printable(text.replace("|", "\\|"), limit=500)


def summary_markdown(run: RunResult) -> str:
    """The run for a CI job summary (``$GITHUB_STEP_SUMMARY``): counts, then a table of clients."""
    counts = (
        f"{run.count(Outcome.CONVERGED)} converged, {run.count(Outcome.FAILED)} failed, "
        f"{run.count(Outcome.WAITING)} waiting on a person"
    )
    if run.stopped:  # Ctrl-C or SIGTERM: no step started after it
        counts = f"interrupted: {counts}, {run.count(Outcome.INTERRUPTED)} interrupted"
    lines = [
        f"## jwks-tool apply: {counts}",
        "",
        f"Manifest `{md_cell(run.manifest)}`, run `{md_cell(run.run_id)}`, started {format_time(run.started)}.",
        "",
        "| client | env | outcome | steps | next or error |",
        "|---|---|---|---|---|",
    ]
    for result in run.results:
        if result.error is not None:
            last = result.error
        elif result.next is not None:
            when = f" at {format_time(result.next.at)}" if result.next.at is not None else ""
            last = f"{result.next.step.value}{when}"
        else:
            last = ""
        lines.append(
            f"| {md_cell(result.client.ref.name)} | {result.client.ref.env.value} | {result.outcome.value} | "
            f"{md_cell('; '.join(result.steps))} | {md_cell(last)} |"
        )
    return "\n".join(lines) + "\n"
