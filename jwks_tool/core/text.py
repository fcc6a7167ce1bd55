"""One sanitiser for text from outside shown to a person: server errors, token claims, names from files.

    >>> from jwks_tool.core.text import printable
    >>> printable("bad\\x1b]0;owned\\x07 grant")
    'bad\\\\x1b]0;owned\\\\x07 grant'
    >>> printable("x" * 10, limit=6)
    'xxx...'

A remote server (a token endpoint, the self-service API, Key Vault) decides what its error says; printed raw, an
``ESC ]0;`` sequence retitles the terminal, ``ESC [2J`` clears it and a carriage return draws a fake prompt over the
line. :func:`printable` escapes every C0 and C1 control character (tab and newline included, so one line stays one
line), DEL, lone surrogates, and the Unicode format characters that reorder or hide text (bidi overrides and isolates,
zero-width joiners, the BOM), and cuts very long strings. It is light: ``_cli`` applies it to every error line.
"""

from __future__ import annotations

DEFAULT_LIMIT = 2000
"""Characters kept of one remote string (an error description, a claim): enough for any honest message."""


def _needs_escape(char: str) -> bool:
    # not printable: Cc (C0, DEL, C1), Cf (bidi overrides and isolates, zero-width characters, BOM), Cs (lone
    # surrogates), Co, Cn, Zl/Zp (line and paragraph separators) and spaces other than ' '
    return not char.isprintable()


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object, *, limit: int = DEFAULT_LIMIT) -> str:
    """``value`` as one line a terminal shows as written: control and format characters escaped as ``\\xNN`` /
    ``\\uNNNN``, cut to ``limit`` characters (ending in ``...``) when longer."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[: max(limit - 3, 0)] + "..."
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(char) if _needs_escape(char) else char for char in text)


def printable_document(text: str) -> str:
    """A multi-line document (a report, a rendered template) that a terminal shows as written: every character
    :func:`printable` escapes is escaped the same way (``\\x1b``), except newline and tab; nothing is cut. In HTML the
    escape is plain text, so the document stays valid and shows what was there."""
    if text.isascii() and all(char.isprintable() or char in "\n\t" for char in text):
        return text
    return "".join(_escape(char) if _needs_escape(char) and char not in "\n\t" else char for char in text)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word`` in the right number: ``1 key set``, ``2 key sets``, ``0 keys`` (``many``: an
    irregular plural)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"
