"""jwks-tool: the signing keys of OAuth2 machine clients, Maskinporten first.

    >>> from jwks_tool.stores import open_store
    >>> from jwks_tool.services.key_service import KeyService, GenerateRequest
    >>> svc = KeyService(open_store("memory:"), passphrase=lambda confirm: "demo passphrase")
    >>> record = svc.generate(GenerateRequest(name="acme", env="test"))
    >>> record.state
    <KeyState.ACTIVE: 'active'>

Heavy modules (cryptography, jwcrypto, jinja2, azure) are imported only where needed.
"""

__version__ = "0.1.0"
