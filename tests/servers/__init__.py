"""Protocol-compatible HTTPS servers for the tests (not shipped): Key Vault, Maskinporten and their TLS plumbing.

From a checkout: ``.venv/bin/python -m tests.servers.keyvault`` (and ``tests.servers.maskinporten``).
"""
