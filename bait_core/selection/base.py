"""The result of one acquisition step (`Selection`) and the input checks every strategy shares.

Every strategy in :data:`bait_core.STRATEGIES` has the call shape

    fn(embeddings, probs, labeled, batch_size, *, seed=0, device=None, dtype=torch.float64,
       progress=None, **options) -> Selection

and validates its inputs with :func:`prepare_inputs`, so a bad input gets the same sentence
whichever strategy is asked.

Shapes (written once): N pool points, d embedding size, K classes (1 for regression), B batch.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch

# progress(phase, step, total, value): phase is "setup", "forward", "backward" or "select";
# value is the current objective for BAIT and None otherwise. Raising inside it cancels the run: every
# strategy calls it before its main work and after each greedy step (bait: each forward/backward step;
# badge, coreset: each pick; the ranking strategies and random: before and after their single pass;
# badge-sklearn: before and after scikit-learn's k-means++, which itself cannot be interrupted) and lets
# the exception through unchanged. loop.run_rounds raises SelectionCancelled in it when should_stop().
ProgressFn = Callable[[str, int, int, Optional[float]], None]


class SelectionCancelled(Exception):
    """Raised from a progress callback to abandon a selection (loop.run_rounds: should_stop() said so)."""

_PROB_TOL = 1e-3  # how far a row of probabilities may sum from 1


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class OptionSpec:
    """One option of a strategy (a keyword of its function and a field of RunConfig).

    name: the keyword (``lamb``); default: the function's own default; label: how a sentence names
    it ("λ"); help: one line; minimum with `exclusive` (> minimum) or not (≥ minimum) and an optional
    maximum (≤): the valid range, enforced by :meth:`check` (and shown by the app's inputs).
    integer: a whole number (returned as int). choices: a text option, one of these strings
    (minimum/maximum unused); :meth:`check` returns the string.
    """

    name: str
    default: Any
    label: str
    help: str
    minimum: float
    exclusive: bool = False
    maximum: Optional[float] = None
    integer: bool = False
    choices: tuple = ()

    @property
    def kind(self) -> type:
        """The option's Python type: str (choices), int (integer) or float."""
        return str if self.choices else int if self.integer else float

    @property
    def rule(self) -> str:
        """The valid range in words: "a positive number", "at least 1", "a number from 1 to 10",
        "a whole number from 1 to 100", "one of 'none', 'top-c' or 'binary'"."""
        if self.choices:
            quoted = [f"'{c}'" for c in self.choices]
            return "one of " + (", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0])
        what = "a whole number" if self.integer else "a number"
        if self.maximum is not None:
            low = f"greater than {self.minimum:g}" if self.exclusive else f"from {self.minimum:g}"
            return f"{what} {low} to {self.maximum:g}" if not self.exclusive else f"{what} {low} and at most {self.maximum:g}"
        if self.exclusive:
            return f"a positive {what[2:]}" if self.minimum == 0 else f"{what} greater than {self.minimum:g}"
        return f"{what} ≥ {self.minimum:g}" if self.integer else f"at least {self.minimum:g}"

    def check(self, value: Any, what: Optional[str] = None) -> Any:
        """`value` as a float (an int for integer options, the string for choices); ValueError
        "<what> must be <rule>, got <value>." when it is not a finite number in range or not one of
        the choices (`what` defaults to the label: "λ must be a positive number, got 0.0.")."""
        what = self.label if what is None else what
        sentence = f"{what} must be {self.rule}, got {value!r}." if self.choices or isinstance(value, str) \
            else f"{what} must be {self.rule}, got {value}."
        if self.choices:
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(sentence)
            return value
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(sentence)
        if self.integer and not isinstance(value, numbers.Integral):
            raise ValueError(sentence)
        v = float(value)
        if (not math.isfinite(v) or v < self.minimum or (self.exclusive and v == self.minimum)
                or (self.maximum is not None and v > self.maximum)):
            raise ValueError(sentence)
        return int(value) if self.integer else v


@dataclass(frozen=True)
class Selection:
    """What a strategy picked, and how.

    indices            (B,)      dataset-level indices in pick order (BAIT: forward order, pruned removed)
    gains              (B,)      each pick's score when it was picked (BAIT: trace reduction)
    pruned             (R,)      BAIT: indices the backward pass removed, in removal order; else empty
    forward_indices    (T,)      BAIT: every forward pick in order (indices and pruned interleaved)
    forward_gains      (T,)      BAIT: trace reduction of each forward pick
    objective          (T+R+1,)  BAIT: tr(M^-1 F) at the start, after each forward, then each backward step
    n_forward          T         number of forward steps (objective[:T+1] forward, objective[T:] backward)
    scores             (N,)      each pool point's score before anything was picked (BAIT: first-step
                                 reduction; entropy: entropy; ...); NaN for labeled points / no score
    timings            seconds: "setup", "forward", "backward", "total"
    params             the options the strategy ran with (seed, lamb, ...)
    step_scores        (T, N)    BAIT with record_steps=True: every point's trace reduction at each forward
                                 step (NaN for labeled or already added points); None otherwise. Not saved.
    prune_scores       (R, N)    BAIT with record_steps=True: each member's trace increase at each backward
                                 step (NaN for non-members); None otherwise. Not saved.
    """

    strategy: str
    indices: np.ndarray
    gains: np.ndarray
    scores: np.ndarray
    timings: Mapping[str, float]
    params: Mapping[str, Any] = field(default_factory=dict)
    pruned: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    forward_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    forward_gains: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    objective: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    n_forward: int = 0
    step_scores: Optional[np.ndarray] = field(default=None, compare=False, repr=False)
    prune_scores: Optional[np.ndarray] = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, dtype in (("indices", np.int64), ("pruned", np.int64), ("forward_indices", np.int64),
                            ("gains", np.float64), ("forward_gains", np.float64),
                            ("objective", np.float64), ("scores", np.float64)):
            object.__setattr__(self, name, _frozen(np.asarray(getattr(self, name), dtype=dtype)))
        for name in ("step_scores", "prune_scores"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _frozen(np.asarray(v, dtype=np.float64)))
        object.__setattr__(self, "timings", dict(self.timings))
        object.__setattr__(self, "params", dict(self.params))
        if self.gains.shape != self.indices.shape:
            raise ValueError("Selection: gains must have one entry per picked index.")

    @property
    def batch_size(self) -> int:
        return int(self.indices.size)

    @property
    def objective_forward(self) -> np.ndarray:
        """tr(M^-1 F) before the first forward step and after each one (T+1 values)."""
        return self.objective[: self.n_forward + 1] if self.objective.size else self.objective

    @property
    def objective_backward(self) -> np.ndarray:
        """tr(M^-1 F) at the end of the forward pass and after each backward step (R+1 values)."""
        return self.objective[self.n_forward:] if self.objective.size else self.objective

    def to_dict(self) -> dict:
        """Plain JSON-able dict (lists and floats; NaN and inf become None)."""
        return jsonable({
            "strategy": self.strategy, "indices": self.indices, "gains": self.gains, "pruned": self.pruned,
            "forward_indices": self.forward_indices, "forward_gains": self.forward_gains,
            "objective": self.objective, "n_forward": self.n_forward, "timings": self.timings,
            "params": self.params,
        })


@dataclass(frozen=True)
class Inputs:
    """Validated inputs on one device and dtype."""

    h: torch.Tensor                  # (N, d) embeddings
    p: Optional[torch.Tensor]        # (N, K) probabilities, None for regression
    labeled: np.ndarray              # (N,) bool
    unlabeled: np.ndarray            # (Nu,) int64, ascending
    batch_size: int

    @property
    def n(self) -> int:
        return int(self.labeled.sum())


def resolve_device(x: Any, device: Any) -> torch.device:
    """`device` when given, else the device the embeddings live on (numpy arrays: CPU)."""
    if device is not None:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(f"device {device!r} is not a torch device; use e.g. cpu, cuda or cuda:1.") from None
        if dev.type not in ("cpu", "cuda"):
            raise ValueError(f"device {device!r}: selections run on cpu or cuda (torch here has no '{dev.type}' "
                             "support for them); use cpu or cuda.")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available on this machine; use cpu.")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0.")
        return dev
    if isinstance(x, torch.Tensor):
        return x.device
    return torch.device("cpu")


def _as_tensor(name: str, x: Any, device: torch.device, dtype: torch.dtype,
               keep_float32: bool = False) -> torch.Tensor:
    try:
        if isinstance(x, torch.Tensor):
            t = x.detach()
        else:
            a = np.asarray(x)
            if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
                raise TypeError
            a = np.ascontiguousarray(a)
            t = torch.from_numpy(a if a.flags.writeable else a.copy())
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}.") from None
    if t.is_complex():
        raise ValueError(f"{name} must be real-valued.")
    if keep_float32 and t.dtype == torch.float32:
        return t.to(device=device)
    return t.to(device=device, dtype=dtype)


def labeled_mask(labeled: Any, n_points: int) -> np.ndarray:
    """A boolean mask (N,) from a boolean mask, integer indices, or None (nothing labeled)."""
    if labeled is None:
        return np.zeros(n_points, dtype=bool)
    if isinstance(labeled, torch.Tensor):
        labeled = labeled.detach().cpu().numpy()
    a = np.asarray(labeled)
    if a.dtype == bool:
        if a.shape != (n_points,):
            raise ValueError(f"The labeled mask has shape {a.shape}; expected ({n_points},), one entry per pool point.")
        return a.copy()
    if a.size == 0:
        return np.zeros(n_points, dtype=bool)
    if not np.issubdtype(a.dtype, np.integer) or a.ndim != 1:
        raise ValueError("labeled must be a boolean mask over the pool or a 1-D array of integer indices.")
    if a.min() < 0 or a.max() >= n_points:
        raise ValueError(f"Labeled indices must lie in 0..{n_points - 1}; got {a.min()}..{a.max()}.")
    if np.unique(a).size != a.size:
        raise ValueError("The labeled indices contain duplicates.")
    mask = np.zeros(n_points, dtype=bool)
    mask[a] = True
    return mask


def prepare_inputs(embeddings: Any, probs: Any, labeled: Any, batch_size: Any, *,
                   device: Any = None, dtype: torch.dtype = torch.float64,
                   needs_probs: bool = False, strategy: str = "", keep_float32: bool = False) -> Inputs:
    """Check shapes, values and the batch size; move everything to one device and dtype.

    keep_float32: float32 embeddings stay float32 (no full-precision copy of the pool; the caller
    converts chunks exactly, float32 → float64 being lossless).

    Raises ValueError with a sentence that says what is wrong and what was expected.
    """
    dev = resolve_device(embeddings, device)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}.")
    h = _as_tensor("embeddings", embeddings, dev, dtype, keep_float32)
    if h.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (N points × d features); got shape {tuple(h.shape)}.")
    n_points, d = h.shape
    if n_points == 0 or d == 0:
        raise ValueError(f"embeddings is empty (shape {tuple(h.shape)}).")
    bad = (~torch.isfinite(h)).sum().item()
    if bad:
        raise ValueError(f"embeddings contains {bad} NaN or infinite value(s); every value must be finite.")
    p = None
    if probs is None:
        if needs_probs:
            raise ValueError(f"Strategy '{strategy}' needs class probabilities; probs is missing.")
    else:
        p = _as_tensor("probs", probs, dev, dtype)
        if p.ndim != 2:
            raise ValueError(f"probs must be a 2-D array (N points × K classes); got shape {tuple(p.shape)}.")
        if p.shape[0] != n_points:
            raise ValueError(f"embeddings has {n_points} rows but probs has {p.shape[0]}; they must describe the same points.")
        if p.shape[1] < 2:
            raise ValueError("probs needs at least 2 columns (classes); for a regression head pass probs=None.")
        bad = (~torch.isfinite(p)).sum().item()
        if bad:
            raise ValueError(f"probs contains {bad} NaN or infinite value(s); every value must be finite.")
        if (p < 0).any():
            raise ValueError(f"probs has {(p < 0).sum().item()} negative value(s); probabilities must be ≥ 0.")
        dev_rows = ((p.sum(1) - 1).abs() > _PROB_TOL).nonzero().flatten()
        if dev_rows.numel():
            r = int(dev_rows[0])
            raise ValueError(
                f"probs rows must each sum to 1 (softmax outputs, not logits); {dev_rows.numel()} row(s) do not, "
                f"e.g. row {r} sums to {p[r].sum().item():.4g}.")
    mask = labeled_mask(labeled, n_points)
    unlabeled = np.flatnonzero(~mask).astype(np.int64)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(f"batch_size must be a whole number, got {batch_size!r}.")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if batch_size > unlabeled.size:
        raise ValueError(f"batch_size {batch_size} is larger than the {unlabeled.size} unlabeled point(s) left in the pool.")
    return Inputs(h=h, p=p, labeled=mask, unlabeled=unlabeled, batch_size=batch_size)


def check_options(name: str, seed: Any, options: Mapping[str, Any]) -> int:
    """Reject options a strategy does not take; return the seed as a non-negative int."""
    if options:
        bad = ", ".join(sorted(options))
        from bait_core.selection.registry import COMMON_KEYWORDS, SPECS   # the registry imports this module
        own = list(SPECS[name].options) if name in SPECS else []
        extra = list(SPECS[name].engine_options) if name in SPECS else []
        takes = ", ".join(own + extra)
        common = ", ".join(COMMON_KEYWORDS[:-1]) + " and " + COMMON_KEYWORDS[-1]
        raise ValueError(f"Strategy '{name}' got unknown option(s): {bad}. It takes only "
                         f"{common}" + (f" (and {takes})." if takes else "."))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}.")
    return int(seed)


def pool_scores(labeled: np.ndarray, unlabeled: np.ndarray, candidate_scores: torch.Tensor) -> np.ndarray:
    """Scatter per-candidate scores (Nu,) into a dataset-level (N,) array, NaN for labeled points."""
    out = np.full(labeled.shape[0], np.nan)
    out[unlabeled] = candidate_scores.detach().to("cpu", torch.float64).numpy()
    return out


def nan_safe(scores: torch.Tensor, fill: float = -math.inf) -> torch.Tensor:
    """Replace NaN by `fill` (-inf for an argmax, +inf for an argmin) so NaN is never chosen."""
    return torch.nan_to_num(scores, nan=fill)


def jsonable(x: Any) -> Any:
    """Recursively turn numpy scalars/arrays into Python values and non-finite floats into None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return str(x)
