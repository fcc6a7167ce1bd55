"""What a store plug-in author needs: the store conformance suite (:mod:`jwks_tool.testing.store_conformance`)."""
