"""Built-in networks, user weights and exported programs — every model exposes its penultimate embedding.

Every model used by the active-learning loop has

    embed(x)                  -> (B, d)  penultimate embedding
    forward(x)                -> (B, K)  logits (K = number of classes, 1 for regression)
    forward_with_embedding(x) -> ((B, K), (B, d)) in one pass

Built-ins (:func:`build_model`): ``linear`` (softmax regression; the embedding is the flattened
input), ``mlp`` (one hidden layer of 128 ReLU units, as in the BAIT paper) and ``cnn`` (a small
conv net for (C, H, W) images).

User models (:func:`load_user_model`):

* weights (``.pt``/``.pth`` state_dict read with ``torch.load(weights_only=True)``, or
  ``.safetensors``) for one of the built-in architectures;
* a ``torch.export`` program (``.pt2``) whose ``forward(x)`` returns ``(logits, embedding)``.
  ``torch.export.load`` can fall back to pickle and to ``sympy.sympify`` (an ``eval``) on parts of
  the archive, so the archive is vetted first (:func:`_vet_pt2_archive`): files that would be
  unpickled, compiled code, unknown graph operators and unusual shape expressions are refused.

Pickled ``nn.Module`` objects are never accepted, and nothing here uses TorchScript.
Shapes: B batch, d embedding size, K outputs, F flattened input size.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np
import torch
from torch import Tensor, nn

MODEL_NAMES = ("linear", "mlp", "cnn")
HIDDEN = 128  # embedding size of the mlp and the cnn

WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")
EXPORT_SUFFIXES = (".pt2",)
ACCEPTED_SUFFIXES = WEIGHT_SUFFIXES + EXPORT_SUFFIXES

DataLike = Union[bytes, bytearray, memoryview, str, os.PathLike]


# ----------------------------------------------------------------------------------------------
# Built-in architectures
# ----------------------------------------------------------------------------------------------


class EmbedNet(nn.Module):
    """Base class: subclasses define ``embed(x) -> (B, d)`` and ``self.head = nn.Linear(d, K)``."""

    embedding_dim: int
    n_outputs: int
    input_shape: tuple[int, ...]
    arch: str = ""
    trainable: bool = True

    def embed(self, x: Tensor) -> Tensor:  # (B, d)
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:  # (B, K)
        return self.head(self.embed(x))

    def forward_with_embedding(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(logits (B, K), embedding (B, d)) from one pass."""
        e = self.embed(x)  # (B, d)
        return self.head(e), e


class LinearNet(EmbedNet):
    """Softmax (or linear) regression: the embedding is the flattened input."""

    arch = "linear"

    def __init__(self, input_shape: tuple[int, ...], n_outputs: int) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.n_outputs = n_outputs
        self.embedding_dim = math.prod(self.input_shape)
        self.head = nn.Linear(self.embedding_dim, n_outputs)

    def embed(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)  # (B, F)


class MLPNet(EmbedNet):
    """Flatten → Linear(F, 128) → ReLU (the embedding) → head Linear(128, K)."""

    arch = "mlp"

    def __init__(self, input_shape: tuple[int, ...], n_outputs: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.n_outputs = n_outputs
        self.embedding_dim = hidden
        self.hidden = nn.Linear(math.prod(self.input_shape), hidden)
        self.head = nn.Linear(hidden, n_outputs)

    def embed(self, x: Tensor) -> Tensor:
        return torch.relu(self.hidden(x.reshape(x.shape[0], -1)))  # (B, 128)


class CNNNet(EmbedNet):
    """Two conv3x3+ReLU+maxpool blocks → adaptive avg pool 4×4 → Linear(512, 128)+ReLU (the embedding).

    ``ceil_mode`` pooling keeps tiny images (down to 1×1) valid; 8×8 and 28×28 both work.
    """

    arch = "cnn"
    POOL = 4

    def __init__(self, input_shape: tuple[int, ...], n_outputs: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.n_outputs = n_outputs
        self.embedding_dim = hidden
        c = self.input_shape[0]
        self.features = nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.AdaptiveAvgPool2d(self.POOL),
        )
        self.fc = nn.Linear(32 * self.POOL * self.POOL, hidden)
        self.head = nn.Linear(hidden, n_outputs)

    def embed(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (B, 32, 4, 4)
        return torch.relu(self.fc(h.flatten(1)))  # (B, 128)


def _check_shape(input_shape: Iterable[int]) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape must be a tuple of positive integers, got {input_shape!r}.") from None
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"input_shape must be a non-empty tuple of positive integers, got {shape}.")
    return shape


@torch.no_grad()
def _seeded_init(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default init for Linear/Conv (kaiming-uniform weights, uniform bias), drawn from
    ``generator`` only — the global RNG is neither read nor seeded."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)):
            m.reset_parameters()
        else:
            for name, p in m.named_parameters(recurse=False):
                raise AssertionError(f"no seeded init for {type(m).__name__}.{name}")


def build_model(name: str, input_shape: tuple[int, ...], n_outputs: int, *, seed: int,
                hidden: Optional[int] = None) -> EmbedNet:
    """A built-in model ("linear", "mlp" or "cnn") for rows of ``input_shape`` and ``n_outputs`` outputs.
    ``hidden``: the mlp's embedding width (default 128, the paper's); other models ignore it.

    Same ``seed`` → identical ``state_dict``; the global RNG is untouched (modules are created on
    the meta device and initialised from a private ``torch.Generator``).
    """
    key = str(name).strip().lower()
    if key not in MODEL_NAMES:
        raise ValueError(f"Unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}.")
    shape = _check_shape(input_shape)
    if int(n_outputs) < 1:
        raise ValueError(f"n_outputs must be at least 1, got {n_outputs}.")
    n_outputs = int(n_outputs)
    if key == "cnn" and len(shape) != 3:
        raise ValueError(
            f"The cnn model needs image inputs shaped (channels, height, width), but this data has "
            f"rows of shape {shape}; use the linear or mlp model for tabular data."
        )
    cls = {"linear": LinearNet, "mlp": MLPNet, "cnn": CNNNet}[key]
    kwargs = {"hidden": int(hidden)} if key == "mlp" and hidden is not None else {}
    with torch.device("meta"):
        model = cls(shape, n_outputs, **kwargs)
    model = model.to_empty(device="cpu")
    _seeded_init(model, torch.Generator().manual_seed(int(seed)))
    return model


# ----------------------------------------------------------------------------------------------
# Reading user files
# ----------------------------------------------------------------------------------------------


def _read_bytes(data: DataLike, filename: Optional[str]) -> tuple[bytes, str]:
    """(file bytes, file name) from bytes or a path."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), filename or ""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        return path.read_bytes(), filename or path.name
    raise TypeError(f"expected bytes or a file path, got {type(data).__name__}")


def _suffix(name: str) -> str:
    return Path(name).suffix.lower() if name else ""


def _sniff(blob: bytes) -> str:
    """Guess the format of a file without a name: ".pt2", ".pt", ".safetensors" or ""."""
    if blob[:2] == b"PK":
        try:
            names = zipfile.ZipFile(io.BytesIO(blob)).namelist()
        except zipfile.BadZipFile:
            return ""
        return ".pt2" if any(n.endswith("archive_format") for n in names) else ".pt"
    if len(blob) >= 9:
        n = int.from_bytes(blob[:8], "little")
        if 0 < n <= len(blob) - 8 and blob[8:9] == b"{":
            return ".safetensors"
    return ""


_NOT_ACCEPTED = (
    "Only state_dicts (.pt/.pth saved with torch.save(model.state_dict(), ...)), .safetensors "
    "weights and torch.export programs (.pt2) are accepted; pickled models are not."
)


def _flatten_state(obj: Any) -> dict[str, Tensor]:
    """A flat {name: tensor} dict from a loaded file, unwrapping the usual checkpoint wrappers."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()
    ):
        raise ValueError(f"The file does not hold a state_dict of named tensors. {_NOT_ACCEPTED}")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _few(items: list[str], n: int = 5) -> str:
    head = ", ".join(items[:n])
    return head + (f" (and {len(items) - n} more)" if len(items) > n else "")


def load_weights(model: EmbedNet, data: DataLike, *, filename: Optional[str] = None) -> EmbedNet:
    """Load a state_dict (``.pt``/``.pth``, read with ``weights_only=True``) or ``.safetensors``
    file into ``model`` (in place; returned for chaining). Mismatches raise ``ValueError``."""
    blob, name = _read_bytes(data, filename)
    suffix = _suffix(name) or _sniff(blob)
    if suffix in EXPORT_SUFFIXES:
        raise ValueError("This is a torch.export program (.pt2): load it as an exported model, not as weights.")
    if suffix == ".safetensors":
        from safetensors.torch import load as st_load

        try:
            raw: Any = st_load(blob)
        except Exception as exc:  # noqa: BLE001 - SafetensorError and friends: report any parse failure
            raise ValueError(f"Could not read the .safetensors file: {exc}") from None
    elif suffix in (".pt", ".pth", ".bin"):
        try:
            raw = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
        except pickle.UnpicklingError:  # weights_only refused a Python object (e.g. a whole nn.Module)
            raise ValueError(
                f"The file holds pickled Python objects (such as a whole model), which are never loaded. {_NOT_ACCEPTED}"
            ) from None
        except Exception as exc:  # noqa: BLE001 - anything else: not a readable torch file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"Could not read the file as PyTorch weights ({first[:200]}). {_NOT_ACCEPTED}") from None
    else:
        raise ValueError(
            f"Unrecognised model file {name or '(unnamed)'}: accepted endings are {', '.join(ACCEPTED_SUFFIXES)}."
        )
    state = _flatten_state(raw)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    conflicts = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or conflicts:
        arch = getattr(model, "arch", "") or type(model).__name__
        shape = getattr(model, "input_shape", None)
        parts = [f"The weights do not fit the {arch} model"
                 + (f" for inputs of shape {tuple(shape)}" if shape else "")
                 + f" with {getattr(model, 'n_outputs', '?')} outputs."]
        if missing:
            parts.append(f"Missing keys: {_few(missing)}.")
        if unexpected:
            parts.append(f"Unexpected keys: {_few(unexpected)}.")
        if conflicts:
            parts.append(f"Shape conflicts: {_few(conflicts, 3)}.")
        parts.append(f"The model expects keys {_few(list(expected), 8)}.")
        raise ValueError(" ".join(parts))
    cast = {k: state[k].to(dtype=v.dtype) for k, v in expected.items()}
    model.load_state_dict(cast, strict=True)
    return model


# ----------------------------------------------------------------------------------------------
# torch.export programs (.pt2)
# ----------------------------------------------------------------------------------------------

# graph operators a .pt2 may call (deserialisation resolves any torch.* attribute otherwise)
_OP_RE = re.compile(r"^torch\.ops\.(aten|prims|higher_order)\.(?!.*__)[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")
_SYM_OP_RE = re.compile(r"^(torch\.(sym_\w+|_sym_\w+)|_operator\.\w+|math\.\w+)$")
# symbolic shape expressions are parsed with sympy.sympify (an eval): only srepr-like text passes
_EXPR_TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w*)|'[A-Za-z_]\w*'|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[(),=+\-*/])")
_EXPR_NAMES = frozenset("""
    Symbol Integer Rational Float Add Mul Pow Mod FloorDiv CeilDiv CleanDiv PythonMod IntTrueDiv
    FloatTrueDiv TruncToInt TruncToFloat RoundToInt ToFloat ModularIndexing Max Min Abs floor ceiling
    Eq Ne Lt Le Gt Ge StrictLessThan LessThan StrictGreaterThan GreaterThan Equality Unequality
    And Or Not Piecewise ExprCondPair true false True False oo Infinity NegativeInfinity Half One
    Zero NegativeOne BooleanTrue BooleanFalse positive integer nonnegative negative real finite
    precision PowByNatural FloatPow Where CeilToInt FloorToInt LShift RShift RoundDecimal Identity
    IsNonOverlappingAndDenseIndicator
""".split())
_MAX_UNZIPPED = 4 << 30


def _expr_ok(expr: str) -> bool:
    pos = 0
    while pos < len(expr):
        m = _EXPR_TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            return expr[pos:].strip() == ""
        if m.group(1) is not None and m.group(1) not in _EXPR_NAMES:
            return False
        pos = m.end()
    return True


def _walk_json(obj: Any, path: str = "") -> Iterable[tuple[str, Any, Any]]:
    """Yield (key, value, parent dict) for every key in a JSON tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k, v, obj
            yield from _walk_json(v, f"{path}/{k}")
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_json(v, path)


def _vet_pt2_archive(blob: bytes) -> None:
    """Refuse .pt2 archives whose loading would unpickle data, run compiled code, call operators
    outside aten/prims/higher_order or ``eval`` unusual shape expressions. ``ValueError`` if so."""
    bad = "The .pt2 file was refused"
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile:
        raise ValueError("The .pt2 file is not a torch.export archive (not a zip file).") from None
    infos = zf.infolist()
    if sum(i.file_size for i in infos) > _MAX_UNZIPPED:
        raise ValueError(f"{bad}: it unpacks to more than {_MAX_UNZIPPED >> 30} GiB.")
    names = [i.filename for i in infos]
    fmt = [n for n in names if n.endswith("archive_format") and n.count("/") <= 1]
    if not fmt:
        raise ValueError(
            f"{bad}: it is not a torch.export archive saved by torch.export.save (older formats need pickle)."
        )
    root = fmt[0][: -len("archive_format")]
    if zf.read(fmt[0]).decode(errors="replace").strip() != "pt2":
        raise ValueError(f"{bad}: unknown archive format.")
    rel = [n[len(root):] for n in names if n.startswith(root)]
    for r in rel:
        if r.startswith(("data/aotinductor/", "data/executorch/", "data/mtia", "xl_model_weights/")):
            raise ValueError(f"{bad}: it contains compiled code ({r}); save the program with torch.export.save only.")
        if r.startswith(("data/weights/", "data/constants/")) and r.endswith(".pt"):
            raise ValueError(f"{bad}: it stores weights in the legacy pickled format; re-save it with this torch.")
        base = r.rsplit("/", 1)[-1]
        if r.startswith("data/constants/") and base.startswith(("custom_obj_", "opaque_obj_")):
            raise ValueError(f"{bad}: it contains pickled custom objects ({base}).")
    models = [r for r in rel if r.startswith("models/") and r.endswith(".json")]
    if "models/model.json" not in rel:
        raise ValueError(f"{bad}: it holds no exported program named 'model'.")
    for r in rel:
        if r.startswith(("data/weights/", "data/constants/")) and r.endswith("config.json"):
            try:
                cfg = json.loads(zf.read(root + r))
            except ValueError:
                raise ValueError(f"{bad}: unreadable {r}.") from None
            for fqn, meta in (cfg.get("config") or {}).items():
                if not isinstance(meta, dict) or meta.get("use_pickle", False):
                    raise ValueError(f"{bad}: tensor {fqn!r} is stored pickled.")
                if r.startswith("data/constants/") and not str(meta.get("path_name", "")).startswith("tensor_"):
                    raise ValueError(f"{bad}: constant {fqn!r} is not a plain tensor.")
    for m in models:
        name = m[len("models/"):-len(".json")]
        sample = f"data/sample_inputs/{name}.pt"
        if sample in rel:
            # torch.export.load falls back to weights_only=False when this fails: make sure it cannot
            try:
                torch.load(io.BytesIO(zf.read(root + sample)), weights_only=True, map_location="cpu")
            except Exception:  # noqa: BLE001
                raise ValueError(f"{bad}: its sample inputs are not plain tensors.") from None
        try:
            prog = json.loads(zf.read(root + m))
        except ValueError:
            raise ValueError(f"{bad}: unreadable {m}.") from None
        for key, value, parent in _walk_json(prog):
            if key == "target" and isinstance(value, str) and "inputs" in parent:
                if not (_OP_RE.match(value) or _SYM_OP_RE.match(value)):
                    raise ValueError(f"{bad}: it calls the operator {value[:80]!r}, which is not an aten/prims operator.")
            elif key == "expr_str" and isinstance(value, str) and not _expr_ok(value):
                raise ValueError(f"{bad}: it contains an unusual symbolic shape expression {value[:80]!r}.")


def _node_val(program: Any, name: str) -> Any:
    for node in program.graph.nodes:
        if node.name == name:
            return node.meta.get("val")
    return None


def _static(dim: Any) -> Optional[int]:
    return dim if isinstance(dim, int) else None


class ExportedModel(nn.Module):
    """A ``torch.export`` program whose ``forward(x)`` returns ``(logits, embedding)``, as a model.

    Trainable: gradients flow through ``program.module()``'s parameters. The graph is frozen in the
    mode it was exported in (export in ``eval()`` mode: BatchNorm then uses its running statistics
    and dropout is off), so ``train()``/``eval()`` only set the flag. A program exported with a
    fixed batch size is run in chunks of that size (the last one zero-padded).
    """

    trainable: bool = True
    arch: str = "exported"

    def __init__(self, program: Any) -> None:
        super().__init__()
        self._program = program
        self.graph_module = program.module()  # GraphModule; train()/eval() on it raise by design
        for p in self.graph_module.parameters():
            if p.is_floating_point():
                p.requires_grad_(True)
        sig = program.graph_signature
        if len(sig.user_inputs) != 1:
            raise ValueError(
                f"The exported program takes {len(sig.user_inputs)} inputs; it must take exactly one (the batch x)."
            )
        outs = list(sig.user_outputs)
        if len(outs) != 2:
            raise ValueError(
                f"The exported program returns {len(outs)} outputs; its forward(x) must return "
                "(logits, embedding)."
            )
        x_val = _node_val(program, sig.user_inputs[0])
        lo_val, emb_val = _node_val(program, outs[0]), _node_val(program, outs[1])
        x_shape = tuple(getattr(x_val, "shape", ()))
        self.fixed_batch: Optional[int] = _static(x_shape[0]) if x_shape else None
        dims = [_static(s) for s in x_shape[1:]]
        self.input_shape: Optional[tuple[int, ...]] = tuple(dims) if dims and None not in dims else None  # type: ignore[arg-type]
        lo_shape = tuple(getattr(lo_val, "shape", ()))
        emb_shape = tuple(getattr(emb_val, "shape", ()))
        self.n_outputs: Optional[int] = _static(lo_shape[-1]) if len(lo_shape) == 2 else (1 if len(lo_shape) == 1 else None)
        self.embedding_dim: Optional[int] = (
            math.prod(emb_shape[1:]) if emb_shape[1:] and all(isinstance(s, int) for s in emb_shape[1:]) else None
        )
        self._device = torch.device("cpu")

    # mode is baked into the graph; never call train()/eval() on the GraphModule
    def train(self, mode: bool = True) -> "ExportedModel":
        self.training = bool(mode)
        return self

    def to(self, *args: Any, **kwargs: Any) -> "ExportedModel":
        """Device moves rewrite the program (``move_to_device_pass``) and keep the current weights."""
        device, dtype, _, _ = torch._C._nn._parse_to(*args, **kwargs)
        if device is not None:
            self.move_to(device)
        if dtype is not None:
            super().to(dtype=dtype)
        return self

    def move_to(self, device: Union[str, torch.device]) -> "ExportedModel":
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if device == self._device:
            return self
        from torch.export.passes import move_to_device_pass

        state = {k: v.detach().clone() for k, v in self.graph_module.state_dict().items()}
        self._program = move_to_device_pass(self._program, device)
        self.graph_module = self._program.module()
        self.graph_module.load_state_dict(state)
        for p in self.graph_module.parameters():
            if p.is_floating_point():
                p.requires_grad_(True)
        self._device = device
        return self

    def _run(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.graph_module(x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise ValueError("The exported program's forward(x) must return (logits, embedding).")
        logits, emb = out
        return logits, emb.reshape(emb.shape[0], -1)

    def forward_with_embedding(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(logits (B, K), embedding (B, d))."""
        b = self.fixed_batch
        if b is None or x.shape[0] == b:
            return self._run(x)
        logits, embs = [], []
        for start in range(0, x.shape[0], b):
            chunk = x[start:start + b]
            n = chunk.shape[0]
            if n < b:
                chunk = torch.cat([chunk, chunk.new_zeros((b - n, *chunk.shape[1:]))])
            lo, e = self._run(chunk)
            logits.append(lo[:n])
            embs.append(e[:n])
        return torch.cat(logits), torch.cat(embs)

    def forward(self, x: Tensor) -> Tensor:  # (B, K)
        return self.forward_with_embedding(x)[0]

    def embed(self, x: Tensor) -> Tensor:  # (B, d)
        return self.forward_with_embedding(x)[1]


def load_exported(data: DataLike, *, filename: Optional[str] = None) -> ExportedModel:
    """Load a ``.pt2`` saved by ``torch.export.save`` (vetted first) as an :class:`ExportedModel`."""
    blob, _ = _read_bytes(data, filename)
    _vet_pt2_archive(blob)
    try:
        program = torch.export.load(io.BytesIO(blob))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"Could not load the torch.export program: {str(exc).strip()[:300]}") from None
    return ExportedModel(program)


# ----------------------------------------------------------------------------------------------
# Checks and dispatch
# ----------------------------------------------------------------------------------------------


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def check_model(model: nn.Module, input_shape: tuple[int, ...], n_outputs: int, sample: np.ndarray) -> None:
    """Dry-run ``model`` on a few rows of ``sample``; ``ValueError`` explaining an input-shape or
    output-count mismatch (expected vs got)."""
    input_shape = tuple(int(s) for s in input_shape)
    what = "classes" if n_outputs > 1 else "output (regression)"
    if not hasattr(model, "forward_with_embedding"):
        raise ValueError("The model has no forward_with_embedding(x); it cannot provide embeddings.")
    declared = getattr(model, "input_shape", None)
    if declared is not None and tuple(declared) != input_shape:
        raise ValueError(
            f"The model expects inputs of shape {tuple(declared)} per row, but the dataset's rows have "
            f"shape {input_shape}."
        )
    declared_k = getattr(model, "n_outputs", None)
    if declared_k is not None and int(declared_k) != int(n_outputs):
        raise ValueError(
            f"The model has {declared_k} outputs, but the dataset needs {n_outputs} {what}."
        )
    rows = np.array(np.asarray(sample, dtype=np.float32)[:4], copy=True)  # (<=4, ...) writable
    if rows.shape[1:] != input_shape:
        raise ValueError(f"The sample rows have shape {rows.shape[1:]}, expected {input_shape}.")
    if rows.shape[0] == 0:
        rows = np.zeros((2, *input_shape), np.float32)
    x = torch.from_numpy(rows).to(_model_device(model))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, emb = model.forward_with_embedding(x)
    except Exception as exc:  # noqa: BLE001 - any failure here is a shape/dtype mismatch to report
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"The model cannot run on this dataset's inputs (rows of shape {input_shape}): {msg[:300]}"
        ) from None
    finally:
        model.train(was_training)
    n = x.shape[0]
    if logits.ndim == 1 and n_outputs == 1:
        logits = logits[:, None]
    if logits.ndim != 2 or logits.shape[0] != n:
        raise ValueError(f"The model returned logits of shape {tuple(logits.shape)}; expected ({n}, {n_outputs}).")
    if logits.shape[1] != n_outputs:
        raise ValueError(
            f"The model outputs {logits.shape[1]} values per row, but the dataset needs {n_outputs} {what}."
        )
    if emb.ndim < 2 or emb.shape[0] != n:
        raise ValueError(f"The model returned an embedding of shape {tuple(emb.shape)}; expected ({n}, d).")
    if not (torch.isfinite(logits).all() and torch.isfinite(emb).all()):
        raise ValueError("The model produced non-finite values (NaN or inf) on the sample rows.")


def load_user_model(
    data: DataLike,
    *,
    filename: Optional[str],
    arch: Optional[str],
    input_shape: tuple[int, ...],
    n_outputs: int,
    seed: int = 0,
    sample: Optional[np.ndarray] = None,
) -> nn.Module:
    """A user model from a file: ``.pt2`` → :func:`load_exported`; ``.pt``/``.pth``/``.safetensors``
    → ``build_model(arch)`` + :func:`load_weights`; then :func:`check_model` (on ``sample`` rows,
    zeros if not given)."""
    blob, name = _read_bytes(data, filename)
    suffix = _suffix(name) or _sniff(blob)
    if suffix in EXPORT_SUFFIXES:
        model: nn.Module = load_exported(blob, filename=name)
    elif suffix in WEIGHT_SUFFIXES:
        if not arch:
            raise ValueError(
                f"Weights files need an architecture: choose one of {', '.join(MODEL_NAMES)} "
                "(or upload a torch.export .pt2 program instead)."
            )
        model = load_weights(build_model(arch, input_shape, n_outputs, seed=seed), blob, filename=name or f"w{suffix}")
    else:
        raise ValueError(
            f"Unrecognised model file {name or '(unnamed)'}: accepted endings are {', '.join(ACCEPTED_SUFFIXES)}."
        )
    rows = sample if sample is not None else np.zeros((2, *tuple(input_shape)), np.float32)
    check_model(model, tuple(input_shape), n_outputs, rows)
    return model


def move_model(model: nn.Module, device: Union[str, torch.device]) -> nn.Module:
    """``model.to(device)`` (ExportedModel rewrites its program for the device)."""
    return model.to(torch.device(device))
