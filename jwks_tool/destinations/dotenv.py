"""A ``.env`` file: one ``NAME='value'`` line per item, 0600, written atomically.

    >>> from jwks_tool.destinations.dotenv import quote
    >>> quote("first line\\nsecond line\\n")
    "'first line\\nsecond line\\n'"

Values are single-quoted with their newlines kept as they are: python-dotenv, Node's dotenv, Docker Compose's
``env_file`` and a shell (``set -a; . ./.env; set +a``) all read a single-quoted value across lines. A value holding
``'``, ``\\`` or ``$`` cannot be quoted so that all of them agree, and is refused (client ids, scopes, kids, PEM and
JWK JSON never hold them): python-dotenv expands ``${VAR}`` even inside single quotes, where the shell does not.
Names must be shell variable names. The file is jwks-tool's: it is replaced as a whole (``--force``), never merged
into; an unchanged file is not rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jwks_tool.core.consumers import Naming
from jwks_tool.destinations._files import check_target, read_if_regular, write_files
from jwks_tool.destinations.interface import Delivery, Destination, Outcome, Target
from jwks_tool.errors import InputError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_name(name: str) -> None:
    """InputError unless ``name`` is a shell variable name."""
    if not _NAME.fullmatch(name):
        raise InputError(
            f"{name!r} is not an environment variable name",
            hint="use a --prefix of letters, digits and _ (not starting with a digit)",
        )


def quote(value: str) -> str:
    """``value`` in single quotes, newlines kept (see the module docstring); InputError for ``'``, ``\\`` or ``$``."""
    if any(char in value for char in ("'", "\\", "$", "\r", "\x00")):
        raise InputError(
            "a value holds a quote, backslash, $, carriage return or NUL, which .env readers do not agree on",
            hint="check the client id and scopes",
        )
    return f"'{value}'"


def render(delivery: Delivery) -> str:
    """The file's text: a comment naming the key (never its material), then one line per item."""
    lines = [
        f"# jwks-tool: {delivery.consumer.value} for {delivery.set_name} ({delivery.env}), kid {delivery.kid}",
        *(f"{item.name}={quote(item.value)}" for item in delivery.items),
    ]
    return "\n".join(lines) + "\n"


class DotenvFile(Destination):
    """Write a delivery to the ``.env`` file ``path`` (an existing file only with ``replace``)."""

    name = "dotenv"
    naming = Naming.ENV

    def __init__(self, path: str | Path, *, replace: bool = False) -> None:
        self.path = Path(path)
        self.replace = replace

    @classmethod
    def from_target(cls, target: Target, *, connect: Callable[[str], Any] | None = None) -> DotenvFile:
        """``out`` is the file."""
        if not target.out or target.out == "-":
            raise InputError(
                "--to dotenv needs the file to write (not stdout)", hint="pass --out .env (a file of its own)"
            )
        return cls(target.out, replace=target.replace)

    @classmethod
    def check_target(cls, target: Target, names: Sequence[str]) -> None:
        """A file to write (not stdout), and names that are shell variable names."""
        cls.from_target(target)
        for name in names:
            check_name(name)

    def check(self, delivery: Delivery) -> None:
        """Names must be shell variable names, values quotable."""
        for item in delivery.items:
            check_name(item.name)
        render(delivery)

    def preflight(self) -> None:
        """The file is a regular file or not there yet, in an existing folder only its owner can write to."""
        check_target(self.path, replace=self.replace)

    def deliver(self, delivery: Delivery, *, dry_run: bool = False) -> list[Outcome]:
        """Write the file (0600, atomically), or leave it when it already says exactly this."""
        self.check(delivery)
        text = render(delivery)
        current = read_if_regular(self.path)
        if current is not None and current == text.encode("utf-8"):
            return [Outcome(str(self.path), "unchanged", delivery.kid)]
        exists = check_target(self.path, replace=self.replace)
        action = "replaced" if exists else "created"
        if dry_run:
            return [Outcome(str(self.path), f"would-{'replace' if exists else 'create'}")]
        write_files({self.path: text.encode("utf-8")})
        return [Outcome(str(self.path), action)]
