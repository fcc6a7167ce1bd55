"""Integrations with outside services: Azure Key Vault (``azure``) and Maskinporten/Digdir (``maskinporten``).

They import the domain, never the use cases above them, and not each other.
"""
