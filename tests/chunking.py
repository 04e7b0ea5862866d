"""Test-only helper: shrink the selection code's chunk sizes so small oracle fixtures run through
several chunks, and count the chunks each chunked pass actually processed.

The library sizes its row chunks from element budgets (bait._ROW_CHUNK_ELEMENTS,
fisher.CHUNK_ELEMENTS, baselines._CHUNK_ELEMS) with a floor of 256 rows, so the small pools of the
oracle tests always fit in one chunk. `tiny_chunks` sets the budgets to 1 and, below the floor,
caps the row chunks of `_State._chunks` (bait) and `_chunk_rows` (fisher) at `ROWS` rows. The floor of
bait's low-rank set-up loop is not reachable from outside: the tests that need it use pools larger
than 256 unlabeled points.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
import torch

ROWS = 7   # rows per chunk under tiny_chunks (prime, so chunk edges fall at odd places)


class ChunkSpy:
    """chunks[name]: the number of chunks of every call of a chunked pass, in call order."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[int]] = defaultdict(list)

    def most(self, name: str) -> int:
        """The largest number of chunks one call of `name` processed (0 when never called)."""
        return max(self.chunks.get(name) or [0])


@pytest.fixture
def tiny_chunks(monkeypatch) -> ChunkSpy:
    import bait_core.selection.bait as bait
    import bait_core.selection.baselines as baselines
    import bait_core.selection.fisher as fisher

    spy = ChunkSpy()
    monkeypatch.setattr(bait, "_ROW_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(fisher, "CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(baselines, "_CHUNK_ELEMS", 1)

    real_rows = fisher._chunk_rows

    def chunk_rows(n_rows: int, per_row: int) -> int:
        step = min(real_rows(n_rows, per_row), ROWS)
        spy.chunks["fisher"].append(math.ceil(n_rows / step) if n_rows else 0)
        return step
    monkeypatch.setattr(fisher, "_chunk_rows", chunk_rows)

    real_chunks = bait._State._chunks

    def chunks(self, n):
        self.rows_per_chunk = min(self.rows_per_chunk, ROWS)
        out = list(real_chunks(self, n))
        spy.chunks["bait_state"].append(len(out))
        return iter(out)
    monkeypatch.setattr(bait._State, "_chunks", chunks)

    real_apply = fisher.fisher_apply

    def fisher_apply(h, G, X):                 # the factored state's F X: count its row chunks
        step = max(1, min(h.shape[0], fisher.CHUNK_ELEMENTS // max(1, G.shape[1] * X.shape[1] + h.shape[1])))
        spy.chunks["fisher_apply"].append(math.ceil(h.shape[0] / step) if h.shape[0] else 0)
        return real_apply(h, G, X)
    monkeypatch.setattr(bait, "fisher_apply", fisher_apply)

    real_quadratic = bait.block_quadratic

    def block_quadratic(*args, **kw):          # called once per row block by bait's low-rank set-up
        spy.chunks["block_quadratic_calls"].append(1)
        return real_quadratic(*args, **kw)
    monkeypatch.setattr(bait, "block_quadratic", block_quadratic)

    real_gram = bait.gram_quadratic

    def gram_quadratic(*args, **kw):           # likewise, when Vᵀ F V comes from the Gram matrix
        spy.chunks["gram_quadratic_calls"].append(1)
        return real_gram(*args, **kw)
    monkeypatch.setattr(bait, "gram_quadratic", gram_quadratic)

    real_cdist = torch.cdist

    def cdist(*args, **kw):                    # one call per block of centres in coreset's distances
        spy.chunks["cdist_calls"].append(1)
        return real_cdist(*args, **kw)
    monkeypatch.setattr(torch, "cdist", cdist)
    return spy
