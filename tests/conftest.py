"""Test-wide settings: the unit and AppTest suites never pay UMAP's JIT (the browser suite's
server process is started with its own environment)."""

import os

os.environ.setdefault("BAIT_EXPLORER_NO_UMAP", "1")
