"""One batched, no-grad pass of a model over a data set: embeddings, probabilities, predictions.

Shapes: N rows, d embedding size, K classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch
from torch import nn

from bait_core.learning.models import move_model
from bait_core.common.threads import single_cpu_thread
from bait_core.learning.train import SMALL_MODEL_PARAMS, as_tensor, pick_device

_SMALL_PASS_ELEMENTS = 1 << 22  # passes over fewer input values than this run on one CPU thread
# On a CPU a pass goes in chunks of at most this many input values (1 MiB of float32), so that a conv
# net's activations stay in the cache: the cnn's first layer holds 16 values per input value, 51 MB at
# 1,024 mnist rows. Measured on mnist's 3,750 pool rows, one thread, 2 cores at load ~9: the cnn takes
# 0.59 s in chunks of 334 rows against 1.63 s in chunks of 1,024 (3×32×32 images: 0.76 against 1.96 s);
# the mlp and linear models do not care. The results are the same bits whatever the chunk (each row's
# values do not depend on its neighbours).
_CPU_CHUNK_VALUES = 1 << 18


@dataclass(frozen=True)
class Outputs:
    """What the strategies need from the model.

    embeddings   (N, d) float32  penultimate embeddings
    probs        (N, K) float32  softmax of the logits; None for regression
    predictions  (N,)            int64 argmax (classification) or float32 predicted values (regression)
    """

    embeddings: np.ndarray
    probs: Optional[np.ndarray]
    predictions: np.ndarray


def compute_outputs(
    model: nn.Module,
    X: np.ndarray,
    *,
    task: str,
    device: Union[torch.device, str, None] = None,
    batch_size: int = 1024,
) -> Outputs:
    """Run ``model.forward_with_embedding`` over X (N, ...) in eval mode without gradients.

    The model is moved to ``device`` ("auto"/None → CUDA if available); its train/eval mode is
    restored afterwards. ``batch_size``: the most rows per forward pass; on a CPU a pass also holds at
    most 2**18 input values (``_CPU_CHUNK_VALUES``: mnist images go 334 at a time; a whole multiple of
    an exported program's fixed batch), which keeps a conv net's activations in the cache and gives the
    same values.
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    move_model(model, dev)
    n = int(len(X))
    emb_out: Optional[np.ndarray] = None
    logit_out: Optional[np.ndarray] = None
    row = int(np.prod(X.shape[1:])) if X.ndim > 1 else 1
    bs = max(1, int(batch_size))
    if dev.type == "cpu":
        bs = max(1, min(bs, _CPU_CHUNK_VALUES // max(1, row)))
        fixed = getattr(model, "fixed_batch", None)    # an exported program's own batch: whole multiples of it
        if fixed:
            bs = max(int(fixed), bs // int(fixed) * int(fixed))
    small = (dev.type == "cpu" and n * row <= _SMALL_PASS_ELEMENTS
             and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), single_cpu_thread(small):
            for start in range(0, n, bs):
                xb = as_tensor(X[start:start + bs], np.float32).to(dev)
                logits, emb = model.forward_with_embedding(xb)  # (B, K), (B, d)
                emb = emb.reshape(emb.shape[0], -1)
                if logits.ndim == 1:
                    logits = logits[:, None]
                if emb_out is None:
                    emb_out = np.empty((n, emb.shape[1]), np.float32)
                    logit_out = np.empty((n, logits.shape[1]), np.float32)
                emb_out[start:start + bs] = emb.float().cpu().numpy()
                logit_out[start:start + bs] = logits.float().cpu().numpy()
    finally:
        model.train(was_training)
    if emb_out is None:  # empty X: shapes from the model when it says them
        d = int(getattr(model, "embedding_dim", 0) or 0)
        k = int(getattr(model, "n_outputs", 1) or 1)
        emb_out, logit_out = np.zeros((0, d), np.float32), np.zeros((0, k), np.float32)
    assert logit_out is not None
    if task == "regression":
        return Outputs(emb_out, None, logit_out[:, 0].astype(np.float32))
    z = logit_out - logit_out.max(axis=1, keepdims=True)  # stable softmax in float64 then float32
    p = np.exp(z.astype(np.float64))
    p /= p.sum(axis=1, keepdims=True)
    return Outputs(emb_out, p.astype(np.float32), logit_out.argmax(axis=1).astype(np.int64))
