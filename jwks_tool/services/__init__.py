"""The use cases: key service (generate, import, export), rotation, status and check, audit, inspect, doctor.

They work on a store and reach Azure and Maskinporten only through :mod:`jwks_tool.integrations`.
"""
