"""The test servers the benchmarks run against, imported in this one place.

The Key Vault-compatible HTTPS server lives in ``jwks_tool.testing`` today and is to move out of the product (to
``tests/servers/``); when it does, only the import below changes. Importing this module loads the server and the
crypto stack, so the groups import it inside the function that needs it, not at module level.
"""

from __future__ import annotations

from tests.fleet_world import ClientDef
from tests.fleet_world import World as FleetWorld
from tests.servers.keyvault import KeyVaultServer, ThrottleLimits

__all__ = ["ClientDef", "FleetWorld", "KeyVaultServer", "ThrottleLimits"]
