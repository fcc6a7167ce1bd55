"""``python -m benchmarks [options]``: the same as ``python benchmarks/run.py [options]``."""

from __future__ import annotations

import sys

from benchmarks.cli import main

sys.exit(main())
