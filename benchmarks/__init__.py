"""Benchmarks for jwks-tool: see benchmarks/README.md and ``python benchmarks/run.py --help``."""
