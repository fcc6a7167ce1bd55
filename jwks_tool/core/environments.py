"""Maskinporten's environments: the audience (issuer identifier) and token endpoint of each.

    >>> from jwks_tool.core.environments import audience_for, token_url_for
    >>> audience_for("prod")
    'https://maskinporten.no/'
    >>> token_url_for(audience_for("test"))
    'https://test.maskinporten.no/token'

Plain data used by grants, Key Vault presets (``--Authority``) and rendered settings alike, so none of them has to
import another's integration.
"""

from __future__ import annotations

AUDIENCES = {"test": "https://test.maskinporten.no/", "prod": "https://maskinporten.no/"}
"""The ``aud`` of a grant, and Altinn's ``Authority`` setting, per environment."""


def audience_for(env: str) -> str:
    """The Maskinporten identifier of ``env`` (``test`` or ``prod``)."""
    return AUDIENCES[env]


def token_url_for(audience: str) -> str:
    """The token endpoint under an audience: ``<audience>token``."""
    return audience.rstrip("/") + "/token"
