"""Maskinporten and Digdir: JWT grants, the token endpoint, and the self-service API."""
