"""Datasets for BAIT Explorer (transitional: the loaders are being split by format; see tables.py)."""

from bait_core.learning.data import tables as _tables
from bait_core.learning.data.tables import *  # noqa: F401,F403

globals().update({k: v for k, v in vars(_tables).items() if not k.startswith("__")})
