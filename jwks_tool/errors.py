"""One error hierarchy for the whole toolkit.

    >>> from jwks_tool.errors import NotFoundError
    >>> err = NotFoundError("no key set 'acme' (test)", hint="run `jwks-tool list` to see the sets")
    >>> err.diagnostics()
    "no key set 'acme' (test); run `jwks-tool list` to see the sets"

Every error a user can cause is a :class:`JwksToolError` carrying one line that names the problem and a hint that
names the fix. Third-party exceptions are wrapped at the boundary (``raise ... from exc``). The command line maps
each class to an exit code in one place (:data:`jwks_tool.cli.main.EXIT_CODES`).
"""

from __future__ import annotations


class JwksToolError(Exception):
    """Base of every error jwks-tool reports to a user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """One line: the problem, then the fix."""
        line = self.message if self.hint is None else f"{self.message}; {self.hint}"
        return " ".join(line.split())


class InputError(JwksToolError):
    """A file or value the user gave could not be read or understood."""


class KeyMaterialError(InputError):
    """Key material is malformed, inconsistent or of a kind jwks-tool does not handle."""


class ProfileError(JwksToolError):
    """The profile (maskinporten, generic) refuses what was asked."""


class StoreError(JwksToolError):
    """The key store cannot be read or written."""


class StoreCorruptError(StoreError):
    """A store file is damaged, foreign or was changed outside jwks-tool."""


class StoreVersionError(StoreError):
    """The store was written by a newer jwks-tool."""


class StoreLockedError(StoreError):
    """Another process holds the store's lock for too long."""


class NotFoundError(JwksToolError):
    """A key set or key does not exist."""


class ConflictError(JwksToolError):
    """The change clashes with what is there: a duplicate kid, a concurrent change."""


class PassphraseError(JwksToolError):
    """No passphrase could be had, or it is wrong."""


class AbortedError(JwksToolError):
    """The user declined a confirmation."""


class RemoteError(JwksToolError):
    """A remote service (Key Vault, Maskinporten) failed or refused."""


class JwksToolWarning(UserWarning):
    """Something failed that did not undo the change (an audit append after the set was written): library callers
    get it through :mod:`warnings`, the command line prints it as one ``jwks-tool: warning:`` line on stderr."""
