"""CPU thread control for small work.

Small tensor ops gain nothing from a second thread, and on a 2-core machine with another busy
process or thread (a UMAP fit, a second session, a benchmark) every OpenMP parallel region waits for
the descheduled thread: measured 10× slower training steps and 8× slower BAIT selections on digits.
Small work therefore runs on one thread. torch.set_num_threads sets the calling thread's OpenMP
count, so concurrent callers (the app's worker threads) do not interfere.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def single_cpu_thread(enabled: bool) -> Iterator[None]:
    """torch.set_num_threads(1) for the calling thread while inside; its setting is restored after."""
    if not enabled:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
