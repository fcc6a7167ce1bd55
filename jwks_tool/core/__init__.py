"""The domain (bottom layer, pure): key sets and their lifecycle data, key material, JOSE signing, sealing, profiles.

Imports nothing above it and no cloud SDK, HTTP client, template engine or CLI (an import-linter contract in
pyproject.toml holds this).
"""
