"""BAIT Explorer's library: Fisher factors, exact BAIT selection, baselines, and (later) the loop.

Never imports streamlit: everything here is usable from scripts, the CLI and tests.
"""

from .selection import Selection, prepare_inputs
from .bait import bait_select
from .strategies import STRATEGIES, get_strategy

__version__ = "0.1.0"

__all__ = ["Selection", "prepare_inputs", "bait_select", "STRATEGIES", "get_strategy", "__version__"]
