"""Training one round's model on the labeled points (Adam, from the round's initial weights).

As in the BAIT paper: Adam, trained until the training accuracy over an epoch reaches 99 %
(classification; accuracy counted on the mini-batches as they are trained, like the paper's code)
or until ``max_epochs``. Regression (MSE) has no accuracy and runs ``max_epochs``.
Deterministic on CPU: same ``init_state`` + ``seed`` + data → identical weights.
Shapes: N labeled points, K outputs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Union

import numpy as np
import torch
from torch import nn

from bait_core.learning.models import move_model
from bait_core.common.threads import single_cpu_thread

ProgressFn = Callable[[int, int, float, Optional[float]], None]  # (epoch, max_epochs, loss, train_acc)

_RESIDENT_BYTES = 64 << 20  # training sets up to this size go to the device once, larger ones per batch
# Small models train on one CPU thread: their ops are too small to split, and with two threads a
# busy second core makes every step wait (measured: 10x slower backward/Adam steps on 2 cores).
SMALL_MODEL_PARAMS = 250_000

@dataclass(frozen=True)
class TrainConfig:
    """Adam settings and the stopping rule."""

    lr: float
    max_epochs: int
    target_train_acc: Optional[float]
    batch_size: int
    weight_decay: float = 0.0


PRESETS: dict[str, TrainConfig] = {
    # fast enough for interactive rounds: digits + mlp reaches 99 % in a few dozen epochs
    "quick": TrainConfig(lr=1e-3, max_epochs=200, target_train_acc=0.99, batch_size=64),
    # the paper: Adam lr 1e-4 until 99 % training accuracy; capped at 1000 epochs (digits + mlp
    # needs ~450-800 epochs at lr 1e-4, so a 500 cap would usually stop short of the target)
    "paper": TrainConfig(lr=1e-4, max_epochs=1000, target_train_acc=0.99, batch_size=64),
}


@dataclass(frozen=True)
class PresetNote:
    """What a training preset is for, in words (the numbers come from its TrainConfig), and where it
    comes from ("" when it is this project's own choice)."""

    summary: str
    source: str = ""


PRESET_NOTES: dict[str, PresetNote] = {
    "quick": PresetNote("fast enough for live rounds: the paper's stopping rule with a 10× larger learning rate "
                        "and a lower epoch cap"),
    "paper": PresetNote("the BAIT paper's training: its learning rate and stopping rule (the epoch cap is this "
                        "project's); slow: hundreds of epochs per round",
                        source="Ash et al., “Gone Fishing: Neural Active Learning with Fisher Embeddings”, "
                               "NeurIPS 2021"),
}


def preset_settings(name: str) -> str:
    """The preset's settings in words: "Adam, learning rate 0.001, mini-batches of 64, until 99 % training
    accuracy or 200 epochs (regression has no accuracy: 200 epochs)". ValueError for an unknown name."""
    c = _preset(name)
    wd = f", weight decay {c.weight_decay:g}" if c.weight_decay else ""
    stop = (f"until {c.target_train_acc * 100:g} % training accuracy or {c.max_epochs} epochs (regression has no "
            f"accuracy: {c.max_epochs} epochs)" if c.target_train_acc is not None else f"for {c.max_epochs} epochs")
    return f"Adam, learning rate {c.lr:g}{wd}, mini-batches of {c.batch_size}, {stop}"


def preset_help(name: str) -> str:
    """One line for help texts (Setup, the CLI's --preset): summary, settings and source.
    ValueError for an unknown name."""
    _preset(name)
    note = PRESET_NOTES.get(name, PresetNote(""))
    src = f"source: {note.source}" if note.source else "this project's setting, not from a paper"
    return f"{note.summary + ' — ' if note.summary else ''}{preset_settings(name)}; {src}."


def _preset(name: str) -> TrainConfig:
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown training preset '{name}'. Known presets: {', '.join(PRESETS)}.") from None


@dataclass(frozen=True)
class TrainResult:
    """How training went.

    stopped_early  the target training accuracy was reached before ``max_epochs``
    cancelled      ``should_stop()`` asked to stop (the weights are those of the last full epoch)
    """

    epochs: int
    train_accuracy: Optional[float]
    train_loss: float
    seconds: float
    device: str
    stopped_early: bool
    note: str = ""
    cancelled: bool = False


def as_tensor(a: np.ndarray, dtype: np.dtype) -> torch.Tensor:
    """A CPU tensor of ``a`` as ``dtype``, copying only when needed (read-only arrays are copied:
    torch cannot wrap them safely)."""
    arr = np.ascontiguousarray(a, dtype=dtype)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr)


def pick_device(prefer: Union[str, torch.device, None] = None) -> torch.device:
    """``"auto"``/None → CUDA if available, else CPU; anything else is taken as a device name."""
    if prefer is None or (isinstance(prefer, str) and prefer.strip().lower() in ("", "auto")):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(prefer)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"Device {prefer!r} is not a torch device; use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("A CUDA device was asked for, but no GPU is available here.")
    return device


def device_label(device: Union[str, torch.device]) -> str:
    """"CPU" or the GPU's name."""
    device = torch.device(device)
    if device.type == "cuda":
        try:
            return torch.cuda.get_device_name(device)
        except Exception:  # noqa: BLE001
            return "GPU"
    return device.type.upper()


def train_model(
    model: nn.Module,
    init_state: Mapping[str, torch.Tensor],
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    config: TrainConfig,
    seed: int,
    device: Union[torch.device, str, None] = None,
    progress: Optional[ProgressFn] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> TrainResult:
    """Reset ``model`` to ``init_state`` and train it with Adam on (X (N, ...), y (N,)).

    Cross-entropy for ``task="classification"`` (y int64 in [0, K)), MSE for ``"regression"``
    (y float). The model is left on ``device`` in eval mode.
    """
    t0 = time.perf_counter()
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
    dev = pick_device(device) if not isinstance(device, torch.device) else device
    label = device_label(dev)
    model.load_state_dict(init_state)
    move_model(model, dev)
    n = int(len(X))
    if len(y) != n:
        raise ValueError(f"X has {n} rows but y has {len(y)}.")
    classify = task == "classification"

    def done(epochs: int, acc: Optional[float], loss: float, early: bool, note: str = "",
             cancelled: bool = False) -> TrainResult:
        model.eval()
        return TrainResult(epochs, acc, loss, time.perf_counter() - t0, label, early, note, cancelled)

    if n == 0:
        return done(0, None, float("nan"), False, "no labeled points: the model keeps its initial weights")
    if not getattr(model, "trainable", True):
        return done(0, None, float("nan"), False, "this model cannot be trained here: it keeps its uploaded weights")

    Xt = as_tensor(X, np.float32)  # (N, ...)
    if classify:
        yt = as_tensor(y, np.int64)  # (N,)
        if int(yt.min()) < 0:
            raise ValueError("y holds missing labels (-1); train on the labeled points only.")
    else:
        yt = as_tensor(y, np.float32)  # (N,)
    resident = Xt.numel() * 4 <= _RESIDENT_BYTES
    if resident:
        Xt, yt = Xt.to(dev), yt.to(dev)

    params = [p for p in model.parameters() if p.requires_grad]
    small = dev.type == "cpu" and sum(p.numel() for p in params) < SMALL_MODEL_PARAMS
    with single_cpu_thread(small):
        return _fit(model, params, Xt, yt, dev, resident, classify, config, seed, progress, should_stop, done)


def _fit(model: nn.Module, params: list, Xt: torch.Tensor, yt: torch.Tensor, dev: torch.device,
         resident: bool, classify: bool, config: TrainConfig, seed: int,
         progress: Optional[ProgressFn], should_stop: Optional[Callable[[], bool]],
         done: Callable[..., TrainResult]) -> TrainResult:
    """The epoch loop of :func:`train_model`."""
    n = int(Xt.shape[0])
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    gen = torch.Generator().manual_seed(int(seed))
    bs = max(1, int(config.batch_size))
    full_batch = n <= bs
    # Balanced mini-batches: ⌈n/bs⌉ batches of ⌊n/nb⌋ or ⌈n/nb⌉ points (65 points at 64 → 33 + 32,
    # not 64 + 1: a one-point batch each epoch kept Adam from settling, and runs stalled below the
    # accuracy target at exactly bs + 1 labels).
    n_batches = -(-n // bs)
    bounds = [(i * n) // n_batches for i in range(n_batches + 1)]
    target = config.target_train_acc if classify else None
    max_epochs = max(0, int(config.max_epochs))
    checked_classes = False

    loss_value, acc = float("nan"), None
    epoch = 0
    model.train()
    while epoch < max_epochs:
        if should_stop is not None and should_stop():
            return done(epoch, acc, loss_value, False, "stopped on request", cancelled=True)
        order = None if full_batch else torch.randperm(n, generator=gen)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if full_batch:
                xb, yb = Xt, yt
            else:
                idx = order[start:stop]
                if resident:
                    idx = idx.to(dev)
                xb, yb = Xt[idx], yt[idx]
            if not resident:
                xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
            out = model(xb)  # (B, K)
            if not checked_classes:
                k = out.shape[1] if out.ndim == 2 else 1
                if classify and int(yt.max()) >= k:
                    raise ValueError(f"y holds class {int(yt.max())} but the model has only {k} outputs.")
                if not classify and k != 1:
                    raise ValueError(f"Regression needs a model with 1 output; this one has {k}.")
                checked_classes = True
            if classify:
                loss = nn.functional.cross_entropy(out, yb)
                correct += (out.detach().argmax(1) == yb).sum()
            else:
                loss = nn.functional.mse_loss(out.reshape(-1), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * yb.shape[0]
        epoch += 1
        loss_value = float(loss_sum) / n
        if classify:
            acc = int(correct) / n
        if progress is not None:
            progress(epoch, max_epochs, loss_value, acc)
        if not math.isfinite(loss_value):
            return done(epoch, acc, loss_value, False, "training diverged (the loss is not finite); try a smaller learning rate")
        if target is not None and acc is not None and acc >= target:
            return done(epoch, acc, loss_value, epoch < max_epochs)
    note = ""
    if target is not None and (acc is None or acc < target):
        note = f"reached {acc:.1%} training accuracy, short of the {target:.0%} target, after {epoch} epochs" if acc is not None else ""
    return done(epoch, acc, loss_value, False, note)
