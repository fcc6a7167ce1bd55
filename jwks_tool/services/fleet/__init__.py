"""The fleet: every client of a manifest kept where the manifest wants it (``jwks-tool plan`` and ``apply``).

    >>> from jwks_tool.services.fleet.engine import Fleet, StepKind
    >>> StepKind.PROVE.value
    'prove'

:mod:`~jwks_tool.services.fleet.ports` defines the small interfaces the engine needs from the outside world (a
Registrar, a Prover, a Deliverer, a Clock, an AdminAuth); :mod:`~jwks_tool.services.fleet.adapters` implements them
over Digdir's self-service API, Maskinporten's token endpoint and Azure Key Vault;
:mod:`~jwks_tool.services.fleet.engine` decides and does each client's next step.
"""
