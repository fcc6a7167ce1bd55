"""Test helpers for jwks_tool: a local Key Vault-compatible HTTPS server for driving the real Azure SDK."""
