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
  torch documents ``torch.export.load`` as unsafe for untrusted files (it unpickles parts of the
  archive, falls back to ``weights_only=False`` and to torch <= 2.7's pickled layout, and parses
  shape expressions with ``sympy.sympify``, an ``eval``), so it is never called on an upload:
  :func:`load_exported` reads the zip itself, accepts only the current layout and a program within
  the grammar real exports use (:func:`_vet_pt2_archive`), builds tensors from raw bytes and hands
  torch's program deserializer parsed parts only.

Nothing from an uploaded file is ever executed or unpickled (``.pt`` weights go through the
restricted ``weights_only=True`` unpickler only); anything refused raises ``ValueError`` with a
sentence. Pickled ``nn.Module`` objects are never accepted, and nothing here uses TorchScript.
Shapes: B batch, d embedding size, K outputs, F flattened input size.
"""

from __future__ import annotations

import io
import json
import keyword
import math
import os
import pickle
import re
import zipfile
import zlib
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


class MaxPool2(nn.MaxPool2d):
    """``nn.MaxPool2d(2, ceil_mode=True)``, faster where no gradient is needed.

    Passes without autograd (the outputs of a round, under ``torch.no_grad``) over maps of even
    height and width take the elementwise maximum of the four strided corners of the 2×2 windows:
    the same values bit for bit (a maximum is exact; NaN propagates as in PyTorch's kernel), about
    13× faster on a CPU than PyTorch's NCHW max-pool kernel (334 mnist rows × 16 maps of 28×28, one
    thread: 2.9 ms against 39 ms), which took over half of a cnn's outputs pass. Training passes,
    odd sizes (``ceil_mode``'s partial windows) and ``torch.export``/``torch.compile`` tracing use
    PyTorch's kernel: its backward routes each window's gradient to its first maximum.
    """

    def __init__(self) -> None:
        super().__init__(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        if (x.dim() != 4 or x.shape[-1] % 2 or x.shape[-2] % 2 or (x.requires_grad and torch.is_grad_enabled())
                or torch.compiler.is_compiling()):
            return super().forward(x)
        return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                             torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))  # (B, C, H/2, W/2)


class CNNNet(EmbedNet):
    """Two conv3x3+ReLU+maxpool blocks → adaptive avg pool 4×4 → Linear(512, 128)+ReLU (the embedding).

    ``ceil_mode`` pooling keeps tiny images (down to 1×1) valid; 8×8 and 28×28 both work. The pools
    are :class:`MaxPool2` (PyTorch's 2×2 max-pool, with a faster exact path for no-gradient passes).
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
            nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), MaxPool2(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), MaxPool2(),
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
        except Exception:  # noqa: BLE001 - any damaged zip: not recognised
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
    return dict(obj)


# Prefixes other tools put before a network's own parameter names: DataParallel / DDP ("module."),
# Lightning and many training scripts ("model.", "net."), torch.compile ("_orig_mod.").
CHECKPOINT_PREFIXES = ("module.", "model.", "net.", "network.", "_orig_mod.")


def _match_prefixes(state: dict[str, Tensor], expected: Mapping[str, Any]) -> tuple[dict[str, Tensor], list[str]]:
    """Strip the wrapper prefixes (CHECKPOINT_PREFIXES, possibly nested, e.g. "module.model.") that
    every key shares, while that makes more keys match the model's own; returns (state, stripped)."""
    stripped: list[str] = []
    want = set(expected)
    while not set(state) <= want:
        best = None
        for pre in CHECKPOINT_PREFIXES:
            if all(k.startswith(pre) for k in state):
                cand = {k[len(pre):]: v for k, v in state.items()}
                if len(set(cand) & want) > len(set(state) & want) or best is None:
                    best = (pre, cand)
        if best is None:
            break
        stripped.append(best[0])
        state = best[1]
    return state, stripped


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
    state, stripped = _match_prefixes(state, expected)
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
    bad = [k for k, v in expected.items() if v.is_floating_point() and not state[k].is_floating_point()]
    if bad:
        raise ValueError(f"The weights {_few(bad)} are not floating-point numbers (quantised checkpoints are not "
                         "supported); save them as float32, float16 or bfloat16.")
    cast = {k: state[k].to(dtype=v.dtype) for k, v in expected.items()}
    nonfinite = [k for k, v in cast.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:
        raise ValueError(f"The weights {_few(nonfinite)} hold NaN or infinite values (after conversion to "
                         f"{next(iter(expected.values())).dtype}); they cannot be trained or evaluated.")
    model.load_state_dict(cast, strict=True)
    dtypes = sorted({str(state[k].dtype).replace("torch.", "") for k in expected if state[k].is_floating_point()})
    model.weights_note = ("; ".join(filter(None, [
        f"key prefix {' + '.join(repr(p) for p in stripped)} removed" if stripped else "",
        f"{'/'.join(dtypes)} weights converted to float32" if dtypes and dtypes != ["float32"] else ""])) or "")
    return model


# ----------------------------------------------------------------------------------------------
# torch.export programs (.pt2)
# ----------------------------------------------------------------------------------------------

# What a .pt2 upload may contain. torch documents torch.export.load as unsafe for untrusted files
# ("uses pickle under the hood ... Never load data from an untrusted source"): besides the current
# layout it reads torch <= 2.7 archives whose parts it unpickles with weights_only=False, custom
# objects via pickle, sample inputs with a weights_only=False fallback, and it parses symbolic shape
# expressions with sympy.sympify (an eval). ExportedProgram.module() also exec's the archive's
# "guards_code", and FX compiles Python source from argument names stored in the archive. So an
# upload is never handed to torch.export.load: load_exported reads the zip itself, admits only the
# current layout (a strict allow-list of entry names), checks the program JSON against the grammar
# that real exports use, builds every tensor from raw bytes (no unpickling at all) and gives torch's
# program deserializer only parsed objects.

_PT2_BAD = "The .pt2 file was refused"
_PT2_RESAVE = "save the program again with torch.export.save in this torch version"
# Tensor data: the weight/constant entries together may unpack to at most 1 GiB (268M float32
# values, several times the largest network a CPU active-learning loop can train; the bytes are held
# once in memory, so this is also the peak the data costs). Each entry must hold at least what its
# declared tensors reach (their dtype size x storage extent, checked from the zip header before a byte
# is inflated), and a large entry may not be more than _MAX_RATIO times smaller compressed than
# unpacked: torch.export.save stores tensors uncompressed, real float weights deflate by under 2x,
# while a deflated block of zeros reaches ~1000x (the zip-bomb shape).
_MAX_TENSOR_BYTES = 1 << 30
_MAX_RATIO = 100
_RATIO_FROM = 1 << 20            # entries below 1 MiB may compress as well as they like
_MAX_JSON = 64 << 20             # models/model.json and the tensor configs
_MAX_SMALL = 4096                # archive_format, byteorder, version, serialization_id
# The program's own tensors: every intermediate value declares its sizes in the program JSON (symbolic
# sizes are evaluated with every symbol at the dry-run batch, _DRY_BATCH rows). One value over 2**27
# elements (512 MiB as float32, i.e. over 32 MiB per row of a 4-row dry run) or all values together over
# 2**30 elements is refused before anything runs: no model this app trains needs it, and such a value is
# how a tiny file makes the dry run compute for minutes (ones(1).expand(10**11).sum()). Real exports have
# a few hundred to a few thousand nodes (ResNet-152 about 1,500); more than _MAX_NODES is refused.
_MAX_VALUE_ELEMENTS = 1 << 27
_MAX_PROGRAM_ELEMENTS = 1 << 30
_MAX_NODES = 20_000
_DRY_BATCH = 4
_MAX_ENTRIES = 100_000
_MAX_JSON_DEPTH = 64             # real programs nest about 10 deep (more with cond/map subgraphs)
_INT_LIMIT = 1 << 63             # every integer in the program JSON fits int64

_PT2_ROOT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
# every entry torch.export.save writes for one program named "model"; nothing else is accepted
_PT2_FIXED = frozenset({
    "archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id",
    "models/model.json", "data/sample_inputs/model.pt",
    "data/weights/model_weights_config.json", "data/constants/model_constants_config.json",
})
_PT2_NUMBERED = re.compile(r"^data/(weights/weight|constants/tensor)_\d{1,6}$")

# graph operators a program may call; deserialisation resolves the name with getattr on torch/operator/math
_OP_RE = re.compile(r"^torch\.ops\.(aten|prims)\.(?!.*__)[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")
_OP_DENY = re.compile(r"^torch\.ops\.aten\.(from_file|_print)\b")   # file access (from_file shared=True writes the file)
_HOP_OK = frozenset(f"torch.ops.higher_order.{n}" for n in (
    "cond", "map_impl", "scan", "wrap_with_set_grad_enabled", "wrap_with_autocast", "invoke_subgraph", "out_dtype",
))  # no while_loop (unbounded), flat_apply/leaf functions/delegates/inline asm (foreign code)
_SYM_OPS = frozenset(
    [f"_operator.{n}" for n in ("eq", "ne", "le", "ge", "lt", "gt", "neg", "pos", "mul", "add", "sub",
                                "floordiv", "mod", "truediv", "and_", "or_", "getitem")]
    + ["math.trunc", "torch.sym_not", "torch.sym_int", "torch.sym_float", "torch.sym_ite",
       "torch.sym_max", "torch.sym_min", "torch.sym_sqrt", "torch._sym_sqrt"]
)  # torch's _SYM_OPS without pow and lshift (2**huge / 1<<huge at run time)

# symbolic shape expressions are parsed with sympy.sympify, an eval whose arithmetic (10**10**7 alone
# takes 13 s with the GIL held) cannot be interrupted: only this grammar, the one exports write, passes
#   expr := FUNC '(' expr (',' expr)* ')' | 'Symbol(' NAME (',' ASSUMPTION '=' True|False)* ')'
#         | 'Integer(' INT ')' | 'true' | 'false'
# with INT below 2**63, at most _EXPR_MAX_LEN characters and _EXPR_MAX_DEPTH levels; no Pow/PowByNatural,
# shifts, factorial, Float/Rational or anything else whose evaluation can blow up.
_EXPR_FUNCS = frozenset("""
    Add Mul FloorDiv CeilDiv CleanDiv Mod PythonMod ModularIndexing Max Min Abs TruncToInt IntTrueDiv
    Eq Ne Lt Le Gt Ge StrictLessThan LessThan StrictGreaterThan GreaterThan Equality Unequality And Or Not
""".split())
_EXPR_ASSUMPTIONS = frozenset({"positive", "negative", "nonnegative", "nonpositive", "integer", "real",
                               "finite", "nonzero", "zero", "extended_real"})
_EXPR_MAX_LEN = 2000
_EXPR_MAX_DEPTH = 24
_EXPR_MAX_ARGS = 64
_EXPR_TOKEN = re.compile(r"\s*(?:([A-Za-z_]\w{0,63})|'([A-Za-z_]\w{0,63})'|(-?\d{1,19})(?![\w.])|([(),=]))")
# guards_code is never run here (module(check_guards=False)); it is still held to what exports write
_GUARD_TOKEN = re.compile(
    r"\s*(?:L\['[A-Za-z_]\w{0,63}'\](?:\.(?:size|stride)\(\))?(?:\[\d{1,4}\])*|\d{1,19}(?![\w.])"
    r"|//|[-+*%]|[<>]=?|==|!=|[(),]|(?:and|or|not|max|min)\b)"
)
_IDENT = re.compile(r"^(?:[A-Za-z_]\w{0,255}(?:\.\w{1,255}){0,32})?$")   # names, dotted FQNs, or ""
_IDENT_KEYS = frozenset({"name", "as_name", "buffer_name", "parameter_name", "tensor_constant_name",
                         "custom_obj_name", "fqn", "arg_name"})
_SYMBOL_NAME = re.compile(r"^[a-z]{1,4}\d{1,5}$")  # s77, u0, ...: torch counts up to unbacked ones


def _expr_ok(expr: str) -> bool:
    """True when ``expr`` is a small srepr-style integer shape expression (see the grammar above)."""
    if not isinstance(expr, str) or len(expr) > _EXPR_MAX_LEN:
        return False
    toks: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = _EXPR_TOKEN.match(expr, pos)
        if not m:
            if expr[pos:].strip() == "":
                break
            return False
        pos = m.end()
        kind = next(i for i in range(4) if m.group(i + 1) is not None)
        toks.append(("name str int punct".split()[kind], m.group(kind + 1)))
    i = 0

    def eat(kind: str, value: Optional[str] = None) -> Optional[str]:
        nonlocal i
        if i < len(toks) and toks[i][0] == kind and (value is None or toks[i][1] == value):
            i += 1
            return toks[i - 1][1]
        return None

    def node(depth: int) -> bool:
        if depth > _EXPR_MAX_DEPTH:
            return False
        name = eat("name")
        if name in ("true", "false"):
            return True
        if name is None or eat("punct", "(") is None:
            return False
        if name == "Integer":
            lit = eat("int")
            return lit is not None and abs(int(lit)) < _INT_LIMIT and eat("punct", ")") is not None
        if name == "Symbol":
            if eat("str") is None:
                return False
            while eat("punct", ","):
                if eat("name") not in _EXPR_ASSUMPTIONS or not eat("punct", "=") or eat("name") not in ("True", "False"):
                    return False
            return eat("punct", ")") is not None
        if name not in _EXPR_FUNCS:
            return False
        for _ in range(_EXPR_MAX_ARGS):
            if not node(depth + 1):
                return False
            if eat("punct", ")"):
                return True
            if not eat("punct", ","):
                return False
        return False

    return node(0) and i == len(toks)


def _expr_value(expr: str, symbol: int = _DRY_BATCH) -> Optional[int]:
    """The integer value of a shape expression that :func:`_expr_ok` admits, every symbol taken as
    ``symbol``; None when it cannot be evaluated (division by zero, unknown function)."""
    if not _expr_ok(expr):
        return None
    toks = [next(g for g in m.groups() if g is not None) for m in _EXPR_TOKEN.finditer(expr)]
    i = 0

    def node() -> int:  # depth bounded by _expr_ok
        nonlocal i
        name = toks[i]
        i += 1
        if name in ("true", "false"):
            return int(name == "true")
        i += 1  # "("
        if name == "Integer":
            v = int(toks[i])
            i += 2
            return v
        if name == "Symbol":
            while toks[i] != ")":
                i += 1
            i += 1
            return symbol
        args = [node()]
        while toks[i] == ",":
            i += 1
            args.append(node())
        i += 1  # ")"
        a = args[0]
        b = args[1] if len(args) > 1 else 0
        if name == "Add":
            return sum(args)
        if name == "Mul":
            return math.prod(args)
        if name in ("FloorDiv", "CleanDiv", "IntTrueDiv"):
            return a // b
        if name == "CeilDiv":
            return -(-a // b)
        if name in ("Mod", "PythonMod"):
            return a % b
        if name == "ModularIndexing":
            return (a // b) % args[2]
        if name == "Max":
            return max(args)
        if name == "Min":
            return min(args)
        if name in ("Abs",):
            return abs(a)
        if name == "TruncToInt":
            return a
        raise ArithmeticError(name)  # comparisons and logic never size a tensor

    try:
        return node()
    except (ArithmeticError, IndexError, ValueError):
        return None


def _bad_expr(value: Any) -> ValueError:
    return ValueError(
        f"{_PT2_BAD}: it contains an unusual symbolic shape expression {str(value)[:80]!r} "
        "(only sizes built from symbols, integers below 2**63, +, *, //, %, min, max and comparisons "
        f"are accepted, at most {_EXPR_MAX_LEN} characters)."
    )


def _value_elements(meta: Any) -> Optional[int]:
    """Element count of a serialized TensorMeta (symbols at the dry-run batch); None if unreadable."""
    sizes = meta.get("sizes") if isinstance(meta, dict) else None
    if not isinstance(sizes, list):
        return None
    n = 1
    for size in sizes:
        if not isinstance(size, dict):
            return None
        if "as_int" in size:
            v = size["as_int"]
        elif isinstance(size.get("as_expr"), dict):
            expr = size["as_expr"].get("expr_str")
            if not _expr_ok(expr):
                raise _bad_expr(expr)
            v = _expr_value(expr)
        else:
            return None
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            return None
        n *= v
    return n


def _guard_ok(code: Any) -> bool:
    if not isinstance(code, str) or len(code) > 1000:
        return False
    pos = 0
    while pos < len(code):
        m = _GUARD_TOKEN.match(code, pos)
        if not m:
            return code[pos:].strip() == ""
        pos = m.end()
    return True


def _op_ok(target: Any) -> bool:
    return isinstance(target, str) and (
        (bool(_OP_RE.match(target)) and not _OP_DENY.match(target)) or target in _HOP_OK or target in _SYM_OPS
    )


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, rel: str) -> bytearray:
    """The ``info.file_size`` bytes of one entry, read in chunks into one buffer (no second copy);
    ``ValueError`` naming the entry for any damage (bad deflate stream, CRC, truncation, ...)."""
    buf = bytearray(info.file_size)
    view = memoryview(buf)
    pos = 0
    try:
        with zf.open(info) as f:
            while pos < len(buf):
                chunk = f.read(min(1 << 20, len(buf) - pos))
                if not chunk:
                    break
                view[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
            if pos < len(buf) or f.read(1):  # the final read also checks the CRC
                raise EOFError
    except Exception:  # noqa: BLE001 - zlib.error, BadZipFile, EOFError, NotImplementedError, RuntimeError, ...
        raise ValueError(f"{_PT2_BAD}: the entry {rel[:80]!r} cannot be read (damaged or unusual zip data).") from None
    finally:
        view.release()
    return buf


def _pt2_entries(blob: bytes) -> dict[str, Any]:
    """The archive's entries, keyed by their name below the archive folder, when the zip has exactly
    the layout ``torch.export.save`` writes today; ``ValueError`` naming the first thing that differs.

    Refused: anything outside the one archive folder (torch <= 2.7's top-level ``version`` /
    ``serialized_*.pt`` entries, which torch.export.load would unpickle with weights_only=False),
    names not on the allow-list (pickled custom objects, legacy ``.pt`` weights, compiled
    AOTInductor/ExecuTorch code, extra programs, extra files), duplicate names, path tricks
    (``..``, absolute names, backslashes), folders, encrypted or oddly compressed entries, tensor data
    over ``_MAX_TENSOR_BYTES`` or compressed more than ``_MAX_RATIO`` times (all from the zip headers,
    before anything is inflated).

    Metadata entries are read here (bytes); the tensor entries are left unread, as (ZipFile, ZipInfo)
    under the key ``"\0tensors"``, for :func:`_pt2_tensors` to read once their tensors are checked.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except Exception:  # noqa: BLE001 - BadZipFile, struct.error, ...: any damaged zip
        raise ValueError("The .pt2 file is not a torch.export archive (not a zip file or a damaged one).") from None
    infos = zf.infolist()
    if len(infos) > _MAX_ENTRIES:
        raise ValueError(f"{_PT2_BAD}: it has {len(infos)} entries, far more than a torch.export archive.")
    names = [i.filename for i in infos]
    roots = {n.split("/", 1)[0] for n in names}
    if not any(n.endswith("/archive_format") for n in names):
        raise ValueError(
            f"{_PT2_BAD}: it is not a torch.export archive saved by torch.export.save in this torch "
            "version (older formats need pickle, which is never used here)."
        )
    if len(roots) != 1 or not all("/" in n for n in names):
        outside = sorted(n for n in names if "/" not in n or not n.startswith(min(roots) + "/"))[:3]
        raise ValueError(
            f"{_PT2_BAD}: it holds entries outside its archive folder ({', '.join(map(repr, outside or sorted(roots)[:3]))}),"
            f" such as the pickled parts of torch's older format; {_PT2_RESAVE}."
        )
    root = roots.pop()
    if not _PT2_ROOT.match(root) or root in (".", ".."):
        raise ValueError(f"{_PT2_BAD}: its archive folder has an unusual name {root[:60]!r}.")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"{_PT2_BAD}: the entry {dup[:80]!r} appears twice (a reader could pick either copy).")
    entries: dict[str, Any] = {}
    tensors: dict[str, tuple[zipfile.ZipFile, zipfile.ZipInfo]] = {}
    tensor_bytes = 0
    for info in infos:
        rel = info.filename[len(root) + 1:]
        if rel not in _PT2_FIXED and not _PT2_NUMBERED.match(rel):
            raise ValueError(
                f"{_PT2_BAD}: it contains {rel[:80]!r}, which is not part of a torch.export.save archive "
                "(pickled objects, compiled code, other programs and extra files are not accepted); "
                f"{_PT2_RESAVE} without extra files."
            )
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{_PT2_BAD}: the entry {rel!r} is encrypted or compressed in an unusual way.")
        if info.file_size >= _RATIO_FROM and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
            raise ValueError(f"{_PT2_BAD}: the entry {rel!r} unpacks to {info.file_size:,} bytes from "
                             f"{info.compress_size:,}, more than {_MAX_RATIO} times its size (a zip bomb).")
        if _PT2_NUMBERED.match(rel):
            tensor_bytes += info.file_size
            if tensor_bytes > _MAX_TENSOR_BYTES:
                raise ValueError(f"{_PT2_BAD}: its tensors need more than {_MAX_TENSOR_BYTES >> 30} GiB.")
            tensors[rel] = (zf, info)
            continue
        if rel == "data/sample_inputs/model.pt":
            continue  # pickled sample inputs: never read
        cap = _MAX_JSON if rel.endswith(".json") else _MAX_SMALL
        if info.file_size > cap:
            raise ValueError(f"{_PT2_BAD}: {rel} is larger than {cap:,} bytes.")
        entries[rel] = bytes(_read_entry(zf, info, rel))
    entries["\0tensors"] = tensors
    if entries.get("archive_format", b"").strip() != b"pt2":
        raise ValueError(f"{_PT2_BAD}: unknown archive format.")
    if entries.get("archive_version", b"").strip() != b"0":
        raise ValueError(f"{_PT2_BAD}: unknown archive version; {_PT2_RESAVE}.")
    if entries.get("byteorder", b"little").strip() != b"little":
        raise ValueError(f"{_PT2_BAD}: its tensors are stored big-endian; {_PT2_RESAVE} on a little-endian machine.")
    for need in ("models/model.json", "data/weights/model_weights_config.json"):
        if need not in entries:
            raise ValueError(f"{_PT2_BAD}: it holds no {need} (no exported program named 'model').")
    return entries


def _json(entries: Mapping[str, bytes], rel: str) -> Any:
    try:
        return json.loads(entries[rel].decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValueError(f"{_PT2_BAD}: {rel} is not readable JSON.") from None


def _walk_json(obj: Any) -> Iterable[tuple[Any, Any, Any]]:
    """Yield (key, value, parent) for every value of a JSON tree, without recursion; ``ValueError``
    past ``_MAX_JSON_DEPTH`` levels. For list items the key is the list's own key."""
    stack: list[tuple[Any, Any, Any, int]] = [(None, obj, None, 0)]
    while stack:
        key, value, parent, depth = stack.pop()
        if depth > _MAX_JSON_DEPTH:
            raise ValueError(f"{_PT2_BAD}: its program is nested more than {_MAX_JSON_DEPTH} levels deep.")
        yield key, value, parent
        if isinstance(value, dict):
            stack.extend((k, v, value, depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((key, v, value, depth + 1) for v in value)


def _canonical_spec(tree: Any) -> Any:
    from torch.utils._pytree import tree_structure, treespec_dumps

    return json.loads(treespec_dumps(tree_structure(tree)))


def _vet_program(prog: Any) -> None:
    """Refuse a program JSON (models/model.json) outside what exports of a one-input, two-output
    model contain; ``ValueError`` if so. Node metadata (stack traces, source notes) is dropped in
    place: it is only debugging text, and FX can paste it into generated source."""
    if not isinstance(prog, dict) or not isinstance(prog.get("graph_module"), dict):
        raise ValueError(f"{_PT2_BAD}: models/model.json is not an exported program.")
    nodes = elements = 0
    for key, value, parent in _walk_json(prog):
        if key == "nodes" and isinstance(value, list) and isinstance(parent, dict) and "tensor_values" in parent:
            nodes += len(value)
            if nodes > _MAX_NODES:
                raise ValueError(f"{_PT2_BAD}: its graph has more than {_MAX_NODES:,} operations.")
        elif key == "tensor_values" and isinstance(value, dict):
            for name, meta in value.items():
                n = _value_elements(meta)
                if n is None:
                    raise ValueError(f"{_PT2_BAD}: the value {str(name)[:80]!r} has unreadable sizes.")
                if n > _MAX_VALUE_ELEMENTS:
                    raise ValueError(
                        f"{_PT2_BAD}: its value {str(name)[:80]!r} has {n:,} elements (with a batch of "
                        f"{_DRY_BATCH} rows), more than the {_MAX_VALUE_ELEMENTS:,} allowed; running it would "
                        "take too long or too much memory.")
                elements += n
                if elements > _MAX_PROGRAM_ELEMENTS:
                    raise ValueError(
                        f"{_PT2_BAD}: its values together have more than {_MAX_PROGRAM_ELEMENTS:,} elements "
                        f"(with a batch of {_DRY_BATCH} rows); running it would take too long or too much memory.")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT_LIMIT:
            raise ValueError(f"{_PT2_BAD}: it contains the integer {str(value)[:20]}..., beyond 64 bits.")
        if isinstance(value, float) and math.isnan(value) and key != "as_float":
            raise ValueError(f"{_PT2_BAD}: it contains NaN where a number is expected.")
        if key in ("target", "as_operator") and isinstance(parent, dict) and (key == "as_operator" or "inputs" in parent):
            if not _op_ok(value):
                raise ValueError(
                    f"{_PT2_BAD}: it calls the operator {str(value)[:80]!r}, which is not an aten/prims operator "
                    "allowed here."
                )
        elif key == "expr_str":
            if not _expr_ok(value):
                raise _bad_expr(value)
        elif key == "as_custom_obj" or (key == "custom_obj_values" and value):
            raise ValueError(f"{_PT2_BAD}: it uses custom script objects, which would be unpickled.")
        elif key in _IDENT_KEYS and isinstance(value, str) and not _IDENT.match(value):
            raise ValueError(f"{_PT2_BAD}: it contains the unusual name {value[:80]!r}.")
        elif key == "forward_arg_names" and isinstance(value, str) and (
                not _IDENT.match(value) or not value or "." in value or keyword.iskeyword(value)):
            raise ValueError(f"{_PT2_BAD}: it names an argument {value[:80]!r}, which is not a Python name.")
        elif key == "guards_code" and isinstance(value, str) and not _guard_ok(value):
            raise ValueError(f"{_PT2_BAD}: it contains an unusual input guard {value[:80]!r}.")
        if isinstance(parent, dict) and key == "metadata" and isinstance(value, dict) and "target" in parent:
            value.clear()  # node metadata: stack traces, nn_module_stack, torch_fn, custom (debug text only)
    gm = prog["graph_module"]
    if isinstance(gm.get("metadata"), dict):
        gm["metadata"].clear()
    if gm.get("treespec_namedtuple_fields"):
        raise ValueError(f"{_PT2_BAD}: its forward(x) returns named tuples; it must return (logits, embedding).")
    ranges = prog.get("range_constraints") or {}
    if not isinstance(ranges, dict) or len(ranges) > 10_000 or not all(_SYMBOL_NAME.match(str(k)) for k in ranges):
        raise ValueError(f"{_PT2_BAD}: its symbolic size names are unusual.")
    if not isinstance(prog.get("guards_code", []), list) or len(prog.get("guards_code", [])) > 1000:
        raise ValueError(f"{_PT2_BAD}: its input guards are unusual.")
    calls = gm.get("module_call_graph")
    if not isinstance(calls, list) or not calls or not isinstance(calls[0], dict):
        raise ValueError(f"{_PT2_BAD}: it has no module call graph.")
    for i, entry in enumerate(calls):
        sig = entry.get("signature") if isinstance(entry, dict) else None
        if i and sig is not None:
            raise ValueError(f"{_PT2_BAD}: it preserves submodule call signatures; export without "
                             "preserve_module_call_signature.")
    sig = calls[0].get("signature")
    if not isinstance(sig, dict):
        raise ValueError(f"{_PT2_BAD}: its root call signature is missing.")
    try:
        in_spec, out_spec = json.loads(sig.get("in_spec", "")), json.loads(sig.get("out_spec", ""))
    except (TypeError, ValueError, RecursionError):
        raise ValueError(f"{_PT2_BAD}: its call signature is unreadable.") from None
    x = torch.zeros(())
    if in_spec != _canonical_spec(((x,), {})):
        raise ValueError("The exported program must take exactly one input (the batch x) and no keyword "
                         "arguments: export forward(x) with torch.export.export(model, (x,)).")
    if out_spec != _canonical_spec((x, x)):
        raise ValueError("The exported program's forward(x) must return (logits, embedding), a tuple of two tensors.")


def _pt2_tensors(entries: Mapping[str, Any], kind: str) -> dict[str, Tensor]:
    """The weights (``kind="weights"``) or constants of the program, built from their raw bytes as
    described by ``data/<kind>/model_<kind>_config.json``; pickled tensors are refused."""
    from torch._export.serde.serialize import deserialize_scalar_type

    rel = f"data/{kind}/model_{kind}_config.json"
    if rel not in entries:
        return {}
    cfg = _json(entries, rel)
    items = cfg.get("config") if isinstance(cfg, dict) else None
    if not isinstance(items, dict):
        raise ValueError(f"{_PT2_BAD}: {rel} is not a tensor table.")
    prefix = "weight_" if kind == "weights" else "tensor_"
    stored = entries.get("\0tensors", {})
    flat: dict[str, Tensor] = {}
    out: dict[str, Tensor] = {}
    parsed = []
    for fqn, meta in items.items():
        what = f"{'tensor' if kind == 'weights' else 'constant'} {str(fqn)[:80]!r}"
        if not isinstance(meta, dict) or meta.get("use_pickle", False) is not False:
            raise ValueError(f"{_PT2_BAD}: {what} is stored pickled, which is never loaded; {_PT2_RESAVE}.")
        path = meta.get("path_name")
        if not isinstance(path, str) or not re.fullmatch(re.escape(prefix) + r"\d{1,6}", path):
            raise ValueError(f"{_PT2_BAD}: {what} is not a plain tensor (custom or opaque objects are pickled).")
        if f"data/{kind}/{path}" not in stored:
            raise ValueError(f"{_PT2_BAD}: {what} has no data in the archive.")
        tm = meta.get("tensor_meta")
        try:
            dtype = deserialize_scalar_type(tm["dtype"])
            sizes = [int(s["as_int"]) for s in tm["sizes"]]
            strides = [int(s["as_int"]) for s in tm["strides"]]
            offset = int(tm["storage_offset"]["as_int"])
            requires_grad = bool(tm.get("requires_grad", False))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError(f"{_PT2_BAD}: {what} has unreadable or symbolic size information.") from None
        if (not isinstance(dtype, torch.dtype) or len(sizes) != len(strides)
                or len(sizes) > 16 or any(s < 0 for s in sizes) or any(s < 0 for s in strides) or offset < 0):
            raise ValueError(f"{_PT2_BAD}: {what} has an impossible shape.")
        # checked from the zip header before the entry is inflated: its size fits the dtype and holds
        # every element the tensor reaches (the total is capped by _pt2_entries)
        info = stored[f"data/{kind}/{path}"][1]
        elsize = torch.empty((), dtype=dtype).element_size()
        if info.file_size % elsize:
            raise ValueError(f"{_PT2_BAD}: the data of {what} does not match its dtype.")
        if math.prod(sizes) and (offset + sum((n - 1) * s for n, s in zip(sizes, strides)) + 1) * elsize > info.file_size:
            raise ValueError(f"{_PT2_BAD}: {what} reaches past its data.")
        parsed.append((fqn, meta, what, path, dtype, sizes, strides, offset, requires_grad))
    for fqn, meta, what, path, dtype, sizes, strides, offset, requires_grad in parsed:
        try:
            if path not in flat:
                zf, info = stored[f"data/{kind}/{path}"]
                raw = _read_entry(zf, info, f"data/{kind}/{path}")
                flat[path] = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            base = flat[path]
            if math.prod(sizes) and offset + sum((n - 1) * s for n, s in zip(sizes, strides)) >= base.numel():
                raise ValueError(f"{_PT2_BAD}: {what} reaches past its data.")
            t = (torch.as_strided(base, sizes, strides, offset) if math.prod(sizes)
                 else torch.zeros(sizes, dtype=dtype))
            out[str(fqn)] = nn.Parameter(t, requires_grad=requires_grad) if meta.get("is_param") else t
        except (RuntimeError, TypeError, OverflowError, MemoryError):
            raise ValueError(f"{_PT2_BAD}: {what} cannot be built from its data.") from None
    return out


def _vet_pt2_archive(blob: bytes) -> tuple[Any, dict[str, Tensor], dict[str, Tensor]]:
    """(program JSON, weights, constants) of a vetted ``.pt2``; ``ValueError`` when the archive is
    refused (see :func:`_pt2_entries` for the layout and :func:`_vet_program` for the program)."""
    entries = _pt2_entries(blob)
    prog = _json(entries, "models/model.json")
    _vet_program(prog)
    for kind in ("weights", "constants"):  # pickled entries named first, whichever table holds them
        rel = f"data/{kind}/model_{kind}_config.json"
        cfg = _json(entries, rel) if rel in entries else {}
        items = cfg.get("config") if isinstance(cfg, dict) else None
        for fqn, meta in (items.items() if isinstance(items, dict) else ()):
            what = f"{'tensor' if kind == 'weights' else 'constant'} {str(fqn)[:80]!r}"
            if not isinstance(meta, dict) or meta.get("use_pickle", False) is not False:
                raise ValueError(f"{_PT2_BAD}: {what} is stored pickled, which is never loaded; {_PT2_RESAVE}.")
            path = meta.get("path_name")
            if not isinstance(path, str) or not re.fullmatch(("weight_" if kind == "weights" else "tensor_") + r"\d{1,6}", path):
                raise ValueError(f"{_PT2_BAD}: {what} is not a plain tensor (custom or opaque objects are pickled).")
    weights = _pt2_tensors(entries, "weights")
    constants = _pt2_tensors(entries, "constants")
    return prog, weights, constants


def _deserialize_program(prog: Any, weights: dict[str, Tensor], constants: dict[str, Tensor]) -> Any:
    """torch's own program deserializer on parsed parts only: the state dict and constants are dicts
    of tensors and there are no sample inputs, so its ``torch.load`` calls (with their weights_only=False
    fallback) are never reached."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass

    if not (isinstance(weights, dict) and isinstance(constants, dict)):  # bytes would be unpickled
        raise TypeError("weights and constants must be dicts of tensors")
    serialized = _dict_to_dataclass(schema.ExportedProgram, prog)
    return ExportedProgramDeserializer().deserialize(serialized, weights, constants, None)


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
        # check_guards=False: module() would otherwise exec the archive's guards_code as Python
        self.graph_module = program.module(check_guards=False)  # train()/eval() on it raise by design
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
        self.graph_module = self._program.module(check_guards=False)
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
    """Load a ``.pt2`` saved by ``torch.export.save`` as an :class:`ExportedModel`, never running or
    unpickling anything from the file.

    torch documents ``torch.export.load`` as unsafe for untrusted files (it uses pickle), so it is
    not called: the archive is read here (:func:`_vet_pt2_archive`: only the current layout, a
    program within the grammar real exports use, tensors from raw bytes) and only the parsed parts
    reach torch's program deserializer. Anything refused raises ``ValueError`` with a sentence.
    """
    blob, _ = _read_bytes(data, filename)
    prog, weights, constants = _vet_pt2_archive(blob)
    try:
        program = _deserialize_program(prog, weights, constants)
    except Exception as exc:  # noqa: BLE001 - anything torch's deserializer rejects is a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"Could not load the torch.export program: {first[:300]}") from None
    try:
        return ExportedModel(program)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - a graph torch cannot turn into a module is a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"Could not use the torch.export program: {first[:300]}") from None


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
