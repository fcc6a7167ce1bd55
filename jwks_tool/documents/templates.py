"""Templates for people: the Jinja2 environment, its filters, and the templates shipped inside the package.

    >>> from jwks_tool.documents.templates import markdown_text
    >>> print(markdown_text("<script>*x*</script>"))
    &lt;script&gt;\\*x\\*&lt;/script&gt;

The built-in templates live in ``jwks_tool/documents/templates/`` and are found through :mod:`importlib.resources`,
so an installed wheel and a checkout read the same files. User templates (``render --template-dir``) are rendered in
Jinja2's sandbox by :mod:`jwks_tool.documents.reports`; the filters here are shared by both.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from jwks_tool.core.text import plural
from jwks_tool.core.timeutil import expiry_phrase

if TYPE_CHECKING:
    from pathlib import Path

    import jinja2


def templates_dir() -> Path:
    """The package's ``templates`` folder (``importlib.resources``: the same files in a wheel and a checkout)."""
    from importlib.resources import files
    from pathlib import Path  # here, not at the top: pathlib costs start-up time that show --json need not pay

    folder = Path(str(files("jwks_tool.documents") / "templates"))
    if not folder.is_dir():
        raise FileNotFoundError("jwks-tool's templates folder is missing; reinstall jwks-tool")
    return folder


@cache
def template_env(extra_dir: str | None = None) -> jinja2.Environment:
    """The environment for built-in templates (and, for ``report --template-dir``, a user folder first)."""
    import jinja2

    folders = [extra_dir] if extra_dir else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(templates_dir())]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html", "html.j2", "svg", "svg.j2"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"
    env.filters["date"] = lambda value: value.strftime("%Y-%m-%d") if value is not None else "-"
    env.filters["untrusted"] = untrusted_text
    env.filters["md"] = markdown_text
    env.filters["plural"] = plural  # {{ count | plural("key set") }}: "1 key set", "2 key sets"
    env.filters["expiry"] = expiry_phrase  # {{ key.expires | expiry(now) }}: "expires in 3 days", "expired today"
    return env


def untrusted_text(value: object) -> str:
    """Text from outside (a kid in a file being inspected) made safe for a terminal: control characters and lone
    surrogates are escaped, so nothing can inject lines or colour codes into a report."""
    text = str(value)
    if text.isprintable():
        return text
    escaped = repr(text)[1:-1]
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


_MARKDOWN_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{char: "\\" + char for char in "\\`*_[]|~"},
}


def markdown_text(value: object) -> str:
    """Text someone wrote (a reason, a user name, a client id) made inert in Markdown, in running text or a table
    cell: control characters escaped as by :func:`untrusted_text`, HTML's ``& < >`` as entities (no tag survives),
    and the Markdown punctuation that starts emphasis, code, links or cells (``\\ ` * _ [ ] | ~``) backslashed.
    Every Markdown template uses it (the ``md`` filter) for such values."""
    return "".join(_MARKDOWN_ESCAPES.get(char, char) for char in untrusted_text(value))


def render_template(name: str, **context: Any) -> str:
    """Fill the built-in template ``name`` (a path under the templates folder)."""
    return template_env().get_template(name).render(**context)
